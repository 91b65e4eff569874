"""Which Kubernetes Events a status change or a running step is worth. Pure; handlers.py posts them.

One Event per meaningful transition, nothing for "not observed yet" or for retries:
- Ready turning True ("Ready", Normal);
- the object entering a problem state: Ready=False with a cause (a missing Secret, an unreachable
  node...) after it was True, unknown or progressing; a change of cause while already in trouble is
  not an Event (a retry flapping between Timeout and Unreachable would flood the list);
- Stalled turning True (skipped when the same reason and message were just posted for Ready);
- a domain condition falling from True to False (drift, a killed daemon), with the condition named;
- a change starting to wait for a maintenance window or an approval (DisruptionAllowed turning False,
  also on the first status: a person or the clock must act);
- a disruptive step starting and ending (``step_events``).
Reconciling is never an Event: it flips on every retry and every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .progress import StepProgress

KSTATUS = ("Ready", "Reconciling", "Stalled")
# Conditions whose False is a wait worth telling even on the first status (the gate holds a change).
WAITS = ("DisruptionAllowed",)
# Ready=False reasons that are no problem: a build in progress, a suspended or fresh object.
QUIET_REASONS = frozenset({"Progressing", "NotObserved", "Suspended"})


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def _conditions(status: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {c["type"]: c for c in (status or {}).get("conditions") or [] if "type" in c}


def _in_trouble(cond: Mapping[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "False" and cond.get("reason") not in QUIET_REASONS


def transition_events(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Event]:
    """The Events a status write from ``old`` to ``new`` is worth, in condition order."""
    before, after = _conditions(old), _conditions(new)
    events: list[Event] = []
    for ctype, cond in after.items():
        prior = before.get(ctype)
        flipped = prior is None or prior.get("status") != cond["status"]
        if ctype == "Ready":
            if cond["status"] == "True" and flipped:
                events.append(Event("Normal", "Ready", cond["message"]))
            elif _in_trouble(cond) and not _in_trouble(prior):
                events.append(Event("Warning", cond["reason"], cond["message"]))
        elif ctype == "Stalled":
            if cond["status"] == "True" and flipped:
                event = Event("Warning", cond["reason"], cond["message"])
                if event not in events:
                    events.append(event)
        elif ctype in WAITS and cond["status"] == "False" and flipped:
            events.append(Event("Normal", cond["reason"], f"{ctype}=False: {cond['message']}"))
        elif ctype not in KSTATUS and prior is not None and prior.get("status") == "True" \
                and cond["status"] == "False":
            events.append(Event("Warning", cond["reason"], f"{ctype}: {cond['message']}"))
    return events


def step_events(progress: StepProgress) -> list[Event]:
    """A disruptive step (the site stops serving) says when it starts and how it ended. The suspend
    markers are disruptive for the disruption gate only (held or run with their suspend:
    plan/suspend_commands.py); writing one interrupts nothing, so like the stop markers they have no
    Events (progress.BOOKKEEPING)."""
    action = progress.action
    if not action.disruptive or progress.bookkeeping:
        return []
    where = "" if f" {action.node}" in action.message else f" on {action.node}"
    which = "restoring after a failed step" if progress.restoring else f"step {progress.step}/{progress.total}"
    what = f"{action.message}{where} ({which})"
    report = progress.report
    if report is None:
        return [Event("Normal", f"{action.kind}Started", what)]
    if report.ok:
        return [Event("Normal", f"{action.kind}Succeeded", f"{what} (took {report.duration:.0f}s)")]
    return [Event("Warning", f"{action.kind}Failed", f"{what}: {report.error}")]
