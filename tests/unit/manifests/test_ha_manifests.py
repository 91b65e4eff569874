"""manifests/ha renders with kustomize: the Deployment of ../default replaced by a StatefulSet whose
pod template is the Deployment's plus the sharding settings, under the restricted Pod Security
Standard; a PodDisruptionBudget; RBAC for the Leases."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.manifests.restricted_pss import violations

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (make prereqs installs it)")
SHARDING = {"JCOP_SHARDS", "POD_NAME", "POD_NAMESPACE"}


def render(directory: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture(scope="module")
def ha() -> list[dict[str, Any]]:
    return render(ROOT / "manifests" / "ha")


def test_a_statefulset_replaces_the_deployment(ha: list[dict[str, Any]]) -> None:
    assert not [d for d in ha if d["kind"] == "Deployment"]  # two sets of replicas would both act
    assert {d["metadata"]["name"] for d in ha if d["kind"] == "CustomResourceDefinition"}  # as default/
    sts = next(d for d in ha if d["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] >= 2
    container = sts["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert int(env["JCOP_SHARDS"]["value"]) >= sts["spec"]["replicas"]
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert violations(sts["spec"]["template"]["spec"]) == []


def test_the_pod_template_is_the_deployments_plus_sharding(ha: list[dict[str, Any]]) -> None:
    deployment = next(d for d in render(ROOT / "manifests" / "default") if d["kind"] == "Deployment")
    sts = next(d for d in ha if d["kind"] == "StatefulSet")
    pod = copy.deepcopy(sts["spec"]["template"])
    pod["spec"].pop("affinity")
    container = pod["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] not in SHARDING]
    assert pod == deployment["spec"]["template"]
    assert sts["spec"]["selector"] == deployment["spec"]["selector"]


def test_disruption_budget_and_lease_rbac(ha: list[dict[str, Any]]) -> None:
    sts = next(d for d in ha if d["kind"] == "StatefulSet")
    pdb = next(d for d in ha if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == sts["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1
    role = next(d for d in ha if d["kind"] == "Role" and d["metadata"]["name"] == "jobcenter-operator-leases")
    rule = next(r for r in role["rules"] if "coordination.k8s.io" in r["apiGroups"])
    assert "leases" in rule["resources"] and {"list", "create", "update", "delete"} <= set(rule["verbs"])
    binding = next(d for d in ha if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == role["metadata"]["name"])
    assert binding["subjects"][0]["name"] == sts["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == sts["metadata"]["namespace"]
