#!/usr/bin/env bash
# ddp-2task.sh — the data-parallel check of `make test-cluster`: on a running Slurm (the
# single-node one of slurm-up.sh, its env.sh sourced), `runner launch emit --to slurm` of the
# quickstart shortened to 2 epochs on 16 images, 1 node x 2 tasks, submitted with
# `sbatch --wait`; then the run folder must say finished, written by rank 0 alone, and the
# job's output must show both ranks joining a world of 2.
#
#   scripts/cluster/ddp-2task.sh [RUNNER_BINARY]
# Environment: TEST_CLUSTER_TIMEOUT (seconds for the job; default 900), KEEP=1 keeps the
# work folder.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$(dirname "${1:-$root/bin/runner}")" && pwd)/$(basename "${1:-$root/bin/runner}")
timeout=${TEST_CLUSTER_TIMEOUT:-900}
log() { echo "ddp-2task: $*"; }
fail() { echo "ddp-2task: FAIL: $*" >&2; exit 1; }

[ -x "$bin" ] || fail "no runner binary at $bin (make build)"
command -v sbatch >/dev/null || fail "no sbatch on PATH: start Slurm (scripts/cluster/slurm-up.sh) and source its env.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/ssdrunner-ddp.XXXXXX")
cleanup() { if [ -n "${KEEP:-}" ]; then log "work folder kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
cd "$work"

"$bin" launch emit --to slurm "$root/experiments/quickstart.hcl" --nodes 1 --tasks-per-node 2 --cpus-per-task 1 \
  --runner "$bin" --dist-timeout 2m --out ddp.sbatch \
  --set output.dir="$work/runs" --set training.epochs=2 --set training.validate_every=2 --set training.threads=1 \
  --set data.train.count=16 --set data.validation.count=8 --set data.batch_size=4 --set data.workers=1 \
  -- --run-name ddp2
log "submitting 1 node x 2 tasks"
timeout "$timeout" sbatch --wait ddp.sbatch || { cat ddp-*.out 2>/dev/null || true; fail "the job failed or took more than ${timeout}s"; }

out=$(ls ddp-*.out)
run=$work/runs/quickstart/ddp2
grep -q '"status": "finished"' "$run/summary.json" || { cat "$out"; fail "$run/summary.json does not say finished"; }
grep -q '"epochs_done": 2' "$run/summary.json" || fail "not 2 epochs done"
[ -f "$run/checkpoints/last.pt" ] || fail "no checkpoints/last.pt"
for r in 0 1; do
  grep -q "joined the data-parallel job.*rank=$r.*world=2" "$out" || { cat "$out"; fail "rank $r did not join a world of 2"; }
done
[ "$(ls "$work/runs/quickstart")" = ddp2 ] || fail "more than one run folder: $(ls "$work/runs/quickstart")"
log "ok: 2 ranks trained $run ($(grep -o '"steps": [0-9]*' "$run/summary.json"))"
