"""Command line: ``run`` (the operator) and ``plan`` (a dry run against the real nodes).

Thin on purpose: manifests come from ``manifest_files``, live objects from ``cluster_reader``, the
output and exit codes from ``plan_report``. Every expected failure is one line on stderr; kopf is
only imported by ``run`` (through handlers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from .api import ClusterproCluster, ClusterproClusterSpec, JobCenterSite, JobCenterSiteSpec
from .api.disruption import effective_disruption
from .errors import OperatorError
from .manifest_files import ManifestError, read_documents, secret_data, select, validate
from .node import NodePool
from .plan.disruption import decide
from .plan_report import EXIT_CONVERGED, EXIT_ERROR, EXIT_PENDING, EXIT_USAGE, build_report, render_table, table
from .reconcile import access_from, reconcile_site

PROG = "jobcenter-operator"
# The namespaces ``run`` watches when no --namespace/--all-namespaces is given (comma-separated). The
# Deployment sets it from its own metadata.namespace (downward API), so a kustomize `namespace:` moves it.
NAMESPACES_ENV = "JCOP_NAMESPACES"
PASSPHRASE_ENV = "JCOP_SSH_PASSPHRASE"  # noqa: S105 (the variable's name)
PASSWORD_ENV = "JCOP_SSH_PASSWORD"  # noqa: S105 (the variable's name, not a password)

DESCRIPTION = "Keeps WebSAM JobCenter cluster sites in CLUSTERPRO X failover clusters, over SSH."
EXIT_CODES = f"""exit codes:
  {EXIT_CONVERGED}   converged: nothing to change
  {EXIT_PENDING}   changes pending (plan only; nothing was changed)
  {EXIT_ERROR}   error: unreadable or invalid input, unreachable node, failed preflight check
  {EXIT_USAGE}  usage: unknown option, missing argument"""

PLAN_DESCRIPTION = f"""Gather facts from the nodes and print what the operator would change there. Changes nothing.

The site, its ClusterproCluster and (optionally) their credentials Secret come from -f (files,
directories or - for stdin), or, without -f, from the live cluster: `plan NAME -n NAMESPACE` reads
them with the current kubeconfig context. Credentials on the command line are only ever file names:
a key passphrase comes from --passphrase-file or ${PASSPHRASE_ENV}, a password from --password-file
or ${PASSWORD_ENV}; they override the Secret's keys of the same name."""

