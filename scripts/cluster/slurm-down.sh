#!/usr/bin/env bash
# slurm-down.sh — stop the single-node Slurm that slurm-up.sh started: slurmd, slurmctld
# (by their pid files) and munged when slurm-up started it. The state folder is kept for its
# logs unless --purge.
#
#   scripts/cluster/slurm-down.sh [--purge] [DIR]
set -uo pipefail

purge=false
if [ "${1:-}" = --purge ]; then purge=true; shift; fi
dir=${1:-${SLURM_TEST_DIR:-/tmp/ssdrunner-slurm}}
log() { echo "slurm-down: $*" >&2; }

stop() { # stop NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL
  local name=$1 pidfile=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
  log "stopping $name ($pid)"
  kill "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
}

if [ -s "$dir/env.sh" ]; then
  # cancel what is left, so that slurmd does not leave job steps behind
  (source "$dir/env.sh"; scancel --full --quiet --user="$(id -un)" 2>/dev/null || true)
fi
stop slurmd "$dir/slurmd.pid"
stop slurmctld "$dir/slurmctld.pid"
if [ -e "$dir/munged.ours" ]; then
  stop munged /run/munge/munged.pid
  rm -f "$dir/munged.ours"
fi
if $purge; then rm -rf "$dir"; log "removed $dir"; fi
exit 0
