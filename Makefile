# bdunlearn: `make run` installs into .venv (created if missing) and runs the
# embedded default study; `make test` installs and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bdunlearn-installed
CORES ?= 2

.PHONY: install run report test test-slurm lint dryrun bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,slurm]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/snakemake --cores $(CORES)

# the HTML report of a finished study: every table and plot, with captions (snakemake --report);
# another study: make report CONFIG=configs/<table>.yaml
CONFIG ?=
report: install
	$(BIN)/python -m bdunlearn.workflow.report $(if $(CONFIG),--configfile $(CONFIG))

# CORES pytest workers (pytest-xdist, one test file each at a time): the micro study's file first
# (tests/conftest.py), on one worker, the other files shared out meanwhile
test: install
	$(BIN)/python -m pytest -q -n $(CORES) --dist loadfile

# A real one-node SLURM on localhost (root: installs Debian's slurm packages), the
# micro config through workflow/profiles/slurm, then the daemons are stopped.
test-slurm: install
	tests/slurm/test_slurm.sh

lint: install
	$(BIN)/snakemake --lint

dryrun: install
	$(BIN)/snakemake -n --quiet

bench: install
	$(BIN)/python bench/bench_alpha_search.py --out docs/benchmarks.md

clean:
	rm -rf results/default .snakemake
