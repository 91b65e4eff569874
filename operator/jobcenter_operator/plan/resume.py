"""Finishing an interrupted run while some node does not answer. Pure.

A run that stopped the failover group and then died (the operator killed, its node crashed) left
the group offline with the operator's stop marker on every node it could mark. Nothing else is
done while a node is unreachable, but the group must not stay stopped because of it: it is started
again on the node the marker names if that node answers, else on the first answering node where
CLUSTERPRO may run it (the group's startup order in clp.conf) and where CLUSTERPRO runs. The
configuration is not pushed here (a push needs every node); the next full run does that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from .apply_sequence import clear_markers
from .model import Action
from .steps import resume_start


def resume_with_nodes_down(spec: JobCenterSiteSpec, reachable: Sequence[str],
                           facts: Mapping[str, NodeFacts]) -> tuple[Action, ...]:
    """The group start (and marker clean-up) owed to an interrupted run, from the nodes that answer."""
    group = spec.failover_group
    if _reported_online(group, reachable, facts):
        # Online somewhere, as far as the answering nodes know, even on a node that does not answer
        # now: starting it here would run the site twice. CLUSTERPRO fails it over if that node is gone.
        return ()
    marked = [n for n in reachable if facts[n].stopped_by_operator is not None]
    if not marked:
        return ()  # offline, but not by us: an administrator's stop is theirs
    named = {facts[n].stopped_by_operator for n in marked}
    node = next((n for n in reachable if n in named and facts[n].cluster.running), None)
    if node is None:
        node = next((n for n in _startup_order(group, reachable, facts) if facts[n].cluster.running), None)
    if node is None:
        return ()
    return (resume_start(group, node), *clear_markers([n for n in marked if n != node], group,
                                                      "ResumeAfterInterruption"))


def _reported_online(group: str, reachable: Sequence[str], facts: Mapping[str, NodeFacts]) -> bool:
    for name in reachable:
        state = facts[name].cluster.groups.get(group)
        if facts[name].group_node or (state is not None and state.current):
            return True
    return False


def _startup_order(group: str, reachable: Sequence[str], facts: Mapping[str, NodeFacts]) -> list[str]:
    """The answering nodes where clp.conf lets ``group`` run, in its startup order."""
    config = next((facts[n].clp_conf.config for n in reachable if facts[n].clp_conf.config is not None), None)
    if config is None or group not in config.groups:
        return []
    return [n for n in config.groups[group].servers if n in reachable]
