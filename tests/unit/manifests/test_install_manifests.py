"""manifests/default and manifests/clusterwide render with `kubectl kustomize` and say what an install
on a real cluster needs: CRDs, a restricted namespace, RBAC that works, a pod that meets the restricted
Pod Security Standard, a watched namespace taken from the Deployment's own, a grace period for the
longest node step, a writable audit log, and a NetworkPolicy. (tests/standin/test_install.py applies
them to the API stand-in.)"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobcenter_operator.audit import DEFAULT_MAX_BYTES
from jobcenter_operator.cli import watched_from_env
from tests.unit.manifests.restricted_pss import violations

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (make prereqs installs it)")


def render(directory: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def container_env(deployment: dict[str, Any]) -> dict[str, str]:
    """The operator container's environment as the kubelet would set it (downward API resolved)."""
    pod_namespace = deployment["metadata"]["namespace"]  # a Deployment's pods run in its namespace
    env: dict[str, str] = {}
    for var in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = pod_namespace
    return env


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render(ROOT / "manifests" / "default")


@pytest.fixture(scope="module")
def clusterwide() -> list[dict[str, Any]]:
    return render(ROOT / "manifests" / "clusterwide")


CRD_NAMES = {"clusterproclusters.jobcenter.clusterpro.io", "jobcentersites.jobcenter.clusterpro.io"}


@pytest.mark.parametrize("variant", ["default", "clusterwide"])
def test_one_apply_installs_crds_namespace_rbac_and_the_operator(variant: str, request: pytest.FixtureRequest) -> None:
    docs = request.getfixturevalue(variant)
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"} == CRD_NAMES
    ns = one(docs, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = one(docs, "Deployment")
    namespaced = [d for d in docs if d["kind"] not in {"Namespace", "CustomResourceDefinition", "ClusterRole",
                                                        "ClusterRoleBinding"}]
    assert {d["metadata"]["namespace"] for d in namespaced} == {ns["metadata"]["name"]}
    assert one(docs, "ServiceAccount")["metadata"]["name"] == deployment["spec"]["template"]["spec"][
        "serviceAccountName"]
    # The CRDs come first: kustomize orders them before anything that could use them.
    kinds = [d["kind"] for d in docs]
    assert kinds.index("CustomResourceDefinition") < kinds.index("Deployment")


def test_default_watches_the_namespace_it_runs_in(default: list[dict[str, Any]]) -> None:
    deployment = one(default, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not {"--namespace", "-n", "--all-namespaces", "-A"} & set(args), args
    assert watched_from_env(container_env(deployment)) == [deployment["metadata"]["namespace"]]
    # Its permissions are in that namespace, bound to its own ServiceAccount there.
    role, binding = one(default, "Role"), one(default, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jobcenter-operator",
                                    "namespace": deployment["metadata"]["namespace"]}]


def test_clusterwide_watches_every_namespace_with_a_cluster_role(default: list[dict[str, Any]],
                                                                  clusterwide: list[dict[str, Any]]) -> None:
    deployment = one(clusterwide, "Deployment")
    assert "--all-namespaces" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [d for d in clusterwide if d["kind"] in ("Role", "RoleBinding")]
    role = one(clusterwide, "ClusterRole", "jobcenter-operator")
    assert role["rules"] == one(default, "Role")["rules"]  # the same permissions, in every namespace
    binding = one(clusterwide, "ClusterRoleBinding", "jobcenter-operator")
    assert binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] == "jobcenter-operator"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jobcenter-operator",
                                    "namespace": deployment["metadata"]["namespace"]}]


@pytest.mark.parametrize("variant", ["default", "clusterwide"])
def test_pod_meets_the_restricted_pod_security_standard(variant: str, request: pytest.FixtureRequest) -> None:
    pod = one(request.getfixturevalue(variant), "Deployment")["spec"]["template"]["spec"]
    assert violations(pod) == []
    assert pod["securityContext"]["runAsUser"] == 65532  # the image's user


