"""Mode `standard`: JobCenter MG and AG side by side in two failover groups of one cluster."""

from __future__ import annotations

from typing import Any

import pytest
from testbed_steps import sftp_read, sftp_write, wait_for

from hack.testbed import api
from hack.testbed.clp import edit
from hack.testbed.ssh import connect, run

pytestmark = pytest.mark.root

MG, AG = "failover-jcmg", "failover-jcag"


def _mounted(info: dict[str, Any], node: str, path: str) -> bool:
    return api.exec_on(info["name"], node, ["mountpoint", "-q", path])["exitStatus"] == 0


def _agent_active(info: dict[str, Any], node: str) -> bool:
    out = api.exec_on(info["name"], node, ["jcagctrl", "list"])["stdout"].splitlines()
    return out[1].split()[-2] == "true"


# Monitors are added: the cluster is suspended around the push (node-protocol 9, strict-apply).
SUSPENDED_PUSH = "clpcl --suspend >/dev/null && clpcfctrl --push -x {d}; rc=$?; clpcl --resume >/dev/null; exit $rc"


async def _configure_agent_group(c: Any, unit: str) -> None:
    """The AG group as the vendor guide configures it: systemctl scripts and a genw custom monitor;
    only the AG group is stopped for the push, the MG group stays online."""
    d = "/root/agcfg"
    assert (await run(c, f"mkdir {d} && clpcfctrl --pull -x {d}"))[0] == 0
    xml = await sftp_read(c, f"{d}/clp.conf")
    mon = "monitor/genw@genw-jcag"
    for path, value in [(f"{mon}/parameters/path", "genw.sh"), (f"{mon}/parameters/sync", "1"),
                        (f"{mon}/parameters/normalval", "0"), (f"{mon}/polling/timing", "1"),
                        (f"{mon}/polling/interval", "1"), (f"{mon}/target", "exec-jcag"),
                        (f"{mon}/relation/type", "grp"), (f"{mon}/relation/name", AG),
                        (f"{mon}/emergency/threshold/restart", "0")]:
        xml = edit.set_path(xml, path, value)
    await sftp_write(c, f"{d}/clp.conf", xml, 0o644)
    await sftp_write(c, f"{d}/scripts/{AG}/exec-jcag/start.sh", f"#! /bin/sh\nsystemctl start {unit}\n")
    await sftp_write(c, f"{d}/scripts/{AG}/exec-jcag/stop.sh", f"#! /bin/sh\nsystemctl stop {unit}\n")
    await sftp_write(c, f"{d}/scripts/monitor.s/genw-jcag/genw.sh", f"#! /bin/sh\nsystemctl -q is-active {unit}\n")
    assert (await run(c, f"clpgrp -t {AG}"))[0] == 0
    rc, _, err = await run(c, SUSPENDED_PUSH.format(d=d))
    assert rc == 0, err
    rc, _, err = await run(c, f"clpgrp -s {AG}")
    assert rc == 0, err


