"""Where the markers of a stop or a suspend go in a plan. Pure.

The steps write the stop and suspend markers on the other nodes right before the group stop or
the suspend they announce (plan/apply_sequence.py). Such a marker only has to come before that
stop or suspend; written earlier it tells the same to a later run. So each one moves up to just
after the previous action on its own node, and travels in that node's earlier round trip
(reconcile.round_trip) instead of a round trip of its own. On a first build the standby's local
daemon change, its local site's stop and both markers then go in one round trip before the active
node's steps, and the active node's group stop follows its own cjcmksite without waiting for
another trip to the standby.

Nothing moves past an action on its own node (a marker never jumps a clear of the same marker) and
the relative order of everything else is kept; a marker with no earlier action on its node stays
where it is. A failure between the marker and its stop is the case the markers are made for: the
suspend marker's restore removes it, and a stop marker of a group still online is removed by the
next run (plan/steps.py ``stale_stop_markers``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Action

MARKERS = frozenset({"MarkGroupStopped", "MarkSuspended"})


def hoist_markers(actions: Sequence[Action]) -> list[Action]:
    """``actions`` with every marker moved up to right after the previous action on its node."""
    ordered: list[Action] = []
    for action in actions:
        previous = next((i for i in range(len(ordered) - 1, -1, -1) if ordered[i].node == action.node), None)
        if action.kind in MARKERS and previous is not None:
            ordered.insert(previous + 1, action)
        else:
            ordered.append(action)
    return ordered