APPROVE_DESCRIPTION = """Approve the disruptive steps (group stop/start, cjcmksite, stopping a local site) that a
JobCenterSite with spec.disruption.approval Manual waits for: sets the annotation
jobcenter.clusterpro.io/approve-plan to the plan hash its status shows. The operator runs them (inside a
maintenance window, if the site has windows) only while the plan still has that hash; a changed plan needs a
new approval. Uses the current kubeconfig context (your own RBAC)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors and exit code 64 (argparse's own 2 means "pending" here)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            # Only the options: a mistyped `--password SECRET` must not echo the secret.
            options = [word for word in message.split(":", 1)[1].split() if word.startswith("-")]
            message = f"unrecognized arguments: {' '.join(options) or '(positional values)'}"
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _version() -> str:
    try:
        return importlib.metadata.version(PROG)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EXIT_CODES, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,plan,approve}")

    run = sub.add_parser("run", help="run the operator", allow_abbrev=False)
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append",
                       help=f"namespace to watch (repeatable; default: ${NAMESPACES_ENV}, comma-separated)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    run.add_argument("--log-format", choices=["plain", "json"], default="plain")
    run.add_argument("--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--metrics-port", type=int, default=_env_port("JCOP_METRICS_PORT"), metavar="PORT",
                     help="serve Prometheus metrics on http://ADDRESS:PORT/metrics (default: $JCOP_METRICS_PORT, "
                          "else off; the manifests/metrics component uses 8081)")
    run.add_argument("--metrics-bind-address", default="0.0.0.0", metavar="ADDRESS",  # noqa: S104
                     help="address the metrics server listens on (default 0.0.0.0)")
    run.add_argument("--verbose", "-v", action="store_true")

    plan = sub.add_parser("plan", help="dry run: print what would change on the nodes (exit 0 converged, 2 pending)",
                          description=PLAN_DESCRIPTION, epilog=EXIT_CODES, allow_abbrev=False,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    plan.add_argument("name", nargs="?", metavar="NAME",
                      help="the JobCenterSite: read from the live cluster, or picked among the -f manifests")
    plan.add_argument("-f", "--filename", dest="files", action="append", metavar="PATH",
                      help="a manifest file, a directory of them, or - for stdin (repeatable)")
    plan.add_argument("-n", "--namespace", help="namespace of NAME (default: the kubeconfig context's)")
    plan.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    plan.add_argument("--context", help="kubeconfig context (default: the current one)")
    plan.add_argument("--ssh-key", type=Path, metavar="FILE", help="private key file (overrides ssh-privatekey)")
    plan.add_argument("--known-hosts", type=Path, metavar="FILE", help="known_hosts file (overrides known_hosts)")
    plan.add_argument("--passphrase-file", type=Path, metavar="FILE",
                      help=f"file holding the key's passphrase (or set ${PASSPHRASE_ENV})")
    plan.add_argument("--password-file", type=Path, metavar="FILE",
                      help=f"file holding the login password (or set ${PASSWORD_ENV})")
    plan.add_argument("-o", "--output", choices=["table", "json"], default="table", help="output format")
    plan.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")

    approve = sub.add_parser("approve", help="approve the disruptive steps a site waits for (approval: Manual)",
                             description=APPROVE_DESCRIPTION, allow_abbrev=False,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    approve.add_argument("name", metavar="NAME", help="the JobCenterSite")
    approve.add_argument("-n", "--namespace", help="namespace of NAME (default: the kubeconfig context's)")
    approve.add_argument("--hash", dest="expected", metavar="HASH",
                         help="approve only if HASH is still the pending plan (as status.disruption.planHash showed)")
    approve.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    approve.add_argument("--context", help="kubeconfig context (default: the current one)")
    return parser


def _read_secret_file(path: Path, what: str, *, one_line: bool = False) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{what} {path}: {exc.strerror or exc}") from None
    # A passphrase or password file made with `echo` ends in a newline that is not part of it.
    return data.removesuffix(b"\n") if one_line else data


def credentials(args: argparse.Namespace, from_secret: dict[str, bytes] | None) -> dict[str, bytes]:
    """The Secret's keys (if any) overridden by the files and variables given to plan."""
    secret = dict(from_secret or {})
    if args.ssh_key:
        secret["ssh-privatekey"] = _read_secret_file(args.ssh_key, "--ssh-key")
    if args.known_hosts:
        secret["known_hosts"] = _read_secret_file(args.known_hosts, "--known-hosts")
    for key, option, env in (("passphrase", args.passphrase_file, PASSPHRASE_ENV),
                             ("password", args.password_file, PASSWORD_ENV)):
        if option:
            secret[key] = _read_secret_file(option, f"--{key}-file", one_line=True)
        elif os.environ.get(env):
            secret[key] = os.environ[env].encode()
    if not secret.get("ssh-privatekey") and not secret.get("password"):
        raise ManifestError("no credentials: give --ssh-key or --password-file (or $"
                            f"{PASSWORD_ENV}), or include the cluster's Secret in the manifests")
    for key in ("known_hosts", "passphrase", "password"):
        try:
            secret.get(key, b"").decode()
        except UnicodeDecodeError:
            raise ManifestError(f"InvalidSpec: the credentials' {key} is not UTF-8 text") from None
    return secret


