"""What a user watching `kubectl get jcs`, the Events and Prometheus sees while the operator works
(issue 14): the cause of a wait in READY/REASON, each step while a site is built on nodes with real-node
timings, Events once per transition and reported by the operator, metrics after a converge."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from e2e_support import Operator, apply_secret, free_port, scrape, wait_for

from hack.demo import manifests

SITE = "cluv"
REPO = Path(__file__).resolve().parents[2]


def _row(op: Operator, kind: str, name: str) -> dict[str, str]:
    """One row of `kubectl get KIND NAME` by column header, cut where the header's columns start
    (a value may hold spaces, e.g. STEP "3/10 StopGroup clu1")."""
    out = op.kubectl("get", kind, name)
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    ends = [*starts[1:], None]
    return {header[a:b].strip(): row[a:b].strip() for a, b in zip(starts, ends, strict=True)}


def _conditions(op: Operator, kind: str, name: str) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in op.get(kind, name).get("status", {}).get("conditions", [])}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_missing_secret_then_progress_then_ready_with_metrics(testbed_cluster: Any, operator_env: Operator) -> None:
    op = operator_env
    # Real-node timings (`cjcpw -stop` 90 s, `nqsstop` 5 s...): steps take as long as on real nodes.
    bed = testbed_cluster(realistic=True)
    port = free_port()
    op.start("--metrics-port", str(port), "--metrics-bind-address", "127.0.0.1")
    applied = op.kubectl("apply", "-f", "-", input=manifests(bed))
    assert applied.returncode == 0, applied.stderr

    # No Secret yet: READY/REASON name the cause, for the site and its cluster.
    row = wait_for("READY False SecretNotFound", lambda: (r := _row(op, "jcs", SITE)).get("REASON") == "SecretNotFound"
                   and r, timeout=60)
    assert row["READY"] == "False"
    assert "Secret jc-cluster-ssh (SSH credentials) not found" in _conditions(op, "jcs", SITE)["Ready"]["message"]
    wait_for("the cluster's READY names it too",
             lambda: _row(op, "cpc", "jc-cluster").get("REASON") == "SecretNotFound", timeout=60)

    # The Secret arrives (stringData): the build shows its steps while they run.
    apply_secret(op, bed)
    seen: list[tuple[str, str, str, str]] = []

    def step_shown() -> bool:
        conds, row = _conditions(op, "jcs", SITE), _row(op, "jcs", SITE)
        rec = conds.get("Reconciling", {})
        if rec.get("status") == "True" and rec.get("reason") == "Progressing":
            seen.append((rec["message"], row.get("READY", ""), row.get("REASON", ""), row.get("STEP", "")))
        return len({s[0] for s in seen}) >= 2

    wait_for("Reconciling=True with step messages", step_shown, timeout=120, interval=0.3)
    message, ready, reason, step = seen[0]
    assert message.startswith("step ") and "/" in message and " on clu" in message, seen
    assert (ready, reason) == ("False", "Progressing"), seen
    assert step[0].isdigit() and "/" in step, seen  # the STEP column: k/n Kind node (first word shown)
    wait_for("Ready", lambda: _conditions(op, "jcs", SITE).get("Ready", {}).get("status") == "True", timeout=300)
    row = _row(op, "jcs", SITE)
    assert (row["READY"], row["REASON"]) == ("True", "Succeeded") and row["STEP"] in ("", "<none>")

    # /metrics after the converge.
    samples = wait_for("the site's Ready in the metrics", lambda: (m := scrape(port)) and _value(
        m, "jobcenter_operator_resources", kind="JobCenterSite", condition="Ready", status="True") == 1 and m,
        timeout=30)
    assert _value(samples, "jobcenter_operator_reconcile_total", kind="JobCenterSite", result="success") >= 1
    assert _value(samples, "jobcenter_operator_reconcile_total", kind="JobCenterSite", result="retry") >= 1
    assert _value(samples, "jobcenter_operator_reconcile_duration_seconds_count", kind="ClusterproCluster") >= 1
    steps = {dict(labels)["step"]: value for (name, labels), value in samples.items()
             if name == "jobcenter_operator_ssh_command_duration_seconds_count"}
    assert len(steps) >= 3 and all(v >= 1 for v in steps.values()), steps  # the probe and the build's steps
    assert _value(samples, "jobcenter_operator_ssh_command_duration_seconds_sum") > 0
    assert _value(samples, "jobcenter_operator_ssh_connections_open") >= 1
    assert ("jobcenter_operator_drift_detected_total", frozenset()) not in samples  # a labelled family


def test_the_four_samples_post_one_event_per_transition(operator_env: Operator) -> None:
    """The samples as shipped (a placeholder key, addresses nobody answers on): every object waits or
    stalls, and says so once, from jobcenter-operator, never "not observed yet"."""
    op = operator_env
    port = free_port()
    op.start("--metrics-port", str(port), "--metrics-bind-address", "127.0.0.1")
    samples = REPO / "manifests" / "samples"
    for name in ("secret-ssh-credentials.yaml", "clusterprocluster.yaml", "jobcentersite-classic.yaml",
                 "jobcentersite-standard-manager.yaml", "jobcentersite-standard-agent.yaml"):
        applied = op.kubectl("apply", "-f", str(samples / name))
        assert applied.returncode == 0, applied.stderr
    names = ("jc-cluster", "cluv", "jcmgcluster", "jcagcluster")

    def settled() -> bool:
        kinds = {"jc-cluster": "cpc"}
        return all(_conditions(op, kinds.get(n, "jcs"), n).get("Ready", {}).get("reason") not in (None, "NotObserved")
                   for n in names)

    wait_for("every sample has a Ready reason", settled, timeout=120)
    # Several more runs of every object (retries, timer ticks): they must not add Events.
    runs = _value(scrape(port), "jobcenter_operator_reconcile_total")
    wait_for("three more runs per object", lambda: _value(scrape(port), "jobcenter_operator_reconcile_total")
             >= runs + 3 * len(names), timeout=120)

    events = json.loads(op.kubectl("get", "events", "-o", "json").stdout)["items"]
    by_object: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_object.setdefault(event["involvedObject"]["name"], []).append(event)
    assert set(by_object) <= set(names)
    for name, posted in by_object.items():
        assert {e["reportingComponent"] for e in posted} == {"jobcenter-operator"}, posted
        assert {e["source"]["component"] for e in posted} == {"jobcenter-operator"}
        assert not [e for e in posted if "not observed" in e["message"] or e["reason"] == "NotObserved"], posted
        repeated = [k for k, n in Counter((e["reason"], e["message"]) for e in posted).items() if n > 1]
        assert repeated == [], (name, repeated)
        assert len(posted) <= 2, (name, [(e["reason"], e["message"]) for e in posted])
        for event in posted:  # no node named twice in a row ("clu1, clu2: clu1: ...")
            assert "clu1: clu1" not in event["message"] and ": clu1: " not in event["message"], event["message"]
    print(yaml.safe_dump([(e["involvedObject"]["name"], e["reason"], e["message"]) for e in events]))
