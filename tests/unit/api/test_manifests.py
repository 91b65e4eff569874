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
# spec.disruption is optional: bases that carry it, for the table.
_WINDOWS = {"windows": [{"days": ["Sat", "Sun"], "start": "22:00", "duration": "4h", "timeZone": "Europe/Berlin"}],
            "approval": "Manual"}
CLUSTER_WINDOWED = {**CLUSTER, "spec": {**CLUSTER["spec"], "disruption": _WINDOWS}}
CLASSIC_WINDOWED = {**CLASSIC, "spec": {**CLASSIC["spec"], "disruption": _WINDOWS}}


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
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
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


# Every field a user writes, by kind of value: (label, base manifest, dotted path, maxLength).
STRING_FIELDS: list[tuple[str, dict[str, Any], str, int]] = [
    ("cluster", CLUSTER, "spec.nodes.0.name", 63),
    ("cluster", CLUSTER, "spec.nodes.1.address", 253),
    ("cluster", CLUSTER, "spec.ssh.user", 32),
    ("cluster", CLUSTER, "spec.ssh.credentialsSecretRef.name", 253),
    ("classic", CLASSIC, "spec.clusterRef.name", 253),
    ("classic", CLASSIC, "spec.failoverGroup", 31),
    ("classic", CLASSIC, "spec.execResource", 31),
    ("classic", CLASSIC, "spec.monitorResource", 31),
    ("classic", CLASSIC, "spec.databasePath", 255),
    ("classic", CLASSIC, "spec.virtualHost", 253),
    ("classic", CLASSIC, "spec.floatingIP", 15),
    ("agent", AGENT, "spec.agent.instanceId", 63),
    ("agent", AGENT, "spec.agent.instanceName", 63),
    ("agent", AGENT, "spec.agent.agentName", 63),
    *((label, base, f"spec.disruption.windows.0.{name}", limit)
      for label, base in (("cluster", CLUSTER_WINDOWED), ("classic", CLASSIC_WINDOWED))
      for name, limit in (("start", 5), ("duration", 8), ("timeZone", 64))),
]
ENUM_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("cluster", CLUSTER, "spec.ssh.hostKeyPolicy"),
    ("cluster", CLUSTER, "spec.ssh.become"),
    ("classic", CLASSIC, "spec.mode"),
    ("classic", CLASSIC, "spec.localDaemon"),
    ("classic", CLASSIC, "spec.managementPolicy"),
    ("classic", CLASSIC, "spec.deletionPolicy"),
    ("classic", CLASSIC, "spec.driftPolicy"),
    ("cluster", CLUSTER_WINDOWED, "spec.disruption.approval"),
    ("classic", CLASSIC_WINDOWED, "spec.disruption.approval"),
    ("cluster", CLUSTER_WINDOWED, "spec.disruption.windows.0.days.0"),
    ("classic", CLASSIC_WINDOWED, "spec.disruption.windows.0.days.0"),
]
# (label, base, path, lowest allowed, highest allowed)
INT_FIELDS: list[tuple[str, dict[str, Any], str, int, int]] = [
    ("cluster", CLUSTER, "spec.nodes.0.port", 1, 65535),
    ("cluster", CLUSTER, "spec.ssh.timeouts.connectSeconds", 1, 300),
    ("cluster", CLUSTER, "spec.ssh.timeouts.commandSeconds", 5, 3600),
    ("cluster", CLUSTER, "spec.ssh.timeouts.keepaliveSeconds", 1, 300),
    ("classic", CLASSIC, "spec.machineId", 1, 2147483647),
    ("classic", CLASSIC, "spec.monitorIntervalSeconds", 1, 3600),
]
BOOL_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("classic", CLASSIC, "spec.processMonitoring"),
    ("classic", CLASSIC, "spec.suspend"),
]
METACHARACTERS = [";", "$(", ")", "|", "&", ">", "<", "`", "'", '"', "\n", " ", "\\", "*", "?", "[", "{", "~",
                  "!", "#", "%", "="]
CONTROL_CHARACTERS = ["\x00", "\t", "\r", "\x1b", "\x7f", "\x85", "\u2028"]
ENUM_DEFAULTS = {"spec.ssh.hostKeyPolicy": "Strict", "spec.ssh.become": "None", "spec.localDaemon": "Site",
                 "spec.managementPolicy": "Enforce", "spec.deletionPolicy": "Retain", "spec.driftPolicy": "Correct"}


