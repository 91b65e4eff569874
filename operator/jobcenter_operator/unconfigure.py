"""deletionPolicy Unconfigure: gather, plan the deletion (plan/unconfigure.py), execute. No kopf here.

The same path as a reconcile: one facts round trip per node (with the pre-operator backup of
clp.conf), a pure plan, and ``execute`` with its step reports, the audit of what was sent and the
group restarted should a step after its stop fail. Every node must answer: nothing is changed
while one does not. ``enforce=False`` only plans (what a deletion would do).
"""

from __future__ import annotations

from .api.site import JobCenterSiteSpec
from .errors import TransientError
from .outcome import SiteResult, StepReport, blocking_error
from .plan.unconfigure import RESUME_FIRST, plan_unconfigure
from .reconcile import ClusterAccess, Runner, execute, gather, probe_target
from .shared_facts import SharedFacts


async def unconfigure_site(runner: Runner, access: ClusterAccess, spec: JobCenterSiteSpec, *,
                           enforce: bool = True, shared: SharedFacts | None = None) -> SiteResult:
    """Put the site's exec resource and monitor back as they were; ``result.error`` says why not.
    ``shared``: what is read and changed here is told to the drift checks' kept facts."""
    steps: list[StepReport] = []
    # At most two rounds: the resume of a cluster an interrupted run left suspended (its own plan,
    # as in a reconcile), then the deletion planned from the nodes as they are after it.
    for _ in range(2):
        gathered = await gather(runner, access, probe_target(spec, backup=True), shared=shared)
        result = SiteResult(gathered=gathered, enforced=enforce, steps=steps)
        result.error = gathered.first_error()
        if result.error is not None:
            return result
        plan = plan_unconfigure(spec, access.names, gathered.facts)
        result.plan, result.active_node = plan, plan.active_node
        result.error = blocking_error(plan)
        if result.error is not None or not enforce:
            return result
        done, result.error = await execute(runner, access, plan.actions, shared=shared)
        steps += done
        result.steps = steps
        if result.error is not None or RESUME_FIRST not in {f.reason for f in plan.findings}:
            return result
    # Resumed, yet the nodes still show the operator's suspend: the deletion is not done (retried).
    result.error = TransientError("the cluster is still suspended after the operator resumed it; nothing was "
                                  "unconfigured yet", reason=RESUME_FIRST)
    return result
