# Developer entry points. Everything runs inside .venv (make setup creates it).
PY      ?= .venv/bin/python
PYTEST  ?= $(PY) -m pytest

.PHONY: setup test test-unit lint crds crds-check demo clean faults

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

# The fault matrix of issue 12, every cell (fault x mode; needs root), plus the seeded randomized
# sequences with a longer budget; prints the matrix. CI runs the short part with `make test`.
faults: setup
	JCOP_FAULTS_LONG=1 JCOP_RANDOM_RUNS=$${JCOP_RANDOM_RUNS:-300} $(PYTEST) -q -rN tests/faults

# The local demo: simulated 2-node cluster + API stand-in + operator; Ready in seconds. KEEP=1 keeps it up.
demo: setup
	$(PY) -m hack.demo

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
