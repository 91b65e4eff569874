"""Verification: are the site's processes running where they should, and nowhere else?

Pure module. Classic: cjcpw plus 7 daemons under it (jnwcaster twice), 8 names in all;
StandardManager: cjcpw plus 10, 11 names (node-protocol 2.5); none of this site's trees on a standby node.
StandardAgent: the instance ACTIVE and ENABLE in ``jcagctrl list`` and its unit active on the
active node, the unit inactive on every standby.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..facts.processes import CLASSIC_SITE, STANDARD_MANAGER_SITE, SiteTree, missing_processes
from ..frozen import Frozen


class ProcessHealth(Frozen):
    healthy: bool
    reason: str  # Running, NotRunning, Degraded, RunningOnStandby, Unknown
    message: str
    expected: int
    found: int
    missing: tuple[str, ...] = ()


def _this_site(spec: JobCenterSiteSpec, f: NodeFacts) -> list[SiteTree]:
    return [
        t for t in f.processes.sites()
        if t.virtual_host in (spec.virtual_host, None) and t.database_path in (spec.database_path, None)
    ]


def expected_processes(spec: JobCenterSiteSpec) -> Counter[str]:
    return STANDARD_MANAGER_SITE if spec.mode == "StandardManager" else CLASSIC_SITE


def assess_processes(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str | None
) -> ProcessHealth:
    health = _assess_agent(spec, nodes, facts, active) if spec.mode == "StandardAgent" else _assess_site(
        spec, nodes, facts, active)
    if health.healthy and active is not None:
        # The processes look fine, but CLUSTERPRO's own monitor of the site disagrees: say so.
        state = facts[active].cluster.monitor_state(spec.monitor_resource)
        if state == "Error":
            return health.model_copy(update={
                "healthy": False, "reason": "MonitorError",
                "message": f"monitor {spec.monitor_resource} reports Error on {active}; {health.message}"})
    return health


def _assess_site(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str | None
) -> ProcessHealth:
    expected = expected_processes(spec)
    # The guide counts process *names* (8 classic, 11 standard, cjcpw included); jnwcaster must
    # also run twice, so a name counts as found only with all its instances.
    total = len(expected) + 1
    if active is None:
        return ProcessHealth(healthy=False, reason="Unknown", message="the failover group is not online",
                             expected=total, found=0)
    on_standby = [n for n in nodes if n != active and _this_site(spec, facts[n])]
    if on_standby:
        return ProcessHealth(healthy=False, reason="RunningOnStandby", expected=total, found=0,
                             message=f"the site runs on standby node(s) {', '.join(on_standby)}")
    trees = _this_site(spec, facts[active])
    if not trees:
        return ProcessHealth(healthy=False, reason="NotRunning", expected=total, found=0,
                             missing=("cjcpw", *sorted(expected)),
                             message=f"no cjcpw for {spec.virtual_host} on {active}")
    names = trees[0].names()
    missing = sorted(set(missing_processes(names, expected)))
    found = total - len(missing)
    if len(trees) > 1 or missing:
        detail = f"missing {', '.join(missing)}" if missing else f"{len(trees)} cjcpw trees"
        return ProcessHealth(healthy=False, reason="Degraded", expected=total, found=found, missing=tuple(missing),
                             message=f"site {spec.virtual_host} on {active}: {detail}")
    return ProcessHealth(healthy=True, reason="Running", expected=total, found=found,
                         message=f"{found}/{total} processes of {spec.virtual_host} under cjcpw on {active}")


def _assess_agent(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str | None
) -> ProcessHealth:
    assert spec.agent is not None
    if active is None:
        return ProcessHealth(healthy=False, reason="Unknown", message="the failover group is not online",
                             expected=1, found=0)
    on_standby = [n for n in nodes if n != active and facts[n].agent.unit_active == "active"]
    if on_standby:
        return ProcessHealth(healthy=False, reason="RunningOnStandby", expected=1, found=0,
                             message=f"the agent unit is active on standby node(s) {', '.join(on_standby)}")
    row = next((r for r in facts[active].agent.instances if r.instance_id == spec.agent.instance_id), None)
    unit_up = facts[active].agent.unit_active == "active"
    # jcagctrl's layout is a GUESS: a table that cannot be read leaves the unit state as the evidence.
    listed_ok = (row is not None and row.active and row.enable) or (row is None and not facts[active].agent.listed)
    if not listed_ok or not unit_up:
        state = "unknown to jcagctrl" if row is None else f"ACTIVE={row.active} ENABLE={row.enable}"
        return ProcessHealth(healthy=False, reason="NotRunning", expected=1, found=0,
                             missing=(spec.agent.instance_name,),
                             message=f"instance {spec.agent.instance_name} on {active}: {state}, "
                             f"unit {facts[active].agent.unit_active or 'unknown'}")
    return ProcessHealth(healthy=True, reason="Running", expected=1, found=1,
                         message=f"instance {spec.agent.instance_name} active on {active}")
