# Developer entry points. Everything runs inside .venv (make setup creates it from the lock file).
PY      ?= .venv/bin/python
PYTEST  ?= $(PY) -m pytest
# System packages and kubectl (hack/system-prereqs installs them as root, or says what to install).
PREREQS ?= hack/system-prereqs
# kubectl from the PyPI wheel lands in .venv/bin; every recipe (and the demo's subprocesses) finds it.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup prereqs test test-unit test-e2e test-variants lint crds crds-check demo image lock clean faults

setup: .venv/.installed

# The pinned transitive set first (hashes checked), then the project itself, editable, without deps.
.venv/.installed: pyproject.toml requirements-dev.lock
	test -x $(PY) || python3 -m venv .venv || { rm -rf .venv && $(PREREQS) python && python3 -m venv .venv; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# What the test bed, the stand-in tests and the demo need from the system.
prereqs: setup
	$(PREREQS) bed kubectl

# The whole suite: unit, CRD/admission, test bed (needs root), stand-in, e2e.
# pytest's own exit code is kept: 5 (no tests collected) fails the target.
test: prereqs
	$(PYTEST) -q

test-unit: setup
	$(PREREQS) kubectl
	$(PYTEST) -q tests/unit

# The end-to-end suite on the default bed, and on beds with every guessed node-side format switched to
# its alternative (hack/testbed/variants.py; needs root like every bed test).
test-e2e: prereqs
	$(PYTEST) -q tests/e2e

test-variants: prereqs
	JCOP_TESTBED_VARIANTS=all $(PYTEST) -q tests/e2e

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
demo: prereqs
	$(PY) -m hack.demo

# The operator's OCI image from Containerfile, built and smoke-tested here with podman (no registry
# needed: the base is made from Debian packages), exported to build/jobcenter-operator.oci.tar.
image: setup
	$(PREREQS) image
	hack/build-image

# Re-pin the full transitive set after a change to pyproject.toml's dependencies (needs PyPI).
lock:
	hack/lock

# Benchmarks (issue 15; hack/bench/README.md): the operator, the asyncssh floor and Ansible on the same
# test bed, as root; N = 1, 5, 20, 50 (50 also with 3 sharded replicas, issue 16), the steady state,
# the idle bed; under 20 minutes, prints the ratio table. BENCH_QUICK=1: N in 1 and 5, one run each.
# Ansible lives in its own venv, not in .venv.
.PHONY: bench
bench: setup .bench-venv/.installed
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m hack.bench all

.bench-venv/.installed:
	test -x .bench-venv/bin/python || python3 -m venv .bench-venv
	.bench-venv/bin/pip install -q 'ansible-core==2.19.14'
	touch $@

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache build
