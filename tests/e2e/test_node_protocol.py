"""Issue 11 end to end: the operator applies configurations the way NEC documents it and reads what
the real product prints, on the bed that enforces the product's apply rules (strict-apply, the
default), for each mode: Classic, StandardManager and StandardAgent (each on a bed of that mode with
one failover group). Runs on the default bed and on the all-variants bed (``make test-variants``).
Where a mode differs it is asserted as that mode has it: the agent's monitor is a genw custom
monitor (pidw for the other two), it has no cluster site (no cjcmksite, one process: the agent).
Waits are bounded polls on conditions, never sleeps."""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import SITE_NAMES, TIMER, Operator, is_probe, step_name, wait_for

from hack.testbed import api as testbed

CLP_CONF = "/opt/nec/clusterpro/etc/clp.conf"
MARKERS = "/var/lib/jobcenter-operator/suspended"
REQUEST = "jobcenter.clusterpro.io/requested-at"
MODES = ("Classic", "StandardManager", "StandardAgent")
# What the site of each mode runs (status.processes.summary) and its monitor's clp.conf element.
PROCESSES = {"Classic": "8/8", "StandardManager": "11/11", "StandardAgent": "1/1"}
MONITOR_KIND = {"Classic": "pidw", "StandardManager": "pidw", "StandardAgent": "genw"}
# cjcmksite runs once for a site with a database; the agent has none.
MKSITE = {"Classic": 1, "StandardManager": 1, "StandardAgent": 0}
by_mode = pytest.mark.parametrize("mode", MODES)


def _ready(op: Operator, site: str) -> bool:
    cond = op.condition(site, "Ready")
    return cond is not None and cond["status"] == "True"


def _conf_bytes(bed: dict[str, Any], node: str) -> bytes:
    return testbed.node_path(bed["name"], node, CLP_CONF).read_bytes()


def _suspended(bed: dict[str, Any], node: str | None = None) -> bool:
    out = testbed.exec_on(bed["name"], node or bed["nodes"][0]["name"], ["/usr/sbin/clpstat"])["stdout"]
    return ": Suspend" in out


def _manager_services_loaded(bed: dict[str, Any]) -> bool:
    """Every node's manager services loaded the clp.conf installed there (the bed records what each
    ``clpcl -r`` option's service loaded): --web --alert, and --ib --api on X4.2+."""
    servers = testbed.cluster_status(bed["name"])["servers"]
    options = ["--web", "--alert"]
    if bed.get("variants", {}).get("clp-version", "clp-x42-or-later") != "clp-x41":
        options += ["--ib", "--api"]
    return all(servers[n["name"]]["loaded"].get(o) == hashlib.sha256(_conf_bytes(bed, n["name"])).hexdigest()
               for n in bed["nodes"] for o in options)


def _restarts(steps: list[str]) -> None:
    """The manager services of every server restarted (clpcl -r -a) between the push and the resume
    (node-protocol 10)."""
    assert steps.count("restartmanager") == 1, steps
    assert steps.index("apply") + 1 == steps.index("restartmanager") == steps.index("resumecluster") - 1, steps


def _markers(bed: dict[str, Any]) -> list[str]:
    return [n["name"] for n in bed["nodes"]
            if testbed.exec_on(bed["name"], n["name"], ["sh", "-c", f"ls {MARKERS}/* 2>/dev/null"])["stdout"].strip()]


def _steps(op: Operator, since: int = 0) -> list[str]:
    return [step_name(c) for c in op.commands()[since:] if not is_probe(c)]


def _monitor_element(conf: bytes, kind: str, name: str) -> bytes:
    """The monitor's element in clp.conf (its name in either quote)."""
    starts = [conf.find(f"<{kind} name={q}{name}{q}>".encode()) for q in "\"'"]
    assert max(starts) >= 0, f"no {kind} {name} in clp.conf"
    start = max(starts)
    return conf[start:conf.index(f"</{kind}>".encode(), start)]


