# hookd — make targets. `make test` is the one test command (also run by .ci/run).
GO ?= go
BUF ?= $(GO) tool buf

.PHONY: build run generate lint test test-go test-fuzz test-ts check-generated bench

build:
	$(GO) build -o bin/hookd ./cmd/hookd

run:
	$(GO) run ./cmd/hookd serve

generate: node_modules/.bin/protoc-gen-es
	$(BUF) generate

node_modules/.bin/protoc-gen-es:
	npm ci --no-audit --no-fund

lint:
	$(GO) vet ./...
	$(BUF) lint
	$(BUF) format -d --exit-code

check-generated: generate
	@git diff --exit-code --stat -- gen || (echo "gen/ is stale: run 'make generate' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen && echo "gen/ has untracked files: run 'make generate' and commit" && exit 1)

test-go:
	$(GO) test -race -timeout 8m ./...

# A short fuzzing run of the trigger body parser beyond its seed corpus (which test-go already runs); raise
# FUZZTIME to fuzz longer.
FUZZTIME ?= 15s
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseBody$$' -fuzztime $(FUZZTIME) ./server/trigger/

sdk/typescript/node_modules: sdk/typescript/package-lock.json
	cd sdk/typescript && npm ci --no-audit --no-fund
	@touch $@

# TypeScript SDK: builds it, starts a real hookd, runs Node's test runner and one headless-Chromium test.
test-ts: sdk/typescript/node_modules
	cd sdk/typescript && npm test

test: lint check-generated test-go test-fuzz test-ts

# The delivery benchmark (see README "Benchmark"); BENCH_ARGS passes flags, e.g. BENCH_ARGS="--events 50000".
bench:
	$(GO) run ./cmd/hookd bench $(BENCH_ARGS)
