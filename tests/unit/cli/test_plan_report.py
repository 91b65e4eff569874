"""plan_report: the JSON report, the human table and the exit code from a reconcile result."""

from __future__ import annotations

from datetime import UTC, datetime

from jobcenter_operator.api.disruption import Disruption, MaintenanceWindow
from jobcenter_operator.errors import HostKeyMismatch
from jobcenter_operator.outcome import Gathered, SiteResult
from jobcenter_operator.plan.assess import ProcessHealth
from jobcenter_operator.plan.disruption import decide
from jobcenter_operator.plan.model import Action, Command, Plan, failure
from jobcenter_operator.plan_report import (
    EXIT_CONVERGED,
    EXIT_ERROR,
    EXIT_PENDING,
    build_report,
    render_table,
    table,
)

NOTHING = Gathered(facts={}, errors={})


def _pending() -> SiteResult:
    actions = (
        Action(kind="SetLocalDaemon", node="clu1", reason="LocalDaemonDiffers", message="local_daemon=OFF -> SITE",
               command=Command(argv=("sh", "-c", "true"))),
        Action(kind="CreateSite", node="clu1", reason="SiteMissing",
               message="cjcmksite cluv 114 /mnt/sdb2\n(on the active node)",
               command=Command(argv=("cjcmksite", "cluv", "114", "/mnt/sdb2"), disruptive=True)),
    )
    return SiteResult(gathered=NOTHING, plan=Plan(actions=actions, active_node="clu1"), active_node="clu1")


def test_pending_changes_are_listed_in_order_and_exit_2() -> None:
    report = build_report("cluv", _pending())
    assert report["exitCode"] == EXIT_PENDING
    assert [a["action"] for a in report["actions"]] == ["SetLocalDaemon", "CreateSite"]
    text = render_table(report)
    lines = text.splitlines()
    assert lines[0] == "Site cluv: active node clu1"
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    assert lines[header].split() == ["#", "NODE", "ACTION", "DISRUPTIVE", "REASON", "MESSAGE"]
    assert lines[header + 1].split()[:5] == ["1", "clu1", "SetLocalDaemon", "no", "LocalDaemonDiffers"]
    assert lines[header + 2].split()[:5] == ["2", "clu1", "CreateSite", "yes", "SiteMissing"]
    # A message with a newline stays on its row.
    assert lines[header + 2].endswith("cjcmksite cluv 114 /mnt/sdb2 (on the active node)")
    # Columns line up: every row's ACTION starts where the header's does.
    column = lines[header].index("ACTION")
    assert lines[header + 1][column:].startswith("SetLocalDaemon")
    assert lines[header + 2][column:].startswith("CreateSite")
    assert lines[-1].startswith("2 changes pending (exit 2)")


def test_the_gate_shows_what_waits_and_when_the_next_window_opens() -> None:
    windows = [MaintenanceWindow.model_validate({"days": ["Sat"], "start": "22:00", "duration": "2h",
                                                 "timeZone": "Europe/Berlin"})]
    result = _pending()
    assert result.plan is not None
    result.gates.append(decide(result.plan.actions, Disruption(windows=windows), datetime(2026, 1, 7, tzinfo=UTC)))
    report = build_report("cluv", result)
    assert report["disruption"]["verdict"] == "OutsideWindow"
    assert report["disruption"]["nextWindowStart"] == "2026-01-10T21:00:00Z"
    assert [a["disruptive"] for a in report["actions"]] == [False, True]
    text = render_table(report)
    assert "Disruption: OutsideWindow: 2 steps that interrupt the site" in text
    assert "Next maintenance window opens 2026-01-10T21:00:00Z" in text


def test_converged_exits_0() -> None:
    health = ProcessHealth(healthy=True, reason="Running", message="8 processes", expected=8, found=8)
    result = SiteResult(gathered=NOTHING, plan=Plan(active_node="clu2"), health=health, active_node="clu2")
    report = build_report("cluv", result)
    assert report["exitCode"] == EXIT_CONVERGED
    assert report["actions"] == [] and report["processes"]["found"] == 8
    text = render_table(report)
    assert "Processes: 8/8 healthy" in text
    assert text.splitlines()[-1] == "Converged: nothing to change (exit 0)."


def test_an_error_or_a_preflight_failure_exits_1() -> None:
    error = SiteResult(gathered=NOTHING, error=HostKeyMismatch("clu1", "the host key differs from known_hosts"))
    report = build_report("cluv", error)
    assert report["exitCode"] == EXIT_ERROR and report["error"]["reason"] == "HostKeyMismatch"
    assert "Error: HostKeyMismatch: clu1: the host key differs from known_hosts" in render_table(report)

    missing = failure("JobCenterMissing", "no /usr/lib/nqs", node="clu2")
    blocked = SiteResult(gathered=NOTHING, plan=Plan(findings=(missing,), actions=_pending().plan.actions))
    report = build_report("cluv", blocked)
    assert report["exitCode"] == EXIT_ERROR
    text = render_table(report)
    assert "Preflight failures:" in text and "JobCenterMissing" in text
    assert "(exit 1)" in text.splitlines()[-1]


def test_table_pads_every_column_but_the_last() -> None:
    assert table(["A", "LONGER"], [["xxxx", "y"], ["z", None]]) == ["A     LONGER", "xxxx  y", "z     -"]
