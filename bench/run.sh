#!/usr/bin/env bash
# The whole Bedrock Warden benchmark run (`make bench`): corpus, throughput
# on the same bytes (json.Valid, decode, the detector's hot path, OPA),
# Go/Rego agreement, cold start and binary size, peak RSS, AWS calls per
# 1,000 events against moto_server. Writes BENCHMARKS.md at the repository
# root. Extra arguments go to bench/cmd/benchrun (e.g. -benchtime 500ms,
# -skip awscalls, -corpus-dir /tmp/corpus).
set -euo pipefail
cd "$(dirname "$0")"

command -v go >/dev/null || { echo "bench: go is not on PATH" >&2; exit 1; }
if ! command -v moto_server >/dev/null; then
	echo "bench: moto_server is not on PATH (pip install 'moto[server]'); the AWS-call counts will be reported as not measured" >&2
fi

# OPA is a comparison peer only: the product module must neither list the
# bench module among its packages nor depend on OPA.
if (cd .. && go list ./... 2>/dev/null | grep -q '/bench'); then
	echo "bench: the main module's ./... includes bench/" >&2
	exit 1
fi
if (cd .. && go list -e -deps ./... 2>/dev/null | grep -q 'open-policy-agent'); then
	echo "bench: the main module depends on OPA" >&2
	exit 1
fi

exec go run ./cmd/benchrun -out ../BENCHMARKS.md -command "make bench" "$@"
