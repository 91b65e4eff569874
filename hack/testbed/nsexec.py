"""Run commands inside a node's namespaces from the host (no SSH)."""

from __future__ import annotations

NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def nsenter_argv(init_pid: int, argv: list[str], cwd: str = "/root") -> list[str]:
    """argv that runs ``argv`` in the node whose PID 1 is ``init_pid`` (root-ns PID).

    Mount, UTS, network and PID namespaces are entered (the node has no IPC/user ns of its own).
    The cwd is changed by a shell inside the node: nsenter's --wd opens the directory in the
    caller's mount namespace, where node-private paths do not exist.
    """
    return ["nsenter", "-t", str(init_pid), "-m", "-u", "-n", "-p", "--",
            "/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, *argv]


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A login-like environment for root inside a node (the host's env must not leak in)."""
    env = {"PATH": NODE_PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root", "LANG": "C.UTF-8",
           "SHELL": "/bin/bash"}
    env.update(extra or {})
    return env