def _standby(bed: dict[str, Any]) -> str:
    return next(n["name"] for n in bed["nodes"] if n["name"] != bed["activeNode"])


def _generation_ready(op: Operator, site: str, generation: int) -> bool:
    return op.get("jcs", site)["status"].get("observedGeneration") == generation and _ready(op, site)


def _rerun_sends_only_probes(op: Operator, site: str, value: str) -> None:
    before = len(op.commands())
    assert op.kubectl("annotate", "jcs", site, "--overwrite", f"{REQUEST}={value}").returncode == 0
    wait_for(f"the site to handle {value}",
             lambda: op.get("jcs", site).get("status", {}).get("lastHandledReconcileAt") == value, timeout=60)
    assert _steps(op, before) == [], "a converged site was changed"
    assert _ready(op, site) and op.condition(site, "InSync")["status"] == "True"  # type: ignore[index]


@by_mode
def test_apply_sequence_and_a_refused_push(mode: str, site_setup: Callable[..., dict[str, Any]],
                                           operator_env: Operator) -> None:
    op, site = operator_env, SITE_NAMES[mode]
    bed = site_setup(site_mode=mode)
    wait_for("Ready", lambda: _ready(op, site), timeout=120)
    assert op.get("jcs", site)["status"]["processes"]["summary"] == PROCESSES[mode]
    active, standby = bed["activeNode"], _standby(bed)
    group, rsc = bed["failoverGroup"], bed["execResource"]
    # First apply: exec scripts and a new monitor -> group stop, suspend, push, resume, group start.
    steps = _steps(op)
    assert steps.index("stopgroup") < steps.index("suspendcluster") < steps.index("apply") \
        < steps.index("resumecluster") < steps.index("startgroup"), steps
    assert steps.count("apply") == 1, steps
    _restarts(steps)
    assert not _suspended(bed) and _markers(bed) == [] and _manager_services_loaded(bed)

    # A monitor-only change suspends the cluster around the push and leaves the group running.
    before = len(op.commands())
    assert op.kubectl("patch", "jcs", site, "--type=merge", "-p",
                      '{"spec":{"monitorIntervalSeconds":3}}').returncode == 0
    wait_for("generation 2 Ready", lambda: _generation_ready(op, site, 2), timeout=90)
    steps = _steps(op, before)
    assert "stopgroup" not in steps and "startgroup" not in steps, steps
    assert steps.count("suspendcluster") == steps.count("resumecluster") == steps.count("apply") == 1, steps
    assert steps.index("suspendcluster") < steps.index("apply") < steps.index("resumecluster"), steps
    _restarts(steps)
    assert not _suspended(bed) and _markers(bed) == [] and _manager_services_loaded(bed)
    monitor_name = op.get("jcs", site)["spec"]["monitorResource"]
    monitor = _monitor_element(_conf_bytes(bed, active), MONITOR_KIND[mode], monitor_name)
    assert b"<interval>3</interval>" in monitor, monitor

    # An exec-script-only change (start.sh edited by hand on the active node, found by the drift
    # check): the group is stopped around the push, the cluster is not suspended.
    before = len(op.commands())
    start_sh = f"/opt/nec/clusterpro/scripts/{group}/{rsc}/start.sh"
    edited = testbed.exec_on(bed["name"], active, ["sh", "-c", 'printf "%s\\n" "# edited by hand" >>"$0"', start_sh])
    assert edited["exitStatus"] == 0, edited
    wait_for("start.sh put back and the group started again", lambda: "# edited by hand" not in testbed.exec_on(
        bed["name"], active, ["cat", start_sh])["stdout"] and "startgroup" in _steps(op, before)
        and _ready(op, site), timeout=TIMER * 4 + 90)
    steps = _steps(op, before)
    assert steps.count("stopgroup") == steps.count("startgroup") == steps.count("apply") == 1, steps
    assert steps.index("stopgroup") < steps.index("apply") < steps.index("startgroup"), steps
    assert "suspendcluster" not in steps and "resumecluster" not in steps, steps
    assert "restartmanager" not in steps, "clp.conf did not change: nothing new to load"
    assert testbed.cluster_status(bed["name"])["groups"][group]["current"] == active
    assert not _suspended(bed) and _markers(bed) == []

    # A push the product refuses (delivery to the standby fails): reported with clpcfctrl's reason,
    # nothing half-applied, the cluster resumed, the group online where it was.
    conf_before = {n["name"]: _conf_bytes(bed, n["name"]) for n in bed["nodes"]}
    testbed.fault(bed["name"], "fail-delivery", standby)
    assert op.kubectl("patch", "jcs", site, "--type=merge", "-p",
                      '{"spec":{"monitorIntervalSeconds":4}}').returncode == 0
    refused = wait_for("ClusterResourcesConfigured=ApplyRefused", lambda: (
        c := op.condition(site, "ClusterResourcesConfigured")) and c["reason"] == "ApplyRefused" and c, timeout=60)
    assert "clpcfctrl --push exited" in refused["message"], refused
    assert {n: _conf_bytes(bed, n) for n in conf_before} == conf_before, "a refused push changed a node"
    wait_for("the cluster resumed", lambda: not _suspended(bed), timeout=30)
    status = testbed.cluster_status(bed["name"])["groups"][group]
    assert (status["current"], status["status"]) == (active, "Online"), status
    testbed.fault(bed["name"], "heal", standby)
    wait_for("generation 3 Ready after heal", lambda: _generation_ready(op, site, 3), timeout=TIMER * 4 + 60)
    assert _markers(bed) == [] and not _suspended(bed)
    assert all(b"<interval>4</interval>" in _monitor_element(_conf_bytes(bed, n["name"]), MONITOR_KIND[mode],
                                                               monitor_name) for n in bed["nodes"])
    assert _manager_services_loaded(bed)

    # A manager restart that fails (clpcl -r on the active node): the cluster is resumed all the same,
    # the failure is reported; once clpcl -r works again the next run restarts the services alone.
    testbed.fault(bed["name"], "fail-command", active, "clpcl -r")
    before = len(op.commands())
    assert op.kubectl("patch", "jcs", site, "--type=merge", "-p",
                      '{"spec":{"monitorIntervalSeconds":5}}').returncode == 0
    failed = wait_for("the failed restart reported with clpcl's words", lambda: (
        c := op.condition(site, "Ready")) and c["status"] == "False" and "simulated failure" in c["message"]
        and c, timeout=60)
    assert "restartmanager" in _steps(op, before) and failed["reason"] == "CommandFailed", failed
    assert failed["message"].startswith(f"{active}: ") and "clpcl" in failed["message"], failed
    wait_for("the cluster resumed", lambda: not _suspended(bed), timeout=30)
    assert _markers(bed) == []
    testbed.fault(bed["name"], "heal", active)
    retry = len(op.commands())
    wait_for("generation 4 Ready after the retried restart", lambda: _generation_ready(op, site, 4)
             and _manager_services_loaded(bed), timeout=TIMER * 4 + 60)
    assert [(step_name(c), c.get("node")) for c in op.commands()[retry:] if not is_probe(c)] == \
        [("restartmanager", active)], "only the services' restart, without a suspend"


