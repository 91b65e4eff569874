"""Progress, Events and the status writes of a first build, seen through the API stand-in with the fast
tier's fake nodes (no root): every version of the site is watched while the operator builds it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from test_handlers_fake_nodes import CLUSTER, SECRET, SITE, operator, wait_for  # noqa: F401

from hack.standin.pytest_fixtures import StandInProcess, standin_crds_dir, standin_server  # noqa: F401


def _objects(stream: str) -> list[dict[str, Any]]:
    decoder, out, at = json.JSONDecoder(), [], 0
    while (at := len(stream) - len(stream[at:].lstrip())) < len(stream):
        obj, end = decoder.raw_decode(stream, at)
        out.append(obj)
        at = end
    return out


def _cond(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == ctype), {})


def test_a_build_shows_each_step_and_posts_events_once(operator: tuple[StandInProcess, Path],  # noqa: F811
                                                       tmp_path: Path) -> None:
    standin, _sent = operator
    watched = (tmp_path / "watch.json").open("w")
    watch = subprocess.Popen(["kubectl", "get", "jcs", "-w", "-o", "json"], env=standin.env, stdout=watched,
                             stderr=subprocess.DEVNULL)
    try:
        applied = standin.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([SECRET, CLUSTER, SITE]))
        assert applied.returncode == 0, applied.stderr

        def ready() -> bool:
            out = standin.kubectl("get", "jcs", "cluv", "-o", "json")
            return out.returncode == 0 and _cond(json.loads(out.stdout), "Ready").get("status") == "True"

        wait_for("the site Ready", ready)
        # The last write is seen by the watch too (it streams every version).
        wait_for("the watch saw Ready", lambda: any(_cond(o, "Ready").get("status") == "True"
                                                    for o in _objects((tmp_path / "watch.json").read_text())))
    finally:
        watch.terminate()
        watch.wait(10)
        watched.close()
    versions = [o for o in _objects((tmp_path / "watch.json").read_text()) if o["metadata"]["name"] == "cluv"]
    # Status writes: versions whose status differs from the one before (kopf's own metadata patches aside).
    writes = [o for before, o in zip([{}, *versions], versions, strict=False)
              if o.get("status") != before.get("status")]
    progress = [o for o in writes if _cond(o, "Reconciling").get("reason") == "Progressing"]
    assert progress, [o.get("status") for o in versions]
    steps = [_cond(o, "Reconciling")["message"] for o in progress]
    assert all(m.startswith("step ") for m in steps) and len(set(steps)) == len(steps), steps
    total = int(steps[0].split("/")[1].split(":")[0])
    # One write per round trip (naming its first disruptive step), the steps in plan order: fewer
    # writes than steps, since consecutive steps on one node share a round trip.
    numbers = [int(m.split(" ")[1].split("/")[0]) for m in steps]
    assert numbers == sorted(numbers) and len(steps) < total, steps
    assert all(_cond(o, "Ready")["reason"] == "Progressing" and o["status"]["progress"] for o in progress)
    assert len(writes) <= total + 3  # the default, the progress writes, the result (and a timer's)
    final = versions[-1]
    assert "progress" not in final["status"] and _cond(final, "Reconciling")["status"] == "False"

    events = json.loads(standin.kubectl("get", "events", "-o", "json").stdout)["items"]
    mine = [e for e in events if e["involvedObject"]["name"] == "cluv"]
    assert {e["reportingComponent"] for e in mine} == {"jobcenter-operator"}
    assert {e["source"]["component"] for e in mine} == {"jobcenter-operator"}
    reasons = [e["reason"] for e in mine]
    assert reasons.count("Ready") == 1, reasons
    for kind in ("StopGroup", "CreateSite", "StartGroup"):  # disruptive steps: when they start and end
        assert reasons.count(f"{kind}Started") == reasons.count(f"{kind}Succeeded") >= 1, reasons
    assert not [e for e in mine if "not observed" in e["message"] or e["reason"] == "NotObserved"]
    assert not [r for r in reasons if "SuspendMarker" in r or "MarkSuspended" in r], reasons  # markers are quiet
    assert len(reasons) == len(set(zip(reasons, [e["message"] for e in mine], strict=True))), reasons
