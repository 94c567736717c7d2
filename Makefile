# Two commands matter: `make test` and `make run` (README). Both set themselves up first.
# Python 3.11, 3.12 or 3.13: the machine's python3 when it is one of them, else the newest of
# python3.13/3.12/3.11 on PATH (`make PYTHON=/path/to/python3.12` to choose).
SUPPORTED_PY := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,python3 python3.13 python3.12 python3.11,$(shell command -v $(p) >/dev/null 2>&1 && $(p) -c '$(SUPPORTED_PY)' 2>/dev/null && echo $(p))))
endif
VENV := .venv
PY := $(VENV)/bin/python
REQS := requirements.txt requirements-cpu.txt requirements-nodeps.txt requirements-dev.txt
# The stamp's name carries a hash of the requirement files: editing any of them re-installs,
# a second call with the same files does nothing.
REQ_HASH := $(shell cat $(REQS) | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
LOCK_STAMP := $(VENV)/.lock-checked-$(REQ_HASH)
# The hash of the requirement files and the checker that last passed the wheel check, committed
# beside them: a clone of a checked lock does not ask the package index again.
LOCK_RECORD := requirements.wheels-checked
LOCK_HASH := $(shell cat $(REQS) scripts/lock_wheels.py | sha256sum | cut -c1-16)
# The pip that installs the lock: a new venv brings its Python's own (23.2 with 3.11), which took
# ~49 s for what pip 26.3 does in ~25 s.
PIP_VERSION := 26.3
CONFIG ?= config.toml
PYTEST_ARGS ?=
# make bench BENCH_ARGS="--frames 0": the whole template (README "Speed")
BENCH_ARGS ?=

.PHONY: setup test run bench clean-venv i18n lock-check

setup: $(STAMP)

# pip byte-compiles on one core (~25 s of a fresh set-up); compileall does it on every core. Not
# compiling at all moves the cost into the first processes, each compiling the same modules.
# Left out (a third of the sources, ~3 s): the wheels' own test suites and packages that neither the
# bot nor the suite imports (pip, scikit-learn and joblib that NNCF lists but does not load here,
# narwhals, polygraphy, mypyc; mypy's own modules are compiled extensions).
COMPILE_SKIP := /(tests?|pip|sklearn|joblib|narwhals|polygraphy|mypyc?)/
# The lock pins every dependency (`pip check` after the install holds it to that; ppgan declares
# dependencies it does not need, requirements-nodeps.txt), so its two halves install at once with
# --no-deps, a pip on each core: the shared pins, and the CPU set-up's own with the tools (~10 s
# less than one pip resolving the whole lock).
PIP_NO_DEPS := --quiet --no-compile --no-deps
$(STAMP): $(REQS)
	@test -x $(PY) || { test -n "$(PYTHON)" && $(PYTHON) -c '$(SUPPORTED_PY)'; } || { \
	  echo "make: this project needs Python 3.11, 3.12 or 3.13; $(or $(PYTHON),python3) here is" \
	    "$$($(or $(PYTHON),python3) --version 2>&1 || echo missing): install one of them, or run" \
	    "make PYTHON=/path/to/python3.12" >&2; \
	  exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==$(PIP_VERSION)
	@grep -v '^-r' requirements-cpu.txt > $(VENV)/requirements-cpu-own.txt
	$(PY) -m pip install $(PIP_NO_DEPS) -r requirements.txt & shared=$$!; \
	$(PY) -m pip install $(PIP_NO_DEPS) -r $(VENV)/requirements-cpu-own.txt -r requirements-dev.txt \
	  -r requirements-nodeps.txt; own=$$?; wait $$shared && test $$own -eq 0
	@broken=$$($(PY) -m pip check | grep -v -e '^ppgan ' -e '^No broken requirements'); \
	if [ -n "$$broken" ]; then echo "make: the lock misses what these need:" >&2; echo "$$broken" >&2; exit 1; fi
	$(PY) -m compileall -q -j 0 -x '$(COMPILE_SKIP)' $(VENV)/lib
	@rm -f $(VENV)/.installed-*
	@touch $@

# Every pin of the lock has a wheel for Python 3.11, 3.12 and 3.13 (asks the package index once
# per version of the requirement files, recorded in requirements.wheels-checked).
lock-check: $(LOCK_STAMP)

$(LOCK_STAMP): $(REQS) scripts/lock_wheels.py | $(STAMP)
	@if [ "$$(cat $(LOCK_RECORD) 2>/dev/null)" = "$(LOCK_HASH)" ]; then \
	  echo "lock: these pins were checked for Python 3.11, 3.12 and 3.13 ($(LOCK_RECORD))"; \
	else \
	  $(PY) scripts/lock_wheels.py && echo "$(LOCK_HASH)" > $(LOCK_RECORD); \
	fi
	@rm -f $(VENV)/.lock-checked-*
	@touch $@

# mypy (one core, ~15 s on a first run) checks beside the suite; its report follows the suite's,
# and either failing fails the target.
test: setup lock-check
	$(PY) -m ruff check .
	@$(PY) -m mypy > $(VENV)/mypy-report.txt 2>&1 & types=$$!; \
	$(PY) -m pytest $(PYTEST_ARGS); suite=$$?; \
	wait $$types; typed=$$?; echo "mypy:"; cat $(VENV)/mypy-report.txt; \
	test $$suite -eq 0 && test $$typed -eq 0

run: setup
	$(PY) -m bot --config $(CONFIG)

bench: setup
	$(PY) benchmarks/bench_clone.py --config $(CONFIG) $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)

# The bot's texts (README "Languages"): the English messages of i18n/texts.py into every catalogue
# (new ones untranslated, changed ones fuzzy), then every catalogue compiled to the committed bot.mo.
i18n: setup
	$(PY) scripts/i18n.py update
