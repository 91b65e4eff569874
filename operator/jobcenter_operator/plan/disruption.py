"""The disruption gate: which of a plan's actions may run now, given the maintenance windows, the
approval setting and the annotations a person set. Pure (the caller passes the time).

- Window arithmetic: a window opens on each of its days at ``start`` local time in its zone and
  stays open for ``duration`` of elapsed time. A start the clocks skip (spring forward) opens the
  window at the same offset after the jump (fold=0: 02:30 in a skipped hour is 03:30); a start the
  clocks repeat (fall back) opens it the first time. Windows cross midnight and the week's end.
- Held work: every disruptive action (``Command.disruptive``) that is not a recovery, plus every
  other action on a node where disruptive work is held (a daemon.conf edit that the held local-site
  stop would make take effect, a configuration push between a held group stop and start), and the
  manager services' restart on every node after a held push: those only make sense together. What
  remains (a daemon.conf edit on a standby whose local site is not running, disabling the agent
  unit at boot, the retry of a failed manager restart) runs at any time.
- Never held: the recovery of a group this operator stopped (its stop marker: ``resume_steps``)
  and the restore of a failed run. Read-only runs never execute anything anyway.
- Plan hash: 12 hex digits of sha256 over the held actions' kind, node, argv and a digest of their
  stdin (so a different clp.conf behind the same group stop is a different plan); never messages or
  times, so the same pending change always shows the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from ..api.disruption import WEEKDAYS, Disruption, MaintenanceWindow, duration_of
from ..frozen import Frozen
from .model import Action, Finding

CONDITION = "DisruptionAllowed"
RECOVERY_REASONS = frozenset({"ResumeAfterInterruption", "RestoreAfterFailure"})
OVERRIDE_ONCE = "once"
HASH_LENGTH = 12


# --------------------------------------------------------------------------- window arithmetic


def _opening(window: MaintenanceWindow, day: date) -> datetime:
    """The instant (UTC) the window opens on local date ``day``."""
    hour, minute = (int(part) for part in window.start.split(":"))
    local = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(window.time_zone))
    # Round-trip through UTC: a skipped local time comes out as the instant after the jump.
    return local.astimezone(UTC)


def occurrences(window: MaintenanceWindow, around: datetime, *, days_before: int = 8,
                days_after: int = 8) -> list[tuple[datetime, datetime]]:
    """(opens, closes) in UTC of each occurrence starting within the days around ``around``.

    A window lasts at most 168h, so eight days back always reaches one still open."""
    zone = ZoneInfo(window.time_zone)
    today = around.astimezone(zone).date()
    length = duration_of(window.duration)
    out = []
    for offset in range(-days_before, days_after + 1):
        day = today + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] in window.days:
            opens = _opening(window, day)
            out.append((opens, opens + length))
    return out


def open_window(windows: Sequence[MaintenanceWindow], now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence (opens, closes) containing ``now``, if any (the one closing last)."""
    current = [(o, c) for w in windows for o, c in occurrences(w, now) if o <= now < c]
    return max(current, key=lambda oc: oc[1]) if current else None


def next_opening(windows: Sequence[MaintenanceWindow], now: datetime) -> datetime | None:
    """The first instant after ``now`` at which a window opens (None: no windows)."""
    later = [o for w in windows for o, _ in occurrences(w, now, days_before=0) if o > now]
    return min(later) if later else None


def describe_instant(instant: datetime, windows: Sequence[MaintenanceWindow]) -> str:
    """``2026-03-29T01:00:00Z (03:00 Europe/Berlin)``: UTC, and local time in the first window's zone."""
    text = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    zone = windows[0].time_zone if windows else "UTC"
    if zone != "UTC":
        text += f" ({instant.astimezone(ZoneInfo(zone)).strftime('%a %H:%M')} {zone})"
    return text


# --------------------------------------------------------------------------- held work and its hash


def is_recovery(action: Action) -> bool:
    return action.reason in RECOVERY_REASONS


_PUSHES = ("ApplyClusterConfig", "RestoreClusterConfig")


def split(actions: Sequence[Action]) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """(may run at any time, held until disruption is allowed), each in plan order."""
    held_nodes = {a.node for a in actions if a.disruptive and not is_recovery(a)}
    # The stop markers written for a stop (and removed after its start) go with that stop: a marker left
    # while the stop waits would make an administrator's later stop look like the operator's.
    stop_held = any(a.kind == "StopGroup" and a.node in held_nodes for a in actions)
    # The manager services' restart on every node loads what a push wrote: it goes with that push.
    push_held = any(a.kind in _PUSHES and a.node in held_nodes for a in actions)
    held = tuple(a for a in actions if not is_recovery(a) and (
        a.node in held_nodes or (stop_held and a.kind in ("MarkGroupStopped", "ClearStopMarker")
                                 and a.reason != "StaleStopMarker")
        or (push_held and a.kind == "RestartManagerServices" and a.reason != "ManagerRestartPending")))
    return tuple(a for a in actions if a not in held), held


