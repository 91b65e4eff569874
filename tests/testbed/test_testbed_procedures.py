"""The vendor guide's manual procedures, step by step over real SSH (strict host keys)."""

from __future__ import annotations

from typing import Any

import pytest
from testbed_steps import (
    CLASSIC_NAMES,
    STANDARD_NAMES,
    classic_procedure,
    cluster_site,
    processes,
    wait_for,
)

pytestmark = pytest.mark.root


@pytest.mark.parametrize(("mode", "names", "count"), [("classic", CLASSIC_NAMES, 8),
                                                      ("standard-manager", STANDARD_NAMES, 11)])
async def test_guide_procedure_ends_with_site_on_active_node_only(testbed_cluster: Any, mode: str,
                                                                   names: set[str], count: int) -> None:
    info = testbed_cluster(mode=mode)
    res = await classic_procedure(info)
    active, conns = res["active"], res["conns"]
    standby = next(n for n in conns if n != active)

    async def site_complete() -> bool:
        return {p["comm"] for p in cluster_site(await processes(conns[active]))} == names

    await wait_for(site_complete, 15, f"the {count} cluster-site processes on {active}")
    site = cluster_site(await processes(conns[active]))
    assert len(names) == count
    cjcpw = next(p for p in site if p["comm"] == "cjcpw")
    assert cjcpw["args"] == f"/usr/lib/nqs/cluster/cjcpw {info['virtualHost']} {info['databasePath']}"
    casters = [p for p in site if p["comm"] == "jnwcaster"]
    assert len(casters) == 2  # the second jnwcaster is the child of the first
    assert {c["ppid"] for c in casters} == {cjcpw["pid"], casters[0]["pid"]}
    others = [p for p in site if p["comm"] not in ("cjcpw", "jnwcaster")]
    assert all(p["ppid"] == cjcpw["pid"] for p in others)
    if mode == "classic":
        assert any(p["args"] == "NQS nqsdaemon" for p in site)
    # the standby runs nothing of JobCenter: its local site was stopped, the cluster site is not there
    standby_procs = await processes(conns[standby])
    assert not [p for p in standby_procs if "/usr/lib/nqs" in p["args"] or p["args"].startswith("NQS ")]
    # pgrep -x works with the real names (comm), and the FIP answers from the active node
    rc = (await conns[active].run("pgrep -x jnwengine", check=False)).exit_status
    assert rc == 0
    from hack.testbed.ssh import connect, run

    fip = await connect(info, info["floatingIP"])
    assert (await run(fip, "hostname"))[1].strip() == active
    fip.close()
    for c in conns.values():
        c.close()
