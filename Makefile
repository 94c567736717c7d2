# Two commands matter: `make test` and `make run` (README). Both set themselves up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQS := requirements.txt requirements-cpu.txt requirements-nodeps.txt requirements-dev.txt
# The stamp's name carries a hash of the requirement files: editing any of them re-installs,
# a second call with the same files does nothing.
REQ_HASH := $(shell cat $(REQS) | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
CONFIG ?= config.toml
PYTEST_ARGS ?=
# make bench BENCH_ARGS="--frames 0": the whole template (README "Speed")
BENCH_ARGS ?=

.PHONY: setup test run bench clean-venv

setup: $(STAMP)

$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-cpu.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

run: setup
	$(PY) -m bot --config $(CONFIG)

bench: setup
	$(PY) benchmarks/bench_clone.py --config $(CONFIG) $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