def plan_hash(held: Sequence[Action]) -> str | None:
    """The short stable hash a person approves (None: nothing held)."""
    if not held:
        return None
    canonical = [
        [a.kind, a.node, list(a.command.argv),
         hashlib.sha256(a.command.input.encode()).hexdigest() if a.command.input is not None else None]
        for a in held
    ]
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()[:HASH_LENGTH]


# --------------------------------------------------------------------------- the gate


Verdict = Literal["NothingHeld", "Allowed", "Approved", "Override", "OutsideWindow", "AwaitingApproval"]


class Gate(Frozen):
    """What the gate decided about one plan."""

    verdict: Verdict
    run: tuple[Action, ...]  # what executes now
    held: tuple[Action, ...] = ()  # the disruptive part (and what belongs with it), run or not
    plan_hash: str | None = None
    next_window: datetime | None = None  # the next opening, when a window rules
    window_closes: datetime | None = None  # the open window's end, when inside one
    refused: str | None = None  # an approve/override annotation that does not match: why it was refused
    message: str = ""

    @property
    def waiting(self) -> bool:
        return self.verdict in ("OutsideWindow", "AwaitingApproval")

    @property
    def override_used(self) -> bool:
        return self.verdict == "Override"

    @property
    def approval_used(self) -> bool:
        return self.verdict == "Approved"

    def finding(self) -> Finding:
        """The DisruptionAllowed condition: False only while disruptive work waits."""
        status: Literal["True", "False"] = "False" if self.waiting else "True"
        return Finding(condition=CONDITION, status=status, reason=self.verdict, message=self.message)


def decide(actions: Sequence[Action], policy: Disruption, now: datetime, *, approved: str | None = None,
           override: str | None = None) -> Gate:
    """Gate ``actions`` under ``policy`` at ``now``. ``approved``/``override``: the values of the
    approve-plan and override-disruption annotations, if set."""
    free, held = split(actions)
    digest = plan_hash(held)
    windows = tuple(policy.windows or ())
    current = open_window(windows, now) if windows else None
    upcoming = next_opening(windows, now) if windows else None
    refused = _refused(digest, approved=approved if policy.approval == "Manual" else None, override=override)
    common = {"held": held, "plan_hash": digest, "next_window": upcoming,
              "window_closes": current[1] if current else None, "refused": refused}
    if not held:
        return Gate(verdict="NothingHeld", run=tuple(actions), message="no disruptive step pending", **common)
    count = f"{len(held)} step{'s' if len(held) != 1 else ''} that interrupt the site (plan {digest})"
    if override is not None and override in (digest, OVERRIDE_ONCE):
        return Gate(verdict="Override", run=tuple(actions), message=f"emergency override: running {count}", **common)
    if policy.approval == "Manual" and approved != digest:
        when = f"; then inside the next window, {describe_instant(upcoming, windows)}" if (
            upcoming and current is None) else ""
        return Gate(verdict="AwaitingApproval", run=free, message=(
            f"{count} await approval: annotate jobcenter.clusterpro.io/approve-plan={digest}{when}"), **common)
    if windows and current is None:
        opening = f"next window opens {describe_instant(upcoming, windows)}" if upcoming else "no window opens"
        return Gate(verdict="OutsideWindow", run=free, message=f"{count} wait: {opening}", **common)
    verdict: Verdict = "Approved" if policy.approval == "Manual" else "Allowed"
    inside = f" inside the window until {describe_instant(current[1], windows)}" if current else ""
    return Gate(verdict=verdict, run=tuple(actions), message=f"running {count}{inside}", **common)


def _refused(digest: str | None, *, approved: str | None, override: str | None) -> str | None:
    """Why an annotation a person set is not taken (a hash of another plan), else None."""
    for name, value in (("approve-plan", approved), ("override-disruption", override)):
        if value is None or (digest is not None and (value == digest or (
                name == "override-disruption" and value == OVERRIDE_ONCE))):
            continue
        pending = f"the pending plan is {digest}" if digest else "no disruptive step is pending"
        return f"jobcenter.clusterpro.io/{name}={value} does not match: {pending}"
    return None
