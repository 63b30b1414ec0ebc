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
# Open Images download folders: a FIFO for the descriptions, random bytes for an annotation
# file (the server, a closed port, cannot be asked: the files present are used).
mkdir -p "$tmp/oi-fifo" "$tmp/oi-random"
mkfifo "$tmp/oi-fifo/class-descriptions-boxable.csv"
printf '/m/0gxl3,Handgun\n' > "$tmp/oi-random/class-descriptions-boxable.csv"
head -c 100000 /dev/urandom > "$tmp/oi-random/train-annotations-bbox.csv"
oi="data download open-images --base-url http://127.0.0.1:1 --images-url http://127.0.0.1:1 --retry 1 --classes Handgun"
# Run folders for report and compare: a FIFO, /dev/zero and random bytes in place of their files.
mkdir -p "$tmp/run-fifo" "$tmp/run-zero" "$tmp/run-random/evals"
mkfifo "$tmp/run-fifo/metrics.jsonl"
echo '{}' > "$tmp/run-fifo/experiment.json"
ln -s /dev/zero "$tmp/run-zero/metrics.jsonl"
echo '{}' > "$tmp/run-zero/experiment.json"
head -c 4096 /dev/urandom > "$tmp/run-random/metrics.jsonl"
head -c 4096 /dev/urandom > "$tmp/run-random/summary.json"

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
  "$oi --root $tmp/oi-fifo"
  "$oi --root $tmp/oi-random"
  "$oi --root /dev/null"
  "$oi --root $tmp/oi --filter-file /dev/zero"
  "$oi --root $tmp/oi --filter-file $tmp/fifo.hcl"
  "$oi --root $tmp/oi --classes Handgun:x:y:z"
  "report $tmp/run-fifo"
  "report $tmp/run-zero"
  "report $tmp/run-random"
  "report /dev/zero"
  "compare --out $tmp/cmp $tmp/run-fifo $tmp/run-random"
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

# Signals: a slow plan, data check and apply get SIGINT (or SIGTERM) while they work and
# must end promptly with exit 130: 60,000 VOC annotations take seconds to read, so the
# signal lands in the middle of the reading.
voc="$tmp/voc"
mkdir -p "$voc/Annotations" "$voc/JPEGImages" "$voc/ImageSets/Main"
awk -v d="$voc" 'BEGIN { for (i = 0; i < 60000; i++) { id = sprintf("%06d", i)
  f = d "/Annotations/" id ".xml"
  print "<annotation><size><width>300</width><height>300</height><depth>3</depth></size><object><name>circle</name><difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>100</xmax><ymax>100</ymax></bndbox></object></annotation>" > f; close(f)
  g = d "/JPEGImages/" id ".jpg"; printf "" > g; close(g)
  print id > (d "/ImageSets/Main/trainval.txt") } }'
printf 'inherits = ["%s"]\ndata {\n  train "voc" {\n    roots = ["%s"]\n    split = "trainval"\n  }\n  validation "voc" {\n    roots = ["%s"]\n    split = "trainval"\n  }\n}\n' \
  "$ROOT/experiments/quickstart.hcl" "$voc" "$voc" > "$tmp/slow.hcl"
signal_case() { # signal, log line to wait for, seconds after it, seconds allowed after the signal, args...
  local sig=$1 ready=$2 after=$3 allowed=$4 pid start end rc
  shift 4
  "$RUNNER" --log-level debug "$@" >"$tmp/signal.out" 2>&1 </dev/null &
  pid=$!
  # The signal goes once the command is at work (its debug log line is out), not after a
  # fixed delay: on a loaded machine start-up alone can take seconds, and a signal that
  # lands before the handler is installed is not what this case tests.
  for _ in $(seq 1200); do grep -q "$ready" "$tmp/signal.out" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  sleep "$after"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    echo "skip (ended before SIG$sig, exit $?): $*"
    return
  fi
  start=$(date +%s%N)
  kill -s "$sig" "$pid"
  for _ in $(seq $((allowed * 20))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; wait "$pid"
    echo "FAIL (still running ${allowed}s after SIG$sig): $*"; fail=1; return
  fi
  wait "$pid"; rc=$?
  end=$(date +%s%N)
  if [ $rc -ne 130 ] || grep -qE '^(panic:|fatal error:)|SIGSEGV' "$tmp/signal.out"; then
    echo "FAIL (exit $rc after SIG$sig, want 130): $*"; tail -n 20 "$tmp/signal.out" | sed 's/^/    /'; fail=1
  else
    echo "ok   (exit $rc, $(( (end - start) / 1000000 )) ms after SIG$sig): $*"
  fi
}
# The limit is 5 s: well under a second on a quiet machine (see the ms printed), with
# room for a heavily loaded one.
signal_case INT "libtorch threads" 0.5 5 plan "$tmp/slow.hcl"
signal_case TERM "libtorch threads" 0.5 5 plan "$tmp/slow.hcl"
signal_case INT "reading annotations" 0.5 5 data check "$tmp/slow.hcl"
# apply finishes the step in progress and writes its checkpoint before it exits.
signal_case INT "libtorch threads" 5 60 apply experiments/quickstart.hcl --set output.dir="$tmp/runs"

if [ $fail -ne 0 ]; then
  echo "hostile: some cases panicked, hung or crashed"
  exit 1
fi
echo "hostile: every case ended with an error of its own (or success), none crashed"