def _hostile_value(base: Any, meta: str) -> str:
    return f"{base}{meta}reboot" if meta != "$(" else f"{base}$(reboot)"


def _look_alikes(value: str) -> list[str]:
    """The value with one character swapped for a Unicode character that looks the same."""
    homoglyphs = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
                  "1": "\uff11", "0": "\u0660", ".": "\u2024", "/": "\u2215", "-": "\u2010", "l": "\u04cf"}
    out = []
    for index, char in enumerate(value):
        if char in homoglyphs:
            out.append(value[:index] + homoglyphs[char] + value[index + 1:])
            break
    digit = next((i for i, ch in enumerate(value) if ch.isdigit()), None)
    if digit is not None:  # a fullwidth digit
        out.append(value[:digit] + chr(ord(value[digit]) + 0xFF10 - 0x30) + value[digit + 1:])
    out.append(value[:1] + "\u200b" + value[1:])  # zero-width space
    out.append(value[:1] + "\u00a0" + value[1:])  # no-break space
    return out


def _overlong(path: str, limit: int) -> list[str]:
    if path.endswith("databasePath"):
        return ["/" + "d" * limit, "/mnt/" + "d" * (limit - 4)]
    if path.endswith("floatingIP"):
        return ["10.0.0.1141", "010.000.000.114"]
    if path.endswith(("address", "virtualHost")):
        return ["v" * 64, ".".join(["h" * 50] * 5) + ".xy"]  # a 64-character label; 255 characters
    return ["n" * (limit + 1)]


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    return node


def _get_or_default(doc: dict[str, Any], path: str) -> Any:
    try:
        return _get(doc, path)
    except KeyError:
        return ENUM_DEFAULTS[path]


