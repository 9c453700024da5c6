#!/usr/bin/env bash
# `make test-slurm`: install Debian's SLURM, start a one-node cluster on localhost, run
# tests/slurm/check_slurm.py against it, and stop the daemons it started, pass or fail.
# Needs root (apt-get, /etc/slurm) and the project's .venv with the [slurm] extra.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
if [[ $(id -u) -ne 0 ]]; then
    echo "test-slurm needs root: it installs slurm and writes /etc/slurm/slurm.conf" >&2
    exit 1
fi
tests/slurm/local_cluster.sh install
trap 'tests/slurm/local_cluster.sh stop' EXIT
tests/slurm/local_cluster.sh start
"$PY" tests/slurm/check_slurm.py
