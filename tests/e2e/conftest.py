"""End-to-end fixtures: the test bed (simulated nodes), the API stand-in, and the operator as a
real subprocess (`python -m jobcenter_operator run`) with an audit log of every command it sends.
The helpers live in e2e_support.py (tests import them from there, never from ``conftest``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import BED_MODES, LOG_SOURCE, Operator, apply_secret, site_manifests

from hack.standin.pytest_fixtures import StandInProcess, standin_crds_dir, standin_server  # noqa: F401
from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401


@pytest.fixture
def operator_env(standin_server: StandInProcess, tmp_path: Path) -> Iterator[Operator]:  # noqa: F811
    op = Operator(standin=standin_server, workdir=tmp_path, audit=tmp_path / "audit.jsonl")
    LOG_SOURCE.append(op.log)
    try:
        yield op
    finally:
        LOG_SOURCE.remove(op.log)
        op.stop()


@pytest.fixture
def site_setup(testbed_cluster: Callable[..., dict[str, Any]], operator_env: Operator) -> Callable[..., dict[str, Any]]:  # noqa: F811
    """Bring a bed up for a site of ``site_mode`` (Classic, StandardManager, StandardAgent), create
    the Secret from its key, start the operator, apply the samples (site named SITE_NAMES[site_mode])."""

    def setup(
        start_operator: bool = True, site_spec: dict[str, Any] | None = None, site_mode: str = "Classic",
        **bed_kwargs: Any
    ) -> dict[str, Any]:
        bed = testbed_cluster(**{"mode": BED_MODES[site_mode], **bed_kwargs})
        apply_secret(operator_env, bed)
        if start_operator:
            operator_env.start()
        cluster, site = site_manifests(bed, site_mode)
        site["spec"].update(site_spec or {})
        applied = operator_env.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([cluster, site]))
        assert applied.returncode == 0, applied.stderr
        return bed

    return setup


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.root)
