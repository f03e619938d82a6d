# smolbottle — see README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/smolbottle/smolbottle/internal/bottlecli.Version=$(VERSION)
BIN     := bin

.PHONY: all build test lint update demo bench conformance conformance-real clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# The test command CI runs: lint, then every test with the race detector.
test: lint
	$(GO) test -race -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags realvm ./...
	$(GO) mod tidy -diff

# Rewrite golden files and testscript expectations from the current output.
update:
	$(GO) test ./... -update

# Latency of the built fake binary: exec, start, 1 MiB cp (ms/median).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 200x ./internal/fakesmolvm/

# The conformance suite (conformance/) against fake-smolvm, then against a
# real smolvm ($$SMOLVM or PATH; $$CONFORMANCE_IMAGE for the image model). Run
# in the package directory so the summary and the skipped list always show.
conformance:
	cd conformance && $(GO) test -count=1

conformance-real:
	cd conformance && $(GO) test -count=1 -tags realvm

clean:
	rm -rf $(BIN)
