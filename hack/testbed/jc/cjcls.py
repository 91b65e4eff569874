"""/usr/lib/nqs/cluster/cjcls [-a]: sites running on this machine (node-protocol 2.4).

GUESS format: one line per site, ``<site-name> <status>``; ``-a`` adds the local site under the
machine's host name.
"""

from __future__ import annotations

import socket
import sys

from . import cjcpw, local, procs
from .runtime import NodeContext


def main(argv: list[str], ctx: NodeContext) -> int:
    if argv not in ([], ["-a"]):
        print("Usage: cjcls [-a]", file=sys.stderr)
        return 1
    if argv == ["-a"] and local.running():
        print(f"{socket.gethostname()} RUNNING")
    for f in sorted(cjcpw.SITES.glob("*.json")) if cjcpw.SITES.is_dir() else []:
        st = procs.read_state(f)
        if st and cjcpw._running(str(st.get("vhost", f.stem))):
            print(f"{st.get('vhost', f.stem)} RUNNING")
    return 0
