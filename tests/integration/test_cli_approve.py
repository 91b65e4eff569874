"""`approve NAME -n NAMESPACE` sets the approve-plan annotation to the plan hash the site's status shows,
refuses when nothing waits or when the hash the person reviewed is no longer the pending one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest
from test_cli_live import REPO, _apply, _cluster, _site

from hack.standin.pytest_fixtures import KUBECTL, StandInProcess, standin_crds_dir, standin_server  # noqa: F401

APPROVE = "jobcenter.clusterpro.io/approve-plan"
pytestmark = pytest.mark.skipif(shutil.which(KUBECTL) is None, reason="kubectl is not installed")


def _approve(standin: StandInProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobcenter_operator", "approve", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO, env=standin.env)


def _site_json(standin: StandInProcess) -> dict[str, Any]:
    out = standin.kubectl("get", "jcs", "cluv", "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _set_status(standin: StandInProcess, status: dict[str, Any]) -> None:
    out = standin.kubectl("patch", "jcs", "cluv", "--subresource=status", "--type=merge", "-p",
                          json.dumps({"status": status}))
    assert out.returncode == 0, out.stderr


def test_approve_sets_the_shown_hash_and_refuses_a_stale_one(standin_server: StandInProcess) -> None:  # noqa: F811
    _apply(standin_server, _cluster(), _site())

    nothing = _approve(standin_server, "cluv", "-n", "default")
    assert nothing.returncode == 1 and "no disruptive step is pending" in nothing.stderr
    assert len(nothing.stderr.splitlines()) == 1 and "Traceback" not in nothing.stderr

    _set_status(standin_server, {
        "disruption": {"verdict": "AwaitingApproval", "message": "2 steps await approval", "planHash": "0a1b2c3d4e5f"},
        "plan": [{"node": "clu1", "action": "StopGroup", "reason": "ClusterConfigChange", "message": "stop failover-jc",
                  "disruptive": True},
                 {"node": "clu1", "action": "ApplyClusterConfig", "reason": "ClusterConfigDiffers",
                  "message": "push"}]})

    stale = _approve(standin_server, "cluv", "--hash", "ffffffffffff")
    assert stale.returncode == 1 and "the pending plan is 0a1b2c3d4e5f, not ffffffffffff" in stale.stderr
    assert APPROVE not in (_site_json(standin_server)["metadata"].get("annotations") or {})

    done = _approve(standin_server, "cluv", "--hash", "0a1b2c3d4e5f")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Approved plan 0a1b2c3d4e5f of JobCenterSite default/cluv:"
    assert any(line.split()[:3] == ["clu1", "StopGroup", "yes"] for line in done.stdout.splitlines())
    assert _site_json(standin_server)["metadata"]["annotations"][APPROVE] == "0a1b2c3d4e5f"
