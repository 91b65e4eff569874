"""The node lock's record of a second holder (issues 12 and 16), with the real wrapper script, the
real flock(1) and timeout(1), here on the test machine (the lock directory is a tmp dir).

An action that finds the lock held names itself and the holder in the lock log before it waits,
and again if it gives up; ``lock_contention`` reads that log, and ``second_process`` is what the
sharded e2e test asserts never happens between two operator processes."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jobcenter_operator.plan import commands
from jobcenter_operator.plan.commands import Contention, holder_identity, lock_contention

pytestmark = pytest.mark.skipif(not (shutil.which("flock") and shutil.which("timeout")),
                                reason="needs flock(1) and timeout(1) (util-linux, coreutils)")


def here(lock_dir: Path, holder: str, argv: tuple[str, ...], wait: float = 30) -> list[str]:
    """The bounded argv the operator sends, pointed at ``lock_dir`` with a lock wait of ``wait`` s."""
    raw = list(commands.bounded(argv, 30, holder))
    assert raw[4] == commands.OPERATOR_STATE and raw[5] == str(commands.LOCK_WAIT_SECONDS)
    raw[4], raw[5] = str(lock_dir), f"{wait:g}"
    return raw


def until(what: str, predicate: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def hold(lock_dir: Path, holder: str) -> tuple[subprocess.Popen[bytes], Path]:
    """An action of ``holder`` that keeps the lock until the returned file exists."""
    release = lock_dir / f"release-{holder}"
    proc = subprocess.Popen(here(lock_dir, holder, ("sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done', "sh",
                                                    str(release))))
    until(f"{holder} holds the lock", lambda: (lock_dir / "lock.holder").exists()
          and (lock_dir / "lock.holder").read_text().strip() == holder)
    return proc, release


def log(lock_dir: Path) -> list[Contention]:
    path = lock_dir / "lock.log"
    return lock_contention(path.read_text()) if path.exists() else []


def test_actions_one_after_another_leave_no_contention(tmp_path: Path) -> None:
    for who in ("op-0:1", "op-1:2", "op-0:1"):
        assert subprocess.run(here(tmp_path, who, ("true",)), timeout=30).returncode == 0
        assert (tmp_path / "lock.holder").read_text() == f"{who}\n"
    assert log(tmp_path) == []


def test_a_second_process_refused_at_the_lock_is_on_record_with_the_holder(tmp_path: Path) -> None:
    first, release = hold(tmp_path, "op-0:100")
    busy = subprocess.run(here(tmp_path, "op-1:200", ("touch", str(tmp_path / "ran")), wait=0.3), timeout=30)
    assert busy.returncode == commands.EXIT_NODE_BUSY and not (tmp_path / "ran").exists()
    release.touch()
    assert first.wait(30) == 0
    found = log(tmp_path)
    assert [(c.waiter, c.holder, c.busy) for c in found] == [("op-1:200", "op-0:100", False),
                                                             ("op-1:200", "op-0:100", True)]
    assert all(c.second_process for c in found)


def test_a_second_process_that_waits_and_then_runs_is_on_record_too(tmp_path: Path) -> None:
    first, release = hold(tmp_path, "op-0:100")
    second = subprocess.Popen(here(tmp_path, "op-2:300", ("touch", str(tmp_path / "ran"))))
    until("the second process waits", lambda: bool(log(tmp_path)))
    assert not (tmp_path / "ran").exists(), "never while the first holds the lock"
    release.touch()
    assert first.wait(30) == 0 and second.wait(30) == 0 and (tmp_path / "ran").exists()
    assert [(c.waiter, c.holder, c.busy, c.second_process) for c in log(tmp_path)] == [
        ("op-2:300", "op-0:100", False, True)]
    assert (tmp_path / "lock.holder").read_text() == "op-2:300\n"


def test_the_same_process_waiting_for_itself_is_not_a_second_process() -> None:
    assert not Contention(at="1.0", waiter="op-0:1", holder="op-0:1", busy=False).second_process
    assert Contention(at="1.0", waiter="op-0:2", holder="op-0:1", busy=False).second_process  # a restart


def test_the_identity_is_one_token_whatever_the_replica_is_called() -> None:
    assert holder_identity("op-0", 42) == "op-0:42"
    assert holder_identity("", 7) == "-:7"
    assert holder_identity("a b\nc;$(x)", 1) == "a_b_c___x_:1"
    assert lock_contention("garbage\n1.5 wait a:1 held-by b:2\n1.6 busy a:1 held-by b:2 extra\n") == [
        Contention(at="1.5", waiter="a:1", holder="b:2", busy=False)]
