"""SIGTERM in the middle of each disruptive step of a site's build (issue 13, graceful shutdown):
the operator exits by itself within the pod's grace period, and leaves no failover group stopped
and no stop marker behind. The bed runs with real-node step durations (``cjcpw -stop`` takes long),
so the signal lands while the step runs on the node."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import Operator, is_probe, step_name, wait_for

from hack.testbed import api as testbed
from hack.testbed.config import Timings
from jobcenter_operator.paths import STOP_MARKER_DIR

REPO = Path(__file__).resolve().parents[2]


def _grace_seconds() -> int:
    """The Deployment's terminationGracePeriodSeconds: the kubelet's SIGKILL comes after it."""
    deployment = yaml.safe_load((REPO / "manifests" / "base" / "deployment.yaml").read_text())
    return int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


# Real-node timings, but `cjcpw -stop` at 30 s instead of 90 s: long enough that the signal always
# lands during the group stop, short enough for four builds in one test run.
TIMINGS = replace(Timings.realistic(), cjcpw_stop=30.0)


def _terminate(op: Operator, proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM the operator; it must exit by itself, status 0, within the pod's grace period. Its log."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=_grace_seconds())
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after the grace period{op.log()}") from None
    assert code == 0, f"exit status {code}\n{op.log()}"
    return op.log()


def _sent(op: Operator) -> list[tuple[str, str]]:
    """(step, node) of each action command, the step a program's base name (/usr/lib/nqs/nqsstop)."""
    return [(Path(step_name(c)).name, c["node"]) for c in op.commands() if not is_probe(c)]


# What the operator sends after the signal: what completes a group restart under way (push, start)
# and the removal of the stop marker this run put on the standby (before the stop), nothing else.
RESTART = [("stopgroup", "clu1"), ("suspendcluster", "clu1"), ("apply", "clu1"), ("restartmanager", "clu1"),
           ("resumecluster", "clu1"), ("startgroup", "clu1")]
AFTER = {
    # the first of the build's local site stops (on the standby): its round trip also carries the
    # standby's stop and suspend markers (plan/order.py); they are removed, the group never stopped
    "nqsstop": [("markstop", "clu2"), ("marksuspend", "clu2"), ("clearsuspend", "clu2"), ("clearmark", "clu2")],
    "cjcmksite": [("clearsuspend", "clu2"), ("clearmark", "clu2")],
    # the push between stop and start (suspended around it: a first build adds the PID monitor)
    # reaches the same safe point: finishing it costs the site no second restart. The stop, suspend,
    # push, resume and start go in one round trip (the standby's markers before and after it).
    "stopgroup": [("suspendcluster", "clu1"), ("apply", "clu1"), ("restartmanager", "clu1"), ("resumecluster", "clu1"),
                  ("startgroup", "clu1"), ("clearsuspend", "clu2"), ("clearmark", "clu2")],
    # the cluster suspended for the push: the push, the resume and the start complete the restart
    "suspendcluster": [("apply", "clu1"), ("restartmanager", "clu1"), ("resumecluster", "clu1"), ("startgroup", "clu1"),
                       ("clearsuspend", "clu2"),
                       ("clearmark", "clu2")],
    "startgroup": [("clearsuspend", "clu2"), ("clearmark", "clu2")],
}
# cjcmksite is short on the bed: the next round trip (the group's whole restart) may already be sent
# when the signal lands; it runs to its end, then the standby's markers are removed.
# The group start is short too: the round trip after it (the standby's markers removed, then its
# local site started again) may already be under way when the signal lands; a round trip in flight
# runs to its end.
ALSO = {"cjcmksite": [[*RESTART, ("clearsuspend", "clu2"), ("clearmark", "clu2")]],
        "startgroup": [[("clearsuspend", "clu2"), ("clearmark", "clu2"), ("nqsstart", "clu2")]]}


# Steps that take no time on the bed: the node's tools are slowed down (``fault slow``) from the
# command before them on, so the signal lands while the step runs on the node, not after the run has
# gone on to its next (non-disruptive) command. The step before, at real-node timings (nqsstop 5 s),
# leaves the time to set it.
SLOWED = {"cjcmksite": ("nqsstop", "clu1")}
SLOW_SECONDS = "3"


