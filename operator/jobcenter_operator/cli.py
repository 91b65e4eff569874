"""Command line: ``run`` (the operator) and ``plan`` (a dry run against real nodes). No kopf here:
``run`` hands over to handlers.run_operator."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .api import ClusterproCluster, JobCenterSite
from .errors import OperatorError
from .node import NodePool
from .reconcile import access_from, reconcile_site

EXIT_CONVERGED, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


def _load(paths: list[Path]) -> tuple[JobCenterSite, ClusterproCluster]:
    site = cluster = None
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "JobCenterSite":
                site = JobCenterSite.model_validate(doc)
            elif doc.get("kind") == "ClusterproCluster":
                cluster = ClusterproCluster.model_validate(doc)
    if site is None or cluster is None:
        raise SystemExit("plan: give one JobCenterSite and one ClusterproCluster with -f")
    if site.spec.cluster_ref.name != cluster.metadata.name:
        raise SystemExit(f"plan: the site refers to ClusterproCluster {site.spec.cluster_ref.name}, "
                         f"not {cluster.metadata.name}")
    return site, cluster


async def _plan(args: argparse.Namespace) -> int:
    try:
        site, cluster = _load(args.file)
    except ValidationError as exc:
        print(f"invalid manifest: {exc}", file=sys.stderr)
        return EXIT_ERROR
    secret: dict[str, bytes] = {"ssh-privatekey": args.ssh_key.read_bytes()}
    if args.known_hosts:
        secret["known_hosts"] = args.known_hosts.read_bytes()
    pool = NodePool()
    try:
        access = access_from(cluster.spec, secret)
        result = await reconcile_site(pool, access, site.spec, enforce=False)
    except OperatorError as exc:
        print(f"{exc.reason}: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await pool.close()
    report: dict[str, Any] = {"site": site.metadata.name, "activeNode": result.active_node}
    if result.error is not None:
        report["error"] = {"reason": result.error.reason, "message": result.error.message}
    if result.plan is not None:
        report["preflight"] = [{"reason": f.reason, "node": f.node, "message": f.message}
                               for f in result.plan.preflight]
        report["actions"] = [{"node": a.node, "action": a.kind, "reason": a.reason, "message": a.message}
                             for a in result.plan.actions]
    if result.health is not None:
        report["processes"] = {"healthy": result.health.healthy, "found": result.health.found,
                               "expected": result.health.expected, "message": result.health.message}
    print(json.dumps(report, indent=2))
    if result.error is not None or (result.plan is not None and result.plan.preflight):
        return EXIT_ERROR
    return EXIT_PENDING if result.plan is not None and result.plan.actions else EXIT_CONVERGED


def _run(args: argparse.Namespace) -> int:
    # Imported here: the dry run must work without the Kubernetes side (and kopf stays in handlers).
    from .handlers import run_operator

    namespaces = [] if args.all_namespaces else (args.namespace or ["default"])
    run_operator(namespaces=namespaces, clusterwide=args.all_namespaces, json_logs=args.log_format == "json",
                 liveness=args.liveness, verbose=args.verbose)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobcenter-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", help="namespace to watch (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    run.add_argument("--log-format", choices=["plain", "json"], default="plain")
    run.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--verbose", "-v", action="store_true")
    plan = sub.add_parser("plan", help="dry run: gather facts and print the plan; exit 0 converged, 2 pending")
    plan.add_argument("-f", "--file", type=Path, action="append", required=True,
                      help="a manifest with the JobCenterSite and/or its ClusterproCluster (repeatable)")
    plan.add_argument("--ssh-key", type=Path, required=True, help="private key file")
    plan.add_argument("--known-hosts", type=Path, help="known_hosts file (required with hostKeyPolicy Strict)")
    args = parser.parse_args(argv)
    if args.command == "plan":
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        return asyncio.run(_plan(args))
    return _run(args)  # kopf configures logging