@by_mode
def test_a_run_killed_while_suspended_is_resumed(mode: str, site_setup: Callable[..., dict[str, Any]],
                                                 operator_env: Operator) -> None:
    op, site = operator_env, SITE_NAMES[mode]
    bed = site_setup(site_mode=mode)
    active, standby = bed["activeNode"], _standby(bed)
    first = op.procs[0]
    # The first run marks the standby, then suspends on the active node: slow the active node's
    # tools down from there, so the cluster stays suspended (before the push and the resume) long
    # enough to be seen; the operator is killed only once clpstat shows it suspended.
    wait_for("the first run marking the cluster suspended",
             lambda: "marksuspend" in _steps(op), timeout=90, interval=0.02)
    testbed.fault(bed["name"], "slow", active, "3")
    wait_for("the cluster suspended", lambda: _suspended(bed, standby), timeout=30, interval=0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    testbed.fault(bed["name"], "slow", active, "0")
    assert _suspended(bed, standby) and sorted(_markers(bed)) == sorted(n["name"] for n in bed["nodes"])

    restarted = len(op.commands())
    op.start()
    wait_for("Ready after the restart", lambda: _ready(op, site), timeout=150)
    assert not _suspended(bed) and _markers(bed) == []
    after = _steps(op, restarted)
    # The recovery comes before anything else: the manager services restarted (the killed run may
    # have pushed), then the resume.
    recovery = ["restartmanager", "resumecluster"]
    assert after[:len(recovery)] == recovery, after
    assert _steps(op).count("cjcmksite") == MKSITE[mode], _steps(op)
    assert op.get("jcs", site)["status"]["processes"]["summary"] == PROCESSES[mode]


@by_mode
def test_long_names_and_a_webui_save(mode: str, site_setup: Callable[..., dict[str, Any]],
                                     operator_env: Operator) -> None:
    op, site = operator_env, SITE_NAMES[mode]
    group, rsc = "failover-jobcenter-cluster-site", "exec-jobcenter-site-resource1"
    monitor = f"{MONITOR_KIND[mode]}-jobcenter-cluster-site-mon"
    assert (len(group), len(rsc), len(monitor)) == (31, 29, 31)
    bed = site_setup(site_mode=mode, group=group, exec_resource=rsc, site_spec={"monitorResource": monitor})
    wait_for("Ready with 29-31 character names", lambda: _ready(op, site), timeout=120)
    status = op.get("jcs", site)["status"]
    assert status["activeNode"] == bed["activeNode"] and status["processes"]["summary"] == PROCESSES[mode]
    conf = _conf_bytes(bed, bed["activeNode"])
    assert f"<target>{rsc}</target>".encode() in _monitor_element(conf, MONITOR_KIND[mode], monitor)
    # The default clpstat layout cuts these names; the monitor is found whole in clpstat --long.
    cut = testbed.exec_on(bed["name"], bed["activeNode"], ["/usr/sbin/clpstat"])["stdout"]
    assert group not in cut and monitor not in cut
    whole = testbed.exec_on(bed["name"], bed["activeNode"], ["/usr/sbin/clpstat", "--long"])["stdout"]
    assert group in whole and monitor in whole
    _rerun_sends_only_probes(op, site, "long-names")

    # A Cluster WebUI save rewrites <trekking> and the object counter: never drift.
    testbed.fault(bed["name"], "webui-save", bed["activeNode"])
    _rerun_sends_only_probes(op, site, "after-webui-save")


@by_mode
def test_euc_jp_clp_conf_kept_byte_for_byte(mode: str, site_setup: Callable[..., dict[str, Any]],
                                            operator_env: Operator) -> None:
    op, site = operator_env, SITE_NAMES[mode]
    bed = site_setup(site_mode=mode, charset="euc-jp")
    original = _conf_bytes(bed, bed["activeNode"])
    assert original.startswith(b'<?xml version="1.0" encoding="EUC-JP"?>')
    japanese = [line for line in original.splitlines(keepends=True) if any(b > 0x7F for b in line)]
    assert japanese, "the bed's EUC-JP clp.conf has Japanese text"
    wait_for("Ready", lambda: _ready(op, site), timeout=120)
    monitor = op.get("jcs", site)["spec"]["monitorResource"]
    for node in bed["nodes"]:
        now = _conf_bytes(bed, node["name"])
        assert now != original, f"nothing was applied on {node['name']}"
        assert now.startswith(b'<?xml version="1.0" encoding="EUC-JP"?>')
        assert now.decode("euc_jp")  # still valid EUC-JP
        for line in japanese:
            assert line in now, f"{line!r} changed on {node['name']}"
        _monitor_element(now, MONITOR_KIND[mode], monitor)
    _rerun_sends_only_probes(op, site, "euc-jp")


@by_mode
def test_disk_failure_with_the_operators_scripts(mode: str, site_setup: Callable[..., dict[str, Any]],
                                                 operator_env: Operator) -> None:
    op, site = operator_env, SITE_NAMES[mode]
    bed = site_setup(site_mode=mode)
    wait_for("Ready", lambda: _ready(op, site), timeout=120)
    name, group = bed["name"], bed["failoverGroup"]
    first, other = bed["activeNode"], _standby(bed)
    moved = testbed.exec_on(name, first, ["/usr/sbin/clpgrp", "-m", group])
    assert moved["exitStatus"] == 0, moved
    wait_for("Ready on the other node", lambda: op.get("jcs", site)["status"].get("activeNode") == other
             and _ready(op, site), timeout=TIMER + 60)
    # The disk does not attach on the first node: the operator's start.sh takes its failure branch
    # (ERROR_DISK, exit 1), and the group fails over (Classic/StandardManager: the asynchronous
    # start script ends, the PID monitor gives up there; StandardAgent: the synchronous start is an
    # activation failure); the stop.sh run with the disk missing exits 0, so the server is not shut
    # down (deact/action 4).
    testbed.fault(name, "disk-failure", first)
    testbed.exec_on(name, other, ["/usr/sbin/clpgrp", "-m", group, "-a", first])
    log = f"/opt/nec/clusterpro/log/{bed['execResource']}.log"
    wait_for("start.sh's failure branch on the first node", lambda: "ERROR_DISK from START" in testbed.exec_on(
        name, first, ["cat", log])["stdout"], timeout=30)
    wait_for("the group back on the other node", lambda: (g := testbed.cluster_status(name)["groups"][group])
             and g["current"] == other and g["status"] == "Online", timeout=60)
    assert testbed.exec_on(name, first, ["true"])["exitStatus"] == 0, "the first node was shut down"
    assert "shut" not in testbed.exec_on(name, first, ["cat", log])["stdout"].lower()
    wait_for("Ready on the other node again", lambda: op.get("jcs", site)["status"].get("activeNode") == other
             and _ready(op, site), timeout=TIMER + 60)
    assert op.get("jcs", site)["status"]["processes"]["summary"] == PROCESSES[mode]


@pytest.mark.parametrize("mode", ("Classic", "StandardManager"))
def test_unmonitored_site_with_local_daemon_off(mode: str, site_setup: Callable[..., dict[str, Any]],
                                                operator_env: Operator) -> None:
    # processMonitoring false: cjcpw -c, its daemons without a cjcpw parent; told from a local site
    # by their working directory in the database, so nqsstop is not sent on every reconcile.
    op, site = operator_env, SITE_NAMES[mode]
    bed = site_setup(site_mode=mode, site_spec={"processMonitoring": False, "localDaemon": "Off"})
    wait_for("Ready", lambda: _ready(op, site), timeout=120)
    assert op.get("jcs", site)["status"]["processes"]["summary"] == PROCESSES[mode]
    ps = testbed.exec_on(bed["name"], bed["activeNode"], ["ps", "-eo", "args"])["stdout"]
    assert "/usr/lib/nqs/cluster/cjcpw" not in ps and "jnwengine" in ps
    stops = _steps(op).count("/usr/lib/nqs/nqsstop")
    _rerun_sends_only_probes(op, site, "unmonitored-1")
    _rerun_sends_only_probes(op, site, "unmonitored-2")
    assert _steps(op).count("/usr/lib/nqs/nqsstop") == stops
