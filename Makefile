# Bedrock Warden — developer and build targets.
# `sam build` calls the build-<LogicalId> targets (BuildMethod: makefile).

GO       ?= go
GOFLAGS  ?=
LDFLAGS  := -s -w
FUNCTIONS := $(notdir $(wildcard functions/*))

.PHONY: all check test vet fmt lint build clean bench run

all: check

## run: check the sample events against the embedded default policy
run:
	$(GO) run ./cmd/warden check

## test: everything CI runs (formatting, vet, unit and integration tests)
test: fmt vet
	$(GO) test ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## build: every Lambda as bootstrap for linux/arm64 under .build/<name>/
build: $(addprefix .build/,$(addsuffix /bootstrap,$(FUNCTIONS)))

.build/%/bootstrap: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -tags lambda.norpc -ldflags "$(LDFLAGS)" -o $@ ./functions/$*

FORCE:

# ---- sam build (BuildMethod: makefile): one target per function logical id.
# SAM sets ARTIFACTS_DIR; the binary must be named bootstrap.
lambda-%:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -tags lambda.norpc -ldflags "$(LDFLAGS)" -o $(ARTIFACTS_DIR)/bootstrap ./functions/$*

build-DetectorFunction: lambda-detector
build-RemediatorFunction: lambda-remediator
build-SweeperFunction: lambda-sweeper
build-BudgetFunction: lambda-budget
build-ReconcilerFunction: lambda-reconciler
build-SentinelFunction: lambda-sentinel
build-PostureFunction: lambda-posture
build-UsageFunction: lambda-usage

## bench: throughput, allocations, cold start, RSS and AWS calls; writes BENCHMARKS.md
bench:
	bash bench/run.sh

clean:
	rm -rf .build .aws-sam
