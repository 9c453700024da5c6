#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for `make test-slurm` (Debian's Slurm 22.05).
#
#   tests/slurm/local_cluster.sh install   apt-get install slurmctld slurmd slurm-client munge (as root)
#   tests/slurm/local_cluster.sh start     write /etc/slurm/slurm.conf and gres.conf, start munged,
#                                          slurmctld and slurmd, wait until the node is idle
#   tests/slurm/local_cluster.sh stop      stop the daemons this script started (by PID), put back
#                                          the slurm.conf / gres.conf that were there before
#
# The config lives at Slurm's default path because the executor plugin's job step
# drops SLURM_* variables (SLURM_CONF among them) before its inner srun.
# Cluster: no accounting storage (sacct has no data; the plugin reads squeue),
# MinJobAge 3600 s (finished jobs stay visible to squeue / scontrol for the checks),
# two fake GPUs (regular files as device files: sbatch --gpus and GRES accounting work,
# nothing runs on them), partition `main` (default) and partition `acct`, which admits
# only the account `bdu` (the "cluster needs an account" case).
set -euo pipefail

STATE=${BDU_SLURM_STATE:-/tmp/bdunlearn-slurm}
ETC=/etc/slurm

log() { echo "[local_cluster] $*" >&2; }
# running and not a zombie
alive() { [[ $(ps -o stat= -p "$1" 2>/dev/null) =~ ^[^Z] ]]; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        log "slurm and munge already installed"
        return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
    mkdir -p "$STATE"/spool/ctld "$STATE"/spool/d "$STATE"/log "$ETC"
    touch "$STATE"/fakegpu0 "$STATE"/fakegpu1
    # the node line that matches this machine (CPUs, boards, sockets, cores), with 90% of its
    # memory, named localhost and reached on 127.0.0.1 whatever the machine's host name resolves to
    local node
    node=$(slurmd -C | head -n1 | awk -v host="$(hostname -s)" '{
        out = "NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=" host
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^RealMemory=/) { split($i, a, "="); $i = "RealMemory=" int(a[2] * 0.9) }
            out = out " " $i
        }
        print out }')
    for f in slurm.conf gres.conf; do
        if [[ -e $ETC/$f && ! -e $STATE/$f.orig ]]; then cp -p "$ETC/$f" "$STATE/$f.orig"; fi
    done
    cat >"$ETC/slurm.conf" <<EOF
# written by bdunlearn tests/slurm/local_cluster.sh; the original (if any) is in $STATE
ClusterName=bdulocal
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MinJobAge=3600
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
GresTypes=gpu
$node Gres=gpu:fake:2 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=acct Nodes=localhost MaxTime=INFINITE State=UP AllowAccounts=bdu
EOF
    cat >"$ETC/gres.conf" <<EOF
NodeName=localhost Name=gpu Type=fake File=$STATE/fakegpu[0-1]
EOF
}

start() {
    write_conf
    : >"$STATE/started.pids"
    if ! munge -n >/dev/null 2>&1; then
        mkdir -p /run/munge && chown munge:munge /run/munge
        su -s /bin/sh munge -c "/usr/sbin/munged --pid-file=/run/munge/munged.pid"
        for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.2; done
        cat /run/munge/munged.pid >>"$STATE/started.pids"
    fi
    /usr/sbin/slurmctld
    for _ in $(seq 50); do [[ -s $STATE/slurmctld.pid ]] && break; sleep 0.2; done
    cat "$STATE/slurmctld.pid" >>"$STATE/started.pids"
    /usr/sbin/slurmd -N localhost
    for _ in $(seq 50); do [[ -s $STATE/slurmd.pid ]] && break; sleep 0.2; done
    cat "$STATE/slurmd.pid" >>"$STATE/started.pids"
    for _ in $(seq 60); do
        if [[ $(sinfo -h -n localhost -o %t 2>/dev/null | head -n1) == idle ]]; then
            log "node idle; daemons $(tr '\n' ' ' <"$STATE/started.pids")"
            return
        fi
        sleep 1
    done
    log "node did not become idle:"; sinfo -N -l >&2 || true; tail -n 20 "$STATE"/log/*.log >&2 || true
    return 1
}

stop() {
    if [[ -f $STATE/started.pids ]]; then
        # slurmd and slurmctld first, munged (first line) last
        tac "$STATE/started.pids" | while read -r pid; do
            [[ -n $pid ]] || continue
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do alive "$pid" || break; sleep 0.2; done
            if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
        done
        rm -f "$STATE/started.pids"
    fi
    for f in slurm.conf gres.conf; do
        if [[ -e $STATE/$f.orig ]]; then mv "$STATE/$f.orig" "$ETC/$f"; else rm -f "$ETC/$f"; fi
    done
    log "stopped"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
