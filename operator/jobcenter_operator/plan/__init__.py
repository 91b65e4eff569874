"""Planning: (spec, facts of every node) -> findings and ordered actions. Pure.

One chain of named checks decides everything: the preflight checks (plan/preflight.py) stop
the plan at the first failure; then the guide's steps (plan/steps.py) each report their
findings and add their actions. The same facts always give the same plan; a plan without
actions or failed checks means converged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from .apply_sequence import clear_stale_markers, recover_suspend, restart_pending
from .assess import ProcessHealth, assess_processes
from .model import PREFLIGHT, Action, Command, Context, Finding, Plan
from .order import hoist_markers
from .preflight import active_node, preflight
from .steps import AGENT_STEPS, SITE_STEPS, resume_steps


def plan_site(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> Plan:
    """Everything to do to make ``nodes`` match ``spec``, given what each node reported."""
    missing = [n for n in nodes if n not in facts]
    if missing:
        raise ValueError(f"no facts for node(s) {', '.join(missing)}")
    ctx = Context(spec=spec, nodes=tuple(nodes), facts=facts, active=active_node(spec, nodes, facts))
    # A run killed while it had the cluster suspended: resume it first, whatever else is wrong.
    recovery = recover_suspend(spec.failover_group, ctx.nodes, facts, ctx.active)
    if recovery:
        return Plan(findings=(Finding(condition="ClusterResourcesConfigured", status="False",
                                      reason="ResumeAfterInterruption",
                                      message="an interrupted run left the operator's suspend marker"),),
                    actions=tuple(recovery), active_node=ctx.active)
    actions: list[Action] = []
    failures = preflight(ctx)
    if failures:
        # The group offline with the operator's stop marker: a run was interrupted; finish it.
        actions = resume_steps(ctx) if [f.reason for f in failures] == ["GroupOffline"] else []
        if not actions:
            return Plan(findings=tuple(failures), active_node=ctx.active)
    findings = [Finding(condition=PREFLIGHT, status="True", reason="Passed", message="preflight checks passed")]
    for step in AGENT_STEPS if spec.mode == "StandardAgent" else SITE_STEPS:
        outcome = step(ctx, tuple(actions))
        findings += outcome.findings
        actions += outcome.actions
    actions += clear_stale_markers(spec.failover_group, ctx.nodes, facts, actions)
    actions += restart_pending(spec.failover_group, ctx.nodes, facts, actions)
    actions = hoist_markers(actions)
    findings += [_group_online(ctx), _in_sync(actions)]
    return Plan(findings=tuple(findings), actions=tuple(actions), active_node=ctx.active)


def _group_online(ctx: Context) -> Finding:
    group = ctx.spec.failover_group
    if ctx.active is None:
        return Finding(condition="GroupOnline", status="False", reason="Offline", message=f"{group} is not online")
    return Finding(condition="GroupOnline", status="True", reason="Online",
                   message=f"{group} is online on {ctx.active}")


def _in_sync(actions: Sequence[Action]) -> Finding:
    if actions:
        return Finding(condition="InSync", status="False", reason="DriftDetected",
                       message="pending: " + "; ".join(a.describe() for a in actions))
    return Finding(condition="InSync", status="True", reason="NoDrift", message="the nodes match the spec")


__all__ = [
    "Action",
    "Command",
    "Finding",
    "Plan",
    "ProcessHealth",
    "active_node",
    "assess_processes",
    "plan_site",
]
