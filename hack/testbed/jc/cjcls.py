"""/usr/lib/nqs/cluster/cjcls [-a]: sites running on this machine (node-protocol 2.4).

GUESS format (jc/guesses.py cjcls_text, axis cjcls-layout): one line per site,
``<site-name> RUNNING``; ``-a`` adds the local site under the machine's host name.
"""

from __future__ import annotations

import socket
import sys

from . import cjcpw, guesses, local, procs
from .runtime import NodeContext


def main(argv: list[str], ctx: NodeContext) -> int:
    if argv not in ([], ["-a"]):
        print("Usage: cjcls [-a]", file=sys.stderr)
        return 1
    local_name = socket.gethostname() if argv == ["-a"] and local.running() else None
    sites = []
    for f in sorted(cjcpw.SITES.glob("*.json")) if cjcpw.SITES.is_dir() else []:
        st = procs.read_state(f)
        if st and cjcpw._running(str(st.get("vhost", f.stem))):
            sites.append(str(st.get("vhost", f.stem)))
    sys.stdout.write(guesses.cjcls_text(ctx.bed.variant("cjcls-layout"), sites, local_name))
    return 0
