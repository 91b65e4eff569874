"""Failures CLUSTERPRO must react to: a dead cjcpw child (PID monitor), a crashed node, a broken script."""

from __future__ import annotations

from typing import Any

import pytest
from testbed_steps import (
    CLASSIC_NAMES,
    START_SH,
    STOP_SH,
    VENDOR_PRINTED_START_SH,
    apply_exec_config,
    classic_procedure,
    cluster_site,
    processes,
    wait_for,
)

from hack.testbed import api
from hack.testbed.ssh import connect, run

pytestmark = pytest.mark.root


async def _site_complete(info: dict[str, Any], node: str) -> bool:
    procs = api.node_processes(info["name"], node)
    parsed = [{"pid": p["pid"], "ppid": p["ppid"], "comm": p["comm"], "args": p["args"]} for p in procs]
    return {p["comm"] for p in cluster_site(parsed)} == CLASSIC_NAMES


def _disk_holder(info: dict[str, Any]) -> list[str]:
    out = []
    for n in info["nodes"]:
        r = api.exec_on(info["name"], n["name"], ["mountpoint", "-q", info["databasePath"]])
        if r["exitStatus"] == 0:
            out.append(n["name"])
    return out


async def test_killed_site_process_fails_group_over_with_fip_and_disk(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    # restart=0: the first PID-monitor error fails the group over (no reactivation on clu1)
    res = await classic_procedure(info, pidw={"emergency/threshold/restart": "0", "polling/interval": "1"})
    assert res["active"] == "clu1"

    async def on(node: str) -> bool:
        return await _site_complete(info, node)

    await wait_for(lambda: on("clu1"), 15, "the cluster site on clu1")
    killed = api.fault(info["name"], "kill-process", "clu1", "nqsdaemon")
    assert killed["killed"]

    async def moved() -> bool:
        g = api.cluster_status(info["name"])["groups"][info["failoverGroup"]]
        return g["current"] == "clu2" and g["status"] == "Online" and await on("clu2")

    await wait_for(moved, 30, "the group, the FIP, the disk and the site to move to clu2")
    st = api.status(info["name"])
    assert st["floatingIPHolder"] == "clu2"
    assert _disk_holder(info) == ["clu2"]
    assert api.exec_on(info["name"], "clu2", ["test", "-f", f"{info['databasePath']}/nqs/daemon.conf"])[
        "exitStatus"] == 0
    assert cluster_site([{**p} for p in api.node_processes(info["name"], "clu1")]) == []
    # the exec log on clu2 shows a FAILOVER start; on clu1 a FAILOVER stop
    log2 = api.node_path(info["name"], "clu2", "/opt/nec/clusterpro/log/exec-jc.log").read_text()
    assert "CLP_EVENT=FAILOVER" in log2 and "FAILOVER CJCPW STARTUP" in log2
    # the floating IP now reaches clu2 over SSH (both host keys are in known_hosts)
    c = await connect(info, info["floatingIP"])
    assert (await run(c, "hostname"))[1].strip() == "clu2"
    c.close()
    for conn in res["conns"].values():
        conn.close()


async def test_node_crash_fails_group_over(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    res = await classic_procedure(info, pidw={})
    await wait_for(lambda: _site_complete(info, "clu1"), 15, "the cluster site on clu1")
    api.fault(info["name"], "crash-node", "clu1")

    async def moved() -> bool:
        st = api.cluster_status(info["name"])
        g = st["groups"][info["failoverGroup"]]
        return not st["servers"]["clu1"]["alive"] and g["current"] == "clu2" and g["status"] == "Online" \
            and await _site_complete(info, "clu2")

    await wait_for(moved, 30, "failover to clu2 after clu1 crashed")
    assert api.status(info["name"])["floatingIPHolder"] == "clu2"
    # heal reboots the node; it comes back as standby with the current configuration
    assert api.fault(info["name"], "heal", "clu1").get("rebooted") is True
    c = await connect(info, "clu1")
    rc, out, _ = await run(c, "clpgrp -n failover-jc; cat /opt/nec/clusterpro/scripts/failover-jc/exec-jc/start.sh")
    assert rc == 0 and out.splitlines()[0] == "clu2" and "cjcpw" in out
    c.close()
    for conn in res["conns"].values():
        conn.close()


async def test_vendor_printed_sample_start_script_fails_like_on_a_real_node(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    c = await connect(info, "clu1")
    assert (await run(c, "clpgrp -t failover-jc"))[0] == 0
    fmt = {"vhost": info["virtualHost"], "db": info["databasePath"]}
    # synchronous start: the shell's syntax error is the activation result
    rc, out = await apply_exec_config(c, info, VENDOR_PRINTED_START_SH.format(**fmt), STOP_SH.format(**fmt),
                                      act_sync="1")
    assert rc == 0, out
    rc, _out, err = await run(c, "clpgrp -s failover-jc")
    assert rc != 0 and "Failed to start" in err
    _rc, stat, _ = await run(c, "clpstat")
    assert "Online Failure" in stat
    log = api.node_path(info["name"], "clu2", "/opt/nec/clusterpro/log/exec-jc.log").read_text()
    assert "Syntax error" in log or "syntax error" in log
    # the fixed script works
    assert (await run(c, "clpgrp -t failover-jc"))[0] == 0
    rc, out = await apply_exec_config(c, info, START_SH.format(**fmt), STOP_SH.format(**fmt), act_sync="1")
    assert rc == 0, out
    c.close()


async def test_online_group_change_needs_suspend(testbed_cluster: Any) -> None:
    # apply-lenient: suspending is enough (strict-apply, the default, also wants the group stopped)
    info = testbed_cluster(mode="classic", variants=["apply-lenient"])
    c = await connect(info, "clu1")
    fmt = {"vhost": info["virtualHost"], "db": info["databasePath"]}
    rc, out = await apply_exec_config(c, info, START_SH.format(**fmt), STOP_SH.format(**fmt))
    assert rc == 12 and "Command failed.(code:12)" in out
    assert (await run(c, "clpcl --suspend"))[0] == 0
    rc, out = await apply_exec_config(c, info, START_SH.format(**fmt), STOP_SH.format(**fmt))
    assert rc == 0 and "Command succeeded." in out
    assert (await run(c, "clpcl --resume"))[0] == 0
    # the pushed scripts are installed on every node
    for n in ("clu1", "clu2"):
        path = api.node_path(info["name"], n, "/opt/nec/clusterpro/scripts/failover-jc/exec-jc/start.sh")
        assert "cjcpw" in path.read_text()
    # the running exec keeps its old (synchronous) start: the group is still online, no site yet
    assert api.cluster_status(info["name"])["groups"]["failover-jc"]["status"] == "Online"
    assert cluster_site(await processes(c)) == []
    c.close()
