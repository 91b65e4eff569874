"""Issue 11 end to end: the operator applies configurations the way NEC documents it and reads what
the real product prints, on the bed that enforces the product's apply rules (strict-apply, the
default). Runs on the default bed and on the all-variants bed (``make test-variants``).
Waits are bounded polls on conditions, never sleeps."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from e2e_support import TIMER, Operator, is_probe, step_name, wait_for

from hack.testbed import api as testbed

SITE = "cluv"
CLP_CONF = "/opt/nec/clusterpro/etc/clp.conf"
MARKERS = "/var/lib/jobcenter-operator/suspended"
REQUEST = "jobcenter.clusterpro.io/requested-at"


def _ready(op: Operator) -> bool:
    cond = op.condition(SITE, "Ready")
    return cond is not None and cond["status"] == "True"


def _conf_bytes(bed: dict[str, Any], node: str) -> bytes:
    return testbed.node_path(bed["name"], node, CLP_CONF).read_bytes()


def _suspended(bed: dict[str, Any]) -> bool:
    out = testbed.exec_on(bed["name"], bed["nodes"][0]["name"], ["/usr/sbin/clpstat"])["stdout"]
    return ": Suspend" in out


def _markers(bed: dict[str, Any]) -> list[str]:
    return [n["name"] for n in bed["nodes"]
            if testbed.exec_on(bed["name"], n["name"], ["sh", "-c", f"ls {MARKERS}/* 2>/dev/null"])["stdout"].strip()]


def _steps(op: Operator, since: int = 0) -> list[str]:
    return [step_name(c) for c in op.commands()[since:] if not is_probe(c)]


def _rerun_sends_only_probes(op: Operator, value: str) -> None:
    before = len(op.commands())
    assert op.kubectl("annotate", "jcs", SITE, "--overwrite", f"{REQUEST}={value}").returncode == 0
    wait_for(f"the site to handle {value}",
             lambda: op.get("jcs", SITE).get("status", {}).get("lastHandledReconcileAt") == value, timeout=60)
    assert _steps(op, before) == [], "a converged site was changed"
    assert _ready(op) and op.condition(SITE, "InSync")["status"] == "True"  # type: ignore[index]


def test_apply_sequence_and_a_refused_push(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    wait_for("Ready", lambda: _ready(op), timeout=120)
    active = bed["activeNode"]
    standby = next(n["name"] for n in bed["nodes"] if n["name"] != active)
    # First apply: exec scripts and a new monitor -> group stop, suspend, push, resume, group start.
    steps = _steps(op)
    assert steps.index("stopgroup") < steps.index("suspendcluster") < steps.index("apply") \
        < steps.index("resumecluster") < steps.index("startgroup"), steps
    assert not _suspended(bed) and _markers(bed) == []

    # A monitor-only change suspends the cluster around the push and leaves the group running.
    before = len(op.commands())
    assert op.kubectl("patch", "jcs", SITE, "--type=merge", "-p",
                      '{"spec":{"monitorIntervalSeconds":3}}').returncode == 0
    wait_for("generation 2 Ready", lambda: op.get("jcs", SITE)["status"].get("observedGeneration") == 2
             and _ready(op), timeout=90)
    steps = _steps(op, before)
    assert "stopgroup" not in steps and steps.count("suspendcluster") == steps.count("resumecluster") == 1, steps
    assert not _suspended(bed) and _markers(bed) == []

    # A push the product refuses (delivery to the standby fails): reported with clpcfctrl's reason,
    # nothing half-applied, the cluster resumed, the group online where it was.
    conf_before = {n["name"]: _conf_bytes(bed, n["name"]) for n in bed["nodes"]}
    testbed.fault(bed["name"], "fail-delivery", standby)
    assert op.kubectl("patch", "jcs", SITE, "--type=merge", "-p",
                      '{"spec":{"monitorIntervalSeconds":4}}').returncode == 0
    refused = wait_for("ClusterResourcesConfigured=ApplyRefused", lambda: (
        c := op.condition(SITE, "ClusterResourcesConfigured")) and c["reason"] == "ApplyRefused" and c, timeout=60)
    assert "clpcfctrl --push exited" in refused["message"], refused
    assert {n: _conf_bytes(bed, n) for n in conf_before} == conf_before, "a refused push changed a node"
    wait_for("the cluster resumed", lambda: not _suspended(bed), timeout=30)
    assert testbed.cluster_status(bed["name"])["groups"][bed["failoverGroup"]]["current"] == active
    testbed.fault(bed["name"], "heal", standby)
    wait_for("generation 3 Ready after heal", lambda: op.get("jcs", SITE)["status"].get("observedGeneration") == 3
             and _ready(op), timeout=TIMER * 4 + 60)
    assert _markers(bed) == [] and not _suspended(bed)


def test_a_run_killed_while_suspended_is_resumed(site_setup: Callable[..., dict[str, Any]],
                                                 operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    first = op.procs[0]
    wait_for("the first run suspending the cluster",
             lambda: "suspendcluster" in _steps(op), timeout=90, interval=0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    op.start()
    wait_for("Ready after the restart", lambda: _ready(op), timeout=150)
    assert not _suspended(bed) and _markers(bed) == []
    steps = _steps(op)
    assert steps.count("cjcmksite") == 1, steps


def test_long_names_and_a_webui_save(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    group, rsc, monitor = "failover-jobcenter-cluster-site", "exec-jobcenter-site-resource1", \
        "pidw-jobcenter-cluster-site-mon"
    assert (len(group), len(rsc), len(monitor)) == (31, 29, 31)
    bed = site_setup(group=group, exec_resource=rsc, site_spec={"monitorResource": monitor})
    wait_for("Ready with 29-31 character names", lambda: _ready(op), timeout=120)
    status = op.get("jcs", SITE)["status"]
    assert status["activeNode"] == bed["activeNode"] and status["processes"]["summary"] == "8/8"
    # The default clpstat layout cuts these names; the monitor is found whole in clpstat --long.
    cut = testbed.exec_on(bed["name"], bed["activeNode"], ["/usr/sbin/clpstat"])["stdout"]
    assert group not in cut and monitor not in cut
    assert monitor in testbed.exec_on(bed["name"], bed["activeNode"], ["/usr/sbin/clpstat", "--long"])["stdout"]
    _rerun_sends_only_probes(op, "long-names")

    # A Cluster WebUI save rewrites <trekking> and the object counter: never drift.
    testbed.fault(bed["name"], "webui-save", bed["activeNode"])
    _rerun_sends_only_probes(op, "after-webui-save")


def test_euc_jp_clp_conf_kept_byte_for_byte(site_setup: Callable[..., dict[str, Any]],
                                            operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup(charset="euc-jp")
    original = _conf_bytes(bed, bed["activeNode"])
    assert original.startswith(b'<?xml version="1.0" encoding="EUC-JP"?>')
    japanese = [line for line in original.splitlines(keepends=True) if any(b > 0x7F for b in line)]
    assert japanese, "the bed's EUC-JP clp.conf has Japanese text"
    wait_for("Ready", lambda: _ready(op), timeout=120)
    for node in bed["nodes"]:
        now = _conf_bytes(bed, node["name"])
        assert now.startswith(b'<?xml version="1.0" encoding="EUC-JP"?>')
        assert now.decode("euc_jp")  # still valid EUC-JP
        for line in japanese:
            assert line in now, f"{line!r} changed on {node['name']}"
        assert b"<pidw name=\"pidw-jc\">" in now or b"<pidw name='pidw-jc'>" in now
    _rerun_sends_only_probes(op, "euc-jp")


def test_disk_failure_with_the_operators_scripts(site_setup: Callable[..., dict[str, Any]],
                                                 operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    wait_for("Ready", lambda: _ready(op), timeout=120)
    name, group = bed["name"], bed["failoverGroup"]
    first = bed["activeNode"]
    other = next(n["name"] for n in bed["nodes"] if n["name"] != first)
    moved = testbed.exec_on(name, first, ["/usr/sbin/clpgrp", "-m", group])
    assert moved["exitStatus"] == 0, moved
    wait_for("Ready on the other node", lambda: op.get("jcs", SITE)["status"].get("activeNode") == other
             and _ready(op), timeout=TIMER + 60)
    # The disk does not attach on the first node: the operator's start.sh takes its failure branch
    # (ERROR_DISK, exit 1), the PID monitor gives up there and the group fails over; the stop.sh run
    # with CLP_DISK=FAILURE exits 0, so the server is not shut down (deact/action 4).
    testbed.fault(name, "disk-failure", first)
    testbed.exec_on(name, other, ["/usr/sbin/clpgrp", "-m", group, "-a", first])
    log = f"/opt/nec/clusterpro/log/{bed['execResource']}.log"
    wait_for("start.sh's failure branch on the first node", lambda: "ERROR_DISK from START" in testbed.exec_on(
        name, first, ["cat", log])["stdout"], timeout=30)
    wait_for("the group back on the other node", lambda: (g := testbed.cluster_status(name)["groups"][group])
             and g["current"] == other and g["status"] == "Online", timeout=60)
    assert testbed.exec_on(name, first, ["true"])["exitStatus"] == 0, "the first node was shut down"
    assert "shut" not in testbed.exec_on(name, first, ["cat", log])["stdout"].lower()
    wait_for("Ready on the other node again", lambda: op.get("jcs", SITE)["status"].get("activeNode") == other
             and _ready(op), timeout=TIMER + 60)


def test_unmonitored_site_with_local_daemon_off(site_setup: Callable[..., dict[str, Any]],
                                                operator_env: Operator) -> None:
    # processMonitoring false: cjcpw -c, its daemons without a cjcpw parent; told from a local site
    # by their working directory in the database, so nqsstop is not sent on every reconcile.
    op = operator_env
    bed = site_setup(site_spec={"processMonitoring": False, "localDaemon": "Off"})
    wait_for("Ready", lambda: _ready(op), timeout=120)
    assert op.get("jcs", SITE)["status"]["processes"]["summary"] == "8/8"
    ps = testbed.exec_on(bed["name"], bed["activeNode"], ["ps", "-eo", "args"])["stdout"]
    assert "/usr/lib/nqs/cluster/cjcpw" not in ps and "nqsdaemon" in ps
    stops = _steps(op).count("/usr/lib/nqs/nqsstop")
    _rerun_sends_only_probes(op, "unmonitored-1")
    _rerun_sends_only_probes(op, "unmonitored-2")
    assert _steps(op).count("/usr/lib/nqs/nqsstop") == stops
