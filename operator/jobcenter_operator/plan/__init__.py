"""Planning: (spec, facts of every node) -> preflight failures or ordered actions. Pure.

The same facts always give the same plan; an empty plan means converged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from .assess import ProcessHealth, assess_processes
from .model import Action, Plan, PreflightFailure
from .preflight import active_node, preflight
from .steps import agent_steps, resume_steps, site_steps


def plan_site(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> Plan:
    """Everything to do to make ``nodes`` match ``spec``, given what each node reported."""
    missing = [n for n in nodes if n not in facts]
    if missing:
        raise ValueError(f"no facts for node(s) {', '.join(missing)}")
    failures = preflight(spec, nodes, facts)
    active = active_node(spec, nodes, facts)
    if active is None and [f.reason for f in failures] == ["GroupOffline"]:
        stopped_on = next((f.stopped_by_operator for f in facts.values() if f.stopped_by_operator in nodes), None)
        if stopped_on is not None:
            return Plan(actions=tuple(resume_steps(spec, nodes, facts, stopped_on)))
    if failures or active is None:
        return Plan(preflight=tuple(failures), active_node=active)
    steps = agent_steps if spec.mode == "StandardAgent" else site_steps
    return Plan(actions=tuple(steps(spec, nodes, facts, active)), active_node=active)


__all__ = [
    "Action",
    "Plan",
    "PreflightFailure",
    "ProcessHealth",
    "active_node",
    "assess_processes",
    "plan_site",
]
