"""Maintenance windows and plan approval end to end: kubectl against the API stand-in, the operator as
a subprocess, the simulated nodes over real SSH, the audit log (JCOP_AUDIT_LOG) as the record of what
reached the nodes. Waits are bounded polls on conditions; the window is computed from the clock (minute
granularity) a couple of minutes ahead, and the test waits for the condition that it opened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from e2e_support import REPO, Operator, is_probe, step_name, wait_for

from hack.testbed import api as testbed

SITE = "cluv"
ZONE = "America/New_York"  # a zone with DST, not the machine's: the window's local time is converted
DISRUPTIVE = {"stopgroup", "startgroup", "cjcmksite", "/usr/lib/nqs/nqsstop", "suspendcluster", "resumecluster",
              "marksuspend", "clearsuspend"}
# A monitor-only change: the marker on the standby, suspend, (push), resume, the marker cleared.
SUSPENDED_PUSH = ["marksuspend", "suspendcluster", "resumecluster", "clearsuspend"]
APPROVE = "jobcenter.clusterpro.io/approve-plan"


def _disruptive(op: Operator, since: int = 0) -> list[str]:
    return [step_name(c) for c in op.commands()[since:] if not is_probe(c) and step_name(c) in DISRUPTIVE]


def _condition(op: Operator, ctype: str) -> dict[str, Any]:
    return op.condition(SITE, ctype) or {}


def _events(op: Operator, reason: str) -> list[dict[str, Any]]:
    items = json.loads(op.kubectl("get", "events", "-o", "json").stdout)["items"]
    return [e for e in items if e.get("reason") == reason and e["involvedObject"]["name"] == SITE]


def _window_ahead(lead: timedelta) -> tuple[datetime, dict[str, Any]]:
    """A one-hour window opening at the first whole minute at least ``lead`` from now, in ZONE."""
    opens = (datetime.now(UTC) + lead + timedelta(minutes=1)).replace(second=0, microsecond=0)
    local = opens.astimezone(ZoneInfo(ZONE))
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[local.weekday()]
    return opens, {"days": [day], "start": local.strftime("%H:%M"), "duration": "1h", "timeZone": ZONE}


def _group_node(bed: dict[str, Any]) -> str:
    node = bed["activeNode"]
    out = testbed.exec_on(bed["name"], node, ["/usr/sbin/clpgrp", "-n", bed["failoverGroup"]])
    return str(out["stdout"]).strip()


def test_a_group_stop_waits_for_the_window_then_for_the_approved_hash(
        site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    wait_for("the first build Ready", lambda: _condition(op, "Ready").get("status") == "True", timeout=180)
    active = _group_node(bed)
    assert active

    # A change that needs the cluster suspended (the monitor's interval: a clp.conf push between
    # clpcl --suspend and --resume, issue 11), with a window that opens later.
    opens, window = _window_ahead(timedelta(minutes=2))
    before = len(op.commands())
    patch = {"spec": {"monitorIntervalSeconds": 30, "disruption": {"windows": [window]}}}
    assert op.kubectl("patch", "jcs", SITE, "--type=merge", "-p", json.dumps(patch)).returncode == 0
    waiting = wait_for("DisruptionAllowed=False OutsideWindow", lambda: (
        (c := _condition(op, "DisruptionAllowed")).get("reason") == "OutsideWindow"
        and op.get("jcs", SITE)["status"].get("observedGeneration") == 2 and c), timeout=60)
    assert opens.strftime("%Y-%m-%dT%H:%M:%SZ") in waiting["message"]
    ready = _condition(op, "Ready")
    assert ready["status"] == "True" and "pending:" in ready["message"], ready
    assert _condition(op, "Reconciling")["status"] == "False"
    assert _condition(op, "InSync")["status"] == "False"
    row = op.kubectl("get", "jcs", SITE, "--no-headers").stdout.split()
    assert "OutsideWindow" in row
    assert _events(op, "OutsideWindow") or [e for e in json.loads(op.kubectl("get", "events", "-o", "json").stdout)[
        "items"] if "DisruptionAllowed=False" in e.get("message", "")]

    # Until the window opens: the site serves, nothing disruptive reaches a node.
    wait_for("the last seconds before the window", lambda: datetime.now(UTC) >= opens - timedelta(seconds=5),
             timeout=(opens - datetime.now(UTC)).total_seconds() + 10, interval=1)
    assert _disruptive(op, before) == [], "a disruptive command was sent outside the window"
    assert _group_node(bed) == active, "the group was stopped outside the window"
    assert _condition(op, "Ready")["status"] == "True"

    # The window opens: the change is applied (one suspend and resume, the group left running) and the
    # site converges.
    wait_for("InSync after the window opened", lambda: _condition(op, "InSync").get("status") == "True", timeout=180)
    assert _disruptive(op, before) == SUSPENDED_PUSH
    wait_for("Ready again", lambda: _condition(op, "Ready").get("status") == "True", timeout=60)

    # Manual approval (no windows: any time): nothing disruptive until the annotation carries the hash.
    before = len(op.commands())
    patch = {"spec": {"monitorIntervalSeconds": 20, "disruption": {"windows": None, "approval": "Manual"}}}
    assert op.kubectl("patch", "jcs", SITE, "--type=merge", "-p", json.dumps(patch)).returncode == 0
    awaiting = wait_for("DisruptionAllowed=False AwaitingApproval", lambda: (
        (c := _condition(op, "DisruptionAllowed")).get("reason") == "AwaitingApproval"
        and op.get("jcs", SITE)["status"].get("observedGeneration") == 3 and c), timeout=60)
    shown = op.get("jcs", SITE)["status"]["disruption"]["planHash"]
    assert f"approve-plan={shown}" in awaiting["message"]
    assert _condition(op, "Ready")["status"] == "True"

    stale = "0123456789ab"
    assert op.kubectl("annotate", "jcs", SITE, f"{APPROVE}={stale}").returncode == 0
    refused = wait_for("the stale hash refused in an Event", lambda: _events(op, "ApprovalRefused"), timeout=60)
    assert f"{stale} does not match" in refused[0]["message"] and shown in refused[0]["message"]
    assert _disruptive(op, before) == [] and _group_node(bed) == active

    approved = subprocess.run([sys.executable, "-m", "jobcenter_operator", "approve", SITE, "-n", "default",
                               "--hash", shown], capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
                              env={**op.standin.env, "PYTHONPATH": os.fspath(REPO / "operator")})
    assert approved.returncode == 0, approved.stderr
    wait_for("InSync after approval", lambda: _condition(op, "InSync").get("status") == "True", timeout=180)
    assert _disruptive(op, before) == SUSPENDED_PUSH
    wait_for("the approval removed once used",
             lambda: APPROVE not in (op.get("jcs", SITE)["metadata"].get("annotations") or {}), timeout=30)
    assert _events(op, "PlanApproved")
