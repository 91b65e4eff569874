"""The node's resident tool helper: runs simulated tools without a Python start-up per command.

``python -m hack.testbed.toolsd <cluster-dir> <node> <listening-fd>``, started by node_init inside
the node's namespaces (so it dies with the node) with the listening socket at SOCKET_PATH already
bound. Every tool module is imported once here; each command is a fork of this process that
takes the client's stdin/stdout/stderr (passed over the socket), argv, environment and working
directory, and then runs exactly what ``python -m hack.testbed.nodetools <tool>`` runs
(``nodetools.run``). The client (toolshim.c) is told the exit code or the signal the fork died
of. A client that goes away (killed) takes its command with it: the fork is SIGKILLed, as the
command would have died with its own process before.

Single-threaded on purpose (fork from a threaded process is unsafe): one selector loop over the
listening socket, the client connections and a pidfd per running command.
"""

from __future__ import annotations

import gc
import io
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass

from . import nodetools
from .toolshim import SOCKET_PATH  # noqa: F401 - where node_init binds the listener

MAX_REQUEST = 1 << 20  # bytes: argv + environment of one command
_FDS = 3


@dataclass
class Request:
    fd_mask: str  # "101": which of the client's fds 0, 1, 2 were open (and passed, in order)
    tool: str
    cwd: str
    argv: list[str]
    env: dict[str, str]


def parse_request(data: bytes) -> Request:
    """Decode the shim's NUL-separated message (see toolshim.c)."""
    fields = data.split(b"\0")
    if fields[0] != b"JCB1":
        raise ValueError("not a tool request")
    mask, tool, cwd = (f.decode("utf-8", "surrogateescape") for f in fields[1:4])
    argc = int(fields[4])
    argv = [f.decode("utf-8", "surrogateescape") for f in fields[5:5 + argc]]
    envc = int(fields[5 + argc])
    env: dict[str, str] = {}
    for raw in fields[6 + argc:6 + argc + envc]:
        k, _, v = raw.decode("utf-8", "surrogateescape").partition("=")
        env[k] = v
    return Request(mask, tool, cwd, argv, env)


def tool_env(client_env: dict[str, str], cluster_dir: str, node: str, repo: str) -> dict[str, str]:
    """The environment the direct wrapper gives the tool: the caller's plus the bed's three."""
    return {**client_env, "JCB_CLUSTER_DIR": cluster_dir, "JCB_NODE": node, "PYTHONPATH": repo}


def _stdio_errors(env: dict[str, str]) -> str:
    # What CPython picks at start-up: a C/POSIX locale turns on UTF-8 mode with surrogateescape.
    lc = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or "C"
    return "surrogateescape" if lc in ("C", "POSIX") else "strict"


def _install_stdio(mask: str, errors: str) -> None:
    """sys.stdin/stdout/stderr over fds 0-2 as a fresh interpreter would set them up."""
    def text(fd: int, write: bool, errs: str, line: bool) -> io.TextIOWrapper | None:
        if mask[fd] != "1":
            return None
        raw = io.FileIO(fd, "wb" if write else "rb", closefd=False)
        buf: io.BufferedWriter | io.BufferedReader = io.BufferedWriter(raw) if write else io.BufferedReader(raw)
        return io.TextIOWrapper(buf, encoding="utf-8", errors=errs, newline="\n", line_buffering=line)

    sys.stdin = sys.__stdin__ = text(0, False, errors, False)  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = text(1, True, errors, os.isatty(1) if mask[1] == "1" else False)  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = text(2, True, "backslashreplace", True)  # type: ignore[misc]


def _exit_code(ex: SystemExit) -> int:
    # the interpreter's rules for sys.exit(x)
    if ex.code is None:
        return 0
    if isinstance(ex.code, int):
        return ex.code & 0xFF
    print(ex.code, file=sys.stderr)
    return 1


def _flush() -> int:
    for f in (sys.stdout, sys.stderr):
        try:
            if f is not None:
                f.flush()
        except (BrokenPipeError, OSError):
            return 120  # what CPython exits with when flushing stdout at exit fails
    return 0


