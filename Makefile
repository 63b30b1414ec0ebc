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
# The run folders (or folders of runs) `make report` writes reports of.
RUNS           ?= runs
# Flags of the side-by-side benchmark, e.g. REFBENCH_FLAGS='-run mb2 -threads 1', or '-same-malloc'
# (both sides on one identical malloc policy) or '-ops' (libtorch op counts of a step).
REFBENCH_FLAGS ?=
# Flags of the time-to-accuracy comparison (make bench-train), e.g. for a smoke run
# BENCH_TRAIN_FLAGS='-acc-train 64 -acc-val 16 -acc-epochs 2 -acc-runs 1'.
BENCH_TRAIN_FLAGS ?=
# How long `make fuzz` runs each fuzz target.
FUZZTIME       ?= 60s

# The reference implementation the golden tests compare with: qfgaohao/pytorch-ssd at this
# commit, exported by `make reference REF=<git URL, local clone or bare git dir>` into
# build/reference, which SSD_REFERENCE then names (internal/reftest finds it only there).
REFERENCE_COMMIT := 7a839cbc8c3fb39679856b4dc42a1ab19ec07581
REFERENCE_DIR    := $(BUILD)/reference
REF              ?= https://github.com/qfgaohao/pytorch-ssd.git
ifneq ($(wildcard $(REFERENCE_DIR)/vision/ssd/ssd.py),)
export SSD_REFERENCE ?= $(REFERENCE_DIR)
endif
# The interpreter with torch that runs the reference (internal/reftest's default).
export SSD_PYTHON ?= /usr/bin/python3

# ONNX Runtime for the ONNX export tests: the npm package onnxruntime-node (it carries the Linux
# x64 libonnxruntime.so.1 and its Node binding), installed by `make onnxruntime` into
# build/onnxruntime, which SSD_ONNXRUNTIME then names (runner/export's tests skip without it).
ORT_VERSION := 1.20.1
ORT_DIR     := $(BUILD)/onnxruntime
ifneq ($(wildcard $(ORT_DIR)/node_modules/onnxruntime-node/package.json),)
export SSD_ONNXRUNTIME ?= $(ORT_DIR)/node_modules/onnxruntime-node
endif

# The numerical packages: golden comparisons with the reference and libtorch's kernels.
# `make test-matrix` runs them under every CPU kernel and thread setting of MATRIX, and
# `make test` under the two of CI_SETTINGS (besides the default run of every test).
NUM_PKGS := ./components/anchors ./components/backbone ./components/boxes ./components/head \
            ./components/loss ./components/metric ./components/model ./components/optimizer \
            ./components/postprocess ./components/scheduler ./components/target ./components/transform
# (NAME= stands for NAME unset.)
MATRIX := ATEN_CPU_CAPABILITY=default ATEN_CPU_CAPABILITY=avx2 \
          OPENBLAS_CORETYPE= OPENBLAS_CORETYPE=Haswell OPENBLAS_CORETYPE=Sandybridge OPENBLAS_CORETYPE=Prescott \
          OMP_NUM_THREADS=1 OMP_NUM_THREADS=2
CI_SETTINGS := ATEN_CPU_CAPABILITY=default,OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Prescott,OMP_NUM_THREADS=2
# The concurrent packages that `make test` runs under the race detector (-short).
RACE_PKGS := ./runner/loader ./registry ./internal/jpeg ./runner/download/... ./runner/detect ./runner/predict
RACE_TORCH_RUN := Scope
# One line per reference comparison ("ran …" / "skipped …: why"), summed up by `make test`.
REFTEST_LOG := $(BUILD)/reftest.log

.PHONY: help setup build test test-short test-hostile test-cluster test-matrix test-reference test-race test-export onnxruntime reference reftest-summary bench bench-train run report lint fmt fuzz clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install libtorch-dev if missing, prepare build/stubs and the patched gotch copy (idempotent)
	@$(COMPAT)/setup.sh $(ROOT)

build: setup ## build bin/runner
	go build -o $(BIN) ./runner/cmd/runner

