# Developer entry points. Everything runs inside .venv (make setup creates it).
PY      ?= .venv/bin/python
PYTEST  ?= $(PY) -m pytest

.PHONY: setup test test-unit test-e2e test-variants lint crds crds-check demo clean

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

# The end-to-end suite on the default bed, and on beds with every guessed node-side format switched to
# its alternative (hack/testbed/variants.py; needs root like every bed test).
test-e2e: setup
	PATH=$(CURDIR)/.venv/bin:$$PATH $(PYTEST) -q tests/e2e

test-variants: setup
	PATH=$(CURDIR)/.venv/bin:$$PATH JCOP_TESTBED_VARIANTS=all $(PYTEST) -q tests/e2e

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

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
