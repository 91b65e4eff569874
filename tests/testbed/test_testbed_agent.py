"""Standard-mode agent (AG): CLUSTERPRO starts the agent unit, the custom monitor watches it."""

from __future__ import annotations

from typing import Any

import pytest
from testbed_steps import sftp_read, sftp_write, wait_for

from hack.testbed import api
from hack.testbed.clp import edit
from hack.testbed.ssh import connect, run

pytestmark = pytest.mark.root


def _jcagctrl(info: dict[str, Any], node: str) -> dict[str, str]:
    out = api.exec_on(info["name"], node, ["jcagctrl", "list"])["stdout"].splitlines()
    header = out[0]
    cols = ["INSTANCE ID", "NAME", "AGENT NAME", "ACTIVE", "ENABLE"]
    starts = [header.index(c) for c in cols]
    row = out[1]
    return {c: row[s:(starts[i + 1] if i + 1 < len(starts) else None)].strip() for i, (c, s) in
            enumerate(zip(cols, starts, strict=True))}


async def test_agent_unit_stop_fails_group_over(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="standard-agent", database_path="/mnt/jobagdb")
    unit = info["agent"]["unit"]
    assert info["floatingIP"] is None
    conns = {n: await connect(info, n) for n in ("clu1", "clu2")}
    for c in conns.values():
        rc, out, _ = await run(c, f"systemctl is-enabled {unit}; systemctl is-active {unit}")
        assert rc == 3 and out.split() == ["enabled", "inactive"]
        assert (await run(c, f"systemctl disable {unit}"))[0] == 0
    assert _jcagctrl(info, "clu1")["ACTIVE"] == "false"
    c = conns["clu1"]
    group, ex = info["failoverGroup"], info["execResource"]
    assert (await run(c, f"clpgrp -t {group}"))[0] == 0
    d = "/root/agcfg"
    assert (await run(c, f"mkdir {d} && clpcfctrl --pull -x {d}"))[0] == 0
    xml = await sftp_read(c, f"{d}/clp.conf")
    mon = "monitor/genw@genw-jcag"
    for path, value in [(f"{mon}/parameters/path", "genw.sh"), (f"{mon}/parameters/sync", "1"),
                        (f"{mon}/parameters/normalval", "0"), (f"{mon}/polling/timing", "1"),
                        (f"{mon}/polling/interval", "1"), (f"{mon}/target", ex),
                        (f"{mon}/relation/type", "grp"), (f"{mon}/relation/name", group),
                        (f"{mon}/emergency/threshold/restart", "0")]:
        xml = edit.set_path(xml, path, value)
    await sftp_write(c, f"{d}/clp.conf", xml, 0o644)
    await sftp_write(c, f"{d}/scripts/{group}/{ex}/start.sh", f"#! /bin/sh\nsystemctl start {unit}\n")
    await sftp_write(c, f"{d}/scripts/{group}/{ex}/stop.sh", f"#! /bin/sh\nsystemctl stop {unit}\n")
    await sftp_write(c, f"{d}/scripts/monitor.s/genw-jcag/genw.sh", f"#! /bin/sh\nsystemctl -q is-active {unit}\n")
    # A monitor is added: the product wants the cluster suspended around the push (node-protocol 9).
    rc, out, err = await run(c, f"clpcl --suspend && clpcfctrl --push -x {d} && clpcl --resume")
    assert rc == 0, err
    rc, out, err = await run(c, f"clpgrp -s {group}")
    assert rc == 0, err
    row = _jcagctrl(info, "clu1")
    assert row["NAME"] == "clusterinstance" and row["ACTIVE"] == "true" and row["ENABLE"] == "true"
    assert _jcagctrl(info, "clu2")["ACTIVE"] == "false"

    async def genw_normal() -> bool:
        return bool(api.cluster_status(info["name"])["monitors"]["genw-jcag"]["status"] == "Normal")

    await wait_for(genw_normal, 10, "genw to report Normal")
    # the agent dies / is stopped behind CLUSTERPRO's back on the active node
    assert (await run(c, f"systemctl stop {unit}"))[0] == 0

    async def moved() -> bool:
        g = api.cluster_status(info["name"])["groups"][group]
        return g["current"] == "clu2" and g["status"] == "Online" and _jcagctrl(info, "clu2")["ACTIVE"] == "true"

    await wait_for(moved, 20, "the agent group to fail over to clu2")
    assert _jcagctrl(info, "clu1")["ACTIVE"] == "false"
    assert api.exec_on(info["name"], "clu2", ["mountpoint", "-q", "/mnt/jobagdb"])["exitStatus"] == 0
    for conn in conns.values():
        conn.close()
