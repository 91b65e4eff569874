"""Exec script environment (node-protocol 3.3), CLP_DISK=FAILURE from `fault disk-failure`, and the
deactivation failure action of a stop.sh that exits non-zero (node-protocol 4.2, 6.1)."""

from __future__ import annotations

from typing import Any

import pytest
from testbed_config import exec_log, group, pull, push, sh, wait

from hack.testbed import api
from hack.testbed.clp import edit
from hack.testbed.clp.templates import exec_template

pytestmark = pytest.mark.root

SEEN = 'echo "SEEN EVENT=$CLP_EVENT DISK=$CLP_DISK SERVER=$CLP_SERVER GROUP=$CLP_GROUPNAME RSC=$CLP_RESOURCENAME"\n'


def _template_with_seen(kind: str) -> str:
    """CLUSTERPRO's default template (its failure branches included) that also prints its env."""
    text = exec_template(kind)
    return text.replace("#ulimit -s unlimited\n", "#ulimit -s unlimited\n" + SEEN, 1)


# stop.sh failing while /tmp/failstop exists on the node
FAILING_STOP = _template_with_seen("stop").replace('echo "EXIT"\n', 'echo "EXIT"\n[ -e /tmp/failstop ] && exit 1\n')


def _install(info: dict[str, Any], conf: bytes | None = None) -> None:
    assert sh(info, "clu1", "clpgrp -t failover-jc")[0] == 0
    rc, out = push(info, conf or pull(info), {"failover-jc/exec-jc/start.sh": _template_with_seen("start"),
                                              "failover-jc/exec-jc/stop.sh": FAILING_STOP})
    assert rc == 0, out
    assert sh(info, "clu1", "clpgrp -s failover-jc")[0] == 0


def test_clp_env_and_disk_failure_runs_the_scripts_failure_branch(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    _install(info)
    log1 = exec_log(info, "clu1")
    assert "SEEN EVENT=START DISK=SUCCESS SERVER=HOME GROUP=failover-jc RSC=exec-jc" in log1
    assert "NORMAL1\nNORMAL2\n" in log1
    # moved to the second server of the policy: START, OTHER
    assert sh(info, "clu1", "clpgrp -m failover-jc")[0] == 0
    log2 = exec_log(info, "clu2")
    assert "SEEN EVENT=START DISK=SUCCESS SERVER=OTHER" in log2 and "NORMAL1\nON_OTHER1\n" in log2
    # the disk does not attach on clu1: start.sh takes its failure branch and exits 1, the group
    # fails over (act/fo) to clu2 with FAILOVER. (The template's stop.sh fails the same way on clu1,
    # so clu1 also takes the default deactivation failure action and shuts down.)
    api.fault(info["name"], "disk-failure", "clu1")
    sh(info, "clu2", "clpgrp -m failover-jc -a clu1")
    log1 = exec_log(info, "clu1")
    assert "SEEN EVENT=START DISK=FAILURE SERVER=HOME" in log1 and "ERROR_DISK from START" in log1
    wait(lambda: group(info)["current"] == "clu2" and group(info)["status"] == "Online", 30,
         "the failover to clu2")
    log2 = exec_log(info, "clu2")
    assert "SEEN EVENT=FAILOVER DISK=SUCCESS SERVER=OTHER" in log2 and "FAILOVER1\nON_OTHER2\n" in log2


def test_failing_stop_script_shuts_the_server_down_by_default(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    _install(info)
    assert sh(info, "clu1", "touch /tmp/failstop")[0] == 0
    # a move makes clu1 run stop.sh, which fails: deact/action 4 (default) = the server shuts down,
    # its groups fail over
    rc, _, _ = sh(info, "clu2", "clpgrp -m failover-jc")
    assert rc != 0
    wait(lambda: not api.status(info["name"])["nodeState"]["clu1"]["alive"], 20, "clu1 to shut down")
    wait(lambda: group(info)["current"] == "clu2" and group(info)["status"] == "Online", 30,
         "the failover to clu2")
    assert "SEEN EVENT=FAILOVER" in exec_log(info, "clu2")
    assert api.fault(info["name"], "heal", "clu1").get("rebooted") is True


def test_configured_deactivation_action_keeps_the_server(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    # 1 = none (stop deactivating): the group stays where it is, Offline Failure, the server stays up
    _install(info, edit.set_path(pull(info), "resource/exec@exec-jc/deact/action", "1"))
    assert sh(info, "clu1", "touch /tmp/failstop")[0] == 0
    rc, _, err = sh(info, "clu1", "clpgrp -t failover-jc")
    assert rc != 0 and "Failed to stop" in err
    st = api.cluster_status(info["name"])
    assert st["groups"]["failover-jc"]["status"] == "Offline Failure" and st["servers"]["clu1"]["alive"]
    assert api.status(info["name"])["nodeState"]["clu1"]["alive"]
