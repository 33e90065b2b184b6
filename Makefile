# Bedrock Warden — developer and build targets. `make` alone lists them.
# `sam build` calls the build-<LogicalId> targets (BuildMethod: makefile).

GO       ?= go
GOFLAGS  ?=
LDFLAGS  := -s -w
FUNCTIONS := $(notdir $(wildcard functions/*))
# What `warden --version` reports for a `make warden` build.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)

.DEFAULT_GOAL := help
.PHONY: help all check test vet fmt lint build warden clean bench run

## help: list the targets (the default)
help:
	@echo "Bedrock Warden make targets:"
	@sed -n 's/^## \([a-z-]*\): \(.*\)/  \1\t\2/p' $(MAKEFILE_LIST) | expand -t 14

all: check

## run: check the sample events against the embedded default policy (findings are expected)
run:
	@status=0; $(GO) run ./cmd/warden check || status=$$?; \
	if [ $$status -eq 1 ]; then echo "(exit 1: the samples contain violations, as they should)"; exit 0; fi; exit $$status

## check: go vet and the unit and integration tests
check: vet
	$(GO) test ./...

## test: exactly what CI runs (.ci/run: gofmt, go vet, cfn-lint, go test ./...)
test:
	bash .ci/run

## fmt: fail when a Go file is not gofmt-formatted
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## vet: go vet ./...
vet:
	$(GO) vet ./...

## lint: cfn-lint template.yaml
lint:
	cfn-lint template.yaml

## warden: build the CLI as ./warden, stamped with the version and commit
warden:
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o warden ./cmd/warden

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
build-TrailFunction: lambda-trail

## bench: throughput, allocations, cold start, RSS and AWS calls; writes BENCHMARKS.md
bench:
	bash bench/run.sh

## clean: remove build output
clean:
	rm -rf .build .aws-sam warden
