"""manifests/ha builds with kustomize: the single Deployment replaced by a StatefulSet whose replicas
know their identity and the shard count, a PodDisruptionBudget, and RBAC for the Leases."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl") or shutil.which(str(REPO / ".venv" / "bin" / "kubectl"))


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (kustomize is built in)")
def test_ha_overlay() -> None:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(REPO / "manifests" / "ha")], capture_output=True, text=True,
                         check=True, timeout=60)
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "jobcenter-operator") not in kinds  # two sets of replicas would both act
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] >= 2
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert int(env["JCOP_SHARDS"]["value"]) >= sts["spec"]["replicas"]
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == sts["spec"]["selector"]
    lease_rules = [r for d in docs if d["kind"] == "Role" for r in d["rules"]
                   if "coordination.k8s.io" in r["apiGroups"] and "leases" in r["resources"]]
    assert lease_rules and {"list", "create", "update", "delete"} <= set(lease_rules[0]["verbs"])
    bindings = [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "jobcenter-operator-leases"]
    assert bindings[0]["subjects"][0]["name"] == sts["spec"]["template"]["spec"]["serviceAccountName"]
