"""Preflight: the ordered checks that must pass before any action is planned. Pure.

Each check is a named function of the ``Context`` returning its failures (empty: passed); the
first check that fails stops the chain. The order is the one the vendor guide assumes things are
in place: JobCenter installed on every node, CLUSTERPRO running, the group and its resources
configured, the group online with its floating IP and disk on the active node, the agent
instance known (StandardAgent) or the virtual host resolving (the sites), and no foreign site at
the database path. Failures a wait can fix (cluster starting, group offline, the floating IP or
disk not up yet) are not ``permanent``; the rest need a human or a spec change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from .model import Context, Finding, failure

Check = Callable[[Context], list[Finding]]

_EXPECTED_INSTALL = {"Classic": "CLASSIC", "StandardManager": "STANDARD"}


def active_node(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> str | None:
    """Where the failover group is online: ``clpgrp -n`` first, then clpstat's ``current``."""
    for name in nodes:
        seen = facts[name].group_node
        if seen in nodes:
            return seen
    for name in nodes:
        group = facts[name].cluster.groups.get(spec.failover_group)
        if group is not None and group.current in nodes:
            return group.current
    return None


def installed(ctx: Context) -> list[Finding]:
    """JobCenter (or the agent) installed on every node, in the spec's mode."""
    spec, failures = ctx.spec, []
    for name in ctx.nodes:
        f = ctx.facts[name]
        if spec.mode == "StandardAgent":
            if not f.agent.installed:
                failures.append(failure("AgentMissing", f"the JobCenter agent (jcagctrl) is not installed on {name}",
                                        node=name))
        elif not f.jobcenter.installed:
            failures.append(failure("JobCenterMissing", f"JobCenter (cjcpw, cjcmksite) is not installed on {name}",
                                    node=name))
        elif f.jobcenter.mode and f.jobcenter.mode != _EXPECTED_INSTALL[spec.mode]:
            failures.append(failure(
                "JobCenterModeMismatch",
                f"JobCenter on {name} is installed in {f.jobcenter.mode} mode, the site is {spec.mode}", node=name))
    return failures


def cluster_running(ctx: Context) -> list[Finding]:
    if any(ctx.facts[n].cluster.running for n in ctx.nodes):
        return []
    return [failure("ClusterproNotRunning", "the CLUSTERPRO cluster service is not running on any node",
                    permanent=False)]


def cluster_not_suspended(ctx: Context) -> list[Finding]:
    """Someone else's ``clpcl --suspend`` (the operator's own is resumed before the checks run):
    wait for it to be resumed; never resume it."""
    if any(ctx.facts[n].cluster.suspended for n in ctx.nodes):
        return [failure("ClusterSuspended", "the CLUSTERPRO cluster is suspended (clpcl --suspend) by someone else",
                        permanent=False)]
    return []


def cluster_config(ctx: Context) -> list[Finding]:
    """clp.conf holds the failover group with the exec resource, floating IP and disk of the spec."""
    conf = next((ctx.facts[n].clp_conf for n in ctx.nodes if ctx.facts[n].clp_conf.present), None)
    if conf is None:
        return [failure("ClusterproConfigMissing", "no node has a clp.conf")]
    if conf.config is None:
        return [failure("ClusterproConfigInvalid", conf.invalid or "clp.conf cannot be read")]
    spec, config = ctx.spec, conf.config
    group = spec.failover_group
    if group not in config.groups:
        return [failure("GroupMissing", f"clp.conf has no failover group {group}")]
    failures = []
    if f"exec@{spec.exec_resource}" not in config.groups[group].members:
        failures.append(failure("ExecResourceMissing", f"group {group} has no exec resource {spec.exec_resource}"))
    floating_ips = config.floating_ips(group)
    if spec.mode != "StandardAgent":
        if not floating_ips:
            failures.append(failure("FloatingIPResourceMissing", f"group {group} has no floating IP resource"))
        elif spec.floating_ip not in floating_ips:
            failures.append(failure("FloatingIPMismatch", f"group {group}'s floating IP is "
                                    f"{', '.join(floating_ips)}, not {spec.floating_ip}"))
    if spec.database_path not in config.mount_points(group):
        failures.append(failure("DiskResourceMissing",
                                f"group {group} has no disk resource mounted at {spec.database_path}"))
    return failures


