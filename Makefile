# Developer entry points. Everything runs inside .venv (make setup creates it).
PY      ?= .venv/bin/python
PYTEST  ?= $(PY) -m pytest

.PHONY: setup test test-unit lint crds crds-check demo clean

setup: .venv/.installed

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The whole suite: unit, CRD/admission, test bed (needs root), stand-in, e2e.
# pytest's own exit code is kept: 5 (no tests collected) fails the target.
test: setup
	$(PYTEST) -q

test-unit: setup
	$(PYTEST) -q tests/unit

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	.venv/bin/lint-imports

crds: setup
	$(PY) hack/gen-crds

crds-check: setup
	$(PY) hack/gen-crds --check

# The local demo: simulated 2-node cluster + API stand-in + operator; Ready in seconds. KEEP=1 keeps it up.
demo: setup
	$(PY) -m hack.demo

# Benchmarks (issue 15; hack/bench/README.md): the operator, the asyncssh floor and Ansible on the same
# test bed, as root. BENCH_QUICK=1: N in 1 and 5 only. Ansible lives in its own venv, not in .venv.
.PHONY: bench
bench: setup .bench-venv/.installed
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m hack.bench all

.bench-venv/.installed:
	test -x .bench-venv/bin/python || python3 -m venv .bench-venv
	.bench-venv/bin/pip install -q 'ansible-core==2.19.14'
	touch $@

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
