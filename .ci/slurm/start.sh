#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for tests/test_slurm.py (and for trying the
# profile by hand): our own munged, slurmctld and slurmd, with a `cpu` and a `gpu` partition and a
# node that declares one GPU (Gres=gpu:<type>:1, no real device). Needs root and Debian's
# `slurmctld slurmd slurm-client munge` packages.
#
#   .ci/slurm/start.sh STATE_DIR    # configs, keys, spool, logs and PID files go in STATE_DIR
#   .ci/slurm/stop.sh STATE_DIR     # stops exactly the daemons started here, by PID
#
# SLURM_CI_CPU_PARTITION / SLURM_CI_GPU_PARTITION name the partitions (default cpu / gpu; the test
# passes those of its site block), SLURM_CI_CPU_MAXTIME / SLURM_CI_GPU_MAXTIME their time limits
# in minutes (default INFINITE), SLURM_CI_GPU_TYPE the GRES type of the node's GPU (default a100),
# SLURM_CI_CTLD_PORT / SLURM_CI_SLURMD_PORT the ports.
#
# The config is also written to /etc/slurm/slurm.conf: the executor plugin's job-step helper drops
# SLURM_CONF from the environment of the `srun` it runs inside each job, so srun only finds the
# default path. An /etc/slurm/slurm.conf that this script did not write is never overwritten.
# Exit codes: 0 up, 2 cannot start here (not root, packages missing, a foreign SLURM config),
# 1 a daemon failed to come up (see STATE_DIR/log/).
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
state=$(realpath -m "$1")
marker="# audiobrain-ci-slurm state=$state"
ctld_port=${SLURM_CI_CTLD_PORT:-6817}
slurmd_port=${SLURM_CI_SLURMD_PORT:-6818}
cpu_partition=${SLURM_CI_CPU_PARTITION:-cpu}
gpu_partition=${SLURM_CI_GPU_PARTITION:-gpu}
cpu_maxtime=${SLURM_CI_CPU_MAXTIME:-INFINITE}
gpu_maxtime=${SLURM_CI_GPU_MAXTIME:-INFINITE}
gpu_type=${SLURM_CI_GPU_TYPE:-a100}

cannot() {
    echo "cannot start the CI SLURM cluster: $*" >&2
    exit 2
}
[ "$(id -u)" -eq 0 ] || cannot "needs root (found uid $(id -u))"
for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo srun; do
    command -v "$tool" >/dev/null ||
        cannot "'$tool' not found; install the Debian packages slurmctld slurmd slurm-client munge"
done
for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -e "$conf" ] && ! head -n 1 "$conf" | grep -q '^# audiobrain-ci-slurm '; then
        cannot "$conf exists and was not written by this script; not touching it"
    fi
done
# One CI cluster at a time: the ports and /etc/slurm are shared.
if [ -e /etc/slurm/slurm.conf ]; then
    other=$(head -n 1 /etc/slurm/slurm.conf | sed 's/.*state=//')
    for pidfile in "$other"/munged.pid "$other"/slurmctld.pid "$other"/slurmd.pid; do
        if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            cannot "a CI cluster is already running (stop it with $here/stop.sh $other)"
        fi
    done
fi

mkdir -p "$state"/log "$state"/slurmctld "$state"/slurmd
rm -f "$state"/*.pid
chmod 0755 "$state"  # munged wants the socket folder searchable
node=$(hostname -s)
# The node declares at least 2 CPUs and 16 GB (slurm.conf.in sets SlurmdParameters=config_overrides,
# so a smaller runner is not marked invalid): the largest job of the reduced demo asks for 2 CPUs
# and 8 GB. Larger machines declare what slurmd measures.
cpus=$(nproc)
[ "$cpus" -ge 2 ] || cpus=2
memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
[ "${memory:-0}" -ge 16000 ] || memory=16000

render() {
    { echo "$marker"; sed -e "s|@STATE@|$state|g" -e "s|@NODE@|$node|g" -e "s|@CPUS@|$cpus|g" \
        -e "s|@MEMORY@|$memory|g" -e "s|@CTLD_PORT@|$ctld_port|g" \
        -e "s|@SLURMD_PORT@|$slurmd_port|g" -e "s|@CPU_PARTITION@|$cpu_partition|g" \
        -e "s|@GPU_PARTITION@|$gpu_partition|g" -e "s|@CPU_MAXTIME@|$cpu_maxtime|g" \
        -e "s|@GPU_MAXTIME@|$gpu_maxtime|g" -e "s|@GPU_TYPE@|$gpu_type|g" "$1"; }
}
render "$here/slurm.conf.in" >"$state/slurm.conf"
render "$here/gres.conf.in" >"$state/gres.conf"
install -m 0755 "$here/task_prolog.sh" "$state/task_prolog.sh"
mkdir -p /etc/slurm
cp "$state/slurm.conf" /etc/slurm/slurm.conf
cp "$state/gres.conf" /etc/slurm/gres.conf
export SLURM_CONF=/etc/slurm/slurm.conf

# munged: a fresh key and socket in the state folder.
mungekey --create --force --keyfile="$state/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$state/munge.key" bs=1024 count=1 status=none
chmod 0400 "$state/munge.key"
munged --force --socket="$state/munge.socket" --key-file="$state/munge.key" \
    --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" \
    --seed-file="$state/munged.seed"

# From here on a failure stops what was started, so no daemon outlives a failed start.
fail() {
    echo "the CI SLURM cluster did not come up: $*" >&2
    tail -n 20 "$state"/log/*.log >&2 || true
    "$here/stop.sh" "$state"
    exit 1
}
# A daemon has exited when its PID file names a process that is gone (the file appears a moment
# after the daemon forks).
exited() {
    [ -s "$state/$1.pid" ] && ! kill -0 "$(cat "$state/$1.pid")" 2>/dev/null
}
if exited munged; then fail "munged exited"; fi
# -c: start from an empty state (no jobs left from an earlier run in this folder).
slurmctld -c || fail "slurmctld did not start"
slurmd || fail "slurmd did not start"

node_state=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
    for daemon in munged slurmctld slurmd; do
        if exited "$daemon"; then fail "$daemon exited"; fi
    done
    node_state=$(timeout 5 sinfo -h -N -n "$node" -o %T 2>/dev/null | head -n 1 || true)
    case "$node_state" in
        idle) break ;;
        down* | drain* | inval*)
            timeout 5 scontrol update NodeName="$node" State=RESUME 2>/dev/null || true
            ;;
    esac
    sleep 0.5
done
[ "$node_state" = idle ] || fail "node $node is '${node_state:-not reported}' after 60 s, expected idle"
echo "SLURM up: node $node ($cpus CPUs, $memory MB, gpu:a100:1), partitions $cpu_partition and $gpu_partition; state $state"