def run_child(req: Request, fds: list[int], cluster_dir: str, node: str, repo: str) -> None:
    """In the forked child: become the command, run it, exit. Never returns."""
    rc = 1
    try:
        passed = [i for i in range(_FDS) if req.fd_mask[i] == "1"]
        for target, fd in zip(passed, fds, strict=True):
            os.dup2(fd, target)
        for i in range(_FDS):
            if req.fd_mask[i] != "1":
                os.close(i)
        os.closerange(_FDS, 65536)  # the listening socket, other clients, pidfds, passed copies
        # a fresh interpreter's signal dispositions
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        os.environ.clear()
        os.environ.update(tool_env(req.env, cluster_dir, node, repo))
        time.tzset()
        try:
            os.chdir(req.cwd or "/")
        except OSError:
            os.chdir("/")
        _install_stdio(req.fd_mask, _stdio_errors(req.env))
        gc.enable()
        try:
            rc = nodetools.run(req.tool, req.argv)
        except SystemExit as ex:
            rc = _exit_code(ex)
        except KeyboardInterrupt:
            _flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:  # print it as the interpreter would, exit 1
            traceback.print_exc()
            rc = 1
        rc = _flush() or rc
    finally:
        os._exit(rc)


@dataclass
class Running:
    conn: socket.socket
    pid: int = 0
    pidfd: int = -1


class Helper:
    def __init__(self, listener: socket.socket, cluster_dir: str, node: str, repo: str) -> None:
        self.listener = listener
        self.cluster_dir, self.node, self.repo = cluster_dir, node, repo
        self.sel = selectors.DefaultSelector()
        self.sel.register(listener, selectors.EVENT_READ, None)

    def serve_forever(self) -> None:
        while True:
            for key, _ in self.sel.select():
                if key.data is None:
                    self._accept()
                elif key.fileobj is key.data.conn:
                    self._from_client(key.data)
                else:
                    self._reap(key.data)

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.sel.register(conn, selectors.EVENT_READ, Running(conn))

    def _drop(self, r: Running) -> None:
        self.sel.unregister(r.conn)
        r.conn.close()

    def _from_client(self, r: Running) -> None:
        if r.pid == 0:
            self._start(r)
            return
        try:
            msg = r.conn.recv(64)
        except OSError:
            msg = b""
        if msg.startswith(b"K"):
            os.kill(r.pid, int(msg[1:]))  # a zombie not yet reaped ignores it
        elif not msg:
            # the client died: its command dies with it; the pidfd reports the exit
            os.kill(r.pid, signal.SIGKILL)
            self.sel.unregister(r.conn)

    def _start(self, r: Running) -> None:
        try:
            data, anc, flags, _ = r.conn.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(_FDS * 4))
        except OSError:
            data, anc, flags = b"", [], 0
        fds = [fd for level, kind, blob in anc if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
               for fd in memoryview(blob).cast("i")]
        try:
            if not data or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ValueError("empty or truncated request")
            req = parse_request(data)
            if len(fds) != req.fd_mask.count("1"):
                raise ValueError("descriptor count does not match the mask")
        except ValueError:
            for fd in fds:
                os.close(fd)
            self._drop(r)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(req, fds, self.cluster_dir, self.node, self.repo)
        for fd in fds:
            os.close(fd)
        r.pid = pid
        r.pidfd = os.pidfd_open(pid)
        self.sel.register(r.pidfd, selectors.EVENT_READ, r)

    def _reap(self, r: Running) -> None:
        _, status = os.waitpid(r.pid, 0)
        self.sel.unregister(r.pidfd)
        os.close(r.pidfd)
        reply = f"S{os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"E{os.waitstatus_to_exitcode(status)}"
        try:
            r.conn.send(reply.encode())
        except OSError:
            pass  # the client is gone
        if r.conn.fileno() >= 0:
            try:
                self.sel.unregister(r.conn)
            except KeyError:
                pass
            r.conn.close()


def main() -> None:
    cluster_dir, node, fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    listener = socket.socket(fileno=fd)
    listener.setblocking(False)
    nodetools.preload()
    from .jc.procs import become

    become(f"jcb-toolsd {node}", "jcb-toolsd")
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    gc.collect()
    gc.freeze()  # keep the imported modules' pages shared with every fork
    Helper(listener, cluster_dir, node, os.environ.get("PYTHONPATH", "")).serve_forever()


if __name__ == "__main__":
    main()
