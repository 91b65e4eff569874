"""Handler wiring against the API stand-in with the fast tier's fake nodes (no root, no test bed):
create -> Ready, a second site claiming the group -> Stalled, deletion with Unconfigure -> the
restore sent and the finalizer released."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.standin.pytest_fixtures import StandInProcess, standin_crds_dir, standin_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SECRET = {"apiVersion": "v1", "kind": "Secret",
          "metadata": {"name": "jc-cluster-ssh", "labels": {"jobcenter.clusterpro.io/credentials": "true"}},
          "data": {"ssh-privatekey": "S0VZ", "known_hosts": "Y2x1MSBzc2gtZWQyNTUxOSBBQUFB"}}
CLUSTER = {"apiVersion": "jobcenter.clusterpro.io/v1alpha1", "kind": "ClusterproCluster",
           "metadata": {"name": "jc-cluster"},
           "spec": {"nodes": [{"name": "clu1", "address": "10.200.1.11"}, {"name": "clu2", "address": "10.200.1.12"}],
                    "ssh": {"user": "root", "credentialsSecretRef": {"name": "jc-cluster-ssh"}}}}
SITE = {"apiVersion": "jobcenter.clusterpro.io/v1alpha1", "kind": "JobCenterSite", "metadata": {"name": "cluv"},
        "spec": {"clusterRef": {"name": "jc-cluster"}, "mode": "Classic", "failoverGroup": "failover-jc",
                 "execResource": "exec-jc", "monitorResource": "pidw-jc", "virtualHost": "cluv", "machineId": 114,
                 "databasePath": "/mnt/sdb2", "floatingIP": "10.200.1.100"}}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


@pytest.fixture
def operator(standin_server: StandInProcess, tmp_path: Path) -> Iterator[tuple[StandInProcess, Path]]:  # noqa: F811
    sent = tmp_path / "sent.jsonl"
    env = dict(standin_server.env, PYTHONPATH=f"{REPO / 'operator'}:{REPO}")
    with (tmp_path / "operator.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_operator.py")), str(sent)],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield standin_server, sent
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print((tmp_path / "operator.log").read_text()[-3000:])


def test_handlers_converge_refuse_a_claim_and_unconfigure(operator: tuple[StandInProcess, Path]) -> None:
    standin, sent = operator

    def kubectl(*args: str, input: str | None = None) -> str:
        out = standin.kubectl(*args, input=input)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def condition(name: str, ctype: str) -> dict[str, Any]:
        status = json.loads(kubectl("get", "jcs", name, "-o", "json")).get("status", {})
        return next((c for c in status.get("conditions", []) if c["type"] == ctype), {})

    def steps() -> list[str]:
        lines = sent.read_text().splitlines() if sent.exists() else []
        return [json.loads(line)["step"] for line in lines]

    kubectl("apply", "-f", "-", input=yaml.safe_dump_all([SECRET, CLUSTER, SITE]))
    wait_for("the site Ready", lambda: condition("cluv", "Ready").get("status") == "True")
    assert condition("cluv", "InSync")["reason"] == "NoDrift"
    assert steps().count("stopgroup") == 1 and steps().count("cjcmksite") == 1
    cpc = wait_for("the cluster observed", lambda: json.loads(kubectl("get", "cpc", "jc-cluster", "-o", "json"))
                   .get("status", {}).get("nodesReachable") == "2/2")
    assert cpc

    twin = {**SITE, "metadata": {"name": "cluv-twin"},
            "spec": {**SITE["spec"], "machineId": 115, "deletionPolicy": "Unconfigure"}}
    kubectl("apply", "-f", "-", input=json.dumps(twin))
    stalled = wait_for("the twin stalled", lambda: (c := condition("cluv-twin", "Stalled")).get("status") == "True"
                       and c)
    assert stalled["reason"] == "GroupClaimed" and "cluv" in stalled["message"]
    before = len(steps())
    kubectl("delete", "jcs", "cluv-twin", "--timeout=30s")
    # Only the owner may unconfigure (issue 12): the twin's deletion sends nothing to the nodes.
    assert [s for s in steps()[before:] if s != "jcop-facts"] == []

    before = len(steps())
    kubectl("patch", "jcs", "cluv", "--type=merge", "-p", '{"spec":{"deletionPolicy":"Unconfigure"}}')
    kubectl("delete", "jcs", "cluv", "--timeout=30s")
    assert [s for s in steps()[before:] if s != "jcop-facts"] == [
        "markstop", "stopgroup", "marksuspend", "suspendcluster", "restore", "restartmanager",
        "resumecluster", "clearsuspend",
        "startgroup", "clearmark"]
