#!/usr/bin/env bash
# Runs the bad-input corpus through bin/runner, each case under a time and a memory cap,
# and fails if any case panics, hangs, dies of a signal or crashes (exit statuses 1 and 2,
# the command's own errors, are what bad input should get).
#   scripts/hostile.sh [RUNNER]     (default bin/runner)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNNER=${1:-$ROOT/bin/runner}
TIME=${HOSTILE_TIME:-60}          # seconds per case
MEM_KB=${HOSTILE_MEM_KB:-8000000} # virtual memory per case (libtorch maps ~2 GB at start)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$ROOT"

# The corpus: made here from fixtures, so nothing machine-specific is committed.
: > "$tmp/empty.pth"
head -c 700 components/model/testdata/init_tiny.pth > "$tmp/truncated.pth"
head -c 2048 /dev/urandom > "$tmp/random.pth"
mkfifo "$tmp/fifo.hcl"
{ printf 'x = '; head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; echo; } > "$tmp/deep.hcl"
mkdir -p "$tmp/full" && echo keep > "$tmp/full/mine.txt"
: > "$tmp/home-is-a-file"

cases=()
for f in runner/config/testdata/hostile/*.hcl runner/config/testdata/diamond/top.hcl; do
  cases+=("validate $f")
done
cases+=(
  "validate /dev/zero"
  "validate $tmp/fifo.hcl"
  "validate $tmp/deep.hcl"
  "fmt --check $tmp/deep.hcl"
  "fmt --check /dev/zero"
  "fmt --check $tmp/fifo.hcl"
  "validate experiments/quickstart.hcl -var-file /dev/zero"
  "validate experiments/quickstart.hcl --set scheduler.milestones=[80.5,100]"
  "validate experiments/quickstart.hcl --set training.threads=100000"
  "plan experiments/quickstart.hcl --set model.init.base_net=$tmp/empty.pth"
  "plan experiments/quickstart.hcl --set model.init.base_net=$tmp/truncated.pth"
  "plan experiments/quickstart.hcl --set model.init.base_net=$tmp/random.pth"
  "data gen-shapes --out $tmp/full --count 2"
  "eval experiments/quickstart.hcl --checkpoint $tmp/truncated.pth"
  "eval experiments/quickstart.hcl --checkpoint $tmp/random.pth"
  "eval --checkpoint /dev/zero"
  "predict --checkpoint $tmp/empty.pth experiments/quickstart.hcl $tmp/random.pth"
  "predict --checkpoint $tmp/truncated.pth --model mb1-ssd-lite --labels /dev/zero $tmp/fifo.hcl"
  "predict --checkpoint $tmp/random.pth $tmp/fifo.hcl"
)

fail=0
run_case() { # env-prefix, args...
  local out rc
  out=$( (ulimit -v "$MEM_KB"; timeout -s KILL "$TIME" env "$@" </dev/null 2>&1) )
  rc=$?
  if [ $rc -ge 124 ] || grep -qE '^(panic:|fatal error:)|SIGSEGV|goroutine [0-9]+ \[' <<<"$out"; then
    echo "FAIL (exit $rc): $*"
    tail -n 20 <<<"$out" | sed 's/^/    /'
    fail=1
  else
    echo "ok   (exit $rc): $*"
  fi
}
for c in "${cases[@]}"; do
  # shellcheck disable=SC2086
  run_case "$RUNNER" $c
done
run_case HOME="$tmp/home-is-a-file" GOTCH_CACHE= "$RUNNER" --help

if [ $fail -ne 0 ]; then
  echo "hostile: some cases panicked, hung or crashed"
  exit 1
fi
echo "hostile: every case ended with an error of its own (or success), none crashed"