@pytest.mark.parametrize("step", list(AFTER))
def test_sigterm_during_a_disruptive_step_leaves_the_group_online(
        step: str, site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup(timings=TIMINGS)
    name, group = bed["name"], bed["failoverGroup"]
    proc = op.procs[-1]
    if step in SLOWED:
        before = SLOWED[step]
        wait_for(f"the operator sending {before}", lambda: before in _sent(op), timeout=600, interval=0.05)
        testbed.fault(name, "slow", before[1], SLOW_SECONDS)
    wait_for(f"the operator sending {step}", lambda: any(s == step for s, _ in _sent(op)), timeout=600, interval=0.05)
    log = _terminate(op, proc)
    if step in SLOWED:
        testbed.fault(name, "slow", SLOWED[step][1], "0")
    assert "stopped at a safe point" in log, log  # the run in flight was interrupted, not finished

    # The step in flight ran to its end; after it only what undoes this run's interruption. Counted
    # from the step itself, not from when the test saw it: a short step (the suspend) may be followed
    # by the next command before the signal is sent, and either way the same commands must follow.
    sent = _sent(op)
    at = next(i for i, (s, _) in enumerate(sent) if s == step)
    assert sent[at + 1:] in [AFTER[step], *ALSO.get(step, [])], sent
    online = testbed.exec_on(name, "clu1", ["/usr/sbin/clpgrp", "-n", group])
    assert online["stdout"].strip() in {n["name"] for n in bed["nodes"]}, (online, sent)
    for node in bed["nodes"]:
        markers = testbed.exec_on(name, node["name"], ["find", STOP_MARKER_DIR, "-type", "f"])
        assert markers["stdout"].strip() == "", (node["name"], markers, sent)


def test_sigterm_during_a_long_group_stop_waits_for_it_then_starts_the_group(
        site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    """On a built site the group stop runs the site's own stop (`cjcpw -stop`, 30 s here): the
    signal surely lands in the middle of it. The drift check corrects an edited exec script, which
    takes a stop, a push and a start."""
    op = operator_env
    bed = site_setup(timings=TIMINGS)
    name, group = bed["name"], bed["failoverGroup"]
    wait_for("Ready", lambda: (op.condition("cluv", "Ready") or {}).get("status") == "True", timeout=300)
    scripts = f"/opt/nec/clusterpro/scripts/{group}/{bed['execResource']}"
    for node in bed["nodes"]:
        edited = testbed.exec_on(name, node["name"], ["sh", "-c", f"echo '# edited' >> {scripts}/start.sh"])
        assert edited["exitStatus"] == 0, edited
    built = len(_sent(op))
    wait_for("the drift check stopping the group", lambda: ("stopgroup", "clu1") in _sent(op)[built:], timeout=120,
             interval=0.05)
    sent_before = len(_sent(op))
    proc = op.procs[-1]
    log = _terminate(op, proc)
    # The stop in flight ran to its end, then the push and the start that complete the restart.
    assert "the run stopped at a safe point (4 of 5 actions run)" in log, log
    sent = _sent(op)
    assert sent[sent_before:] == [("apply", "clu1"), ("startgroup", "clu1"), ("clearmark", "clu2")], sent
    online = testbed.exec_on(name, "clu1", ["/usr/sbin/clpgrp", "-n", group])
    assert online["stdout"].strip() == "clu1", (online, sent)
    for node in bed["nodes"]:
        markers = testbed.exec_on(name, node["name"], ["find", STOP_MARKER_DIR, "-type", "f"])
        assert markers["stdout"].strip() == "", (node["name"], markers, sent)


def test_sigterm_during_an_unconfigure_then_the_retried_deletion_restarts_the_group_once(
        site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    """A rolling update while a site is deleted with Unconfigure: the signal lands during the group
    stop (30 s here); the process finishes the restore up to the group start and exits. The next
    process retries the deletion: the configuration is already restored, so it removes the finalizer
    without stopping the group a second time."""
    op = operator_env
    bed = site_setup(timings=TIMINGS, site_spec={"deletionPolicy": "Unconfigure"})
    name, group = bed["name"], bed["failoverGroup"]
    scripts = f"/opt/nec/clusterpro/scripts/{group}/{bed['execResource']}"
    wait_for("Ready", lambda: (op.condition("cluv", "Ready") or {}).get("status") == "True", timeout=300)
    built = len(_sent(op))
    assert op.kubectl("delete", "jcs", "cluv", "--wait=false").returncode == 0
    wait_for("the deletion stopping the group", lambda: ("stopgroup", "clu1") in _sent(op)[built:], timeout=120,
             interval=0.05)
    _terminate(op, op.procs[-1])
    online = testbed.exec_on(name, "clu1", ["/usr/sbin/clpgrp", "-n", group])
    assert online["stdout"].strip() == "clu1", (online, _sent(op)[built:])

    op.start()
    wait_for("the site gone", lambda: op.kubectl("get", "jcs", "cluv").returncode != 0, timeout=120)
    deletion = _sent(op)[built:]
    assert deletion.count(("stopgroup", "clu1")) == 1, deletion
    assert deletion.count(("startgroup", "clu1")) == 1, deletion
    online = testbed.exec_on(name, "clu1", ["/usr/sbin/clpgrp", "-n", group])
    assert online["stdout"].strip() == "clu1", (online, deletion)
    for node in bed["nodes"]:
        start = testbed.exec_on(name, node["name"], ["cat", f"{scripts}/start.sh"])["stdout"]
        assert "Managed by jobcenter-operator" not in start, (node["name"], start)
        markers = testbed.exec_on(name, node["name"], ["find", STOP_MARKER_DIR, "-type", "f"])
        assert markers["stdout"].strip() == "", (node["name"], markers, deletion)
    ps = testbed.exec_on(name, "clu1", ["ps", "-eo", "args"])["stdout"]
    assert "/usr/lib/nqs/cluster/cjcpw" not in ps, "the cluster site still runs"
