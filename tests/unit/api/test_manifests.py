"""Samples are accepted, and a table of bad manifests is refused, by BOTH the pydantic models and
the generated CRD (its openAPIV3Schema and CEL rules, evaluated by the stand-in's admission code),
each time with an error that names the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hack.standin.admission import admit
from jobcenter_operator.api import ClusterproCluster, JobCenterSite
from jobcenter_operator.api.crdgen import render_crds
from jobcenter_operator.api.site import immutable_field_changes

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "manifests" / "samples"
CRDS = {yaml.safe_load(t)["spec"]["names"]["kind"]: yaml.safe_load(t) for t in render_crds().values()}
MODELS: dict[str, Any] = {"ClusterproCluster": ClusterproCluster, "JobCenterSite": JobCenterSite}


def _sample(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / name).read_text())
    assert isinstance(doc, dict)
    return doc


CLUSTER = _sample("clusterprocluster.yaml")
CLASSIC = _sample("jobcentersite-classic.yaml")
MANAGER = _sample("jobcentersite-standard-manager.yaml")
AGENT = _sample("jobcentersite-standard-agent.yaml")


def _custom_resource_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("*.yaml") if yaml.safe_load(p.read_text())["kind"] in MODELS)


def test_every_kind_and_mode_has_a_sample() -> None:
    kinds = [(d["kind"], d["spec"].get("mode")) for d in (CLUSTER, CLASSIC, MANAGER, AGENT)]
    assert kinds == [
        ("ClusterproCluster", None),
        ("JobCenterSite", "Classic"),
        ("JobCenterSite", "StandardManager"),
        ("JobCenterSite", "StandardAgent"),
    ]
    assert len(_custom_resource_samples()) == 4
    secret = _sample("secret-ssh-credentials.yaml")
    assert secret["metadata"]["name"] == CLUSTER["spec"]["ssh"]["credentialsSecretRef"]["name"]
    assert {"ssh-privatekey", "known_hosts"} <= set(secret["stringData"])


@pytest.mark.parametrize("path", _custom_resource_samples(), ids=lambda p: p.name)
def test_sample_is_valid_for_models_and_crd(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    MODELS[doc["kind"]].model_validate(doc)
    admitted, errors = admit(CRDS[doc["kind"]], doc)
    assert errors == []
    # Defaults from the schema are what the models default to.
    model_defaults = MODELS[doc["kind"]].model_validate(doc).to_wire()["spec"]
    assert admitted["spec"] == model_defaults


def test_vendor_guide_values_in_samples() -> None:
    assert (CLASSIC["spec"]["virtualHost"], CLASSIC["spec"]["machineId"]) == ("cluv", 114)
    assert (CLASSIC["spec"]["databasePath"], CLASSIC["spec"]["floatingIP"]) == ("/mnt/sdb2", "10.0.0.114")
    assert (MANAGER["spec"]["virtualHost"], MANAGER["spec"]["machineId"]) == ("jcmgcluster", 100)
    assert MANAGER["spec"]["databasePath"] == "/mnt/jobmgdb"
    assert AGENT["spec"]["agent"]["agentName"] == "jcagcluster"
    assert AGENT["spec"]["agent"]["instanceName"] == "clusterinstance"
    assert AGENT["spec"]["databasePath"] == "/mnt/jobagdb"


# --- the bad-manifest table -------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets a dotted path (list indexes as numbers) to value."""

    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return edit


_DELETE = object()


def _wire_field(path: str) -> str:
    """spec.nodes.0.address -> spec.nodes[0].address (the API server's notation)."""
    out = ""
    for part in path.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


# Every string field of both kinds that reaches a node or a command line.
STRING_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("cluster", CLUSTER, "spec.nodes.0.name"),
    ("cluster", CLUSTER, "spec.nodes.1.address"),
    ("cluster", CLUSTER, "spec.ssh.user"),
    ("cluster", CLUSTER, "spec.ssh.credentialsSecretRef.name"),
    ("classic", CLASSIC, "spec.clusterRef.name"),
    ("classic", CLASSIC, "spec.failoverGroup"),
    ("classic", CLASSIC, "spec.execResource"),
    ("classic", CLASSIC, "spec.monitorResource"),
    ("classic", CLASSIC, "spec.databasePath"),
    ("classic", CLASSIC, "spec.virtualHost"),
    ("classic", CLASSIC, "spec.floatingIP"),
    ("agent", AGENT, "spec.agent.instanceId"),
    ("agent", AGENT, "spec.agent.instanceName"),
    ("agent", AGENT, "spec.agent.agentName"),
]
METACHARACTERS = [";", "$(", ")", "|", "&", ">", "<", "`", "'", '"', "\n", " ", "\\", "*"]


def _hostile_value(base: Any, meta: str) -> str:
    return f"{base}{meta}reboot" if meta != "$(" else f"{base}$(reboot)"


BadCase = tuple[str, dict[str, Any], list[Edit], str, dict[str, Any] | None]


