"""Preflight checks: ordered, pure, each with a stable reason. A failed check stops the plan.

Pure module. Checks run in the order the vendor guide assumes things are in place: JobCenter
installed on every node, CLUSTERPRO running, the group and its resources configured, the group
online with its floating IP and disk on the active node, the virtual host resolving, and no
foreign site at the database path. Failures a wait can fix (cluster starting, group offline) are
``permanent=False``; the rest need a human or a spec change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..render.clp_conf import ClpConfError, GroupResources, group_names, group_resources
from .model import PreflightFailure

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


def _cluster_config(nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> str | None:
    for name in nodes:
        if facts[name].clp_conf.present:
            return facts[name].clp_conf.text
    return None


def preflight(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> list[PreflightFailure]:
    agent = spec.mode == "StandardAgent"
    failures: list[PreflightFailure] = []

    for name in nodes:
        f = facts[name]
        if agent:
            if not f.agent.installed:
                failures.append(PreflightFailure(reason="AgentMissing", node=name,
                                                 message=f"the JobCenter agent (jcagctrl) is not installed on {name}"))
        elif not f.jobcenter.installed:
            failures.append(PreflightFailure(reason="JobCenterMissing", node=name,
                                             message=f"JobCenter (cjcpw, cjcmksite) is not installed on {name}"))
        elif f.jobcenter.mode and f.jobcenter.mode != _EXPECTED_INSTALL[spec.mode]:
            failures.append(PreflightFailure(
                reason="JobCenterModeMismatch", node=name,
                message=f"JobCenter on {name} is installed in {f.jobcenter.mode} mode, the site is {spec.mode}"))
    if failures:
        return failures

    if not any(facts[n].cluster.running for n in nodes):
        return [PreflightFailure(reason="ClusterproNotRunning", permanent=False,
                                 message="the CLUSTERPRO cluster service is not running on any node")]

    xml = _cluster_config(nodes, facts)
    if xml is None:
        return [PreflightFailure(reason="ClusterproConfigMissing", message="no node has a clp.conf")]
    try:
        if spec.failover_group not in group_names(xml):
            return [PreflightFailure(reason="GroupMissing",
                                     message=f"clp.conf has no failover group {spec.failover_group}")]
        view = group_resources(xml, spec.failover_group)
    except ClpConfError as exc:
        return [PreflightFailure(reason="ClusterproConfigInvalid", message=str(exc))]
    failures = _group_resources(spec, view)
    if failures:
        return failures

    active = active_node(spec, nodes, facts)
    if active is None:
        return [PreflightFailure(reason="GroupOffline", permanent=False,
                                 message=f"failover group {spec.failover_group} is not online on any node")]
    a = facts[active]
    if not agent and spec.floating_ip not in a.addresses:
        failures.append(PreflightFailure(reason="FloatingIPNotActive", node=active, permanent=False,
                                         message=f"floating IP {spec.floating_ip} is not up on active node {active}"))
    if spec.database_path not in a.mounts:
        failures.append(PreflightFailure(reason="DiskNotMounted", node=active, permanent=False,
                                         message=f"{spec.database_path} is not mounted on active node {active}"))
    if failures:
        return failures

    if agent:
        assert spec.agent is not None
        for name in nodes:
            ids = {row.instance_id for row in facts[name].agent.instances}
            if spec.agent.instance_id not in ids:
                failures.append(PreflightFailure(
                    reason="AgentInstanceUnknown", node=name,
                    message=f"jcagctrl on {name} does not list instance {spec.agent.instance_id}"))
        return failures

    for name in nodes:
        res = facts[name].resolution
        if spec.floating_ip not in res.forward:
            failures.append(PreflightFailure(
                reason="VirtualHostNotResolving", node=name,
                message=f"{spec.virtual_host} does not resolve to {spec.floating_ip} on {name}"))
        elif res.canonical is not None and res.canonical != spec.virtual_host:
            failures.append(PreflightFailure(
                reason="VirtualHostIsAlias", node=name,
                message=f"{spec.virtual_host} is an alias of {res.canonical} on {name}; give the canonical name"))
        elif res.reverse != spec.virtual_host:
            failures.append(PreflightFailure(
                reason="VirtualHostReverseMismatch", node=name,
                message=f"{spec.floating_ip} resolves back to {res.reverse or 'nothing'} on {name}, "
                f"not {spec.virtual_host}"))
    if failures:
        return failures

    site = a.site
    if site.present and (site.virtual_host != spec.virtual_host or site.machine_id != spec.machine_id):
        failures.append(PreflightFailure(
            reason="SiteMismatch", node=active,
            message=f"{spec.database_path}/nqs holds a site for {site.virtual_host} (machine ID "
            f"{site.machine_id}), not {spec.virtual_host} ({spec.machine_id}); it is never re-created"))
    return failures


def _group_resources(spec: JobCenterSiteSpec, view: GroupResources) -> list[PreflightFailure]:
    group = spec.failover_group
    failures = []
    if f"exec@{spec.exec_resource}" not in view.resources:
        failures.append(PreflightFailure(reason="ExecResourceMissing",
                                         message=f"group {group} has no exec resource {spec.exec_resource}"))
    if spec.mode != "StandardAgent":
        if not view.floating_ips:
            failures.append(PreflightFailure(reason="FloatingIPResourceMissing",
                                             message=f"group {group} has no floating IP resource"))
        elif spec.floating_ip not in view.floating_ips:
            failures.append(PreflightFailure(
                reason="FloatingIPMismatch",
                message=f"group {group}'s floating IP is {', '.join(view.floating_ips)}, not {spec.floating_ip}"))
    if spec.database_path not in view.mount_points:
        failures.append(PreflightFailure(
            reason="DiskResourceMissing",
            message=f"group {group} has no disk resource mounted at {spec.database_path}"))
    return failures
