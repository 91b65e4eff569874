"""CLI: ``python -m hack.testbed <verb> ...``; every verb prints ONE JSON document on stdout."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from . import api, variants
from .config import MODES, START_STATES, Timings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hack.testbed", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)
    u = sub.add_parser("up", help="build and start a simulated cluster")
    u.add_argument("--name", required=True)
    u.add_argument("--mode", choices=MODES, default="classic")
    u.add_argument("--nodes", type=int, default=2)
    # group options: unset = the mode's default (classic: /mnt/sdb2 cluv 114 failover-jc exec-jc;
    # standard: the MG group /mnt/jobmgdb jcmgcluster 100 failover-jcmg exec-jcmg)
    u.add_argument("--database-path")
    u.add_argument("--virtual-host")
    u.add_argument("--machine-id", type=int)
    u.add_argument("--group")
    u.add_argument("--exec-resource")
    u.add_argument("--agent-group", help="mode standard: the AG group (default failover-jcag)")
    u.add_argument("--agent-exec-resource", help="mode standard: the AG exec resource (default exec-jcag)")
    u.add_argument("--agent-database-path", help="mode standard: the AG disk (default /mnt/jobagdb)")
    u.add_argument("--state", choices=START_STATES, default="fresh")
    u.add_argument("--realistic", action="store_true", help="real-node timings (cjcpw -stop 90 s, ...)")
    u.add_argument("--cjcpw-stop-seconds", type=float, help="duration of `cjcpw -stop` (default 2, realistic 90)")
    u.add_argument("--monitor-interval", type=float,
                   help="cap on monitor polling intervals in seconds (default 1; 0 = as configured)")
    u.add_argument("--agent-instance-id", default="1")
    u.add_argument("--agent-instance-name", default="clusterinstance")
    u.add_argument("--agent-name", default="jcagcluster")
    u.add_argument("--variant", action="append", default=None, metavar="NAME",
                   help="an alternative of a guessed format/rule (repeatable; `all` = every alternative; "
                        "see the `variants` verb)")
    u.add_argument("--charset", choices=sorted(api.CHARSETS), help="clp.conf encoding (default ascii)")
    d = sub.add_parser("down", help="remove a cluster (or all) completely")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--name")
    g.add_argument("--all", action="store_true")
    s = sub.add_parser("status", help="groups, monitors and JobCenter processes")
    s.add_argument("--name", required=True)
    e = sub.add_parser("exec", help="run a command inside a node (no SSH)")
    e.add_argument("--name", required=True)
    e.add_argument("--node", required=True)
    e.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("list", help="clusters that are up")
    sub.add_parser("variants", help="every variant axis: default and alternatives")
    f = sub.add_parser("fault", help="inject a fault")
    f.add_argument("--name", required=True)
    f.add_argument("kind", choices=api.FAULTS)
    f.add_argument("node")
    f.add_argument("arg", nargs="?")
    return p


def run(args: argparse.Namespace) -> Any:
    if args.verb == "up":
        timings = Timings.realistic() if args.realistic else Timings()
        if args.cjcpw_stop_seconds is not None:
            timings.cjcpw_stop = args.cjcpw_stop_seconds
        if args.monitor_interval is not None:
            timings.monitor_interval_cap = args.monitor_interval
        return api.up(args.name, mode=args.mode, nodes=args.nodes, database_path=args.database_path,
                      virtual_host=args.virtual_host, group=args.group, exec_resource=args.exec_resource,
                      state=args.state, realistic=args.realistic, machine_id=args.machine_id,
                      agent_instance_id=args.agent_instance_id, agent_instance_name=args.agent_instance_name,
                      agent_name=args.agent_name, agent_group=args.agent_group,
                      agent_exec_resource=args.agent_exec_resource,
                      agent_database_path=args.agent_database_path, timings=timings,
                      variants=args.variant, charset=args.charset)
    if args.verb == "down":
        return {"removed": api.down_all()} if args.all else api.down(args.name)
    if args.verb == "status":
        return api.status(args.name)
    if args.verb == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            raise ValueError("exec needs a command after --")
        return api.exec_on(args.name, args.node, argv)
    if args.verb == "list":
        return api.list_clusters()
    if args.verb == "variants":
        return variants.catalogue()
    return api.fault(args.name, args.kind, args.node, args.arg)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    args = _parser().parse_args()
    try:
        result = run(args)
    except Exception as ex:
        logging.getLogger("hack.testbed").debug("failed", exc_info=True)
        print(json.dumps({"error": f"{type(ex).__name__}: {ex}"}))
        return 1
    print(json.dumps(result, indent=2))
    if args.verb == "exec":
        return int(result["exitStatus"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
