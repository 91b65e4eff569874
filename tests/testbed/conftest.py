"""Test-bed tests: they build real namespaced nodes, so they need root (skipped otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the repo root on sys.path
    sys.path.insert(0, str(_ROOT))

from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: E402, F401
