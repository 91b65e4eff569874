"""/usr/sbin/clplogcmd -m <text> [-i <id>] [-l info|warn|err] (node-protocol 5.7).

GUESS (clp/guesses.py ALERT_LOG, alert_line): the simulated alert log is
/opt/nec/clusterpro/log/alert.log on the node, one line per message: ``<time> <level> <server> <id> <text>``.
"""

from __future__ import annotations

import getopt
import socket
import sys
import time
from pathlib import Path

from ..jc.runtime import NodeContext
from . import guesses

ALERT_LOG = Path(guesses.ALERT_LOG)


def main(argv: list[str], ctx: NodeContext) -> int:
    try:
        opts, args = getopt.gnu_getopt(argv, "m:i:l:")
    except getopt.GetoptError as ex:
        print(f"clplogcmd: {ex}", file=sys.stderr)
        return 1
    o = dict(opts)
    level = o.get("-l", "info")
    if "-m" not in o or args or level not in ("info", "warn", "err"):
        print("Usage: clplogcmd -m <message> [-i <event id>] [-l info|warn|err]", file=sys.stderr)
        return 1
    ALERT_LOG.parent.mkdir(parents=True, exist_ok=True)
    with ALERT_LOG.open("a") as f:
        f.write(guesses.alert_line(time.strftime("%Y/%m/%d %H:%M:%S"), level, socket.gethostname(),
                                   o.get("-i", "1"), o["-m"]))
    return 0
