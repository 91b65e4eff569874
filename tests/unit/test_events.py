"""events.py: one Event per meaningful transition, nothing for "not observed yet" or retries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "plan"))  # plan_factory

from plan_factory import CLASSIC, NODES, cluster

from jobcenter_operator.events import Event, step_events, transition_events
from jobcenter_operator.outcome import StepReport
from jobcenter_operator.plan import plan_site
from jobcenter_operator.progress import StepProgress


def _status(*conds: tuple[str, str, str, str]) -> dict[str, Any]:
    return {"conditions": [{"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conds]}


FRESH = _status(("Ready", "False", "SecretNotFound", "Secret x not found"), ("Reconciling", "True",
                "ProgressingWithRetry", "retrying"), ("Stalled", "False", "Succeeded", "-"),
                ("NodesReachable", "Unknown", "NotObserved", "not observed yet"))


def test_a_first_status_with_a_cause_is_one_warning_and_unknowns_are_none() -> None:
    assert transition_events({"observedGeneration": 0}, FRESH) == [
        Event("Warning", "SecretNotFound", "Secret x not found")]
    assert transition_events(FRESH, FRESH) == []  # a retry with the same outcome
    other = _status(("Ready", "False", "Unreachable", "clu1: refused"))
    assert transition_events(FRESH, other) == []  # a change of cause while in trouble
    building = _status(("Ready", "False", "Progressing", "step 1/5: SetLocalDaemon on clu2"))
    assert transition_events({}, building) == []
    assert transition_events(building, other) == [Event("Warning", "Unreachable", "clu1: refused")]


def test_ready_stalled_and_a_falling_domain_condition() -> None:
    ready = _status(("Ready", "True", "Succeeded", "site running on clu1"), ("InSync", "True", "NoDrift", "-"))
    assert transition_events(FRESH, ready) == [Event("Normal", "Ready", "site running on clu1")]
    drift = _status(("Ready", "False", "DriftDetected", "x differs"), ("InSync", "False", "DriftDetected", "x differs"))
    assert transition_events(ready, drift) == [Event("Warning", "DriftDetected", "x differs"),
                                               Event("Warning", "DriftDetected", "InSync: x differs")]
    stalled = _status(("Ready", "False", "AuthenticationFailed", "clu1: refused"),
                      ("Stalled", "True", "AuthenticationFailed", "clu1: refused"))
    assert transition_events({}, stalled) == [Event("Warning", "AuthenticationFailed", "clu1: refused")]
    assert transition_events(stalled, stalled) == []


def test_a_change_waiting_for_a_window_or_an_approval_is_told_once() -> None:
    waiting = _status(("Ready", "True", "Succeeded", "site running"),
                      ("DisruptionAllowed", "False", "AwaitingApproval", "approve-plan=abc"))
    assert transition_events({}, waiting) == [Event("Normal", "Ready", "site running"), Event(
        "Normal", "AwaitingApproval", "DisruptionAllowed=False: approve-plan=abc")]
    assert transition_events(waiting, waiting) == []


def test_disruptive_steps_say_when_they_start_and_end_others_nothing() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    stop = next(a for a in actions if a.kind == "StopGroup")
    quiet = next(a for a in actions if not a.disruptive)
    k = actions.index(stop) + 1
    progress = StepProgress(k, len(actions), stop, disruptive_run=True)
    (started,) = step_events(progress)
    assert started.reason == "StopGroupStarted" and started.message.endswith(f"(step {k}/{len(actions)})")
    assert started.message.count(stop.node) == 1
    (done,) = step_events(StepProgress(k, len(actions), stop, True, StepReport(stop, ok=True, duration=61.2)))
    assert (done.type, done.reason) == ("Normal", "StopGroupSucceeded") and "took 61s" in done.message
    (failed,) = step_events(StepProgress(k, len(actions), stop, True,
                                         StepReport(stop, ok=False, duration=1, error="clpgrp exited 1")))
    assert (failed.type, failed.reason) == ("Warning", "StopGroupFailed") and "clpgrp exited 1" in failed.message
    assert step_events(StepProgress(1, len(actions), quiet, disruptive_run=True)) == []


def test_the_suspend_markers_have_no_events_though_the_gate_holds_them_as_disruptive() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    markers = [a for a in actions if a.kind in ("MarkSuspended", "ClearSuspendMarker")]
    assert markers and all(a.disruptive for a in markers)
    for marker in markers:
        k = actions.index(marker) + 1
        assert step_events(StepProgress(k, len(actions), marker, disruptive_run=True)) == []
        assert step_events(StepProgress(k, len(actions), marker, True, StepReport(marker, ok=True, duration=0))) == []
