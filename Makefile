# Pont. `make run` and `make test` are the two commands a newcomer needs.
GO      ?= go
BIN     := bin
PKGS    := ./...
WASM_PKGS := ./sdk-wasm/... $(shell ls -d plugins/*/adapter | sed 's|^|./|')

.PHONY: all build pont adapters run test vet fmt-check bench soak mutants clean

all: build

build: pont adapters

pont:
	$(GO) build -o $(BIN)/pont ./cmd/pont

# The reference adapters, built to WASI reactors with their manifests embedded.
adapters: pont
	$(BIN)/pont adapter build --out $(BIN)/adapters

run: build
	$(BIN)/pont dev

# A test whose tool is missing here is skipped with what to install
# (internal/testenv): Debian's nodejs npm, curl, clang lld wasi-libc
# libclang-rt-14-dev-wasm32, libxml2-utils (xmllint), xmlsec1 and chromium
# (the browser tests of e2e/, with Node.js 20+). .ci/run installs them all,
# and there a missing tool fails the test (PONT_REQUIRE_BROWSER=1 does that
# for the browser tests alone).
test: vet fmt-check
	@command -v chromium >/dev/null || echo "make test: Chromium is not installed, so the browser tests (e2e/) are SKIPPED. Debian: sudo apt-get install chromium"
	$(GO) test -count=1 -timeout 9m $(PKGS)

vet:
	$(GO) vet $(PKGS)
	GOOS=wasip1 GOARCH=wasm $(GO) vet $(WASM_PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Speed, layer by layer and end to end against a bare Go handler, start time
# and the audit search over 10M records; see BENCHMARKS.md. Needs PostgreSQL:
# $PONT_BENCH_DATABASE_URL, or the machine's at 127.0.0.1:5432. BENCHFLAGS: see go run ./bench/run -h.
bench: build
	GO=$(GO) $(GO) run ./bench/run $(BENCHFLAGS)

# Half an hour of mixed load on pont serve, faulty fixtures and malformed
# requests included; memory, goroutines and open files must end flat. See
# BENCHMARKS.md. SOAKFLAGS: e.g. -soak 5m -soak-rate 100.
soak: build
	GO=$(GO) $(GO) run ./bench/run -parts soak $(SOAKFLAGS)

# Deliberate bugs, one at a time, each removing or weakening a defence of
# SECURITY.md: the tests must catch every one (see bench/mutants/mutations.go).
# Each runs the packages most likely to catch it, then the full suite if they
# do not. Needs PostgreSQL like make test. MUTANTSFLAGS: see go run
# ./bench/mutants -h, e.g. -run 'token|quota' -p 1.
mutants:
	GO=$(GO) $(GO) run ./bench/mutants $(MUTANTSFLAGS)

clean:
	rm -rf $(BIN) .pont-dev
