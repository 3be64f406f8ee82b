# hookd — make targets. `make test` is the one test command (also run by .ci/run).
GO ?= go
BUF ?= $(GO) tool buf

.PHONY: build run generate lint test test-go test-fuzz test-ts check-generated bench console test-console

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

check-generated: generate console
	@git diff --exit-code --stat -- gen server/console/dist || (echo "gen/ or server/console/dist/ is stale: run 'make generate console' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- gen server/console/dist)" || (git status --porcelain -- gen server/console/dist && echo "gen/ or server/console/dist/ has untracked files: run 'make generate console' and commit" && exit 1)

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

console/node_modules: console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	@touch $@

# The web console (console/, see README "Console"): builds @hookd/client, then the app into server/console/dist
# (committed; embedded in the binary).
console: sdk/typescript/node_modules console/node_modules
	cd sdk/typescript && npm run build
	cd console && npm run build

# Console: component tests (Vitest), then the browser test (playwright-core + /usr/bin/chromium, a real hookd).
test-console: console
	cd console && npm test && npm run test:browser

test: lint check-generated test-go test-fuzz test-ts test-console

# The delivery benchmark (see README "Benchmark"); BENCH_ARGS passes flags, e.g. BENCH_ARGS="--events 50000".
bench:
	$(GO) run ./cmd/hookd bench $(BENCH_ARGS)
