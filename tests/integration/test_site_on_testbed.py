"""reconcile_site against the simulated cluster (hack/testbed): the "Done when" of issue #4.

Every test brings up its own bed cluster (real sshd nodes in namespaces, ~0.5 s) and talks to it
through a real ``NodePool``. What the operator did is checked independently of the operator's own
parsers: ``ps``, ``clp.conf`` (xml.etree), ``daemon.conf`` and file hashes are read inside the nodes
with ``api.exec_on`` (no SSH), and every argv sent is recorded through the pool's observer.

Run: sudo .venv/bin/pytest tests/integration/test_site_on_testbed.py   (needs root)
"""

from __future__ import annotations

import asyncio
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import asyncssh
import pytest

from hack.testbed import api
from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401
from jobcenter_operator import errors
from jobcenter_operator.api import ClusterproClusterSpec, JobCenterSiteSpec
from jobcenter_operator.facts import ProbeTarget, probe_argv
from jobcenter_operator.node import NodePool
from jobcenter_operator.paths import LOCAL_DAEMON_CONF, STOP_MARKER_DIR, SUSPEND_MARKER_DIR
from jobcenter_operator.plan import commands, suspend_commands
from jobcenter_operator.plan.model import ActionKind, Command
from jobcenter_operator.reconcile import ClusterAccess, SiteResult, access_from, reconcile_site

pytestmark = pytest.mark.root

CLP_CONF = "/opt/nec/clusterpro/etc/clp.conf"
SCRIPTS_ROOT = "/opt/nec/clusterpro/scripts"
DAEMON_CONF = "/usr/lib/nqs/rc/daemon.conf"
MONITOR = "pidw-jc"
# The cluster site's processes below cjcpw (Classic), by name: the vendor guide's list.
SITE_CHILDREN = Counter({"nqsdaemon": 1, "jnwcaster": 2, "jnwengine": 1, "sclaunchd": 1, "comagent": 1,
                         "jcdbs": 1, "jnwlauncher": 1})
# Small SSH timeouts so that failures surface fast (the API minimum for commandSeconds is 5).
CONNECT_S, KEEPALIVE_S, COMMAND_S = 2, 1, 10


# ----------------------------------------------------------------------------------------- helpers


