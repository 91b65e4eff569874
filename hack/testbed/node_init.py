"""PID 1 of a node until it becomes sshd: runs inside the node's new mount/UTS/PID namespaces.

``python -m hack.testbed.node_init <cluster-dir> <node> [boot|reboot]``
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
from pathlib import Path

from .config import OVERLAY_DIRS, PRIVATE_DIRS, TMPFS_DIRS, BedRecord, node_dir
from .toolshim import DISPATCH_FILE, SOCKET_PATH

_libc = ctypes.CDLL(None, use_errno=True)
MS_BIND = 4096
MS_NOSUID, MS_NODEV = 2, 4


def mount(src: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    # libc mount(2) directly: a dozen mounts per node without a dozen fork+exec of mount(8)
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target} ({fstype}): {os.strerror(err)}")


def _hidden_by_tmpfs(*paths: Path) -> list[Path]:
    """Those of ``paths`` a private tmpfs would hide, without ones nested in another."""
    hidden = sorted({p.resolve() for p in paths if any(p.resolve().is_relative_to(f"/{d}") for d in TMPFS_DIRS)})
    return [p for p in hidden if not any(p != q and p.is_relative_to(q) for q in hidden)]


def start_tool_helper(bed: BedRecord, cluster_dir: Path, node: str) -> None:
    """The resident helper the tool shims talk to (toolshim.py), when the bed installed shims.

    The socket is bound here, before the helper has imported anything: a command run right away
    (the rc scripts below) waits in the listen queue instead of failing over to the direct path.
    It is a child of this process, so of sshd (PID 1) once we exec, and dies with the node.
    """
    if Path(DISPATCH_FILE).read_text().strip() != "resident":
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(SOCKET_PATH)
    listener.listen(128)
    log = open(node_dir(bed, node) / "toolsd.log", "ab")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "PYTHONPATH": bed.repo,
           # room for setproctitle: a command's title (argv included) is written over this area
           "JCB_TOOLSD_TITLE_ROOM": "x" * 4096}
    subprocess.Popen([bed.python, "-m", "hack.testbed.toolsd", str(cluster_dir), node, str(listener.fileno())],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd="/",
                     pass_fds=(listener.fileno(),), start_new_session=True)
    log.close()
    listener.close()


def main() -> None:
    cluster_dir, node = Path(sys.argv[1]), sys.argv[2]
    reboot = len(sys.argv) > 3 and sys.argv[3] == "reboot"
    bed = BedRecord.load_dir(cluster_dir)
    nd = node_dir(bed, node)
    socket.sethostname(node)
    # The repository (code, .venv) and the bed's state must stay visible in the node even when they
    # live under a directory that gets a private tmpfs (a CI clone in /tmp): hold them by a file
    # descriptor, mount the tmpfs, then bind them back at the same path.
    held = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in _hidden_by_tmpfs(Path(bed.repo), cluster_dir)]
    for d in TMPFS_DIRS:
        mount("tmpfs", f"/{d}", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" if d == "tmp" else "mode=755")
    for path, fd in held:
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND)
        os.close(fd)
    os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege-separation dir (absent on the host)
    for d in OVERLAY_DIRS:
        ovl = nd / "ovl" / d.replace("/", "_")
        mount("overlay", f"/{d}", "overlay", 0,
              f"lowerdir=/{d},upperdir={ovl / 'upper'},workdir={ovl / 'work'}")
    for d in PRIVATE_DIRS:
        mount(str(nd / "root" / d), f"/{d}", None, MS_BIND)
    mount(str(nd / "etc" / "hosts"), "/etc/hosts", None, MS_BIND)
    mount(str(nd / "etc" / "hostname"), "/etc/hostname", None, MS_BIND)
    os.chdir("/")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "LANG": "C.UTF-8"}
    start_tool_helper(bed, cluster_dir, node)
    # "rc scripts" of the node: JobCenter's local site, and enabled agent units after a reboot
    if os.path.exists("/usr/lib/nqs/nqsstart"):
        subprocess.run(["/usr/lib/nqs/nqsstart"], env=env, check=False)
    if reboot:
        subprocess.run(["/usr/bin/env", f"PYTHONPATH={bed.repo}", f"JCB_CLUSTER_DIR={cluster_dir}",
                        f"JCB_NODE={node}", bed.python, "-c",
                        "from hack.testbed.jc.agent import boot_units; boot_units()"], env=env, check=False)
    sys.stdout.flush()
    os.execve("/usr/sbin/sshd", [  # noqa: S606 - becomes PID 1 of the node
       "/usr/sbin/sshd", "-D", "-f", str(nd / "sshd_config"),
                                 "-E", str(nd / "sshd.log")], env)


if __name__ == "__main__":
    main()
