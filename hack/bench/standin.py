"""The API stand-in's start-up and request latencies (formerly tests/standin/test_perf.py).

Measured, printed and compared with the budgets the test used to assert; never a test: wall-clock
numbers on a shared machine are not pass/fail material.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hack.standin import bench

# the budgets tests/standin/test_perf.py asserted
BUDGETS = {"subprocess_start_s": 1.0, "get_ms": 10.0, "status_patch_ms": 20.0, "list_ms": 50.0}


def run(objects: int = 200, rounds: int = 30) -> dict[str, Any]:
    result = asyncio.run(bench.measure(objects=objects, rounds=rounds))
    result["subprocess_start_s"] = min(bench.subprocess_startup_seconds() for _ in range(3))  # best of three
    result["within_budget"] = {k: result[k] <= v for k, v in BUDGETS.items()}
    result["budgets"] = BUDGETS
    return result