class Recorder:
    """NodePool observer: every (node, argv) sent, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, node: str, argv: tuple[str, ...]) -> None:
        self.sent.append((node, tuple(argv)))

    def clear(self) -> None:
        self.sent.clear()

    @staticmethod
    def is_probe(argv: Sequence[str]) -> bool:
        return len(argv) > 3 and argv[0] == "sh" and argv[1] == "-c" and argv[3] == "jcop-facts"

    def actions(self) -> list[tuple[str, tuple[str, ...]]]:
        """Everything that is not the facts probe."""
        return [(n, a) for n, a in self.sent if not self.is_probe(a)]

    def on(self, node: str) -> list[tuple[str, ...]]:
        return [a for n, a in self.sent if n == node]

    def create_site_nodes(self) -> list[str]:
        # The facts probe mentions the cjcmksite path in an install check (`[ -x .../cjcmksite ]`),
        # so only non-probe commands count as "cjcmksite sent".
        return [n for n, a in self.actions() if any("cjcmksite" in part for part in a)]


Bed = Callable[..., dict[str, Any]]  # the testbed_cluster factory
Pools = Callable[[], tuple[NodePool, Recorder]]


@pytest.fixture
async def pools() -> AsyncIterator[Pools]:
    """A fresh NodePool (with its recorder) per call; all closed at the end of the test."""
    made: list[NodePool] = []

    def make() -> tuple[NodePool, Recorder]:
        rec = Recorder()
        pool = NodePool(observer=rec)
        made.append(pool)
        return pool, rec

    yield make
    for pool in made:
        await pool.close()


def cluster_spec(bed: dict[str, Any]) -> ClusterproClusterSpec:
    return ClusterproClusterSpec.model_validate({
        "nodes": [{k: n[k] for k in ("name", "address", "port")} for n in bed["nodes"]],
        "ssh": {"user": bed["user"], "credentialsSecretRef": {"name": "ssh"},
                "timeouts": {"connectSeconds": CONNECT_S, "keepaliveSeconds": KEEPALIVE_S,
                             "commandSeconds": COMMAND_S}},
    })


def access(bed: dict[str, Any], *, private_key: bytes | None = None, known_hosts: bytes | None = None) -> ClusterAccess:
    secret = {
        "ssh-privatekey": private_key if private_key is not None else Path(bed["privateKeyFile"]).read_bytes(),
        "known_hosts": known_hosts if known_hosts is not None else Path(bed["knownHostsFile"]).read_bytes(),
    }
    return access_from(cluster_spec(bed), secret)


def site_spec(bed: dict[str, Any], **overrides: Any) -> JobCenterSiteSpec:
    doc = {"clusterRef": {"name": "c"}, "mode": "Classic", "failoverGroup": bed["failoverGroup"],
           "execResource": bed["execResource"], "monitorResource": MONITOR,
           "virtualHost": bed["virtualHost"], "machineId": bed["machineId"],
           "databasePath": bed["databasePath"], "floatingIP": bed["floatingIP"],
           "monitorIntervalSeconds": 1}
    doc.update(overrides)
    return JobCenterSiteSpec.model_validate(doc)


def on_node(bed: dict[str, Any], node: str, argv: list[str], *, ok: bool = True) -> str:
    r = api.exec_on(bed["name"], node, argv, timeout=30)
    if ok:
        assert r["exitStatus"] == 0, f"{argv} on {node}: {r}"
    return str(r["stdout"])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Bounded poll: ``check()`` until truthy, else fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def describe(result: SiteResult) -> str:
    steps = "; ".join(f"{s.action.kind}@{s.action.node}:{'ok' if s.ok else s.error}" for s in result.steps)
    pre = [f.reason for f in result.plan.preflight] if result.plan else None
    return f"error={result.error!r} preflight={pre} steps=[{steps}] health={result.health}"


def standby_of(bed: dict[str, Any], active: str) -> list[str]:
    return [n["name"] for n in bed["nodes"] if n["name"] != active]


# ---- independent readers of node state


def ps_tree(bed: dict[str, Any], node: str) -> list[tuple[int, int, str]]:
    out = on_node(bed, node, ["ps", "-eo", "pid=,ppid=,args="])
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            rows.append((int(parts[0]), int(parts[1]), parts[2]))
    return rows


def process_name(args: str) -> str:
    words = args.split()
    if words[0] == "NQS" and len(words) > 1:  # nqsdaemon sets its title to "NQS nqsdaemon"
        return words[1]
    return words[0].rsplit("/", 1)[-1]


def cjcpw_trees(bed: dict[str, Any], node: str) -> list[tuple[str, Counter[str]]]:
    """For each cjcpw on ``node``: its args and the names of all its descendants."""
    rows = ps_tree(bed, node)
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in rows:
        children.setdefault(ppid, []).append(pid)
    args_of = {pid: args for pid, _, args in rows}
    trees = []
    for pid, _, args in rows:
        if process_name(args) != "cjcpw":
            continue
        names: Counter[str] = Counter()
        todo = list(children.get(pid, []))
        while todo:
            child = todo.pop()
            names[process_name(args_of[child])] += 1
            todo += children.get(child, [])
        trees.append((args, names))
    return trees


def clp_conf(bed: dict[str, Any], node: str) -> ET.Element:
    return ET.fromstring(on_node(bed, node, ["cat", CLP_CONF]))  # noqa: S314 (our own test bed's file)


def nqs_hashes(bed: dict[str, Any], node: str) -> list[str]:
    out = on_node(bed, node, ["sh", "-c", 'find "$1/nqs" -type f -exec sha256sum {} + | sort -k2', "sh",
                              bed["databasePath"]])
    return out.splitlines()


def group_online_on(bed: dict[str, Any], node: str) -> str:
    r = api.exec_on(bed["name"], node, ["clpgrp", "-n", bed["failoverGroup"]], timeout=30)
    return str(r["stdout"]).strip() if r["exitStatus"] == 0 else ""


# ------------------------------------------------------------------------------------------- tests


async def test_fresh_classic_cluster_converges(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    pool, rec = pools()
    result = await reconcile_site(pool, access(bed), site_spec(bed), enforce=True, settle_interval=0.2)

    assert result.error is None, describe(result)
    assert result.steps and all(s.ok for s in result.steps), describe(result)
    assert result.plan is not None and result.plan.converged
    assert result.health is not None and result.health.healthy, describe(result)
    active = result.active_node
    assert active is not None and active == bed["activeNode"]
    (standby,) = standby_of(bed, active)

    # cjcmksite went to the active node only (probe excluded: it merely tests the path is executable)
    assert rec.create_site_nodes() == [active]

    # processes: one cjcpw for the virtual host on the active node with the 8 site processes under it
    def site_tree() -> Any:
        trees = cjcpw_trees(bed, active)
        return trees if len(trees) == 1 and trees[0][1] == SITE_CHILDREN else None

    wait_for(f"the cjcpw tree on {active}", site_tree, timeout=10)
    ((cjcpw_args, _),) = cjcpw_trees(bed, active)
    assert bed["virtualHost"] in cjcpw_args.split() and bed["databasePath"] in cjcpw_args.split()
    assert "-c" not in cjcpw_args.split(), "process monitoring: cjcpw runs without -c"
    assert cjcpw_trees(bed, standby) == [], "no cluster site on the standby node"

    group, exec_name = bed["failoverGroup"], bed["execResource"]
    for node in (active, standby):
        # the installed exec scripts are valid sh
        for script in ("start.sh", "stop.sh"):
            path = f"{SCRIPTS_ROOT}/{group}/{exec_name}/{script}"
            on_node(bed, node, ["sh", "-n", path])
        # clp.conf: async exec (act sync 0, deact sync 1) and a pidw monitor targeting it
        root = clp_conf(bed, node)
        assert root.find(f"group[@name='{group}']/resource[@name='exec@{exec_name}']") is not None
        ex = root.find(f"resource/exec[@name='{exec_name}']")
        assert ex is not None
        assert ex.findtext("parameters/act/path") == "start.sh"
        assert ex.findtext("parameters/act/sync") == "0"
        assert ex.findtext("parameters/deact/path") == "stop.sh"
        assert ex.findtext("parameters/deact/sync") == "1"
        mon = root.find(f"monitor/pidw[@name='{MONITOR}']")
        assert mon is not None, ET.tostring(root.find("monitor") or root).decode()[:2000]
        assert mon.findtext("target") == exec_name
        assert mon.findtext("relation/type") == "rsc" and mon.findtext("relation/name") == exec_name
        assert root.find("monitor/types[@name='pidw']") is not None
        # daemon.conf: exactly one active local_daemon line, =SITE
        lines = [ln.strip() for ln in on_node(bed, node, ["cat", DAEMON_CONF]).splitlines()]
        active_lines = [ln for ln in lines if ln.startswith("local_daemon")]
        assert active_lines == ["local_daemon=SITE"], lines

    on_node(bed, active, ["test", "-d", f"{bed['databasePath']}/nqs"])
    for node in (active, standby):  # the group was started again: no "stopped by us" marker left
        on_node(bed, node, ["test", "!", "-e", f"{STOP_MARKER_DIR}/{group}"])


async def test_second_reconcile_changes_nothing(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    pool, rec = pools()
    acc, spec = access(bed), site_spec(bed)
    first = await reconcile_site(pool, acc, spec, enforce=True, settle_interval=0.2)
    assert first.error is None and first.steps, describe(first)

    rec.clear()
    second = await reconcile_site(pool, acc, spec, enforce=True, settle_interval=0.2)
    assert second.error is None, describe(second)
    assert second.steps == []
    assert second.plan is not None and second.plan.converged
    assert not second.changed
    assert all(rec.is_probe(a) for _, a in rec.sent), rec.actions()
    assert Counter(n for n, _ in rec.sent) == Counter(n["name"] for n in bed["nodes"])  # one probe per node


async def test_existing_site_is_never_recreated(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic", state="site-exists")
    active = bed["activeNode"]
    before = nqs_hashes(bed, active)
    assert before, "the site-exists bed should hold site files"

    pool, rec = pools()
    result = await reconcile_site(pool, access(bed), site_spec(bed), enforce=True, settle_interval=0.2)
    assert result.error is None, describe(result)
    assert result.active_node == active
    assert "CreateSite" not in [s.action.kind for s in result.steps]
    assert rec.create_site_nodes() == [], "no command other than the probe may name cjcmksite"
    assert nqs_hashes(bed, active) == before
    # and the existing site runs: one cjcpw with the site's processes, on the active node only
    wait_for(f"the cjcpw tree on {active}",
             lambda: [t[1] for t in cjcpw_trees(bed, active)] == [SITE_CHILDREN], timeout=10)
    assert all(cjcpw_trees(bed, n) == [] for n in standby_of(bed, active))


async def test_site_for_another_machine_id_is_a_preflight_failure(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic", state="site-exists")  # site of machine ID 114
    active = bed["activeNode"]
    before = nqs_hashes(bed, active)

    pool, rec = pools()
    result = await reconcile_site(pool, access(bed), site_spec(bed, machineId=115), enforce=True)
    assert result.error is None, describe(result)
    assert result.plan is not None
    assert "SiteMismatch" in [f.reason for f in result.plan.preflight], describe(result)
    assert result.plan.actions == () and result.steps == []
    assert rec.actions() == []
    assert Counter(n for n, _ in rec.sent) == Counter(n["name"] for n in bed["nodes"])
    assert nqs_hashes(bed, active) == before


async def _failing_reconcile(bed: dict[str, Any], pool: NodePool, acc: ClusterAccess) -> tuple[SiteResult, float]:
    started = time.monotonic()
    result = await reconcile_site(pool, acc, site_spec(bed), enforce=True, settle_interval=0.2)
    return result, time.monotonic() - started


async def test_changed_host_key_is_host_key_mismatch(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    original_known_hosts = Path(bed["knownHostsFile"]).read_bytes()  # noqa: ASYNC240
    node = bed["nodes"][0]["name"]
    # api.fault waits until the node's sshd really serves the new key (ssh-keyscan)
    api.fault(bed["name"], "rekey-host", node)

    pool, rec = pools()
    result, _ = await _failing_reconcile(bed, pool, access(bed, known_hosts=original_known_hosts))
    assert isinstance(result.error, errors.HostKeyMismatch), describe(result)
    assert result.error.node == node and not result.error.transient
    assert pool.stats()["connect_retries"] == 0  # surfaced at once, nothing retried
    assert rec.on(node) == [], "nothing may run on a node whose host key changed"
    assert result.steps == [] and rec.actions() == [], "no action runs on any node while one fails"


async def test_refused_key_is_authentication_failed(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key()

    pool, rec = pools()
    result, _ = await _failing_reconcile(bed, pool, access(bed, private_key=stranger))
    assert isinstance(result.error, errors.AuthenticationFailed), describe(result)
    assert not result.error.transient
    assert pool.stats()["connect_retries"] == 0  # surfaced at once, nothing retried
    assert set(result.gathered.errors) == {n["name"] for n in bed["nodes"]}
    assert all(isinstance(e, errors.AuthenticationFailed) for e in result.gathered.errors.values())
    assert rec.sent == []
    assert result.steps == [] and rec.actions() == [], "no action runs on any node while one fails"


async def test_crashed_node_is_unreachable(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    node = standby_of(bed, bed["activeNode"])[0]
    api.fault(bed["name"], "crash-node", node)

    pool, rec = pools()
    result, _ = await _failing_reconcile(bed, pool, access(bed))
    # The crashed node's network namespace stays (only its processes die): the kernel answers the
    # SYN with a reset, i.e. "connection refused", which is Unreachable (node/classify.py).
    assert isinstance(result.error, errors.Unreachable), describe(result)
    assert result.error.node == node and result.error.transient
    assert pool.stats()["connect_retries"] == 0  # surfaced at once, nothing retried
    assert rec.on(node) == []
    assert result.steps == [] and rec.actions() == [], "no action runs on any node while one fails"


async def test_cut_network_is_timeout_within_connect_timeout(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    node = standby_of(bed, bed["activeNode"])[0]
    api.fault(bed["name"], "cut-network", node)

    pool, rec = pools()
    result, elapsed = await _failing_reconcile(bed, pool, access(bed))
    assert isinstance(result.error, errors.Timeout), describe(result)
    assert result.error.node == node and result.error.transient
    # the connect timeout gave up, not early and not another timeout (no wall-clock budget: the bench)
    assert elapsed >= CONNECT_S - 0.5, elapsed
    assert "connect timed out" in str(result.error), result.error
    assert rec.on(node) == []
    assert result.steps == [] and rec.actions() == [], "no action runs on any node while one fails"


async def test_cut_network_on_a_cached_connection_is_timeout_within_keepalive_bound(
    testbed_cluster: Bed, pools: Pools  # noqa: F811
) -> None:
    """The same cut, but the pool already holds a connection to the node (the usual timer case)."""
    bed = testbed_cluster(mode="classic")
    node = standby_of(bed, bed["activeNode"])[0]
    pool, rec = pools()
    acc = access(bed)
    first = await reconcile_site(pool, acc, site_spec(bed), enforce=True, settle_interval=0.2)
    assert first.error is None, describe(first)
    api.fault(bed["name"], "cut-network", node)
    rec.clear()

    result, _ = await _failing_reconcile(bed, pool, acc)
    assert isinstance(result.error, errors.Timeout), describe(result)
    assert result.error.node == node
    # the keepalive bound (interval * (count_max + 1)) comes before the command timeout here: the
    # keepalive gave up, not the command timeout
    assert acc.timeouts.keepalive_bound < acc.timeouts.command
    assert "did not finish within" not in str(result.error), result.error
    # the one probe that timed out, and nothing after it
    assert len(rec.on(node)) == 1 and rec.is_probe(rec.on(node)[0]), rec.on(node)
    assert result.steps == [] and rec.actions() == [], "no action runs on any node while one fails"


HOSTILE = [
    "cluv; touch /tmp/{m}-1",
    "/mnt/$(touch /tmp/{m}-2)",
    "g`touch /tmp/{m}-3`",
    "x' ; touch /tmp/{m}-4 ; '",
    'y" ; touch /tmp/{m}-5 ; "',
    "a\nb && touch /tmp/{m}-6",
    "$HOME ~ * ?[a] \\ |& > /tmp/{m}-7 <",
    "--help",
    "-n",
    "",
    "üñí €",
]


async def test_no_user_value_reaches_a_shell_unquoted(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    marker = f"pwned{uuid.uuid4().hex[:8]}"
    h = [v.format(m=marker) for v in HOSTILE]
    machine_id = f"114; touch /tmp/{marker}-8"
    agent_id = f"1$(touch /tmp/{marker}-9)"
    node_name = f"clu1'; touch /tmp/{marker}-10; '"
    payload = f"$(touch /tmp/{marker}-11)\n`touch /tmp/{marker}-12`\n"
    built: dict[str, Command] = {
        "DisableAgentUnit": commands.disable_agent_unit(agent_id),
        "SetLocalDaemon": commands.set_local_daemon(payload),
        "StopLocalSite": commands.stop_local_site(),
        "CreateSite": commands.create_site(h[0], machine_id, h[1], h[2], node_name),  # type: ignore[arg-type]
        "StopGroup": commands.stop_group(h[2], node_name),
        "ApplyClusterConfig": commands.apply_config(h[2], payload, {f"scripts/{h[2]}/{h[3]}/start.sh": payload}, h[0]),
        "StartGroup": commands.start_group(h[2]),
        "StartLocalSite": commands.start_local_site(),
        "RestoreClusterConfig": commands.restore_config(h[2], h[3], h[4], payload, h[0]),
        "MarkSuspended": suspend_commands.mark_suspended(h[2], node_name),
        "SuspendCluster": suspend_commands.suspend_cluster(h[2], node_name),
        "ResumeCluster": suspend_commands.resume_cluster(h[2]),
        "RestartManagerServices": suspend_commands.restart_manager_services(h[2], ["clusterpro_ib"]),
        "ClearSuspendMarker": suspend_commands.clear_suspend_marker(h[2]),
        "MarkGroupStopped": commands.mark_group_stopped(h[2], node_name),
        "ClearStopMarker": commands.clear_stop_marker(h[2]),
    }
    assert set(built) == set(get_args(ActionKind)), "a command for every kind there is"
    argvs = [list(c.argv) for c in built.values()]
    target = ProbeTarget(database_path=h[1], virtual_host=h[0], floating_ip=h[5], failover_group=h[2],
                         exec_resource=h[3], monitor_resource=h[4], agent_instance_id=h[6])
    probe = probe_argv(target, "n0nce")
    argvs.append(probe)
    # the hostile values really are in the commands (as whole argv elements)
    assert any(h[0] in a for a in argvs) and any(h[1] in a for a in argvs) and h[2] in probe

    pool, rec = pools()
    acc = access(bed)
    node = acc.nodes[0]

    async def echo(argv: list[str]) -> list[str]:
        res = await pool.run(node, acc.creds, acc.timeouts, ["printf", "%s\\0", *argv])
        out = res.stdout
        assert out.endswith("\0"), repr(out[-80:])
        parts: list[str] = out[:-1].split("\0")
        return parts

    for argv in argvs:
        assert await echo(argv) == argv
    assert await echo(h) == h

    # the facts probe itself, run with the hostile values, creates nothing
    res = await pool.run(node, acc.creds, acc.timeouts, probe, check=False)
    assert res.exit_status is not None
    assert [a for _, a in rec.sent if a == tuple(probe)], "the probe was sent as is"
    for n in bed["nodes"]:
        listing = on_node(bed, n["name"], ["ls", "-a", "/tmp"])
        assert marker not in listing, listing
    assert not list(Path("/tmp").glob(f"{marker}*"))  # noqa: ASYNC240


async def _reconcile_with_failing_clpcfctrl(
    bed: dict[str, Any], pools: Pools
) -> tuple[SiteResult, Recorder, str]:
    """A fresh bed whose active node fails every clpcfctrl (fault fail-command): ApplyClusterConfig
    fails after StopGroup ran."""
    active = bed["activeNode"]
    api.fault(bed["name"], "fail-command", active, "clpcfctrl")
    pool, rec = pools()
    result = await reconcile_site(pool, access(bed), site_spec(bed), enforce=True, settle_interval=0.2)
    assert isinstance(result.error, errors.ApplyRefused), describe(result)
    assert result.error.node == active, describe(result)
    assert "clpcfctrl" in result.error.message
    return result, rec, active


def _kind_of(argv: tuple[str, ...], spec: JobCenterSiteSpec, node: str) -> str:
    argv = commands.unbounded(argv)  # every action runs inside the node-side bound and lock
    for kind, command in (("StopGroup", commands.stop_group(spec.failover_group, node)),
                          ("StartGroup", commands.start_group(spec.failover_group)),
                          ("StopLocalSite", commands.stop_local_site()),
                          ("StartLocalSite", commands.start_local_site())):
        if argv == command.argv:
            return kind
    for kind, step in (("SuspendCluster", "suspendcluster"), ("ResumeCluster", "resumecluster"),
                       ("RestartManagerServices", "restartmanager"),
                       ("MarkSuspended", "marksuspend"), ("ClearSuspendMarker", "clearsuspend"),
                       ("MarkGroupStopped", "markstop"), ("ClearStopMarker", "clearmark")):
        if argv[:2] == ("sh", "-c") and argv[3:4] == (step,):
            return kind
    if "cjcmksite" in argv:
        return "CreateSite"
    if "apply" in argv:
        return "ApplyClusterConfig"
    if LOCAL_DAEMON_CONF in argv:
        return "SetLocalDaemon"
    return "?" + argv[0]


async def test_group_is_restarted_when_a_step_after_stop_group_fails(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    _, rec, active = await _reconcile_with_failing_clpcfctrl(bed, pools)
    spec = site_spec(bed)

    # What was sent (observer): ... StopGroup, the cluster suspended (a monitor is added),
    # ApplyClusterConfig (fails), the cluster resumed, StartGroup, the standby's suspend marker
    # cleared (written with its first steps, plan/order.py), then its stop marker, then nothing.
    sent = [(n, _kind_of(a, spec, n)) for n, a in rec.actions()]
    standby = next(n["name"] for n in bed["nodes"] if n["name"] != active)
    assert sent[-7:] == [(active, "StopGroup"), (active, "SuspendCluster"),
                         (active, "ApplyClusterConfig"), (active, "ResumeCluster"), (active, "StartGroup"),
                         (standby, "ClearSuspendMarker"), (standby, "ClearStopMarker")], sent
    assert sent[:4] == [(standby, "SetLocalDaemon"), (standby, "StopLocalSite"), (standby, "MarkGroupStopped"),
                        (standby, "MarkSuspended")], sent
    assert [k for _, k in sent].count("StopGroup") == 1 and [k for _, k in sent].count("StartGroup") == 1
    # no re-gather after the failure: the last thing sent is the restore
    assert not rec.is_probe(rec.sent[-1][1])

    on_node(bed, active, ["test", "!", "-e", f"{STOP_MARKER_DIR}/{bed['failoverGroup']}"])
    for node in (n["name"] for n in bed["nodes"]):
        wait_for(f"{bed['failoverGroup']} online on {active} (seen from {node})",
                 lambda node=node: group_online_on(bed, node) == active, timeout=15)  # type: ignore[misc]


async def test_failed_step_and_group_restore_are_reported_in_steps(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    result, _, active = await _reconcile_with_failing_clpcfctrl(bed, pools)
    kinds = [(s.action.kind, s.ok, s.action.reason) for s in result.steps]
    assert [k for k, _, _ in kinds[-7:]] == ["StopGroup", "SuspendCluster", "ApplyClusterConfig", "ResumeCluster",
                                             "StartGroup", "ClearSuspendMarker", "ClearStopMarker"], kinds
    (_, apply_ok, _), *restores = kinds[-5:-1]
    assert not apply_ok and all(ok and reason == "RestoreAfterFailure" for _, ok, reason in restores), kinds
    assert all(ok for _, ok, _ in kinds[:-5]) and kinds[-1][1], kinds
    assert result.steps[-5].action.node == active and result.steps[-3].action.node == active
    assert not any(on_node(bed, n["name"], ["sh", "-c", f"ls {SUSPEND_MARKER_DIR}/* 2>/dev/null"], ok=False).strip()
                   for n in bed["nodes"]), "a suspend marker was left"


async def test_two_clusters_with_the_same_node_names_share_one_pool(testbed_cluster: Bed, pools: Pools) -> None:  # noqa: F811
    """Two beds at once through one pool (the operator's shape): both converge, in parallel."""
    beds = [testbed_cluster(mode="classic"), testbed_cluster(mode="classic")]
    pool, _ = pools()
    results = await asyncio.gather(*(reconcile_site(pool, access(b), site_spec(b), enforce=True,
                                                    settle_interval=0.2) for b in beds))
    for b, r in zip(beds, results, strict=True):
        assert r.error is None, describe(r)
        assert r.active_node == b["activeNode"]
    addresses = {n["address"] for b in beds for n in b["nodes"]}
    assert len(addresses) == 4
