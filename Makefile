# hookd — make targets. `make test` is the one test command (also run by .ci/run): on a fresh machine
# with Go, Node 20+ and npm it installs what else it needs (npm packages; Debian's chromium when run as
# root) and tells in one line how to get what it cannot install.
GO ?= go
BUF ?= $(GO) tool buf
# Every Go module of the repository: the server (root), the generated code, the Go SDK.
GO_MODULES := . gen sdk/go
# The Chromium the TypeScript SDK's browser test drives (Debian's package; never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
APT_GET ?= apt-get

.PHONY: build run generate lint test test-go test-fuzz test-ts check-generated bench chromium console test-console

build:
	$(GO) build -o bin/hookd ./cmd/hookd

run:
	$(GO) run ./cmd/hookd serve

generate: node_modules/.bin/protoc-gen-es
	$(BUF) generate

node_modules/.bin/protoc-gen-es: package-lock.json
	@echo "make: installing the code generator's npm packages (npm ci)"
	npm ci --no-audit --no-fund
	@touch $@

# go vet, staticcheck and a go.mod/go.sum freshness check in every module, then buf's lint and format checks.
# staticcheck (honnef.co/go/tools, a `go tool` of the root module, with its default checks) is built once from the
# root module and run in each module: `go tool -n` prints the cached binary.
lint:
	@set -e; sc="$$($(GO) tool -n staticcheck)"; for m in $(GO_MODULES); do \
	  echo "go vet ./... && staticcheck ./... && go mod tidy -diff  (module $$m)"; \
	  (cd $$m && $(GO) vet ./... && "$$sc" ./... && $(GO) mod tidy -diff) || { echo "module $$m: fix the above (go.mod/go.sum: cd $$m && go mod tidy)"; exit 1; }; \
	done
	$(BUF) lint
	$(BUF) format -d --exit-code

# Regenerates gen/ and the console build and fails if that changed anything; the gen module must still build and
# be tidy.
check-generated: generate console
	@git diff --exit-code --stat -- gen internal/console/dist || (echo "gen/ or internal/console/dist/ is stale: run 'make generate console' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- gen internal/console/dist)" || (git status --porcelain -- gen internal/console/dist && echo "gen/ or internal/console/dist/ has untracked files: run 'make generate console' and commit" && exit 1)
	@cd gen && $(GO) build ./... && $(GO) mod tidy -diff || (echo "gen/go.mod does not fit the generated code: cd gen && go mod tidy, and commit" && exit 1)

# Tests of every Go module (`go test ./...` does not descend into nested modules); all modules run, then
# the target fails if any failed.
test-go:
	@failed=""; for m in $(GO_MODULES); do \
	  echo "go test -race ./...  (module $$m)"; \
	  (cd $$m && $(GO) test -race -timeout 8m ./...) || failed="$$failed $$m"; \
	done; \
	[ -z "$$failed" ] || { echo "go test failed in module(s):$$failed"; exit 1; }

# A short fuzzing run of the trigger body parser beyond its seed corpus (which test-go already runs); raise
# FUZZTIME to fuzz longer.
FUZZTIME ?= 15s
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseBody$$' -fuzztime $(FUZZTIME) ./internal/trigger/

sdk/typescript/node_modules: sdk/typescript/package-lock.json
	@echo "make: installing the TypeScript SDK's npm packages (npm ci in sdk/typescript)"
	cd sdk/typescript && npm ci --no-audit --no-fund
	@touch $@

# Chromium at $(CHROMIUM) for the browser test: present, or installed from Debian's chromium package when
# make runs as root with apt-get; otherwise a one-line how-to.
chromium:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v $(APT_GET) >/dev/null 2>&1; then \
	  echo "make: no Chromium at $(CHROMIUM): installing Debian's chromium package for the TypeScript SDK's browser test (apt-get install chromium)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium; } >/dev/null || true; \
	fi; \
	[ -x "$(CHROMIUM)" ] || { echo "make: the TypeScript SDK's browser test needs Chromium at $(CHROMIUM): install it (Debian/Ubuntu: sudo apt-get install chromium) or point CHROMIUM=/path/to/chromium at one" >&2; exit 1; }

# TypeScript SDK: builds it, starts a real hookd, runs Node's test runner and one headless-Chromium test.
test-ts: sdk/typescript/node_modules chromium
	cd sdk/typescript && CHROMIUM_PATH=$(CHROMIUM) npm test

console/node_modules: console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	@touch $@

# The web console (console/, see README "Console"): builds @hookd/client, then the app into internal/console/dist
# (committed; embedded in the binary).
console: sdk/typescript/node_modules console/node_modules
	cd sdk/typescript && npm run build
	cd console && npm run build

# Console: component tests (Vitest), then the browser test (playwright-core + Chromium, a real hookd).
test-console: console chromium
	cd console && npm test && CHROMIUM_PATH=$(CHROMIUM) npm run test:browser

# chromium first: a machine that cannot run the browser tests fails at once, not after the Go tests.
test: chromium lint check-generated test-go test-fuzz test-ts test-console

# The delivery benchmark (see README "Benchmark"); BENCH_ARGS passes flags, e.g. BENCH_ARGS="--events 50000".
bench:
	$(GO) run ./cmd/hookd bench $(BENCH_ARGS)
