#!/usr/bin/env bash
# test-cluster.sh — `make test-cluster`: run a sweep on a real Slurm, and check the Nomad job
# with Nomad's own parser.
#
#   1. bring up a single-node Slurm on this machine (slurm-up.sh: apt-installs slurm-wlm and
#      munge when missing; root), unless one is up already;
#   2. `runner sweep emit --to slurm` of scripts/cluster/tiny-lr-sweep.hcl (3 learning rates,
#      2 epochs on 16 images, median early stopping), submitted with `bash`: an array job of
#      3 tasks and the report job that waits for it;
#   3. check the sweep folder: every trial finished or stopped (with its decisions recorded),
#      ranking.csv ranks all three, report.html and report.md exist;
#   4. submit again: every task finds its trial done and skips it;
#   5. `runner sweep emit --to nomad` of the same sweep, parsed by Nomad's jobspec2 in the
#      separate module test/nomad (Nomad's dependencies stay out of the product's go.mod),
#      and a broken copy refused by it;
#   6. a 2-task data-parallel training from `runner launch emit --to slurm` (ddp-2task.sh);
#   7. tear the cluster down if this script brought it up (KEEP=1 keeps the work folder).
#
#   scripts/cluster/test-cluster.sh [RUNNER_BINARY]
# Environment: SLURM_TEST_DIR (the cluster's state folder), TEST_CLUSTER_TIMEOUT (seconds per
# submission; default 900).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$(dirname "${1:-$root/bin/runner}")" && pwd)/$(basename "${1:-$root/bin/runner}")
state=${SLURM_TEST_DIR:-/tmp/ssdrunner-slurm}
timeout=${TEST_CLUSTER_TIMEOUT:-900}
sweepfile=$root/scripts/cluster/tiny-lr-sweep.hcl
log() { echo "test-cluster: $*"; }
fail() { echo "test-cluster: FAIL: $*" >&2; exit 1; }

[ -x "$bin" ] || fail "no runner binary at $bin (make build)"
up_before=false
if [ -s "$state/slurmctld.pid" ] && kill -0 "$(cat "$state/slurmctld.pid")" 2>/dev/null; then up_before=true; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ssdrunner-cluster.XXXXXX")
cleanup() {
  $up_before || "$root/scripts/cluster/slurm-down.sh" "$state" || true
  if [ -n "${KEEP:-}" ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$root/scripts/cluster/slurm-up.sh" "$state"
# shellcheck disable=SC1091
source "$state/env.sh"
cd "$work"

# waits until no job of this sweep is queued or running
wait_jobs() {
  local t=0
  while squeue -h -o %j | grep -q '^sweep-tiny-lr-sweep-lr'; do
    t=$((t + 5)); [ "$t" -le "$timeout" ] || { squeue; fail "the jobs did not end in ${timeout}s"; }
    sleep 5
  done
}

log "Slurm: emit and submit the 3-trial sweep"
"$bin" sweep emit --to slurm "$sweepfile" --cpus 1 --runner "$bin" --out sweep.sbatch
bash sweep.sbatch
wait_jobs
sweep=$work/runs/tiny-lr-sweep/lr
for f in sweep.json report.html report.md ranking.csv charts/best_so_far.png charts/metric_vs_optimizer.lr.svg; do
  [ -s "$sweep/$f" ] || { tail -n 30 "$sweep"/slurm-*.out >&2 || true; fail "$sweep/$f is missing"; }
done
for i in 0 1 2; do
  t=$sweep/trial-00$i
  grep -Eq '"status": "(finished|stopped)"' "$t/trial.json" || { cat "$t/trial.json" "$sweep"/slurm-*_$i.out >&2; fail "trial-00$i did not finish"; }
  [ -s "$t/checkpoints/last.pt" ] || fail "trial-00$i has no checkpoint"
done
grep -q '"rule": "median"' "$sweep/trial-002/trial.json" || fail "trial-002 has no early-stopping decision"
ranks=$(tail -n +2 "$sweep/ranking.csv" | cut -d, -f1 | tr '\n' ' ')
[ "$ranks" = "1 2 3 " ] || fail "ranking.csv ranks '$ranks', want '1 2 3'"
log "Slurm: the report ranks the 3 trials ($(sed -n 2p "$sweep/ranking.csv" | cut -d, -f2-3))"

log "Slurm: submit again; every task finds its trial done"
before=$(ls "$sweep"/slurm-*_0.out | wc -l)
bash sweep.sbatch
wait_jobs
for i in 0 1 2; do
  out=$(ls -t "$sweep"/slurm-*_$i.out | head -1)
  grep -q "trial already done" "$out" || { cat "$out" >&2; fail "the second submission re-ran trial-00$i"; }
done
[ "$(ls "$sweep"/slurm-*_0.out | wc -l)" -gt "$before" ] || fail "the second submission did not run"

log "Nomad: emit the job and parse it with Nomad's own parser"
"$bin" sweep emit --to nomad "$sweepfile" --cpus 1 --runner "$bin" --out "$work/sweep.nomad.hcl"
(cd "$root/test/nomad" && GOWORK=off go run . "$work/sweep.nomad.hcl" 3)
sed 's/hook = "poststop"/hook = "poststop"\n    bogus = 1/' "$work/sweep.nomad.hcl" >"$work/broken.nomad.hcl"
if (cd "$root/test/nomad" && GOWORK=off go run . "$work/broken.nomad.hcl" 3) 2>/dev/null; then
  fail "Nomad's parser accepted a job with an unknown attribute: the check checks nothing"
fi

# 6. data-parallel training on the same Slurm: `runner launch emit --to slurm`, 1 node x 2
#    tasks, submitted and waited for (scripts/cluster/ddp-2task.sh).
"$root/scripts/cluster/ddp-2task.sh" "$bin"
log "ok"
