"""pytest fixtures for any test folder that needs simulated nodes.

    # conftest.py
    from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401

    @pytest.mark.root
    def test_x(testbed_cluster):
        info = testbed_cluster(mode="classic")      # the `up` JSON document
        info = testbed_cluster(mode="classic", variants=["strict-apply"], charset="euc-jp")

Without ``variants=`` a bed takes ``$JCOP_TESTBED_VARIANTS`` (comma-separated names or ``all``), so
``JCOP_TESTBED_VARIANTS=all pytest tests/e2e`` runs a whole suite on variant beds.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import api


def unavailable_reason() -> str | None:
    """Why the bed cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return "the test bed needs root (network, mount and PID namespaces)"
    for tool in ("ip", "unshare", "nsenter", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"the test bed needs {tool} (iproute2 / util-linux / openssh-client)"
    if not Path("/usr/sbin/sshd").exists():
        return "the test bed needs /usr/sbin/sshd (apt-get install openssh-server)"
    try:
        import setproctitle  # noqa: F401
    except ImportError:
        return "the test bed needs the setproctitle package"
    return None


@pytest.fixture
def testbed_required() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def testbed_cluster(testbed_required: None) -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory: ``testbed_cluster(**api.up kwargs)`` brings a cluster up; all are torn down after
    the test, whatever happened."""
    made: list[str] = []

    def make(name: str | None = None, **kwargs: Any) -> dict[str, Any]:
        name = name or f"pt-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return api.up(name, **kwargs)

    try:
        yield make
    finally:
        if os.environ.get("JCOP_TESTBED_KEEP") != "1":  # keep for debugging: JCOP_TESTBED_KEEP=1
            for name in made:
                api.down(name)
