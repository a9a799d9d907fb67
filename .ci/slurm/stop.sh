#!/usr/bin/env bash
# Stop the daemons that .ci/slurm/start.sh STATE_DIR started (by the PIDs in STATE_DIR) and remove
# the /etc/slurm files it wrote. Nothing else is touched; safe to run twice.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
state=$(realpath -m "$1")
marker="# audiobrain-ci-slurm state=$state"

# Jobs still queued or running (a test that failed mid-run) are cancelled first, so that no job
# process outlives the cluster; every job on this private cluster belongs to the test.
ctld_pid=$(cat "$state/slurmctld.pid" 2>/dev/null || true)
if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null && [ -s "$state/slurm.conf" ]; then
    export SLURM_CONF="$state/slurm.conf"
    timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 1 30); do
        [ -z "$(timeout 5 squeue --noheader --states=RUNNING,COMPLETING,PENDING 2>/dev/null)" ] && break
        sleep 0.5
    done
fi
# Then slurmd, the controller and munge, each by the PID in its PID file.
for daemon in slurmd slurmctld munged; do
    pidfile="$state/$daemon.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # Only a process that is still this daemon: a PID file may outlive its process.
    if kill -0 "$pid" 2>/dev/null && grep -q "$daemon" "/proc/$pid/comm" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
done
for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -e "$conf" ] && head -n 1 "$conf" | grep -qxF "$marker"; then
        rm -f "$conf"
    fi
done
