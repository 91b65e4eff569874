"""Real processes with the exact ps -ef titles and comm names of JobCenter daemons."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import setproctitle

RUN_DIR = Path("/run/jcsim")  # node-private tmpfs: state of running sites/units dies with the node
_PR_SET_PDEATHSIG = 1


def become(title: str, short: str) -> None:
    """Make this process look like ``title`` in ps -ef and ``short`` (comm, 15 chars) in pgrep -x."""
    setproctitle.setproctitle(title)
    setproctitle.setthreadtitle(short[:15])


def _detach_stdio() -> None:
    # A daemon must not hold the SSH session's pipes open, or the session never ends.
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if fd > 2:
        os.close(fd)
    # nor any other inherited descriptor (pipes of the starter, the cluster daemon's log, ...)
    os.closerange(3, 65536)


def _pdeathsig(sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _idle_forever() -> None:
    while True:
        signal.pause()


def spawn(title: str, short: str, *, twin: bool = False, tie_to_parent: bool = True,
          subs: list[tuple[str, str, bool]] | tuple[()] = ()) -> int:
    """Fork one daemon. ``twin``: it forks a second copy of itself (the cluster site's two
    jnwcasters). ``subs``: (title, short, twin) daemons it forks below itself (variant ppid-tree).
    A daemon with children exits when one of them dies, so the death reaches cjcpw.
    ``tie_to_parent``: die with the parent (cjcpw)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if tie_to_parent:
            _pdeathsig(signal.SIGTERM)
        _detach_stdio()
        become(title, short)
        kids = [spawn(t, s, twin=tw) for t, s, tw in subs]
        if twin:
            kids.append(spawn(title, short))
        if kids:
            os.wait()
            os._exit(1)
        _idle_forever()
    finally:
        os._exit(1)


def spawn_detached(procs: list[tuple[str, str]]) -> list[int]:
    """Start daemons re-parented to the node's init (PPID 1), as a boot/rc script would."""
    r, w = os.pipe()
    mid = os.fork()
    if mid == 0:
        os.close(r)
        os.setsid()
        pids = [spawn(title, short, tie_to_parent=False) for title, short in procs]
        os.write(w, json.dumps(pids).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(mid, 0)
    return [int(p) for p in json.loads(data)]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def terminate(pids: list[int], timeout: float = 5.0) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    for p in pids:
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def write_state(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
