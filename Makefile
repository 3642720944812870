# rdsgate — `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/rdsgate
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# The commit is also in the toolchain's own VCS stamp (-buildvcs); the -X
# copies are for builds without .git (rdsgate version prefers the stamp).
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_TIME ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildTime=$(BUILD_TIME)
# Tests create their own databases on this server (see internal/testdb).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export TEST_DATABASE_URL

.DEFAULT_GOAL := help
.PHONY: help build run test lint bench e2e clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build bin/rdsgate
	$(GO) build -trimpath -buildvcs=auto -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rdsgate

run: build ## start rdsgate locally (PostgreSQL found or started, migrations, simulator, dev users) and print the URL
	./$(BIN) dev

test: lint ## run every test (Go, Rego via the OPA Go module, browser end-to-end) against real PostgreSQL
	$(GO) test -count=1 -timeout 15m ./...

lint: ## go vet and gofmt (opa fmt and opa test run inside go test)
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

e2e: ## browser end-to-end tests only (Debian chromium, chromedp)
	$(GO) test -count=1 -run 'E2E|Narrow' ./internal/e2e/...

.PHONY: screenshots
screenshots: ## refresh docs/screenshots/ from the browser tests
	RDSGATE_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'E2E|Narrow' ./internal/e2e/...

bench: build ## run the benchmarks; figures go to docs/BENCHMARKS.md
	./scripts/bench.sh

clean: ## remove build output and the private dev cluster
	rm -rf bin .data
