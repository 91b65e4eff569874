"""Node side of the clp* commands: forward to the cluster daemon, print its answer.

clpcfctrl reads/writes the configuration directory here, inside the node, and ships file
contents over the socket (the daemon never reads a node's files through the host).
"""

from __future__ import annotations

import base64
import getopt
import os
import sys
from pathlib import Path
from typing import Any

from ..config import clusterd_socket
from ..jc.runtime import NodeContext
from .guesses import CF_FAILED, cf_codes
from .protocol import request

INSTALL = Path("/opt/nec/clusterpro")


def _read_dir(conf_file: Path, scripts: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    if conf_file.is_file():
        files["clp.conf"] = {"data": base64.b64encode(conf_file.read_bytes()).decode(), "mode": 0o644}
    if scripts.is_dir():
        for p in sorted(scripts.rglob("*")):
            if p.is_file():
                rel = "scripts/" + str(p.relative_to(scripts))
                files[rel] = {"data": base64.b64encode(p.read_bytes()).decode(), "mode": p.stat().st_mode & 0o7777}
    return files


def _write_dir(d: Path, files: dict[str, Any]) -> None:
    for rel, f in files.items():
        dst = d / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(base64.b64decode(f["data"]))
        os.chmod(dst, int(f["mode"]))


def _clpcfctrl_request(argv: list[str], node: str, nodir: int) -> dict[str, Any] | str:
    try:
        opts, args = getopt.gnu_getopt(argv, "lwx:", ["push", "pull", "compcheck", "force", "nocheck"])
    except getopt.GetoptError as ex:
        return f"clpcfctrl: {ex}"
    o = dict(opts)
    modes = [m for m in ("--push", "--pull", "--compcheck") if m in o]
    if len(modes) != 1 or args:
        return "Usage: clpcfctrl --push [-l|-w] [-x <dir>] [--force] | --pull [-l|-w] -x <dir>"
    mode = modes[0][2:]
    req: dict[str, Any] = {"op": "clpcfctrl", "node": node, "mode": mode, "force": "--force" in o}
    if mode == "pull":
        if "-x" not in o:
            return "clpcfctrl: --pull needs -x <dir>"
        if not Path(o["-x"]).is_dir():
            return f"The directory {o['-x']} does not exist.\n" + CF_FAILED.format(code=nodir)
        req["dir"] = o["-x"]
        return req
    if "-x" in o:
        d = Path(o["-x"])
        if not d.is_dir():
            return f"The directory {d} does not exist.\n" + CF_FAILED.format(code=nodir)
        req["files"] = _read_dir(d / "clp.conf", d / "scripts")
    else:
        req["files"] = _read_dir(INSTALL / "etc" / "clp.conf", INSTALL / "scripts")
    return req


def main(tool: str, argv: list[str], ctx: NodeContext) -> int:
    if os.geteuid() != 0:
        print("Log in as root.", file=sys.stderr)
        return 1
    if tool == "clpcfctrl":
        codes = cf_codes(ctx.bed.variant("clp-messages"))
        req = _clpcfctrl_request(argv, ctx.node, codes["nodir"])
        if isinstance(req, str):
            print(req, file=sys.stderr)
            return codes["nodir"] if "Command failed." in req else codes["usage"]
    else:
        req = {"op": tool, "node": ctx.node, "argv": argv}
    try:
        reply = request(clusterd_socket(ctx.cluster_dir), req)
    except OSError:
        print("Could not connect to the server. Check if the cluster service is active.", file=sys.stderr)
        return 1
    if tool == "clpcfctrl" and req.get("mode") == "pull" and reply.get("rc") == 0:
        _write_dir(Path(req["dir"]), reply.get("files", {}))
    sys.stdout.write(reply.get("stdout", ""))
    sys.stderr.write(reply.get("stderr", ""))
    return int(reply.get("rc", 1))