def _cases() -> list[Any]:
    cases: list[Any] = []

    def add(case_id: str, base: dict[str, Any], edits: list[Edit], field: str, old: dict[str, Any] | None = None):
        cases.append(pytest.param(base, edits, field, old, id=case_id))

    def bad(label: str, base: dict[str, Any], path: str, value: Any, what: str) -> None:
        add(f"{label}:{path}:{what}:{value!r}"[:200], base, [_set(path, value)], _wire_field(path))

    for label, base, path, limit in STRING_FIELDS:
        current = _get(base, path)
        for meta in METACHARACTERS:
            bad(label, base, path, _hostile_value(current, meta), "shell")
        for control in CONTROL_CHARACTERS:
            bad(label, base, path, current[:2] + control + current[2:], "control")
        # RE2 and Rust anchor `$` at the very end; Python's `$` would let these through.
        bad(label, base, path, current + "\n", "trailing newline")
        bad(label, base, path, "\n" + current, "leading newline")
        bad(label, base, path, "-" + current.lstrip("/"), "option")
        bad(label, base, path, "--" + current.lstrip("/"), "option")
        bad(label, base, path, "../" + current.lstrip("/"), "traversal")
        bad(label, base, path, current + "/..", "traversal")
        for look_alike in _look_alikes(current):
            bad(label, base, path, look_alike, "look-alike")
        for long_value in _overlong(path, limit):
            bad(label, base, path, long_value, "overlong")
        bad(label, base, path, "", "empty")
        for wrong in (123, True, [current], {"value": current}):
            bad(label, base, path, wrong, "type")
    for label, base, path in ENUM_FIELDS:
        current = _get_or_default(base, path)
        for wrong in (current.lower(), current.upper(), f" {current}", f"{current}\n", f"-{current}", "", 1, True):
            bad(label, base, path, wrong, "enum")
    for label, base, path, low, high in INT_FIELDS:
        for wrong in (low - 1, high + 1, -(2**31), 2**53):
            bad(label, base, path, wrong, "range")
        for wrong in (str(low), f"{low}; reboot", 1.5, True, [low], {"value": low}):
            bad(label, base, path, wrong, "type")
    for label, base, path in BOOL_FIELDS:
        for wrong in ("true", "false", "yes", 1, 0, [True]):
            bad(label, base, path, wrong, "type")

    bad_paths = ["mnt/sdb2", "/mnt/../etc", "/mnt/./sdb2", "/mnt/sdb2/", "/", "/mnt/-rf", "/mnt//sdb2", "/mnt/.x",
                 "/mnt/..", "/..", "//", "/mnt/sdb2/.", "~/sdb2", "/mnt/sd b2", "/mnt/$HOME", "/mnt/sdb2\n"]
    for bad_path in bad_paths:
        add(f"databasePath {bad_path!r}", CLASSIC, [_set("spec.databasePath", bad_path)], "spec.databasePath")
    for ip in ["256.0.0.1", "10.0.0", "10.0.0.114.1", "010.0.0.1", "127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3",  # noqa: S104 (refused values)
               "10.0.0.114/24", "::1", "fd00::114", "cluv"]:
        add(f"floatingIP {ip}", CLASSIC, [_set("spec.floatingIP", ip)], "spec.floatingIP")

    # Node addresses: a dotted-quad IPv4, an IPv6 address or a DNS name whose last label starts with a
    # letter; nothing that reaches the operator's own host.
    for address in ["0", "127.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.0.0.1", "127.255.255.254",
                    "0.0.0.0", "0.0.0.1", "::1", "::", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1",  # noqa: S104
                    "::127.0.0.1", "localhost", "LOCALHOST", "localhost.localdomain", "localhost6", "ip6-localhost",
                    "ip6-loopback", "node1.localhost", "node1.LocalHost", "127.0x1", "10.0.0.1:22", "[fd00::1]",
                    "fe80::1%eth0", "fd00::01", "fd00:0000::1", "node1.example.com.", ".example.com",
                    "http://node1", "node1_b.example.com", "3par", "node1.example.123", "-node1", "192.168.000.111",
                    "1:2:3:4:5:6:7:8:9", "fd00::1::2"]:
        add(f"node address {address!r}", CLUSTER, [_set("spec.nodes.1.address", address)], "spec.nodes[1].address")
    for host in ["10.0.0.114", "fd00::114", "localhost", "cluv.localhost", "114", "0x72"]:
        add(f"virtualHost {host!r}", CLASSIC, [_set("spec.virtualHost", host)], "spec.virtualHost")

    # Duplicate nodes, also when they differ only in case or leading zeros.
    first = CLUSTER["spec"]["nodes"][0]
    add("duplicate node names", CLUSTER, [_set("spec.nodes.1.name", first["name"])], "spec.nodes")
    add("node names differing in case", CLUSTER, [_set("spec.nodes.1.name", first["name"].upper())], "spec.nodes")
    add("duplicate node addresses", CLUSTER, [_set("spec.nodes.1.address", first["address"])], "spec.nodes")
    add("node addresses differing in leading zeros", CLUSTER,
        [_set("spec.nodes.1.address", "192.168.000.111")], "spec.nodes[1].address")
    for a, b in [("node1.example.com", "NODE1.example.com"), ("fd00::10", "FD00::10"), ("Node1", "nODE1")]:
        add(f"node addresses {a} and {b}", CLUSTER,
            [_set("spec.nodes.0.address", a), _set("spec.nodes.1.address", b)], "spec.nodes")
    add("duplicate address and port", CLUSTER,
        [_set("spec.nodes.0.port", 2222), _set("spec.nodes.1.address", first["address"]),
         _set("spec.nodes.1.port", 2222)], "spec.nodes")

    # Cross-mode fields.
    for field in ["virtualHost", "machineId", "floatingIP"]:
        add(f"Classic without {field}", CLASSIC, [_set(f"spec.{field}", _DELETE)], f"spec.{field}")
        add(f"StandardManager without {field}", MANAGER, [_set(f"spec.{field}", _DELETE)], f"spec.{field}")
        add(f"StandardAgent with {field}", AGENT, [_set(f"spec.{field}", CLASSIC["spec"][field])], f"spec.{field}")
    add("StandardAgent with all Classic fields", AGENT,
        [_set(f"spec.{f}", CLASSIC["spec"][f]) for f in ("virtualHost", "machineId", "floatingIP")],
        "spec.virtualHost")
    add("StandardAgent without agent", AGENT, [_set("spec.agent", _DELETE)], "spec.agent")
    add("agent on a Classic site", CLASSIC, [_set("spec.agent", AGENT["spec"]["agent"])], "spec.agent")
    add("agent on a StandardManager site", MANAGER, [_set("spec.agent", AGENT["spec"]["agent"])], "spec.agent")
    add("agent without instanceId", AGENT, [_set("spec.agent.instanceId", _DELETE)], "spec.agent.instanceId")

    add("unknown mode", CLASSIC, [_set("spec.mode", "Master")], "spec.mode")
    add("unknown hostKeyPolicy", CLUSTER, [_set("spec.ssh.hostKeyPolicy", "None")], "spec.ssh.hostKeyPolicy")
    add("unknown deletionPolicy", CLASSIC, [_set("spec.deletionPolicy", "Delete")], "spec.deletionPolicy")
    add("a single node", CLUSTER, [_set("spec.nodes", CLUSTER["spec"]["nodes"][:1])], "spec.nodes")
    add("no nodes", CLUSTER, [_set("spec.nodes", [])], "spec.nodes")
    add("seventeen nodes", CLUSTER,
        [_set("spec.nodes", [{"name": f"n{i}", "address": f"10.0.0.{i + 1}"} for i in range(17)])], "spec.nodes")
    add("nodes as a map", CLUSTER, [_set("spec.nodes", {"clu1": "192.168.0.111"})], "spec.nodes")
    add("missing credentials", CLUSTER, [_set("spec.ssh.credentialsSecretRef", _DELETE)],
        "spec.ssh.credentialsSecretRef")
    add("credentials as a string", CLUSTER, [_set("spec.ssh.credentialsSecretRef", "jc-cluster-ssh")],
        "spec.ssh.credentialsSecretRef")
    add("clusterRef as a string", CLASSIC, [_set("spec.clusterRef", "jc-cluster")], "spec.clusterRef")
    add("missing clusterRef", CLASSIC, [_set("spec.clusterRef", _DELETE)], "spec.clusterRef")
    add("missing databasePath", CLASSIC, [_set("spec.databasePath", _DELETE)], "spec.databasePath")
    add("over-long metadata.name", CLASSIC, [_set("metadata.name", "s" * 64)], "metadata.name")
    add("dotted metadata.name", CLASSIC, [_set("metadata.name", "cluv.example")], "metadata.name")
    add("over-long cluster metadata.name", CLUSTER, [_set("metadata.name", "c" * 64)], "metadata.name")
    add("timeout out of range", CLUSTER, [_set("spec.ssh.timeouts", {"connectSeconds": 0})],
        "spec.ssh.timeouts.connectSeconds")
    # Transition rules: the update is refused, the create of the same object would not be.
    for field, value in [("databasePath", "/mnt/sdb3"), ("machineId", 115), ("virtualHost", "cluv2"),
                         ("failoverGroup", "failover-jc2"), ("execResource", "exec-jc2"),
                         ("monitorResource", "pidw-jc2")]:
        add(f"changed {field}", CLASSIC, [_set(f"spec.{field}", value)], f"spec.{field}", CLASSIC)
    add("changed clusterRef", CLASSIC, [_set("spec.clusterRef.name", "other-cluster")], "spec.clusterRef", CLASSIC)
    add("changed mode", MANAGER, [_set("spec.mode", "Classic")], "spec.mode", MANAGER)
    add("changed agent.instanceId", AGENT, [_set("spec.agent.instanceId", "2")], "spec.agent.instanceId", AGENT)

    # Maintenance windows: times, durations, days.
    window = "spec.disruption.windows.0"
    for start in ["24:00", "7:00", "07:60", "07-00", "0700", "07:00:00"]:
        add(f"window start {start!r}", CLASSIC_WINDOWED, [_set(f"{window}.start", start)],
            "spec.disruption.windows[0].start")
    for duration in ["0h", "0m", "0h0m", "169h", "200h", "1h60m", "90m", "2h 30m", "2H", "1.5h", "30s", "1d", "h", "m"]:
        add(f"window duration {duration!r}", CLASSIC_WINDOWED, [_set(f"{window}.duration", duration)],
            "spec.disruption.windows[0].duration")
    for zone in ["/Europe/Berlin", "Europe/", "Europe//Berlin", "Europe/Berlin/", "a/b/c/d", "Europe/../etc"]:
        add(f"window timeZone {zone!r}", CLUSTER_WINDOWED, [_set(f"{window}.timeZone", zone)],
            "spec.disruption.windows[0].timeZone")
    add("window without days", CLASSIC_WINDOWED, [_set(f"{window}.days", [])], "spec.disruption.windows[0].days")
    add("window with a day twice", CLASSIC_WINDOWED, [_set(f"{window}.days", ["Mon", "Mon"])],
        "spec.disruption.windows[0].days")
    add("window without start", CLASSIC_WINDOWED, [_set(f"{window}.start", _DELETE)],
        "spec.disruption.windows[0].start")
    add("window without duration", CLUSTER_WINDOWED, [_set(f"{window}.duration", _DELETE)],
        "spec.disruption.windows[0].duration")
    add("empty windows list", CLASSIC_WINDOWED, [_set("spec.disruption.windows", [])], "spec.disruption.windows")
    add("seventeen windows", CLASSIC_WINDOWED,
        [_set("spec.disruption.windows", [{"days": ["Mon"], "start": "01:00", "duration": "1h"}] * 17)],
        "spec.disruption.windows")
    return cases


