"""JCOP_PROFILE: the run's CPU profile, written when the operator exits (cli._profiled)."""

from __future__ import annotations

import os
import pstats
from pathlib import Path

from jobcenter_operator.cli import _profiled


def test_a_profile_is_written_per_process_when_asked_and_nothing_otherwise(tmp_path: Path) -> None:
    with _profiled(None):
        sum(range(1000))
    assert list(tmp_path.iterdir()) == []
    with _profiled(str(tmp_path / "prof")):
        sum(range(1000))
    written = tmp_path / f"prof.{os.getpid()}"
    assert written.exists() and pstats.Stats(str(written)).total_calls > 0
