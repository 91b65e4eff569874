"""The disruption gate, pure: window arithmetic across zones and DST changes, which actions are
held, the plan hash, and the verdicts (window, approval, override, recovery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from plan_factory import CLASSIC, NODES, apply, cluster
from pydantic import ValidationError

from jobcenter_operator.api.disruption import Disruption, MaintenanceWindow, effective_disruption
from jobcenter_operator.facts.clusterpro import clp_conf as read_clp_conf
from jobcenter_operator.plan import plan_site
from jobcenter_operator.plan.disruption import decide, next_opening, open_window, plan_hash, split
from jobcenter_operator.plan.model import ActionKind, Context
from jobcenter_operator.plan.steps import resume_steps


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(days: list[str], start: str, duration: str, zone: str = "UTC") -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"days": days, "start": start, "duration": duration, "timeZone": zone})


# --------------------------------------------------------------------------- window arithmetic


def test_a_window_in_another_zone_opens_at_its_local_time() -> None:
    # Tokyo is UTC+9 all year: Mon 09:00 JST is Mon 00:00 UTC.
    tokyo = [window(["Mon"], "09:00", "1h", "Asia/Tokyo")]
    assert next_opening(tokyo, utc("2026-01-03T12:00:00")) == utc("2026-01-05T00:00:00")
    assert open_window(tokyo, utc("2026-01-05T00:30:00")) == (utc("2026-01-05T00:00:00"), utc("2026-01-05T01:00:00"))
    assert open_window(tokyo, utc("2026-01-05T01:00:00")) is None  # the end is not inside


def test_the_local_day_decides_not_the_utc_day() -> None:
    # Sun 20:00 in New York (EST, UTC-5) is Mon 01:00 UTC: a "Sun" window, found on a Monday in UTC.
    ny = [window(["Sun"], "20:00", "2h", "America/New_York")]
    assert open_window(ny, utc("2026-01-12T01:30:00")) == (utc("2026-01-12T01:00:00"), utc("2026-01-12T03:00:00"))
    assert open_window(ny, utc("2026-01-11T21:00:00")) is None


def test_a_window_crossing_midnight_is_open_after_midnight() -> None:
    late = [window(["Fri"], "23:00", "3h", "Europe/Berlin")]  # Fri 23:00 - Sat 02:00 CET
    assert open_window(late, utc("2026-01-10T00:30:00"))  # Sat 01:30 CET
    assert open_window(late, utc("2026-01-10T01:00:00")) is None  # Sat 02:00 CET: closed


def test_a_window_crossing_the_end_of_the_week_is_open_on_monday() -> None:
    weekend = [window(["Sun"], "22:00", "4h")]
    assert open_window(weekend, utc("2026-01-12T01:59:00"))  # Monday
    assert next_opening(weekend, utc("2026-01-12T02:00:00")) == utc("2026-01-18T22:00:00")


def test_a_week_long_window_is_open_all_the_time_but_its_last_minute() -> None:
    always = [window(["Mon"], "00:00", "168h")]
    monday = utc("2026-01-05T00:00:00")
    for hours in range(0, 168, 7):
        assert open_window(always, monday + timedelta(hours=hours))


@pytest.mark.parametrize(("zone", "spring_utc", "summer_offset"), [
    ("Europe/Berlin", "2026-03-29T01:00:00", 2),  # 02:00 CET -> 03:00 CEST
    ("America/New_York", "2026-03-08T07:00:00", -4),  # 02:00 EST -> 03:00 EDT
])
def test_the_same_local_start_moves_in_utc_across_the_spring_change(zone: str, spring_utc: str,
                                                                    summer_offset: int) -> None:
    daily = [window(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "04:00", "1h", zone)]
    before, after = utc(spring_utc) - timedelta(days=2), utc(spring_utc) + timedelta(days=1)
    first = next_opening(daily, before)
    assert first is not None and first.hour == (4 - (summer_offset - 1)) % 24  # standard time
    second = next_opening(daily, after)
    assert second is not None and second.hour == (4 - summer_offset) % 24  # summer time


def test_a_start_in_the_skipped_hour_opens_when_the_clock_jumps_past_it() -> None:
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    gap = [window(["Sun"], "02:30", "1h", "Europe/Berlin")]
    opens = next_opening(gap, utc("2026-03-28T12:00:00"))
    assert opens == utc("2026-03-29T01:30:00")  # 03:30 CEST: the same offset after the jump
    assert open_window(gap, utc("2026-03-29T02:00:00"))
    # New York 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    ny = [window(["Sun"], "02:15", "30m", "America/New_York")]
    assert next_opening(ny, utc("2026-03-07T12:00:00")) == utc("2026-03-08T07:15:00")  # 03:15 EDT


def test_a_start_in_the_repeated_hour_opens_the_first_time_and_lasts_its_elapsed_duration() -> None:
    # Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    fold = [window(["Sun"], "02:30", "1h", "Europe/Berlin")]
    opens = next_opening(fold, utc("2026-10-24T12:00:00"))
    assert opens == utc("2026-10-25T00:30:00")  # 02:30 CEST, the first time
    assert open_window(fold, utc("2026-10-25T01:29:00"))
    assert open_window(fold, utc("2026-10-25T01:30:00")) is None  # one hour later, although 02:30 CET is now
    # New York 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    ny = [window(["Sun"], "01:30", "2h", "America/New_York")]
    assert next_opening(ny, utc("2026-10-31T12:00:00")) == utc("2026-11-01T05:30:00")  # 01:30 EDT
    assert open_window(ny, utc("2026-11-01T07:29:00"))  # 02:29 EST: two hours of elapsed time
    assert open_window(ny, utc("2026-11-01T07:30:00")) is None


def test_overlapping_windows_give_the_one_closing_last_and_the_earliest_next_opening() -> None:
    windows = [window(["Sat"], "22:00", "2h"), window(["Sat"], "23:00", "3h"), window(["Wed"], "01:00", "1h")]
    assert open_window(windows, utc("2026-01-10T23:30:00")) == (utc("2026-01-10T23:00:00"),
                                                                utc("2026-01-11T02:00:00"))
    assert next_opening(windows, utc("2026-01-11T03:00:00")) == utc("2026-01-14T01:00:00")


# --------------------------------------------------------------------------- admission of the model


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Berlinn", "utc/x"])
def test_a_zone_the_tz_database_does_not_know_is_refused_by_the_model(zone: str) -> None:
    # The CRD's pattern admits these (the API server has no tz database); the operator refuses them.
    with pytest.raises(ValidationError, match="unknown time zone"):
        window(["Mon"], "01:00", "1h", zone)


def test_a_site_inherits_each_unset_field_from_its_cluster() -> None:
    cluster_default = Disruption.model_validate({"windows": [{"days": ["Sat"], "start": "22:00", "duration": "2h"}],
                                                 "approval": "Manual"})
    site_own = Disruption.model_validate({"approval": "Automatic"})
    merged = effective_disruption(site_own, cluster_default)
    assert merged.windows == cluster_default.windows and merged.approval == "Automatic"
    assert effective_disruption(None, None) == Disruption(windows=None, approval="Automatic")
    assert effective_disruption(None, cluster_default) == cluster_default


# --------------------------------------------------------------------------- held actions and the hash


def _fresh_plan() -> tuple:  # type: ignore[type-arg]
    return plan_site(CLASSIC, NODES, cluster()).actions


def _config_change_plan() -> tuple:  # type: ignore[type-arg]
    """A converged site whose spec changes processMonitoring: stop group, push, start group."""
    facts = cluster()
    converged = apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)
    changed = CLASSIC.model_copy(update={"process_monitoring": False})
    return plan_site(changed, NODES, converged).actions


# Issue 11: suspending/resuming the cluster (no monitor, no failover meanwhile) and the suspend
# markers that belong with them (held or run together).
DISRUPTIVE_KINDS = {"StopLocalSite", "CreateSite", "StopGroup", "StartGroup", "SuspendCluster", "ResumeCluster",
                    "MarkSuspended", "ClearSuspendMarker"}


def test_every_action_kind_is_flagged_as_the_issue_lists() -> None:
    # Disruptive: group stop/start, cjcmksite, stopping a local site. Not: file edits, the push between
    # a held stop and start (held with it), starting a local site, disabling a unit at boot, deletion's restore.
    facts = cluster()
    seen = {a.kind: a.disruptive for a in plan_site(CLASSIC, NODES, facts).actions}
    seen |= {a.kind: a.disruptive for a in _config_change_plan()}
    from jobcenter_operator.plan import commands
    seen["StartLocalSite"] = commands.start_local_site().disruptive
    seen["DisableAgentUnit"] = commands.disable_agent_unit("1").disruptive
    seen["RestoreClusterConfig"] = commands.restore_config("g", "e", "m", "x", "x").disruptive
    assert set(seen) == set(get_args(ActionKind))
    assert {k for k, disruptive in seen.items() if disruptive} == DISRUPTIVE_KINDS


def test_only_the_standby_edit_without_a_running_local_site_runs_while_the_rest_is_held() -> None:
    # clu2 (standby) has local_daemon unset and no local site running: its daemon.conf edit is free
    # (without process monitoring: a monitor to add would suspend the whole cluster, clu2 included).
    facts = cluster(clu2={"processes": cluster()["clu2"].processes.model_copy(update={"processes": ()})})
    unmonitored = CLASSIC.model_copy(update={"process_monitoring": False})
    actions = plan_site(unmonitored, NODES, facts).actions
    free, held = split(actions)
    assert [(a.kind, a.node) for a in free] == [("SetLocalDaemon", "clu2"), ("StartLocalSite", "clu2")]
    markers = ("MarkGroupStopped", "ClearStopMarker")  # held with the stop they belong to (issue 12)
    restarts = ("RestartManagerServices",)  # held with the push whose file they load (issue 11)
    assert {a.node for a in held if a.kind not in markers + restarts} == {"clu1"}
    assert any(a.kind == "StopGroup" for a in held)
    assert {a.node for a in held if a.kind in markers} == {"clu2"}
    assert {a.node for a in held if a.kind in restarts} == {"clu1"}
    assert [a for a in actions if a in free or a in held] == list(actions)  # plan order kept


def test_the_hash_is_stable_and_changes_with_what_the_held_steps_do() -> None:
    first, again = _config_change_plan(), _config_change_plan()
    assert plan_hash(split(first)[1]) == plan_hash(split(again)[1])
    assert len(plan_hash(split(first)[1]) or "") == 12
    # The same group stop and start, another clp.conf pushed between them: another plan.
    facts = cluster()
    converged = apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)
    elsewhere = {n: f.model_copy(update={"clp_conf": read_clp_conf(f.clp_conf.text.replace(
        "<root>", "<root><!-- saved elsewhere -->", 1))}) for n, f in converged.items()}
    other = plan_site(CLASSIC.model_copy(update={"process_monitoring": False}), NODES, elsewhere).actions
    assert [a.kind for a in split(other)[1]] == [a.kind for a in split(first)[1]]
    assert plan_hash(split(other)[1]) != plan_hash(split(first)[1])
    # Messages do not count.
    reworded = tuple(a.model_copy(update={"message": "other words"}) for a in first)
    assert plan_hash(split(reworded)[1]) == plan_hash(split(first)[1])
    assert plan_hash(()) is None


# --------------------------------------------------------------------------- verdicts

SATURDAY_NIGHT = [window(["Sat"], "22:00", "2h", "Europe/Berlin")]
INSIDE = utc("2026-01-10T21:30:00")  # Sat 22:30 CET
OUTSIDE = utc("2026-01-07T10:00:00")  # Wed


def test_outside_the_window_disruptive_steps_wait_and_the_message_names_the_next_opening() -> None:
    gate = decide(_config_change_plan(), Disruption(windows=SATURDAY_NIGHT), OUTSIDE)
    assert gate.verdict == "OutsideWindow" and gate.waiting and gate.run == ()
    assert gate.next_window == utc("2026-01-10T21:00:00")
    assert "2026-01-10T21:00:00Z (Sat 22:00 Europe/Berlin)" in gate.message
    assert gate.finding().status == "False" and gate.finding().reason == "OutsideWindow"


def test_inside_the_window_everything_runs() -> None:
    actions = _config_change_plan()
    gate = decide(actions, Disruption(windows=SATURDAY_NIGHT), INSIDE)
    assert gate.verdict == "Allowed" and gate.run == actions and gate.window_closes == utc("2026-01-10T23:00:00")
    assert gate.finding().status == "True"


def test_manual_approval_waits_for_the_hash_then_runs_only_inside_the_window() -> None:
    actions = _config_change_plan()
    manual = Disruption(windows=SATURDAY_NIGHT, approval="Manual")
    waiting = decide(actions, manual, INSIDE)
    assert waiting.verdict == "AwaitingApproval" and waiting.run == ()
    assert f"approve-plan={waiting.plan_hash}" in waiting.message
    approved_outside = decide(actions, manual, OUTSIDE, approved=waiting.plan_hash)
    assert approved_outside.verdict == "OutsideWindow" and approved_outside.run == ()
    approved = decide(actions, manual, INSIDE, approved=waiting.plan_hash)
    assert approved.verdict == "Approved" and approved.run == actions and approved.refused is None


def test_a_stale_approval_is_refused_with_the_pending_hash() -> None:
    actions = _config_change_plan()
    gate = decide(actions, Disruption(approval="Manual"), INSIDE, approved="0123456789ab")
    assert gate.verdict == "AwaitingApproval" and gate.run == ()
    assert gate.refused == (f"jobcenter.clusterpro.io/approve-plan=0123456789ab does not match: "
                            f"the pending plan is {gate.plan_hash}")


def test_an_override_runs_once_whatever_the_window_and_approval() -> None:
    actions = _config_change_plan()
    strict = Disruption(windows=SATURDAY_NIGHT, approval="Manual")
    digest = decide(actions, strict, OUTSIDE).plan_hash
    for value in ("once", digest):
        gate = decide(actions, strict, OUTSIDE, override=value)
        assert gate.verdict == "Override" and gate.run == actions and gate.override_used
    stale = decide(actions, strict, OUTSIDE, override="feedfacecafe")
    assert stale.verdict == "AwaitingApproval" and stale.refused and "override-disruption" in stale.refused
    # Nothing held: an override has nothing to apply and is refused rather than kept for later.
    assert decide((), strict, OUTSIDE, override="once").refused is not None


def test_recovery_of_a_group_the_operator_stopped_is_never_held() -> None:
    facts = cluster()
    converged = apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)
    stopped = {n: f.model_copy(update={"group_node": None, "stopped_by_operator": "clu1" if n == "clu1" else None})
               for n, f in converged.items()}
    for name, f in stopped.items():
        groups = {g: s.model_copy(update={"current": None, "state": "Offline"}) for g, s in f.cluster.groups.items()}
        stopped[name] = f.model_copy(update={"cluster": f.cluster.model_copy(update={"groups": groups})})
    actions = plan_site(CLASSIC, NODES, stopped).actions
    assert actions == tuple(resume_steps(Context(spec=CLASSIC, nodes=NODES, facts=stopped, active=None)))
    assert any(a.disruptive for a in actions)
    gate = decide(actions, Disruption(windows=SATURDAY_NIGHT, approval="Manual"), OUTSIDE)
    assert gate.verdict == "NothingHeld" and gate.run == actions


def test_no_windows_and_automatic_approval_change_nothing() -> None:
    actions = _fresh_plan()
    gate = decide(actions, Disruption(), OUTSIDE)
    assert gate.verdict == "Allowed" and gate.run == actions and gate.next_window is None
