#!/usr/bin/env bash
# The whole Bedrock Warden benchmark run (`make bench`): corpus, throughput
# on the same bytes (json.Valid, decode, the detector's hot path, the
# deployed paths per event, OPA), Go/Rego agreement, cold start paired with
# a bare aws-lambda-go bootstrap, the real bootstrap's peak RSS under a
# Runtime API harness, AWS calls per 1,000 events against moto_server and
# the cost model, and whole processes (warden check vs a json.Valid-only
# program vs a Python baseline; bounded memory on a 1.4 GB input). Writes
# BENCHMARKS.md at the repository root. Needs 2 GB of free space in
# $TMPDIR. Extra arguments go to bench/cmd/benchrun (e.g. -benchtime 500ms,
# -skip awscalls,process, -big-bytes 0, -corpus-dir /tmp/corpus).
set -euo pipefail
cd "$(dirname "$0")"

command -v go >/dev/null || { echo "bench: go is not on PATH" >&2; exit 1; }
if ! command -v moto_server >/dev/null; then
	echo "bench: moto_server is not on PATH (pip install 'moto[server]'); the AWS-call counts will be reported as not measured" >&2
fi
if ! command -v python3 >/dev/null; then
	echo "bench: python3 is not on PATH; the whole-process comparison (warden vs json.Valid vs the Python baseline) will be reported as not measured" >&2
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
