"""handlers.LeanDiffBaseStorage: kopf's diff-base essence, built without copying the status.

kopf reacts to what differs between the essence it stored and the essence of the body it got, so
the lean build must give exactly what kopf's own build gives, for the operator's own handlers'
fields and for bodies with everything kopf leaves out (its own annotations, kubectl's, the status).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import kopf
import pytest

from jobcenter_operator import handlers

PREFIX = handlers.KOPF_PREFIX
KEY = "last-handled-configuration"


class NoCopy:
    """A value that fails the test when deep-copied (what the lean build must not do to a status)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> NoCopy:
        raise AssertionError("the status was deep-copied")


def site_body(**status: Any) -> dict[str, Any]:
    spec = {"clusterRef": {"name": "c0"}, "mode": "Classic", "failoverGroup": "failover-jc"}
    return {
        "apiVersion": "jobcenter.clusterpro.io/v1alpha1",
        "kind": "JobCenterSite",
        "metadata": {
            "name": "s0", "namespace": "default", "uid": "u-1", "resourceVersion": "17", "generation": 2,
            "finalizers": [handlers.FINALIZER],
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "labels": {"app": "jc"},
            "ownerReferences": [{"kind": "Application", "name": "argo", "uid": "o-1"}],
            "annotations": {
                f"{PREFIX}/{KEY}": json.dumps({"spec": spec}) + "\n",
                f"{PREFIX}/kopf-managed": "yes",
                f"{PREFIX}/site_changed": '{"started": "x"}',
                "kopf.zalando.org/last-handled-configuration": "{}",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                handlers.REQUEST_ANNOTATION: "2026-11-30T10:00:00Z",
                handlers.APPROVE_ANNOTATION: "abc",
                "argocd.argoproj.io/tracking-id": "app:jobcenter.clusterpro.io/JobCenterSite:default/s0",
            },
        },
        "spec": spec,
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}], **status},
    }


def operator_fields(plural: str) -> set[Any]:
    """The extra fields kopf passes for the operator's own handlers of a kind (field= of each)."""
    registry = kopf.get_default_registry()
    resource = kopf.Resource(handlers.GROUP, handlers.VERSION, plural, namespaced=True)
    return (registry._changing.get_extra_fields(resource=resource)
            | registry._spawning.get_extra_fields(resource=resource)
            | registry._watching.get_extra_fields(resource=resource))


def kopf_build(body: dict[str, Any], fields: Any) -> Any:
    storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX, key=KEY)
    return storage.build(body=kopf.Body(copy.deepcopy(body)), extra_fields=fields)


def lean_build(body: dict[str, Any], fields: Any) -> Any:
    return handlers.LeanDiffBaseStorage(prefix=PREFIX, key=KEY).build(body=kopf.Body(body), extra_fields=fields)


@pytest.mark.parametrize("plural", [handlers.SITES, handlers.CLUSTERS])
def test_the_lean_essence_is_kopfs_for_the_operators_handlers(plural: str) -> None:
    fields = operator_fields(plural)
    assert ("spec",) in fields  # the spec handlers are registered (the comparison means something)
    body = site_body(progress={"step": 3})
    assert lean_build(body, fields) == kopf_build(body, fields)


def test_the_lean_essence_is_kopfs_without_labels_or_annotations() -> None:
    body = site_body()
    del body["metadata"]["labels"], body["metadata"]["annotations"], body["metadata"]["ownerReferences"]
    fields = operator_fields(handlers.SITES)
    assert lean_build(body, fields) == kopf_build(body, fields)


def test_the_status_is_not_copied() -> None:
    body = site_body(nodes=[NoCopy()])
    fields = operator_fields(handlers.SITES)
    essence = lean_build(body, fields)
    assert "status" not in essence
    with pytest.raises(AssertionError, match="deep-copied"):
        kopf_build(site_body(nodes=[NoCopy()]), fields)  # kopf's own build would have


def test_a_status_field_falls_back_to_kopfs_build() -> None:
    body = site_body(phase="Ready")
    fields = {("spec",), ("status", "phase")}
    essence = lean_build(body, fields)
    assert essence == kopf_build(body, fields)
    assert essence["status"] == {"phase": "Ready"}
    other = {("metadata", "generation")}
    assert lean_build(body, other) == kopf_build(body, other)


def test_the_lean_build_leaves_the_body_alone() -> None:
    body = site_body()
    before = copy.deepcopy(body)
    essence = lean_build(body, operator_fields(handlers.SITES))
    essence["spec"]["mode"] = "changed"
    essence["metadata"]["annotations"].clear()
    assert body == before
