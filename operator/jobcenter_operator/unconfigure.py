"""deletionPolicy Unconfigure: gather, plan the deletion (plan/unconfigure.py), execute. No kopf here.

The same path as a reconcile: one facts round trip per node (with the pre-operator backup of
clp.conf), a pure plan, and ``execute`` with its step reports, the audit of what was sent and the
group restarted should a step after its stop fail. Every node must answer: nothing is changed
while one does not. ``enforce=False`` only plans (what a deletion would do).
"""

from __future__ import annotations

from .api.site import JobCenterSiteSpec
from .outcome import SiteResult, blocking_error
from .plan.unconfigure import plan_unconfigure
from .reconcile import ClusterAccess, Runner, execute, gather, probe_target


async def unconfigure_site(runner: Runner, access: ClusterAccess, spec: JobCenterSiteSpec, *,
                           enforce: bool = True) -> SiteResult:
    """Put the site's exec resource and monitor back as they were; ``result.error`` says why not."""
    gathered = await gather(runner, access, probe_target(spec, backup=True))
    result = SiteResult(gathered=gathered, enforced=enforce)
    result.error = gathered.first_error()
    if result.error is not None:
        return result
    plan = plan_unconfigure(spec, access.names, gathered.facts)
    result.plan, result.active_node = plan, plan.active_node
    result.error = blocking_error(plan)
    if result.error is not None or not enforce:
        return result
    result.steps, result.error = await execute(runner, access, plan.actions)
    return result
