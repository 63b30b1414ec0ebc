# ssdrunner — train and evaluate SSD detectors from HCL experiment files.
# `make help` lists the targets. Every target that compiles runs `setup` first, and the CGO
# flags that gotch needs against Debian's libtorch are exported here, so nothing has to be
# sourced (third_party/gotch-compat/env.sh exports the same for calling `go` directly).

SHELL := bash
.DEFAULT_GOAL := help

ROOT    := $(CURDIR)
COMPAT  := $(ROOT)/third_party/gotch-compat
BUILD   := $(ROOT)/build
BIN     := $(ROOT)/bin/runner
PKGS    := ./...

export CGO_CXXFLAGS := -include $(COMPAT)/gotch_compat.h -DGOTCH_COMPAT_SHA=$(shell sha256sum $(COMPAT)/gotch_compat.h | cut -c1-16) -I/usr/include/torch/csrc/api/include
export CGO_LDFLAGS  := -L$(BUILD)/stubs
export GOTCH_CACHE  ?= $(BUILD)/gotch-cache
# The workspace setup writes (go.work: gotch => build/gotch), named explicitly so that a GOWORK
# set in the caller's environment cannot make a target build the unpatched gotch.
export GOWORK       := $(ROOT)/go.work

# The experiment `make run` executes, and extra flags for it (e.g. RUN_FLAGS='--set training.epochs=1').
RUN_EXPERIMENT ?= experiments/quickstart.hcl
RUN_FLAGS      ?=
# Flags of the side-by-side benchmark, e.g. REFBENCH_FLAGS='-run mb2 -threads 1'.
REFBENCH_FLAGS ?=
# How long `make fuzz` runs each fuzz target.
FUZZTIME       ?= 60s

.PHONY: help setup build test test-short test-hostile bench run lint fmt fuzz clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install libtorch-dev if missing, prepare build/stubs and the patched gotch copy (idempotent)
	@$(COMPAT)/setup.sh $(ROOT)

build: setup ## build bin/runner
	go build -o $(BIN) ./runner/cmd/runner

test: setup ## run every test (first run compiles gotch's C++: a few minutes), then the fuzz targets briefly
	go vet $(PKGS)
	go test -count=1 $(PKGS)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

test-short: setup ## run the tests without the slow ones (-short)
	go test -short $(PKGS)

test-hostile: build ## run the bad-input corpus through bin/runner, each case under a time and memory cap; fails on a panic, hang or crash
	$(ROOT)/scripts/hostile.sh $(BIN)

bench: setup ## benchmarks: Go micro-benchmarks, then ours vs the reference side by side as ratios (REFBENCH_FLAGS='-run mb1')
	go test -run '^$$' -bench . -benchtime 1x $(PKGS)
	go run ./internal/refbench $(REFBENCH_FLAGS)

run: build ## train the built-in default experiment (quickstart: synthetic data, no downloads) into runs/
	$(BIN) apply $(RUN_EXPERIMENT) $(RUN_FLAGS)

lint: setup ## gofmt -l and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)

fmt: build ## gofmt the Go sources and runner-fmt the experiments
	gofmt -w $$(git ls-files '*.go')
	$(BIN) fmt experiments

fuzz: setup ## run every fuzz target for FUZZTIME each (default 60s); all run even if one fails
	@FUZZTIME=$(FUZZTIME) $(ROOT)/scripts/fuzz.sh $(PKGS)

clean: ## remove build outputs (build/, bin/, go.work)
	rm -rf $(BUILD) $(ROOT)/bin $(ROOT)/go.work $(ROOT)/go.work.sum
