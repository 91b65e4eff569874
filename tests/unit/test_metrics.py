"""metrics.py: labels, the metered runner, the resources gauge and the /metrics endpoint."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest

from jobcenter_operator.errors import TransientError, Unreachable
from jobcenter_operator.metrics import Metrics, result_of, step_of
from jobcenter_operator.node import CommandResult, NodeAddress, SSHCredentials, Timeouts

NODE = NodeAddress(name="clu1", host="10.0.0.1")
CREDS = SSHCredentials(user="root", password=b"x")
TIMEOUTS = Timeouts()


class _Runner:
    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: Sequence[str],
                  **_: Any) -> CommandResult:
        if argv[0] == "fail":
            raise Unreachable(node.name, "connection refused")
        return CommandResult(node=node.name, argv=tuple(argv), exit_status=0, stdout="", stderr="", duration=0.0)


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_labels_are_the_commands_names_and_the_runs_results() -> None:
    assert step_of(("sh", "-c", "script", "stopgroup", "failover-jc")) == "stopgroup"
    assert step_of(("/usr/lib/nqs/nqsstop",)) == "nqsstop"
    assert step_of(("sh", "-c", "s", "jcop-bounded", "/var/lib/x", "30", "5", "120",
                    "op-0:42", "sh", "-c", "s2", "stopgroup", "failover-jc")) == "stopgroup"
    assert result_of(None) == "success"
    assert result_of(TransientError("x")) == "retry"
    assert result_of(Unreachable("clu1", "x")) == "retry"
    from jobcenter_operator.errors import AuthenticationFailed
    assert result_of(AuthenticationFailed("clu1", "x")) == "stalled"


async def test_the_metered_runner_times_commands_and_counts_failures_by_step_and_reason() -> None:
    metrics = Metrics()
    runner = metrics.metered(_Runner())
    await runner.run(NODE, CREDS, TIMEOUTS, ("sh", "-c", "s", "stopgroup"))
    with pytest.raises(Unreachable):
        await runner.run(NODE, CREDS, TIMEOUTS, ("fail",))
    assert _value(metrics, "jobcenter_operator_ssh_command_duration_seconds_count", step="stopgroup") == 1
    assert _value(metrics, "jobcenter_operator_ssh_command_errors_total", step="fail", reason="Unreachable") == 1
    assert _value(metrics, "jobcenter_operator_ssh_command_errors_total", step="stopgroup",
                  reason="Unreachable") is None


def test_reconciles_are_counted_by_kind_and_result_and_resources_by_condition() -> None:
    metrics = Metrics()
    with metrics.reconciling("JobCenterSite") as record:
        assert _value(metrics, "jobcenter_operator_active_reconciles", kind="JobCenterSite") == 1
        record.result = "success"
    with pytest.raises(RuntimeError), metrics.reconciling("JobCenterSite"):
        raise RuntimeError("unexpected")
    assert _value(metrics, "jobcenter_operator_reconcile_total", kind="JobCenterSite", result="success") == 1
    assert _value(metrics, "jobcenter_operator_reconcile_total", kind="JobCenterSite", result="error") == 1
    assert _value(metrics, "jobcenter_operator_active_reconciles", kind="JobCenterSite") == 0
    ready = {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]}
    waiting = {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretNotFound"}]}
    metrics.record_status("JobCenterSite", "default", "a", ready)
    metrics.record_status("JobCenterSite", "default", "b", ready)
    metrics.record_status("JobCenterSite", "default", "c", waiting)
    labels = {"kind": "JobCenterSite", "condition": "Ready"}
    assert _value(metrics, "jobcenter_operator_resources", **labels, status="True", reason="Succeeded") == 2
    assert _value(metrics, "jobcenter_operator_resources", **labels, status="False", reason="SecretNotFound") == 1
    metrics.forget("JobCenterSite", "default", "c")
    assert _value(metrics, "jobcenter_operator_resources", **labels, status="False", reason="SecretNotFound") is None


def test_the_endpoint_serves_the_registry() -> None:
    metrics = Metrics()
    metrics.watch_connections(lambda: {"connections_open": 2})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve(port, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "jobcenter_operator_ssh_connections_open 2.0" in text
    assert "# TYPE jobcenter_operator_reconcile_total counter" in text


@pytest.mark.skipif(__import__("shutil").which("kubectl") is None, reason="kubectl (its built-in kustomize) missing")
def test_the_metrics_components_turn_the_port_on_and_select_the_operator(tmp_path: Any) -> None:
    import os
    import pathlib
    import subprocess

    import yaml

    repo = pathlib.Path(__file__).resolve().parents[2]
    rel = lambda p: os.path.relpath(repo / p, tmp_path)  # noqa: E731
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [rel("manifests/base")],
        "components": [rel("manifests/metrics"), rel("manifests/metrics/servicemonitor")]}))
    built = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60,
                           check=False)
    assert built.returncode == 0, built.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(built.stdout)}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics-port=8081" in container["args"]
    assert {"name": "metrics", "containerPort": 8081} in container["ports"]
    service = docs["Service"]
    assert service["spec"]["selector"].items() <= docs["Deployment"]["spec"]["template"]["metadata"]["labels"].items()
    assert docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


async def test_a_round_trip_of_several_commands_is_timed_once_under_its_first_commands_step() -> None:
    from jobcenter_operator.node import BatchItem

    metrics = Metrics()
    runner = metrics.metered(_Runner())
    await runner.run_batch(NODE, CREDS, TIMEOUTS, [BatchItem(("sh", "-c", "s", "stopgroup")),
                                                   BatchItem(("sh", "-c", "s", "startgroup"))])
    assert _value(metrics, "jobcenter_operator_ssh_command_duration_seconds_count", step="stopgroup") == 1
    assert _value(metrics, "jobcenter_operator_ssh_command_duration_seconds_count", step="startgroup") is None
    assert _value(metrics, "jobcenter_operator_ssh_command_duration_seconds_count", step="batch") is None
