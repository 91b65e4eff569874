"""Handler wiring of the disruption gate against the API stand-in with the fast tier's fake nodes (no
root, no test bed): a site under Manual approval sends nothing disruptive and shows its plan hash; a
stale hash is refused with an Event; the shown hash applies the plan and the annotation is removed; an
override applies the next plan once, recorded in an Event, and is removed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from test_handlers_fake_nodes import CLUSTER, SECRET, SITE, operator, wait_for  # noqa: F401

from hack.standin.pytest_fixtures import StandInProcess, standin_crds_dir, standin_server  # noqa: F401

APPROVE = "jobcenter.clusterpro.io/approve-plan"
OVERRIDE = "jobcenter.clusterpro.io/override-disruption"
DISRUPTIVE_STEPS = {"stopgroup", "startgroup", "suspendcluster", "resumecluster", "cjcmksite", "/usr/lib/nqs/nqsstop"}


def test_manual_approval_waits_for_the_shown_hash(operator: tuple[StandInProcess, Path]) -> None:  # noqa: F811
    standin, sent = operator

    def kubectl(*args: str, input: str | None = None) -> str:
        out = standin.kubectl(*args, input=input)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def site() -> dict[str, Any]:
        return json.loads(kubectl("get", "jcs", "cluv", "-o", "json"))  # type: ignore[no-any-return]

    def condition(ctype: str) -> dict[str, Any]:
        return next((c for c in site().get("status", {}).get("conditions", []) if c["type"] == ctype), {})

    def steps() -> list[str]:
        lines = sent.read_text().splitlines() if sent.exists() else []
        return [json.loads(line)["step"] for line in lines]

    def events(reason: str) -> list[dict[str, Any]]:
        items = json.loads(kubectl("get", "events", "-o", "json"))["items"]
        return [e for e in items if e.get("reason") == reason and e["involvedObject"]["name"] == "cluv"]

    manual = {**SITE, "spec": {**SITE["spec"], "disruption": {"approval": "Manual"}}}
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all([SECRET, CLUSTER, manual]))
    waiting = wait_for("the plan awaiting approval",
                       lambda: (c := condition("DisruptionAllowed")).get("reason") == "AwaitingApproval" and c)
    shown = site()["status"]["disruption"]["planHash"]
    assert f"approve-plan={shown}" in waiting["message"]
    assert not DISRUPTIVE_STEPS & set(steps()), "nothing disruptive before approval"
    assert wait_for("the Event saying so", lambda: events("AwaitingApproval") or [
        e for e in json.loads(kubectl("get", "events", "-o", "json"))["items"]
        if "DisruptionAllowed=False" in e.get("message", "")])

    kubectl("annotate", "jcs", "cluv", f"{APPROVE}=0123456789ab")
    refused = wait_for("the stale hash refused", lambda: events("ApprovalRefused"))
    assert "0123456789ab does not match" in refused[0]["message"] and shown in refused[0]["message"]
    assert not DISRUPTIVE_STEPS & set(steps())

    kubectl("annotate", "--overwrite", "jcs", "cluv", f"{APPROVE}={shown}")
    wait_for("the site Ready", lambda: condition("Ready").get("status") == "True", timeout=90)
    assert steps().count("stopgroup") == 1 and steps().count("cjcmksite") == 1
    assert wait_for("the approval consumed", lambda: APPROVE not in (site()["metadata"].get("annotations") or {}))
    assert events("PlanApproved")
    assert condition("DisruptionAllowed")["status"] == "True"

    # An emergency override applies the next plan once, without approval, and says so in an Event.
    before = len(steps())
    kubectl("patch", "jcs", "cluv", "--type=merge", "-p", '{"spec":{"monitorIntervalSeconds":30}}')
    wait_for("the change awaiting approval", lambda: condition("DisruptionAllowed").get("reason") == "AwaitingApproval"
             and site()["status"].get("observedGeneration") == 2)
    assert not DISRUPTIVE_STEPS & set(steps()[before:])
    kubectl("annotate", "jcs", "cluv", f"{OVERRIDE}=once")
    wait_for("the change applied", lambda: condition("InSync").get("status") == "True", timeout=90)
    # A monitor-only change: the cluster is suspended around the push, the group keeps running (issue 11).
    assert [s for s in steps()[before:] if s in DISRUPTIVE_STEPS] == ["suspendcluster", "resumecluster"]
    override = wait_for("the override Event", lambda: events("DisruptionOverride"))
    assert f"{OVERRIDE}=once applied plan" in override[0]["message"]
    assert wait_for("the override removed", lambda: OVERRIDE not in (site()["metadata"].get("annotations") or {}))
