"""Golden files for the render tests.

Compare rendered text with tests/unit/render/golden/<name>. Regenerate after an intended change:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/render

then review ``git diff tests/unit/render/golden`` before committing. Files are read and written
as bytes so line endings are compared exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
FIXTURES = HERE / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode()


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode())
        return
    assert path.is_file(), f"golden file {path} is missing: run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_bytes().decode()
    assert actual == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to regenerate, then review)"
