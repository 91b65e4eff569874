"""Where a running reconcile is: one step of the plan starting or finished. Pure data.

reconcile.py reports a ``StepProgress`` before and after each step through a callback (no kopf
there); handlers.py turns it into a status write (status.py) and, for disruptive steps, Events
(events.py). The message is what a user sees in ``kubectl get jcs`` while the work runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .outcome import StepReport
from .plan import Action

# The operator's own bookkeeping on a node: the stop and suspend markers. Writing one interrupts
# nothing and takes no time, so such a step has no Event (events.py) and is not shown in the status
# (handlers.py): the status keeps the step shown before it, and a run writes its status once less
# for each round trip whose shown step (its first disruptive one, else its first) is a marker.
BOOKKEEPING = frozenset({"MarkGroupStopped", "ClearStopMarker", "MarkSuspended", "ClearSuspendMarker"})


@dataclass(frozen=True)
class StepProgress:
    step: int  # 1-based position in the round's plan; 0 for a restore after a failure
    total: int  # steps in the round's plan
    action: Action
    disruptive_run: bool  # some step of this round interrupts the site (it will not serve meanwhile)
    report: StepReport | None = None  # None: starting; set: finished (ok or failed)
    # Starting and shown in the status. False: a disruptive step of the same round trip as the shown
    # one, told before the trip is sent for its Event only (at most one status write per round trip).
    shown: bool = True

    @property
    def bookkeeping(self) -> bool:
        """A marker's write or removal (``BOOKKEEPING``): neither an Event nor a status write."""
        return self.action.kind in BOOKKEEPING

    @property
    def restoring(self) -> bool:
        return self.step == 0

    @property
    def message(self) -> str:
        """``step k/n: <what> on <node>``; a restore says so instead of a number."""
        where = f"{self.action.kind} on {self.action.node}"
        if self.restoring:
            return f"restoring after a failed step: {where}"
        return f"step {self.step}/{self.total}: {where}"

    @property
    def short(self) -> str:
        """The printer column's value: ``k/n Kind node``."""
        if self.restoring:
            return f"restore {self.action.kind} {self.action.node}"
        return f"{self.step}/{self.total} {self.action.kind} {self.action.node}"