async def test_standard_two_groups_and_agent_failover(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="standard")
    name = info["name"]
    # the existing keys describe the MG group, `groups` both
    assert (info["failoverGroup"], info["execResource"], info["databasePath"], info["virtualHost"],
            info["machineId"], info["activeNode"], info["agent"]) == (
        MG, "exec-jcmg", "/mnt/jobmgdb", "jcmgcluster", 100, "clu1", None)
    mg, ag = info["groups"]
    assert mg["name"] == MG and mg["floatingIP"] == info["floatingIP"] and mg["floatingIP"].endswith(".100")
    assert (ag["name"], ag["execResource"], ag["databasePath"], ag["floatingIP"], ag["activeNode"]) == (
        AG, "exec-jcag", "/mnt/jobagdb", None, "clu1")
    assert ag["agent"] == {"instanceId": "1", "instanceName": "clusterinstance", "agentName": "jcagcluster",
                           "unit": "jcexecutor_agent_1.service"}
    unit = ag["agent"]["unit"]
    groups = api.cluster_status(name)["groups"]
    assert {g: (groups[g]["status"], groups[g]["current"]) for g in (MG, AG)} == {
        MG: ("Online", "clu1"), AG: ("Online", "clu1")}

    conns = {n: await connect(info, n) for n in ("clu1", "clu2")}
    for node, c in conns.items():
        # MG and AG installed on every node; the virtual host resolves both ways to the FIP
        rc, out, _ = await run(c, "cat /usr/lib/nqs/VERSION; ls /usr/lib/nqs/cluster; command -v jcagctrl")
        assert rc == 0 and "MODE=STANDARD\n" in out and "cjcpw" in out and "cjcmksite" in out, out
        rc, out, _ = await run(c, f"getent hosts jcmgcluster; getent hosts {info['floatingIP']}")
        assert out.split() == [info["floatingIP"], "jcmgcluster"] * 2
        rc, out, _ = await run(c, f"systemctl is-enabled {unit}; systemctl is-active {unit}")
        assert rc == 3 and out.split() == ["enabled", "inactive"]
        # each group's disk is mounted only where its group is online
        online = node == "clu1"
        assert _mounted(info, node, "/mnt/jobmgdb") is online and _mounted(info, node, "/mnt/jobagdb") is online
    # two different shared disks
    c = conns["clu1"]
    assert (await run(c, "echo mg > /mnt/jobmgdb/which && echo ag > /mnt/jobagdb/which"))[0] == 0
    assert (await run(c, "cat /mnt/jobmgdb/which /mnt/jobagdb/which"))[1].split() == ["mg", "ag"]

    await _configure_agent_group(c, unit)
    async def genw_normal() -> bool:
        return bool(api.cluster_status(name)["monitors"]["genw-jcag"]["status"] == "Normal")

    await wait_for(genw_normal, 10, "genw to report Normal")
    assert (await run(c, f"systemctl stop {unit}"))[0] == 0

    async def moved() -> bool:
        g = api.cluster_status(name)["groups"][AG]
        return g["current"] == "clu2" and g["status"] == "Online" and _agent_active(info, "clu2")

    await wait_for(moved, 20, "the AG group to fail over to clu2")
    groups = api.cluster_status(name)["groups"]
    assert (groups[MG]["status"], groups[MG]["current"]) == ("Online", "clu1"), "the MG group moved too"
    assert _mounted(info, "clu1", "/mnt/jobmgdb") and not _mounted(info, "clu2", "/mnt/jobmgdb")
    assert _mounted(info, "clu2", "/mnt/jobagdb") and not _mounted(info, "clu1", "/mnt/jobagdb")
    assert api.exec_on(name, "clu2", ["cat", "/mnt/jobagdb/which"])["stdout"] == "ag\n"
    assert api.status(name)["floatingIPHolder"] == "clu1"
    for conn in conns.values():
        conn.close()


async def test_push_for_one_group_leaves_the_other_monitor_alone(testbed_cluster: Any) -> None:
    """Pushes that change the (stopped) MG group while the AG group's genw polls: the scripts tree
    is replaced file by file, so the genw never finds its script missing and never fails over."""
    info = testbed_cluster(mode="standard")
    name, unit = info["name"], info["groups"][1]["agent"]["unit"]
    c = await connect(info, "clu1")
    await _configure_agent_group(c, unit)

    async def genw_normal() -> bool:
        return bool(api.cluster_status(name)["monitors"]["genw-jcag"]["status"] == "Normal")

    await wait_for(genw_normal, 10, "genw to report Normal")
    assert (await run(c, f"clpgrp -t {MG}"))[0] == 0
    d = "/root/mgcfg"
    assert (await run(c, f"mkdir {d} && clpcfctrl --pull -x {d}"))[0] == 0
    for i in range(30):
        await sftp_write(c, f"{d}/scripts/{MG}/exec-jcmg/start.sh", f"#! /bin/sh\n# revision {i}\nexit 0\n")
        rc, _, err = await run(c, SUSPENDED_PUSH.format(d=d))
        assert rc == 0, err
    groups = api.cluster_status(name)["groups"]
    assert (groups[AG]["status"], groups[AG]["current"]) == ("Online", "clu1")
    assert await genw_normal()
    log = api.exec_on(name, "clu1", ["cat", "/opt/nec/clusterpro/log/genw-jcag.log"])["stdout"]
    assert "not found" not in log and "No such file" not in log, log[-2000:]
    delivered = api.exec_on(name, "clu2", ["cat", f"/opt/nec/clusterpro/scripts/{MG}/exec-jcmg/start.sh"])
    assert "# revision 29" in delivered["stdout"]
    # the bed's own fault: the agent process killed (name longer than a comm: cut to 15 characters)
    assert api.fault(name, "kill-process", "clu1", "jcexecutor_agent")["killed"]

    async def moved() -> bool:
        g = api.cluster_status(name)["groups"][AG]
        return g["current"] == "clu2" and g["status"] == "Online" and _agent_active(info, "clu2")

    await wait_for(moved, 20, "the AG group to fail over to clu2 after the agent was killed")
    assert api.cluster_status(name)["groups"][MG]["status"] == "Offline"  # stopped above, left alone
    c.close()
