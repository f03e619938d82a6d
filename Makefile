# smolbottle — see README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/smolbottle/smolbottle/internal/bottlecli.Version=$(VERSION) -X github.com/smolbottle/smolbottle/internal/fakesmolvm.Version=$(VERSION)
BIN     := bin

.PHONY: all build test lint update demo bench conformance conformance-real example-python clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# The test command CI runs: lint, every test with the race detector, then
# the Python example's tests against the built fake.
test: lint
	$(GO) test -race -count=1 -timeout 45m ./...
	$(MAKE) example-python

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags realvm ./...
	$(GO) mod tidy -diff

# The Python example (examples/python): its pytest suite against
# bin/fake-smolvm. It needs a python3 with pytest (Debian: python3-pytest,
# which .ci/run installs); PYTHON picks one.
PYTHON ?= $(shell for p in python3 /usr/bin/python3; do $$p -c 'import pytest' 2>/dev/null && { echo $$p; break; }; done)
example-python: build
	@[ -n "$(PYTHON)" ] || { echo "example-python: no python3 with pytest (Debian: apt-get install python3-pytest)"; exit 1; }
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cd examples/python && FAKE_SMOLVM_BIN="$(CURDIR)/$(BIN)/fake-smolvm" PYTHONDONTWRITEBYTECODE=1 \
	  $(PYTHON) -m pytest -q --basetemp="$$tmp/pytest"

# Rewrite golden files and testscript expectations from the current output.
update:
	$(GO) test ./... -update

# Latency of the built fake binary: exec, start, 1 MiB cp (ms/median); the
# start of a machine from a flattened ~200 MB image against a bare one
# (image/bare, target <= 2) and first-flatten throughput (MB/s).
# Then the PTY-resize bridge: throughput and keystroke round trip against a
# plain PTY (ratios printed last), and resize-to-guest latency p50/p99
# through `bottle pty-resize` and the fake, forwarding or not. Last, what a
# test pays for a private fake (smolvmtest.New and one machine's life).
bench:
	$(GO) test -run '^$$' -bench . -skip Image -benchtime 200x ./internal/fakesmolvm/
	$(GO) test -run '^$$' -bench Image -benchtime 5x ./internal/fakesmolvm/
	@out=$$(mktemp); $(GO) test -run '^$$' -bench . -benchtime 2s ./bottle/ptybridge/ >$$out; st=$$?; \
	awk '{ print } \
	  /^BenchmarkThroughput\/plain/  { for (i = 1; i <= NF; i++) if ($$i == "MB/s") tp = $$(i-1) } \
	  /^BenchmarkThroughput\/bridge/ { for (i = 1; i <= NF; i++) if ($$i == "MB/s") tb = $$(i-1) } \
	  /^BenchmarkKeystroke\/plain/   { for (i = 1; i <= NF; i++) if ($$i == "ns/op") kp = $$(i-1) } \
	  /^BenchmarkKeystroke\/bridge/  { for (i = 1; i <= NF; i++) if ($$i == "ns/op") kb = $$(i-1) } \
	  END { if (tp && tb) printf "bridge throughput: %.2f of a plain PTY copy (target >= 0.8)\n", tb / tp; \
	        if (kp && kb) printf "keystroke round trip: %.1f us, plain PTY %.1f us: +%.1f us (%.2fx)\n", kb / 1000, kp / 1000, (kb - kp) / 1000, kb / kp }' $$out; \
	rm -f $$out; exit $$st
	$(GO) test -run '^$$' -bench ResizeToGuest -benchtime 200x .
	$(GO) test -run '^$$' -bench . -benchtime 20x ./smolvmtest/

# The main command: `bottle run` against fake-smolvm with the agent-stub
# image (the examples/images skeleton completed with the host's static
# busybox), in a throwaway HOME, then the smolvm commands it ran. On a terminal the stub agent follows the window size until Ctrl-C.
# The recipe's shell ignores Ctrl-C so that it outlives bottle's teardown.
demo: build
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; trap '' INT TERM HUP; mkdir -p "$$tmp/bin" "$$tmp/home"; \
	ln -s "$(CURDIR)/$(BIN)/fake-smolvm" "$$tmp/bin/smolvm"; \
	printf '# Task\nFix the flaky test in ./pkg and explain the cause.\n' >"$$tmp/prompt.md"; \
	$(GO) run ./internal/cmd/build-examples examples "$$tmp/examples" || exit 1; \
	export HOME="$$tmp/home" PATH="$$tmp/bin:$$PATH" FAKE_SMOLVM_IMAGES="$$tmp/examples/images"; \
	echo '$$ bottle run --image agent-stub --prompt prompt.md --env PROJECT=demo -- --dangerously-skip-permissions --follow-window'; \
	$(BIN)/bottle run --image agent-stub --prompt "$$tmp/prompt.md" --env PROJECT=demo -- --dangerously-skip-permissions --follow-window; \
	st=$$?; echo "== bottle run exited $$st$$( [ $$st = 130 ] && echo ' (Ctrl-C reached the agent)')"; \
	echo "== the smolvm commands it ran (exit, machine, argv):"; smolvm fake log; \
	echo "== machines left:"; smolvm machine ls; \
	[ $$st = 0 ] || [ $$st = 130 ]

# The conformance suite (conformance/) against fake-smolvm, then against a
# real smolvm ($$SMOLVM or PATH; $$CONFORMANCE_IMAGE for the image model). Run
# in the package directory so the summary and the skipped list always show.
conformance:
	cd conformance && $(GO) test -count=1

conformance-real:
	cd conformance && $(GO) test -count=1 -tags realvm

clean:
	rm -rf $(BIN)