def _cases() -> list[Any]:
    cases: list[Any] = []

    def add(case_id: str, base: dict[str, Any], edits: list[Edit], field: str, old: dict[str, Any] | None = None):
        cases.append(pytest.param(base, edits, field, old, id=case_id))

    for label, base, path in STRING_FIELDS:
        current = base
        for part in path.split("."):
            current = current[int(part)] if part.isdigit() else current[part]
        for meta in METACHARACTERS:
            add(f"{label}:{path}:{meta!r}", base, [_set(path, _hostile_value(current, meta))], _wire_field(path))

    bad_paths = ["mnt/sdb2", "/mnt/../etc", "/mnt/./sdb2", "/mnt/sdb2/", "/", "/mnt/-rf", "/mnt//sdb2", "/mnt/.x"]
    for bad_path in bad_paths:
        add(f"databasePath {bad_path!r}", CLASSIC, [_set("spec.databasePath", bad_path)], "spec.databasePath")
    for machine_id in [0, -1, 2147483648]:
        add(f"machineId {machine_id}", CLASSIC, [_set("spec.machineId", machine_id)], "spec.machineId")
    for port in [0, 65536, -22]:
        add(f"port {port}", CLUSTER, [_set("spec.nodes.0.port", port)], "spec.nodes[0].port")
    for ip in ["256.0.0.1", "10.0.0", "10.0.0.114.1", "010.0.0.1"]:
        add(f"floatingIP {ip}", CLASSIC, [_set("spec.floatingIP", ip)], "spec.floatingIP")
    for field in ["virtualHost", "machineId", "floatingIP"]:
        add(f"Classic without {field}", CLASSIC, [_set(f"spec.{field}", _DELETE)], f"spec.{field}")
        add(f"StandardManager without {field}", MANAGER, [_set(f"spec.{field}", _DELETE)], f"spec.{field}")
    add("StandardAgent without agent", AGENT, [_set("spec.agent", _DELETE)], "spec.agent")
    add("agent on a Classic site", CLASSIC, [_set("spec.agent", AGENT["spec"]["agent"])], "spec.agent")
    add("unknown mode", CLASSIC, [_set("spec.mode", "Master")], "spec.mode")
    add("unknown hostKeyPolicy", CLUSTER, [_set("spec.ssh.hostKeyPolicy", "None")], "spec.ssh.hostKeyPolicy")
    add("unknown deletionPolicy", CLASSIC, [_set("spec.deletionPolicy", "Delete")], "spec.deletionPolicy")
    add(
        "duplicate node names",
        CLUSTER,
        [_set("spec.nodes.1.name", CLUSTER["spec"]["nodes"][0]["name"])],
        "spec.nodes",
    )
    add("a single node", CLUSTER, [_set("spec.nodes", CLUSTER["spec"]["nodes"][:1])], "spec.nodes")
    add("no nodes", CLUSTER, [_set("spec.nodes", [])], "spec.nodes")
    add("missing credentials", CLUSTER, [_set("spec.ssh.credentialsSecretRef", _DELETE)],
        "spec.ssh.credentialsSecretRef")
    add("over-long metadata.name", CLASSIC, [_set("metadata.name", "s" * 64)], "metadata.name")
    add("over-long failoverGroup", CLASSIC, [_set("spec.failoverGroup", "g" * 32)], "spec.failoverGroup")
    add("over-long node name", CLUSTER, [_set("spec.nodes.0.name", "n" * 64)], "spec.nodes[0].name")
    add("over-long virtualHost label", CLASSIC, [_set("spec.virtualHost", "v" * 64)], "spec.virtualHost")
    add("over-long databasePath", CLASSIC, [_set("spec.databasePath", "/" + "d" * 255)], "spec.databasePath")
    add("timeout out of range", CLUSTER, [_set("spec.ssh.timeouts", {"connectSeconds": 0})],
        "spec.ssh.timeouts.connectSeconds")
    # Transition rules: the update is refused, the create of the same object would not be.
    for field, value in [("databasePath", "/mnt/sdb3"), ("machineId", 115), ("virtualHost", "cluv2")]:
        add(f"changed {field}", CLASSIC, [_set(f"spec.{field}", value)], f"spec.{field}", CLASSIC)
    add("changed mode", MANAGER, [_set("spec.mode", "Classic")], "spec.mode", MANAGER)
    return cases


CASES = _cases()


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 30


def _pydantic_error_names(exc: ValidationError, field: str) -> bool:
    last = field.rsplit(".", 1)[-1].split("[", 1)[0]
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        if loc == field or loc.startswith(field + ".") or loc.startswith(field + "["):
            return True
        # Cross-field rules (model validators) are reported at the object and name the field in the text.
        if field.startswith(loc) and last in err["msg"]:
            return True
    return False


@pytest.mark.parametrize(("base", "edits", "field", "old"), CASES)
def test_bad_manifest_is_refused_by_models_and_crd(
    base: dict[str, Any], edits: list[Edit], field: str, old: dict[str, Any] | None
) -> None:
    doc = copy.deepcopy(base)
    for edit in edits:
        edit(doc)
    model = MODELS[doc["kind"]]

    # The CRD: schema + CEL, through the same admission code the stand-in serves with.
    _, errors = admit(CRDS[doc["kind"]], doc, old)
    assert errors, "the CRD admitted a bad manifest"
    assert any(e.field == field or e.field.startswith((field + ".", field + "[")) for e in errors), errors

    # The models.
    if old is None:
        with pytest.raises(ValidationError) as caught:
            model.model_validate(doc)
        assert _pydantic_error_names(caught.value, field), caught.value.errors()
    else:
        # A transition: both objects are valid alone; the models' update check refuses the change.
        before, after = model.model_validate(old), model.model_validate(doc)
        assert field.removeprefix("spec.") in immutable_field_changes(before.spec, after.spec)
        _, create_errors = admit(CRDS[doc["kind"]], doc)
        assert create_errors == []
