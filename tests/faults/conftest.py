"""The fault matrix: fixtures, the long/short split and the printed matrix.

Cells marked ``faults_long`` only run with ``JCOP_FAULTS_LONG=1`` (``make faults``); the others run
with the suite (CI). ``make faults`` prints one line per cell: fault x mode -> pass/fail, the time
the fault took to show as a condition and the time to converge after it healed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401

from .harness import Cell

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # the fast tier's builders
LONG = os.environ.get("JCOP_FAULTS_LONG") == "1"
ROWS: list[dict[str, Any]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LONG:
        return
    skip = pytest.mark.skip(reason="long fault-matrix cell: make faults (JCOP_FAULTS_LONG=1)")
    for item in items:
        if "faults_long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def cell_factory(testbed_cluster: Callable[..., dict[str, Any]],  # noqa: F811
                       request: pytest.FixtureRequest) -> AsyncIterator[Callable[[str], Cell]]:
    made: list[Cell] = []

    def make(mode: str) -> Cell:
        cell = Cell.up(testbed_cluster, mode)
        made.append(cell)
        return cell

    yield make
    for cell in made:
        await cell.close()
        ROWS.append({"cell": request.node.callspec.id if hasattr(request.node, "callspec") else request.node.name,
                     "surfaced": cell.surfaced_s, "recovered": cell.recovered_s, "violations": cell.violations})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = list(ROWS)
    if not rows:
        return
    outcomes = {rep.nodeid.split("[")[-1].rstrip("]"): rep.outcome
                for key in ("passed", "failed") for rep in terminalreporter.stats.get(key, [])
                if getattr(rep, "when", "") == "call"}
    tr = terminalreporter
    tr.write_sep("=", "fault matrix (fault x mode)")
    tr.write_line(f"{'cell':<46} {'result':<7} {'surfaced':>9} {'recovered':>10}")
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:.1f}s"  # noqa: E731
        tr.write_line(f"{r['cell']:<46} {outcomes.get(r['cell'], '?'):<7} {fmt(r['surfaced']):>9} "
                      f"{fmt(r['recovered']):>10}")
