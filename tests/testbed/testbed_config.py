"""Pull, edit and push a cluster configuration inside a node (no SSH), and snapshot what each node
has installed, byte for byte (read on the host side)."""

from __future__ import annotations

import base64
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hack.testbed import api

CFG = "/root/cfg"


def sh(info: dict[str, Any], node: str, script: str) -> tuple[int, str, str]:
    r = api.exec_on(info["name"], node, ["/bin/sh", "-c", script])
    return r["exitStatus"], r["stdout"], r["stderr"]


def pull(info: dict[str, Any], node: str = "clu1") -> bytes:
    """clpcfctrl --pull into /root/cfg; returns clp.conf's bytes (scripts stay in /root/cfg)."""
    rc, out, err = sh(info, node, f"rm -rf {CFG} && mkdir {CFG} && clpcfctrl --pull -x {CFG} >/dev/null "
                                  f"&& base64 -w0 {CFG}/clp.conf")
    assert rc == 0, err
    return base64.b64decode(out)


def write(info: dict[str, Any], node: str, path: str, data: bytes | str, mode: str = "755") -> None:
    raw = data.encode() if isinstance(data, str) else data
    enc = base64.b64encode(raw).decode()
    q = shlex.quote(path)
    rc, _, err = sh(info, node, f"mkdir -p $(dirname {q}) && echo {enc} | base64 -d > {q} && chmod {mode} {q}")
    assert rc == 0, err


def push(info: dict[str, Any], conf: bytes | str, scripts: dict[str, str] | None = None,
         node: str = "clu1") -> tuple[int, str]:
    """Pull the installed tree into /root/cfg, replace clp.conf (+ scripts, relative to scripts/) and
    run clpcfctrl --push."""
    pull(info, node)
    write(info, node, f"{CFG}/clp.conf", conf, "644")
    for rel, text in (scripts or {}).items():
        write(info, node, f"{CFG}/scripts/{rel}", text)
    rc, out, err = sh(info, node, f"clpcfctrl --push -x {CFG}")
    return rc, out + err


def snapshot(info: dict[str, Any]) -> dict[str, dict[str, bytes]]:
    """Every node's installed clp.conf and scripts tree (host side, bytes)."""
    snap = {}
    for n in info["nodes"]:
        base = api.node_path(info["name"], n["name"], "/opt/nec/clusterpro")
        files = {"clp.conf": (base / "etc" / "clp.conf").read_bytes()}
        for p in sorted((base / "scripts").rglob("*")):
            if p.is_file():
                files[str(p.relative_to(base))] = p.read_bytes()
        snap[n["name"]] = files
    return snap


def installed_conf(info: dict[str, Any], node: str) -> bytes:
    return Path(api.node_path(info["name"], node, "/opt/nec/clusterpro/etc/clp.conf")).read_bytes()


def wait(cond: Callable[[], bool], limit: float, what: str) -> None:
    """Bounded poll (never a fixed sleep standing in for a condition)."""
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        time.sleep(0.05)


def group(info: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    g: dict[str, Any] = api.cluster_status(info["name"])["groups"][name or info["failoverGroup"]]
    return g


def exec_log(info: dict[str, Any], node: str, rsc: str = "exec-jc") -> str:
    p = api.node_path(info["name"], node, f"/opt/nec/clusterpro/log/{rsc}.log")
    return p.read_text(errors="replace") if p.exists() else ""


# A synchronous custom monitor of the exec resource that fails over its group at the first error,
# failing while /tmp/genw-fail exists in the node.
GENW_SH = "#!/bin/sh\n[ ! -e /tmp/genw-fail ]\n"
GENW = {"parameters/path": "genw.sh", "parameters/sync": "1", "polling/timing": "1", "polling/interval": "1",
        "target": "exec-jc", "relation/type": "grp", "relation/name": "failover-jc",
        "emergency/threshold/restart": "0", "emergency/threshold/fo": "1"}