def _inputs(args: argparse.Namespace) -> tuple[str, JobCenterSiteSpec, ClusterproClusterSpec, dict[str, bytes]]:
    """(site name, site spec, cluster spec, credentials) from the files or the live cluster."""
    if args.files:
        chosen = select(read_documents(args.files, sys.stdin), args.name)
        return chosen.site.metadata.name, chosen.site.spec, chosen.cluster.spec, credentials(args, chosen.secret)
    # The kubernetes client is imported only when the live cluster is read.
    from .cluster_reader import ClusterReadError, read_live_site

    try:
        live = read_live_site(args.name, args.namespace, args.kubeconfig, args.context)
    except ClusterReadError as exc:
        raise ManifestError(str(exc)) from None
    where = f"namespace {live.namespace}"
    site = validate(JobCenterSite, live.site, where)
    cluster = validate(ClusterproCluster, live.cluster, where)
    secret = secret_data(live.secret, f"Secret {live.namespace}/{cluster.spec.ssh.credentials_secret_ref.name}")
    return site.metadata.name, site.spec, cluster.spec, credentials(args, secret)


async def _plan(args: argparse.Namespace) -> int:
    name, site_spec, cluster_spec, secret = _inputs(args)
    access = access_from(cluster_spec, secret)
    pool = NodePool()
    try:
        policy = effective_disruption(site_spec.disruption, cluster_spec.disruption)
        now = datetime.now(UTC)
        result = await reconcile_site(pool, access, site_spec, enforce=False,
                                      gate=lambda actions: decide(actions, policy, now))
    finally:
        await pool.close()
    report = build_report(name, result)
    if args.output == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report), end="")
    return int(report["exitCode"])


def plan_main(args: argparse.Namespace) -> int:
    # The report carries every node error; the node layer's own warnings would say it twice.
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_plan(args))
    except ManifestError as exc:
        message = str(exc)
    except OperatorError as exc:
        message = f"{exc.reason}: {exc.message}"
    except KeyboardInterrupt:
        message = "interrupted"
    except Exception as exc:
        if args.debug:
            raise
        message = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} (--debug shows the traceback)"
    print(f"{PROG} plan: {message}", file=sys.stderr)
    return EXIT_ERROR


def watched_from_env(environ: Mapping[str, str]) -> list[str]:
    return [ns.strip() for ns in environ.get(NAMESPACES_ENV, "").split(",") if ns.strip()]


def _run(args: argparse.Namespace) -> int:
    # Imported here: the dry run must work without the Kubernetes side (and kopf stays in handlers).
    from .handlers import run_operator

    namespaces = [] if args.all_namespaces else (args.namespace or watched_from_env(os.environ) or ["default"])
    with _profiled(os.environ.get(PROFILE_ENV)):
        run_operator(namespaces=namespaces, clusterwide=args.all_namespaces, json_logs=args.log_format == "json",
                     liveness=args.liveness, verbose=args.verbose, metrics_port=args.metrics_port,
                     metrics_address=args.metrics_bind_address)
    return 0


# Where to write a cProfile of the run (``<path>.<pid>``, pstats format) when the operator exits: for
# finding where its CPU goes (hack/bench). Unset in production.
PROFILE_ENV = "JCOP_PROFILE"


@contextlib.contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU time: a busy machine's waits are not counted
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(f"{path}.{os.getpid()}")


def approve_main(args: argparse.Namespace) -> int:
    from .cluster_reader import ClusterReadError, approve_site_plan

    try:
        approval = approve_site_plan(args.name, args.namespace, args.kubeconfig, args.context, args.expected)
    except ClusterReadError as exc:
        print(f"{PROG} approve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Approved plan {approval.plan_hash} of JobCenterSite {approval.namespace}/{args.name}:")
    rows = [[s.get("node"), s.get("action"), "yes" if s.get("disruptive") else "no", s.get("message")]
            for s in approval.steps]
    print("\n".join(table(["NODE", "ACTION", "DISRUPTIVE", "MESSAGE"], rows)))
    return EXIT_CONVERGED


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "approve":
        return approve_main(args)
    if args.command == "plan":
        if not args.files and not args.name:
            parser.exit(EXIT_USAGE, f"{PROG} plan: give -f PATH (a file, a directory or -) or the NAME of a site "
                                    "in the cluster (see plan --help)\n")
        return plan_main(args)
    return _run(args)  # kopf configures logging