CASES = _cases()


def _with_re2_anchors(node: Any) -> Any:
    """The CRD with each pattern's final ``$`` read as RE2 reads it (end of text), for Python ``re``.

    Exact for the pattern subset test_patterns.py enforces (``$`` only last)."""
    if isinstance(node, dict):
        return {k: (v[:-1] + r"\Z" if k == "pattern" and isinstance(v, str) else _with_re2_anchors(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_with_re2_anchors(v) for v in node]
    return node


def _standin_anchors_like_re2() -> bool:
    probe = copy.deepcopy(CLASSIC)
    probe["spec"]["failoverGroup"] += "\n"
    return bool(admit(CRDS["JobCenterSite"], probe)[1])


# The API server matches patterns with RE2. While the stand-in's admission reads them with Python
# `re` (whose `$` also matches before a final newline), the table runs it on RE2-anchored copies.
STANDIN_RE2 = _standin_anchors_like_re2()
ADMISSION_CRDS = CRDS if STANDIN_RE2 else {kind: _with_re2_anchors(crd) for kind, crd in CRDS.items()}


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 800


def _spec_leaves(kind: str, schema: dict[str, Any], path: str = "spec") -> set[str]:
    if schema.get("type") == "object" and "properties" in schema:
        props = schema["properties"].items()
        return {leaf for name, sub in props for leaf in _spec_leaves(kind, sub, f"{path}.{name}")}
    if schema.get("type") == "array":
        return _spec_leaves(kind, schema["items"], f"{path}[]")
    return {f"{kind}:{path}"}


def test_table_covers_every_field_a_user_writes() -> None:
    leaves = {
        leaf
        for kind, crd in CRDS.items()
        for leaf in _spec_leaves(kind, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])
    }
    covered = {
        f"{base['kind']}:{'.'.join('[]' if p.isdigit() else p for p in path.split('.')).replace('.[]', '[]')}"
        for _, base, path, *_ in (*STRING_FIELDS, *ENUM_FIELDS, *INT_FIELDS, *BOOL_FIELDS)
    }
    assert leaves == covered


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
    _, errors = admit(ADMISSION_CRDS[doc["kind"]], doc, old)
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
        _, create_errors = admit(ADMISSION_CRDS[doc["kind"]], doc)
        assert create_errors == []


# --- edge cases that must stay accepted ---------------------------------------------------------

GOOD_CASES = [
    pytest.param(CLASSIC, [_set("spec.failoverGroup", "g" * 31), _set("spec.execResource", "e" * 31),
                           _set("spec.monitorResource", "m" * 31)], id="CLUSTERPRO names of 31 characters"),
    pytest.param(CLASSIC, [_set("spec.failoverGroup", "Failover_JC-1"), _set("spec.execResource", "1exec")],
                 id="CLUSTERPRO names with capitals, digits, '_' and '-'"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.name", "n" * 63), _set("spec.nodes.1.name", "CLU2")],
                 id="server names of 63 characters and in capitals"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", "fd00::111"), _set("spec.nodes.1.address", "2001:db8::112")],
                 id="IPv6 node addresses"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", "FE80:0:0:0:1:2:3:4"), _set("spec.nodes.1.address", "1::")],
                 id="IPv6 in full form and ending in ::"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", "node1.example.com"),
                           _set("spec.nodes.1.address", "Node2.Example.COM")], id="FQDN node addresses"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", ".".join(["a" * 63] * 3) + ".b" + "c" * 60),
                           _set("spec.nodes.1.address", "x" + "-y" * 30 + "zz")],
                 id="a 253-character FQDN and a 63-character label"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", "1.2.3.4"), _set("spec.nodes.1.address", "255.255.255.254")],
                 id="IPv4 at the edges of the octet ranges"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", "128.0.0.1"), _set("spec.nodes.1.address", "126.0.0.1")],
                 id="IPv4 next to 127"),
    pytest.param(CLUSTER, [_set("spec.nodes.1.address", CLUSTER["spec"]["nodes"][0]["address"]),
                           _set("spec.nodes.1.port", 2222)], id="one address, two ports"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.address", "localhost-gw.example.com"),
                           _set("spec.nodes.1.address", "mylocalhost")], id="names that only contain localhost"),
    pytest.param(CLUSTER, [_set("spec.nodes.0.port", 65535), _set("spec.nodes.1.port", 1),
                           _set("spec.ssh.timeouts", {"connectSeconds": 300, "commandSeconds": 5,
                                                      "keepaliveSeconds": 1})], id="integers at their limits"),
    pytest.param(CLASSIC, [_set("spec.machineId", 2147483647), _set("spec.monitorIntervalSeconds", 3600),
                           _set("spec.virtualHost", "cluv.jobs.example.com"), _set("spec.floatingIP", "1.0.0.1")],
                 id="Classic at its limits with an FQDN virtual host"),
    pytest.param(CLASSIC, [_set("metadata.name", "s" * 63),
                           _set("spec.databasePath", "/mnt/" + "d" * 250)], id="long name and path"),
    pytest.param(AGENT, [_set("spec.agent.agentName", _DELETE), _set("spec.agent.instanceId", "i" * 63)],
                 id="agent without agentName, 63-character id"),
    pytest.param(CLASSIC_WINDOWED, [_set("spec.disruption.windows", [
        {"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "start": "00:00", "duration": "168h",
         "timeZone": "America/Argentina/Buenos_Aires"},
        {"days": ["Sun"], "start": "23:59", "duration": "1m", "timeZone": "Etc/GMT+5"},
        {"days": ["Fri"], "start": "23:30", "duration": "167h59m"}])], id="windows at their limits"),
    pytest.param(CLUSTER_WINDOWED, [_set("spec.disruption", {"approval": "Automatic"})],
                 id="approval without windows"),
]


