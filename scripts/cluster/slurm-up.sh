#!/usr/bin/env bash
# slurm-up.sh — bring up a single-node Slurm on this machine, for tests: munge and
# slurmctld + slurmd on localhost, all state in one folder. Installs Debian's slurm-wlm and
# munge with apt when missing (needs root). Idempotent: a cluster already up is left alone.
#
#   scripts/cluster/slurm-up.sh [DIR]     # DIR: state folder (default: $SLURM_TEST_DIR or /tmp/ssdrunner-slurm)
#   source DIR/env.sh                      # SLURM_CONF for sbatch, squeue, sinfo…
#   scripts/cluster/slurm-down.sh [DIR]
#
# Environment: SLURM_TEST_CPUS (CPUs of the node; default: nproc), SLURMCTLD_PORT and
# SLURMD_PORT (default 6817, 6818), SLURM_UP_TIMEOUT (seconds to wait for the node; 60).
set -euo pipefail

dir=${1:-${SLURM_TEST_DIR:-/tmp/ssdrunner-slurm}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cpus=${SLURM_TEST_CPUS:-$(nproc)}
ctld_port=${SLURMCTLD_PORT:-6817}
slurmd_port=${SLURMD_PORT:-6818}
timeout=${SLURM_UP_TIMEOUT:-60}
log() { echo "slurm-up: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "needs root (apt, munge, slurmd)"; exit 1
fi

# 1. packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  log "installing slurm-wlm and munge with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || apt-get update
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# 2. munge: a key, then munged as the munge user (pid in /run/munge)
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  if command -v mungekey >/dev/null; then mungekey --create --force; else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  echo started >"$dir/munged.ours"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { log "munge does not work"; exit 1; }
fi

# 3. configuration
host=$(hostname -s)
mem=$(awk '/MemTotal/ {print int($2/1024*0.9)}' /proc/meminfo)
mkdir -p "$dir/state" "$dir/spool"
conf="$dir/slurm.conf"
cat >"$conf" <<CONF
# single-node test cluster written by scripts/cluster/slurm-up.sh
ClusterName=ssdrunner-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=60
KillWait=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
printf 'export SLURM_CONF=%q\n' "$conf" >"$dir/env.sh"
export SLURM_CONF=$conf

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# 4. daemons (they fork into the background and write their pid files)
if ! running "$dir/slurmctld.pid"; then
  log "starting slurmctld"
  slurmctld -c
fi
if ! running "$dir/slurmd.pid"; then
  log "starting slurmd"
  slurmd -c
fi

# 5. wait for the node
for _ in $(seq "$timeout"); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mixed|allocated) log "node $host is $state ($cpus CPUs); source $dir/env.sh"; exit 0 ;;
    down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
done
log "the node did not come up in ${timeout}s (state: ${state:-none}); logs: $dir/slurmctld.log $dir/slurmd.log"
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
