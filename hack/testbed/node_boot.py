"""Boot / kill a node from the host: netns + unshare(mount, UTS, PID) with sshd as PID 1."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from .config import BedRecord, node_dir
from .proc import children, is_alive, wait_until


def launch(bed: BedRecord, node: str, reboot: bool = False) -> subprocess.Popen[bytes]:
    n = bed.node(node)
    logf = open(node_dir(bed, node) / "init.log", "ab")
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "PYTHONPATH": bed.repo,
           "LANG": "C.UTF-8"}
    argv = ["ip", "netns", "exec", n.netns,
            "unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            bed.python, "-m", "hack.testbed.node_init", str(bed.dir), node, "reboot" if reboot else "boot"]
    # `ip netns exec` execs unshare, so Popen.pid is the unshare launcher; its only child is the init.
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                         start_new_session=True, cwd="/")
    logf.close()
    n.launcher_pid = p.pid
    return p


def find_init(bed: BedRecord, node: str, p: subprocess.Popen[bytes], timeout: float = 5.0) -> int:
    n = bed.node(node)

    def found() -> bool:
        if p.poll() is not None:
            log = (node_dir(bed, node) / "init.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"node {node} failed to boot (launcher exited {p.returncode}):\n{log}")
        kids = children(p.pid)
        if kids:
            n.init_pid = kids[0]
            return True
        return False

    wait_until(found, timeout, what=f"init of node {node}")
    return n.init_pid


def sshd_ready(address: str) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        try:
            s.connect((address, 22))
            return s.recv(4).startswith(b"SSH-")
        except OSError:
            return False


def wait_ready(bed: BedRecord, node: str, p: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    n = bed.node(node)

    def ready() -> bool:
        if p.poll() is not None or not is_alive(n.init_pid):
            log = (node_dir(bed, node) / "init.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"node {node} died while booting:\n{log}")
        return _is_sshd(n.init_pid) and sshd_ready(n.address)

    try:
        wait_until(ready, timeout, interval=0.01, what=f"sshd of node {node} at {n.address}")
    except TimeoutError as ex:
        d = node_dir(bed, node)
        logs = [(d / f).read_text(errors="replace")[-1500:] for f in ("init.log", "sshd.log") if (d / f).exists()]
        raise TimeoutError(f"{ex}\n" + "\n".join(logs)) from None


def _is_sshd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "sshd"
    except OSError:
        return False
