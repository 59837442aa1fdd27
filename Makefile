# Pont. `make run` and `make test` are the two commands a newcomer needs.
GO      ?= go
BIN     := bin
PKGS    := ./...
WASM_PKGS := ./sdk-wasm/... $(shell ls -d plugins/*/adapter | sed 's|^|./|')

.PHONY: all build pont adapters run test vet fmt-check bench clean

all: build

build: pont adapters

pont:
	$(GO) build -o $(BIN)/pont ./cmd/pont

# The reference adapters, built to WASI reactors with their manifests embedded.
adapters: pont
	$(BIN)/pont adapter build --out $(BIN)/adapters

run: build
	$(BIN)/pont dev

test: vet fmt-check
	$(GO) test -count=1 -timeout 9m $(PKGS)

vet:
	$(GO) vet $(PKGS)
	GOOS=wasip1 GOARCH=wasm $(GO) vet $(WASM_PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

clean:
	rm -rf $(BIN) .pont-dev
