"""CRD generation: committed CRDs match the models, and unsupported constructs fail loudly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from jobcenter_operator.api.crdgen import SchemaError, render_crds, structural

ROOT = Path(__file__).resolve().parents[3]


def test_committed_crds_are_up_to_date() -> None:
    files = render_crds()
    assert sorted(files) == sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    for name, text in files.items():
        assert (ROOT / "crds" / name).read_text() == text, f"crds/{name} is stale: run `make crds`"


def test_generation_is_deterministic() -> None:
    assert render_crds() == render_crds()


def test_crds_are_structural_and_complete() -> None:
    for text in render_crds().values():
        crd = yaml.safe_load(text)
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert crd["spec"]["names"]["categories"] == ["jobcenter"]
        schema = version["schema"]["openAPIV3Schema"]

        def walk(node: dict[str, Any], path: str) -> None:
            assert "type" in node, path
            assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
            assert node.get("additionalProperties") is not False, path
            if path.startswith((".spec", ".status")):
                assert node.get("description") or path.endswith("[]"), f"{path} has no description"
            for name, sub in node.get("properties", {}).items():
                walk(sub, f"{path}.{name}")
            if "items" in node:
                walk(node["items"], f"{path}[]")

        walk(schema, "")


def test_short_names_and_printer_columns() -> None:
    crds = {yaml.safe_load(t)["spec"]["names"]["kind"]: yaml.safe_load(t) for t in render_crds().values()}
    site = crds["JobCenterSite"]["spec"]
    assert site["names"]["shortNames"] == ["jcs"]
    assert crds["ClusterproCluster"]["spec"]["names"]["shortNames"] == ["cpc"]
    visible = [c["name"] for c in site["versions"][0]["additionalPrinterColumns"] if not c.get("priority")]
    assert visible == ["Mode", "Group", "Active", "Processes", "Ready", "Reason", "Disruption", "Step", "Age"]
    wide = {c["name"]: c["jsonPath"] for c in site["versions"][0]["additionalPrinterColumns"] if c.get("priority")}
    assert wide["Plan"] == ".status.disruption.planHash"
    assert wide["Next-Window"] == ".status.disruption.nextWindowStart"


class _Recursive(BaseModel):
    child: _Recursive | None = None


class _Allow(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int = 1


class _Holder(BaseModel):
    value: Any


@pytest.mark.parametrize(
    ("annotation", "match"),
    [
        (int | str, "union"),
        (int | str | None, "union"),
        (dict[str, Any], "free-form"),
        (set[str], "uniqueItems"),
        (tuple[int, str], "prefixItems"),
        (_Recursive, "recursive"),
        (_Allow, "extra='allow'"),
        (Any, "type"),
    ],
)
def test_unsupported_constructs_fail_loudly(annotation: Any, match: str) -> None:
    model = type("M", (BaseModel,), {"__annotations__": {"value": annotation}})
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    with pytest.raises(SchemaError, match=match):
        structural(raw, defs, "spec")


def test_optional_with_non_null_default_is_rejected() -> None:
    class M(BaseModel):
        value: int | None = Field(default=3)

    raw = M.model_json_schema()
    with pytest.raises(SchemaError, match="ambiguous"):
        structural(raw, {}, "spec")


def test_exclusive_bounds_become_openapi_v3_booleans() -> None:
    class M(BaseModel):
        value: int = Field(gt=0, lt=10)

    out = structural(M.model_json_schema(), {}, "spec")
    assert out["properties"]["value"] == {
        "type": "integer",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10,
        "exclusiveMaximum": True,
    }
