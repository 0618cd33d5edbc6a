# bbllive — see README.md. Every target works on a fresh Debian machine once
# `make deps` (or .ci/run) has installed ffmpeg, clang and staticcheck.

GO       ?= go
BIN      ?= bin/bbllive
TUNE     ?= plan
FUZZTIME ?= 10s
# A worker that finds new coverage minimizes the input before it reports
# it, for up to a minute by default; the handshake's 3 KB inputs then took
# a whole brief run, which fuzzed nothing.
FUZZMINTIME ?= 1s
# The version `bbllive version` prints; the binary adds the VCS revision
# the Go toolchain embeds (runtime/debug.ReadBuildInfo). -buildvcs=auto on
# the command line wins over a GOFLAGS=-buildvcs=false in the environment.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)

.PHONY: all build run test lint fuzz bench tune generate deps clean

all: build

build:
	$(GO) build -buildvcs=auto -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/bbllive

run:
	$(GO) run ./cmd/bbllive

test:
	$(GO) test -count=1 -timeout 30m ./...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Every fuzz target in the repository, briefly: found by name, so a new
# parser's target is fuzzed without anyone remembering to list it here.
fuzz:
	@set -e; \
	for hit in $$(git grep -o -E '^func Fuzz[A-Za-z0-9_]+' -- '*_test.go' | sed 's/:func /:/'); do \
		dir=./$$(dirname $${hit%%:*}); name=$${hit##*:}; \
		echo "fuzz $$dir $$name"; \
		$(GO) test $$dir -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME); \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./rtmp ./fanout ./fanout/flv ./fanout/fmp4

# make tune             print the kernel-tuning plan
# make tune TUNE=apply  apply it (root); make tune TUNE=revert undoes it
tune:
	$(GO) run ./cmd/bbllive tune $(TUNE) $(TUNE_FLAGS)

# Rebuild the BPF objects (needs clang, llvm, libbpf-dev); the output is committed.
generate:
	$(GO) generate ./bpf

deps:
	sh .ci/deps.sh

clean:
	rm -rf bin