test: setup ## gofmt, vet, every test (ONNX Runtime installed first), the golden packages under two more CPU settings, -race, the bad-input corpus and signals, fuzz briefly; then the reference-comparison count
	@$(MAKE) --no-print-directory onnxruntime || echo "warning: ONNX Runtime could not be installed; the ONNX export comparisons will be skipped"
	@set -o pipefail; rc=0; rm -f $(REFTEST_LOG); \
	if [ -f $(ORT_DIR)/node_modules/onnxruntime-node/package.json ]; then export SSD_ONNXRUNTIME=$(ORT_DIR)/node_modules/onnxruntime-node; fi; \
	out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; rc=1; fi; \
	go vet $(PKGS) || rc=1; \
	SSD_REFTEST_LOG=$(REFTEST_LOG) go test -count=1 -timeout 30m $(PKGS) || rc=1; \
	for s in $(CI_SETTINGS); do \
	  echo "go test $(NUM_PKGS) with $${s//,/ }"; \
	  env $${s//,/ } go test -count=1 -timeout 30m $(NUM_PKGS) || rc=1; \
	done; \
	$(MAKE) --no-print-directory test-race || rc=1; \
	$(MAKE) --no-print-directory test-hostile || rc=1; \
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s || rc=1; \
	$(MAKE) --no-print-directory reftest-summary; \
	exit $$rc

test-short: setup ## run the tests without the slow ones (-short)
	go test -short $(PKGS)

test-hostile: build ## run the bad-input corpus through bin/runner, each case under a time and memory cap; fails on a panic, hang or crash
	$(ROOT)/scripts/hostile.sh $(BIN)

test-cluster: build ## a single-node Slurm here (apt-installs slurm-wlm and munge; root): a 3-trial sweep as an array job, its report checked; the Nomad job parsed by Nomad's own parser; a 2-task data-parallel training
	$(ROOT)/scripts/cluster/test-cluster.sh $(BIN)

test-race: setup ## the concurrent packages (loader, registry, jpeg, downloads, detect, predict, torch scopes) under the race detector, -short
	go test -race -short -count=1 $(RACE_PKGS)
	go test -race -short -count=1 -run '$(RACE_TORCH_RUN)' ./internal/torch

test-matrix: setup ## the numerical packages (NUM_PKGS) under each setting of MATRIX, one at a time
	@rc=0; for s in $(MATRIX); do \
	  log=$(BUILD)/matrix-$${s//[^A-Za-z0-9_]/_}.log; \
	  printf '%-32s ' "$$s"; \
	  set -- "$$s"; [ -n "$${s#*=}" ] || set -- -u "$${s%%=*}"; \
	  if env "$$@" go test -count=1 -timeout 30m -v $(NUM_PKGS) > $$log 2>&1; then echo "ok   ($$log)"; else echo "FAIL ($$log)"; rc=1; fi; \
	done; exit $$rc

test-reference: setup ## every reference comparison, failing (not skipping) when the reference or torch is absent
	SSD_REQUIRE_REFERENCE=1 go test -count=1 -timeout 30m -run 'Golden|Reference|Torchvision' $(PKGS)

test-export: setup onnxruntime ## the export tests, failing (not skipping) when ONNX Runtime, python3-torch or the reference is absent
	SSD_ONNXRUNTIME=$(ORT_DIR)/node_modules/onnxruntime-node SSD_REQUIRE_ONNXRUNTIME=1 SSD_REQUIRE_REFERENCE=1 \
	  go test -count=1 -timeout 30m ./runner/export/... ./internal/onnx

onnxruntime: ## install ONNX Runtime for Node (npm onnxruntime-node at ORT_VERSION, --ignore-scripts) into build/onnxruntime (idempotent)
	@if [ "$$(cat $(ORT_DIR)/.version 2>/dev/null)" = "$(ORT_VERSION)" ] && [ -f $(ORT_DIR)/node_modules/onnxruntime-node/package.json ]; then \
	  echo "onnxruntime: onnxruntime-node $(ORT_VERSION) ready in $(ORT_DIR)"; exit 0; fi; \
	command -v node >/dev/null && command -v npm >/dev/null || { echo "onnxruntime: node and npm are needed (Debian: apt-get install nodejs npm)"; exit 1; }; \
	rm -rf $(ORT_DIR) && mkdir -p $(ORT_DIR) && cd $(ORT_DIR) && echo '{"private": true}' > package.json && \
	npm install --ignore-scripts --no-audit --no-fund --loglevel=error onnxruntime-node@$(ORT_VERSION) && \
	echo $(ORT_VERSION) > .version && echo "onnxruntime: onnxruntime-node $(ORT_VERSION) installed in $(ORT_DIR)"

reference: ## export the pinned reference commit into build/reference (REF=<git URL, local clone or bare git dir>)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git clone --quiet --bare "$(REF)" "$$tmp/ref.git"; \
	mkdir "$$tmp/tree"; git --git-dir="$$tmp/ref.git" archive $(REFERENCE_COMMIT) | tar -x -C "$$tmp/tree"; \
	echo $(REFERENCE_COMMIT) > "$$tmp/tree/.reference-commit"; \
	rm -rf $(REFERENCE_DIR); mkdir -p $(BUILD); mv "$$tmp/tree" $(REFERENCE_DIR); \
	echo "reference $(REFERENCE_COMMIT) exported to $(REFERENCE_DIR); make exports SSD_REFERENCE to it"

reftest-summary: # the count of reference comparisons in $(REFTEST_LOG), with the reasons of the skips
	@if [ -s $(REFTEST_LOG) ]; then \
	  echo "reference comparisons: $$(grep -c '^ran ' $(REFTEST_LOG)) ran, $$(grep -c '^skipped ' $(REFTEST_LOG)) skipped, $$(grep -c '^failed ' $(REFTEST_LOG)) failed for want of the reference"; \
	  grep -E '^(skipped|failed) ' $(REFTEST_LOG) | sed -E 's/^(skipped|failed) [^:]*: /\1: /' | sort | uniq -c; \
	else echo "reference comparisons: none recorded ($(REFTEST_LOG) is empty)"; fi

bench: build ## benchmarks: Go micro-benchmarks (data-parallel: 1 process x 2 threads vs 2 x 1), then ours vs the reference side by side, with page faults and CPU time per step, the training cases' ratios under both malloc policies side by side, ending with whole epochs of runner apply vs train_ssd.py (REFBENCH_FLAGS='-run step -same-malloc')
	go test -p 1 -run '^$$' -bench . -benchtime 1x $(PKGS)
	go run ./internal/refbench -runner $(BIN) $(REFBENCH_FLAGS)

bench-train: build ## time to accuracy: runner apply vs train_ssd.py, same set, recipe and epochs, both final models through runner eval (VOC07 mAP, wall times); long: 2 runs a side of 5 epochs over 800 images (BENCH_TRAIN_FLAGS to shrink)
	go run ./internal/refbench -runner $(BIN) -time-to-accuracy $(BENCH_TRAIN_FLAGS)

run: build ## train the built-in default experiment (quickstart: synthetic data, no downloads) into runs/
	$(BIN) apply $(RUN_EXPERIMENT) $(RUN_FLAGS)

report: build ## write the report (report.html, report.md, charts) of every run below RUNS (default runs/)
	$(BIN) report $(RUNS)

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