def claimed_by(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> set[str]:
    """Every node some node says the failover group is online on (clpgrp -n, clpstat's current)."""
    seen: set[str] = set()
    for name in nodes:
        group = facts[name].cluster.groups.get(spec.failover_group)
        seen |= {n for n in (facts[name].group_node, group.current if group else None) if n is not None and n in nodes}
    return seen


def one_active_node(ctx: Context) -> list[Finding]:
    """CLUSTERPRO's promise: one node per group. Two claims are a split brain (or a failover caught
    half way): nothing is done until the nodes agree again."""
    claims = claimed_by(ctx.spec, ctx.nodes, ctx.facts)
    if len(claims) < 2:
        return []
    return [failure("SplitBrain", f"failover group {ctx.spec.failover_group} is reported online on "
                    f"{', '.join(sorted(claims))} at once; nothing is changed until one node holds it",
                    permanent=False)]


def group_online(ctx: Context) -> list[Finding]:
    if ctx.active is not None:
        return []
    return [failure("GroupOffline", f"failover group {ctx.spec.failover_group} is not online on any node",
                    permanent=False)]


def active_node_ready(ctx: Context) -> list[Finding]:
    """The floating IP (not for the agent) and the disk are up where the group is online."""
    spec, active = ctx.spec, ctx.active
    assert active is not None  # group_online
    a, failures = ctx.facts[active], []
    if spec.mode != "StandardAgent" and spec.floating_ip not in a.addresses:
        failures.append(failure("FloatingIPNotActive", f"floating IP {spec.floating_ip} is not up on active node "
                                f"{active}", node=active, permanent=False))
    if spec.database_path not in a.mounts:
        failures.append(failure("DiskNotMounted", f"{spec.database_path} is not mounted on active node {active}",
                                node=active, permanent=False))
    return failures


def agent_instance_known(ctx: Context) -> list[Finding]:
    """The instance is listed by ``jcagctrl list`` or its unit exists (systemctl knows it). The
    table's layout is a GUESS: a table that cannot be read is no evidence either way, so the unit
    state decides; only a readable table without the instance AND no unit is permanent."""
    agent = ctx.spec.agent
    if ctx.spec.mode != "StandardAgent" or agent is None:
        return []
    failures = []
    for name in ctx.nodes:
        a = ctx.facts[name].agent
        if agent.instance_id in {row.instance_id for row in a.instances} or a.unit_exists:
            continue
        failures.append(failure("AgentInstanceUnknown",
                                f"jcagctrl on {name} does not list instance {agent.instance_id} and systemd has no "
                                f"unit for it", node=name, permanent=a.listed))
    return failures


def virtual_host_resolves(ctx: Context) -> list[Finding]:
    """Forward and reverse, to the canonical name, on every node (cjcmksite and cjcpw need it)."""
    spec = ctx.spec
    if spec.mode == "StandardAgent":
        return []
    failures = []
    for name in ctx.nodes:
        res = ctx.facts[name].resolution
        if spec.floating_ip not in res.forward:
            failures.append(failure("VirtualHostNotResolving",
                                    f"{spec.virtual_host} does not resolve to {spec.floating_ip} on {name}", node=name))
        elif res.canonical is not None and res.canonical != spec.virtual_host:
            failures.append(failure(
                "VirtualHostIsAlias",
                f"{spec.virtual_host} is an alias of {res.canonical} on {name}; give the canonical name", node=name))
        elif res.reverse != spec.virtual_host:
            failures.append(failure(
                "VirtualHostReverseMismatch",
                f"{spec.floating_ip} resolves back to {res.reverse or 'nothing'} on {name}, not {spec.virtual_host}",
                node=name))
    return failures


def no_foreign_site(ctx: Context) -> list[Finding]:
    """A site at the database path is this one's or none. Mismatch only from evidence: a cjcpw
    serving another virtual host from the database path (node-protocol 2.3, sourced), or the
    site's identity keys when the site has them (a GUESS format: absent, identity is unknown)."""
    spec, active = ctx.spec, ctx.active
    if spec.mode == "StandardAgent" or active is None:
        return []
    for tree in ctx.facts[active].processes.sites():
        if tree.database_path == spec.database_path and tree.virtual_host not in (None, spec.virtual_host):
            return [failure(
                "SiteMismatch", f"cjcpw on {active} serves {tree.virtual_host} from {spec.database_path}, not "
                f"{spec.virtual_host}; the site is never re-created", node=active)]
    site = ctx.facts[active].site
    if not site.present or not site.identity_known or (
            site.virtual_host == spec.virtual_host and site.machine_id == spec.machine_id):
        return []
    return [failure(
        "SiteMismatch",
        f"{spec.database_path}/nqs holds a site for {site.virtual_host} (machine ID {site.machine_id}), not "
        f"{spec.virtual_host} ({spec.machine_id}); it is never re-created", node=active)]


# In order; the first that fails stops the plan. The checks after group_online need the group online.
PREFLIGHT: tuple[Check, ...] = (
    installed,
    cluster_running,
    cluster_not_suspended,
    cluster_config,
    one_active_node,
    group_online,
    active_node_ready,
    agent_instance_known,
    virtual_host_resolves,
    no_foreign_site,
)


def preflight(ctx: Context) -> list[Finding]:
    """The failures of the first check that fails (empty: every check passed)."""
    for check in PREFLIGHT:
        failures = check(ctx)
        if failures:
            return failures
    return []
