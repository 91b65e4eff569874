"""A throw-away OpenSSH sshd on 127.0.0.1 for the node layer's integration tests.

Everything lives in a temp dir; the daemon and every process it forked are killed by PID at
``stop()``. Nothing here sleeps for a fixed time: readiness and exits are polled with deadlines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces/parens
        rest = stat.rsplit(")", 1)[1].split()
        out.setdefault(int(rest[1]), []).append(int(entry))
    return out


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (children first seen, breadth-first)."""
    children = _children_map()
    result: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            result.append(c)
            todo.append(c)
    return result


def kill_by_cmdline(needle: bytes) -> list[int]:
    """SIGKILL processes whose NUL-separated cmdline contains ``needle`` (for remote commands
    that outlive their channel: OpenSSH refuses signal requests for root sessions)."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle not in f.read():
                    continue
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
        except OSError:
            continue
    return killed


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(pred: object, timeout: float, what: str) -> None:
    assert callable(pred)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Sshd:
    """One sshd listening on 127.0.0.1:port with a given host key."""

    workdir: Path
    port: int
    client_key: asyncssh.SSHKey
    host_key: asyncssh.SSHKey
    extra_config: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    known_pids: set[int] = field(default_factory=set)
    starts: int = 0

    @property
    def host_key_line(self) -> str:
        """known_hosts line for this server."""
        pub = self.host_key.export_public_key("openssh").decode().strip()
        return f"[127.0.0.1]:{self.port} {pub}\n"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        hk = self.workdir / f"host_key_{self.starts}"
        hk.write_bytes(self.host_key.export_private_key("openssh"))
        hk.chmod(0o600)
        ak = self.workdir / "authorized_keys"
        ak.write_bytes(self.client_key.export_public_key("openssh"))
        cfg = self.workdir / "sshd_config"
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {hk}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {ak}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UseDNS no",
            "LogLevel VERBOSE",
            *self.extra_config,
        ]
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self) -> None:
        assert self.proc is None, "already running"
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        cfg = self._write_config()
        self.starts += 1
        log = open(self.workdir / "sshd.log", "ab")
        try:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(cfg)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        self.known_pids.add(self.proc.pid)
        try:
            wait_until(self._banner_ok, 10, f"sshd on port {self.port}")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"sshd did not start: {self.log_text()[-2000:]}") from None

    def _banner_ok(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited {self.proc.returncode}: {self.log_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.settimeout(2)
                return s.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def log_text(self) -> str:
        try:
            return (self.workdir / "sshd.log").read_text(errors="replace")
        except OSError:
            return ""

    def all_pids(self) -> list[int]:
        if self.proc is None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes and whatever they run."""
        if self.proc is None:
            return []
        return descendants(self.proc.pid)

    def signal_all(self, sig: signal.Signals) -> list[int]:
        pids = self.all_pids()
        self.known_pids.update(pids)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def stop(self) -> None:
        """Kill the listener and everything it forked (by PID), and wait for them to be gone."""
        if self.proc is None:
            return
        pids = self.all_pids()
        self.known_pids.update(pids)
        for pid in pids:
            for sig in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        self.proc.wait(timeout=10)
        self.proc = None
        wait_until(lambda: not any(_alive(p) for p in pids), 10, "sshd processes to exit")

    def cleanup(self) -> None:
        """Final teardown: also kill stray processes seen earlier (e.g. reparented sessions)."""
        self.stop()
        for pid in self.known_pids:
            if _alive(pid):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if b"sshd" in cmd or b"sleep" in cmd:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
