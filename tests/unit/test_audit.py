"""The audit trail: one JSON line per command, rotated at its size limit so that the log and its one
predecessor stay within the pod's emptyDir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobcenter_operator.audit import DEFAULT_MAX_BYTES, AuditLog


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_line_per_command_with_cluster_and_replica(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", replica="jcop-1")
    acting_on = iter(["ns/clu-a", None])
    record = log.observer(lambda: next(acting_on))
    record("clu1", ("/usr/sbin/clpgrp", "-s", "failover-jc"))
    record("clu2", ("cat", "/etc/hostname"))
    first, second = _lines(log.path)
    assert first["node"] == "clu1" and first["argv"] == ["/usr/sbin/clpgrp", "-s", "failover-jc"]
    assert first["cluster"] == "ns/clu-a" and first["replica"] == "jcop-1"
    assert second["cluster"] is None and isinstance(second["at"], float)


def test_rotates_at_the_limit_keeping_one_predecessor(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=400)
    for i in range(40):
        log.record("clu1", ("echo", str(i)), "ns/c")
    log.close()
    rotated = path.with_name("audit.jsonl.1")
    assert path.stat().st_size <= 400 and rotated.stat().st_size <= 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "audit.jsonl.1"]
    # Nothing lost between the two files at the rotation, the newest lines in the current file.
    numbers = [int(str(line["argv"][1])) for f in (rotated, path) for line in _lines(f)]  # type: ignore[index]
    assert numbers == list(range(40 - len(numbers), 40))
    assert numbers[-1] == 39


def test_a_line_longer_than_the_limit_is_still_written(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=10)
    log.record("clu1", ("x" * 50,), None)
    log.record("clu1", ("y" * 50,), None)
    log.close()
    assert _lines(log.path)[0]["argv"] == ["y" * 50]
    assert _lines(log.path.with_name("audit.jsonl.1"))[0]["argv"] == ["x" * 50]


def test_appends_to_an_existing_log_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for n in range(2):
        log = AuditLog(path)
        log.record("clu1", ("echo", str(n)), None)
        log.close()
    assert [line["argv"] for line in _lines(path)] == [["echo", "0"], ["echo", "1"]]


def test_from_env(tmp_path: Path) -> None:
    assert AuditLog.from_env({}, None) is None
    log = AuditLog.from_env({"JCOP_AUDIT_LOG": str(tmp_path / "a")}, "r0")
    assert log is not None and log.max_bytes == DEFAULT_MAX_BYTES
    sized = AuditLog.from_env({"JCOP_AUDIT_LOG": str(tmp_path / "a"), "JCOP_AUDIT_LOG_MAX_BYTES": "2048"}, None)
    assert sized is not None and sized.max_bytes == 2048
    with pytest.raises(ValueError, match="JCOP_AUDIT_LOG_MAX_BYTES"):
        AuditLog.from_env({"JCOP_AUDIT_LOG": "a", "JCOP_AUDIT_LOG_MAX_BYTES": "10MB"}, None)
    with pytest.raises(ValueError, match="positive"):
        AuditLog.from_env({"JCOP_AUDIT_LOG": "a", "JCOP_AUDIT_LOG_MAX_BYTES": "0"}, None)
