"""Applying a configuration (node-protocol 5.1, 5.3, 9, 10): suspend/resume, the strict-apply rules,
and a refused or failed push leaving every node's configuration as it was."""

from __future__ import annotations

from typing import Any

import pytest
from testbed_config import GENW, GENW_SH, group, pull, push, sh, snapshot, wait

from hack.testbed import api
from hack.testbed.clp import edit

pytestmark = pytest.mark.root


def _with_genw(conf: bytes, name: str = "genw-jc") -> bytes:
    for k, v in GENW.items():
        conf = edit.set_path(conf, f"monitor/genw@{name}/{k}", v)
    return conf


def test_suspended_cluster_runs_no_monitors_and_no_failovers_until_resumed(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    name = info["name"]
    # the documented apply on a running cluster: suspend, push, resume
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, out = push(info, _with_genw(pull(info)), {"monitor.s/genw-jc/genw.sh": GENW_SH})
    assert rc == 0, out
    assert sh(info, "clu1", "clpcl --suspend")[0] != 0  # already suspended
    assert sh(info, "clu1", "clpcl --resume")[0] == 0
    wait(lambda: api.cluster_status(name)["monitors"]["genw-jc"]["checks"] >= 1, 20, "the genw to run")

    # suspended: clpstat says so, group commands are refused, the failing monitor is not run
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, stat, _ = sh(info, "clu2", "clpstat")
    assert "   *clu2 ............: Suspend" in stat and "    genw-jc          : Suspend" in stat
    assert "    failover-jc .....: Online" in stat
    rc, _, err = sh(info, "clu2", "clpgrp -m failover-jc")
    assert rc != 0 and "suspended" in err
    assert sh(info, "clu1", "clpcl -t -a")[0] != 0
    checks = api.cluster_status(name)["monitors"]["genw-jc"]["checks"]
    skipped = api.cluster_status(name)["monitors"]["genw-jc"]["skipped"]
    assert sh(info, "clu1", "touch /tmp/genw-fail")[0] == 0
    wait(lambda: api.cluster_status(name)["monitors"]["genw-jc"]["skipped"] >= skipped + 3, 30,
         "three monitor intervals while suspended")
    st = api.cluster_status(name)
    assert st["monitors"]["genw-jc"]["checks"] == checks
    assert st["groups"]["failover-jc"]["current"] == "clu1"

    # resumed: the monitor runs, fails, and fails the group over
    assert sh(info, "clu1", "clpcl --resume")[0] == 0
    wait(lambda: group(info)["current"] == "clu2" and group(info)["status"] == "Online", 30,
         "the genw failover to clu2 after the resume")

    # a server lost while suspended: its groups wait for the resume
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    api.fault(name, "crash-node", "clu2")
    wait(lambda: not api.cluster_status(name)["servers"]["clu2"]["alive"], 20, "the cluster to see clu2 down")
    assert group(info)["current"] == "clu2"  # no failover while suspended
    assert sh(info, "clu1", "clpcl --resume")[0] == 0
    wait(lambda: group(info)["current"] == "clu1" and group(info)["status"] == "Online", 30,
         "the deferred failover to clu1")


def test_strict_apply_refuses_and_leaves_every_node_unchanged(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic", variants=["strict-apply"])
    base = pull(info)
    before = snapshot(info)
    # a monitor added while the cluster is not suspended (its group may even be offline)
    rc, out = push(info, _with_genw(base), {"monitor.s/genw-jc/genw.sh": GENW_SH})
    assert rc == 12 and "Suspend the cluster" in out and out.rstrip().endswith("Command failed.(code:12)")
    assert snapshot(info) == before
    # the exec scripts of the online group, even while suspended: the group must be stopped
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    new_start = "#!/bin/sh\necho changed\nexit 0\n"
    rc, out = push(info, base, {"failover-jc/exec-jc/start.sh": new_start})
    assert rc == 15 and "Stop the group" in out and "exec scripts" in out
    assert snapshot(info) == before
    # ... and its resources (an exec parameter)
    rc, out = push(info, edit.set_path(base, "resource/exec@exec-jc/parameters/timeout/stop", "600"))
    assert rc == 15 and snapshot(info) == before
    # suspended, a monitor may be added (scripts of the online group untouched)
    rc, out = push(info, _with_genw(base), {"monitor.s/genw-jc/genw.sh": GENW_SH})
    assert rc == 0 and out.rstrip().endswith("Command succeeded.(code:0)"), out
    assert sh(info, "clu1", "clpcl --resume")[0] == 0
    # the group stopped, its scripts may change without a suspend
    assert sh(info, "clu1", "clpgrp -t failover-jc")[0] == 0
    rc, out = push(info, _with_genw(base), {"failover-jc/exec-jc/start.sh": new_start,
                                            "monitor.s/genw-jc/genw.sh": GENW_SH})
    assert rc == 0, out
    after = snapshot(info)
    assert after["clu1"] == after["clu2"]
    assert after["clu2"]["scripts/failover-jc/exec-jc/start.sh"] == new_start.encode()


def test_default_apply_accepts_script_change_of_suspended_online_group(testbed_cluster: Any) -> None:
    """apply-lenient (the default until the operator suspends): suspending is enough."""
    info = testbed_cluster(mode="classic")
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, out = push(info, pull(info), {"failover-jc/exec-jc/start.sh": "#!/bin/sh\nexit 0\n"})
    assert rc == 0, out
    assert sh(info, "clu1", "clpcl --resume")[0] == 0


def test_failed_delivery_leaves_the_previous_configuration_on_every_node(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    assert sh(info, "clu1", "clpgrp -t failover-jc")[0] == 0
    base = pull(info)
    before = snapshot(info)
    api.fault(info["name"], "fail-delivery", "clu2")
    changed = edit.set_path(base, "resource/exec@exec-jc/parameters/timeout/stop", "600")
    rc, out = push(info, changed, {"failover-jc/exec-jc/stop.sh": "#!/bin/sh\nexit 0\n"})
    addr = info["nodes"][1]["address"]
    assert rc == 13 and f"file delivery to server {addr} failed." in out and "Command failed.(code:13)" in out
    assert snapshot(info) == before  # clu1 (delivered first) kept its configuration too
    # invalid configurations are refused before anything is delivered
    rc, out = push(info, base.replace(b'<depend name="disk-jc"', b'<depend name="nosuch"'))
    assert rc == 11 and "nosuch" in out
    assert snapshot(info) == before
    api.fault(info["name"], "heal", "clu2")
    rc, out = push(info, changed)
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[:2] == [f"file delivery to server {n['address']} success." for n in info["nodes"]]
    assert lines[2:] == ["", "The upload is completed successfully.(cfmgr:0)", "", "Command succeeded.(code:0)"]
    assert all(s["clp.conf"] == changed for s in snapshot(info).values())