BREAKERS: list[tuple[str, Any]] = [
    ("allowPrivilegeEscalation", lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation")),
    ("runAsNonRoot", lambda p: (p["securityContext"].pop("runAsNonRoot"),
                                p["containers"][0]["securityContext"].pop("runAsNonRoot"))),
    ("runAsUser", lambda p: p["securityContext"].update(runAsUser=0)),
    ("capabilities.drop", lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"])),
    ("capabilities.add", lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"])),
    ("seccompProfile", lambda p: (p["securityContext"].pop("seccompProfile"),
                                  p["containers"][0]["securityContext"].pop("seccompProfile"))),
    ("seccompProfile", lambda p: p["containers"][0]["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    ("privileged", lambda p: p["containers"][0]["securityContext"].update(privileged=True)),
    ("hostNetwork", lambda p: p.update(hostNetwork=True)),
    ("hostPort", lambda p: p["containers"][0]["ports"][0].update(hostPort=8080)),
    ("hostPath", lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
    ("procMount", lambda p: p["containers"][0]["securityContext"].update(procMount="Unmasked")),
    ("seLinuxOptions", lambda p: p["securityContext"].update(seLinuxOptions={"user": "system_u"})),
    ("sysctl", lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
]


@pytest.mark.parametrize(("rule", "breaker"), BREAKERS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BREAKERS)])
def test_the_pod_security_check_catches_each_rule(default: list[dict[str, Any]], rule: str, breaker: Any) -> None:
    pod = copy.deepcopy(one(default, "Deployment")["spec"]["template"]["spec"])
    breaker(pod)
    assert any(rule.split(".")[0] in v for v in violations(pod)), (rule, violations(pod))


def test_grace_period_fits_the_longest_node_step(default: list[dict[str, Any]]) -> None:
    """A running command may take the cluster's commandSeconds (the CRD's default), and a group the step
    stopped must be started again: two commands plus a minute for SSH and the status write."""
    crd = one(default, "CustomResourceDefinition", "clusterproclusters.jobcenter.clusterpro.io")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    command_seconds = schema["properties"]["spec"]["properties"]["ssh"]["properties"]["timeouts"][
        "properties"]["commandSeconds"]["default"]
    pod = one(default, "Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 2 * command_seconds + 60


def test_audit_log_goes_to_a_writable_volume_under_a_read_only_root(default: list[dict[str, Any]]) -> None:
    deployment = one(default, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    audit = Path(container_env(deployment)["JCOP_AUDIT_LOG"])
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {Path(m["mountPath"]): m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert mounts.get(audit.parent) in empty_dirs, (audit, mounts)


def _quantity_bytes(quantity: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


@pytest.mark.parametrize("overlay", ["default", "clusterwide", "ha"])
def test_the_rotated_audit_log_fits_its_volume(overlay: str) -> None:
    """A pod whose emptyDir outgrows its sizeLimit is evicted: the audit log and its one rotated
    predecessor must fit, at the size limit the pod sets (or the operator's default)."""
    docs = render(ROOT / "manifests" / overlay)
    workload = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet"))
    pod = workload["spec"]["template"]["spec"]
    env = container_env(workload)
    max_bytes = int(env.get("JCOP_AUDIT_LOG_MAX_BYTES", DEFAULT_MAX_BYTES))
    mount = next(m["name"] for m in pod["containers"][0]["volumeMounts"]
                 if Path(m["mountPath"]) == Path(env["JCOP_AUDIT_LOG"]).parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mount)
    assert 2 * max_bytes <= _quantity_bytes(volume["emptyDir"]["sizeLimit"]), (overlay, max_bytes, volume)


def test_network_policy_allows_only_the_api_server_ssh_and_dns(default: list[dict[str, Any]]) -> None:
    policy, deployment = one(default, "NetworkPolicy"), one(default, "Deployment")
    spec = policy["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    egress = {(p.get("protocol", "TCP"), p["port"]) for rule in spec["egress"] for p in rule["ports"]}
    assert egress == {("TCP", 443), ("TCP", 6443), ("TCP", 22), ("UDP", 53), ("TCP", 53)}
    ingress = {(p.get("protocol", "TCP"), p["port"]) for rule in spec["ingress"] for p in rule["ports"]}
    health = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert ingress == {("TCP", health)}


def test_samples_say_which_namespace_they_belong_in(default: list[dict[str, Any]]) -> None:
    watched = one(default, "Deployment")["metadata"]["namespace"]
    for sample in sorted((ROOT / "manifests" / "samples").glob("*.yaml")):
        header = "".join(line for line in sample.read_text().splitlines(keepends=True) if line.startswith("#"))
        assert "Where it belongs" in header and f"-n {watched}" in header, sample.name
        assert "namespace" not in yaml.safe_load(sample.read_text())["metadata"], sample.name


def test_crds_alone_render_for_an_upgrade() -> None:
    """README's upgrade step 1, `kubectl apply -k crds`: exactly the generated CRDs."""
    docs = render(ROOT / "crds")
    assert {d["kind"] for d in docs} == {"CustomResourceDefinition"}
    assert {d["metadata"]["name"] for d in docs} == CRD_NAMES


def test_watched_namespaces_from_the_environment() -> None:
    assert watched_from_env({"JCOP_NAMESPACES": " team-a, team-b ,"}) == ["team-a", "team-b"]
    assert watched_from_env({"JCOP_NAMESPACES": ""}) == []
    assert watched_from_env({}) == []