@pytest.mark.parametrize(("base", "edits"), GOOD_CASES)
def test_valid_edge_case_is_accepted_by_models_and_crd(base: dict[str, Any], edits: list[Edit]) -> None:
    doc = copy.deepcopy(base)
    for edit in edits:
        edit(doc)
    MODELS[doc["kind"]].model_validate(doc)
    _, errors = admit(ADMISSION_CRDS[doc["kind"]], doc)
    assert errors == []


@pytest.mark.parametrize(
    ("base", "path", "value"),
    [(CLASSIC, "spec.monitorIntervalSeconds", 30), (CLASSIC, "spec.floatingIP", "10.0.0.115"),
     (AGENT, "spec.agent.instanceName", "otherinstance"), (CLASSIC, "spec.deletionPolicy", "Unconfigure"),
     (CLUSTER, "spec.nodes.1.address", "192.168.0.113")],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_mutable_fields_can_change(base: dict[str, Any], path: str, value: Any) -> None:
    doc = copy.deepcopy(base)
    _set(path, value)(doc)
    _, errors = admit(ADMISSION_CRDS[doc["kind"]], doc, base)
    assert errors == []
    if doc["kind"] == "JobCenterSite":
        assert immutable_field_changes(JobCenterSite.model_validate(base).spec,
                                       JobCenterSite.model_validate(doc).spec) == []
