"""Building blocks shared by both custom resources: the model base, references, conditions.

Pure module. The camelCase wire names come from the alias generator; Python code uses
snake_case attributes. ``extra="forbid"`` makes the models reject unknown fields (the CRD
itself relies on the API server's pruning instead, see ``crdgen``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .fields import K8sName

GROUP = "jobcenter.clusterpro.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, unset optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SpecModel(ApiModel):
    """Base of the models users write (the specs): strict about types, like the API server.

    Lax pydantic would turn `port: "22"` into 22 and `suspend: "false"` into False; the CRD
    refuses both, and so must the CLI and the reconciler. Status models stay lax: they read
    timestamps as strings from the API server.
    """

    model_config = ConfigDict(**ApiModel.model_config, strict=True)


class LocalObjectReference(SpecModel):
    """A reference to an object in the same namespace."""

    name: K8sName = Field(description="Name of the referenced object, in the same namespace.")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """One aspect of the resource's state (metav1.Condition)."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
        description="Type of condition in CamelCase, e.g. Ready, Reconciling, Stalled, GroupOnline.",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation the condition was set from; older than the object's "
        "generation means the condition is out of date.",
    )
    last_transition_time: datetime = Field(
        description="Last time the condition's status changed (RFC 3339); it does not change when "
        "only the reason or message changes.",
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=CONDITION_REASON_PATTERN,
        description="Stable CamelCase word saying why the condition has its status; tools may match on it.",
    )
    message: str = Field(
        max_length=32768,
        description="Human-readable detail about the transition; may be empty. Never holds secrets "
        "or whole command outputs.",
    )


def conditions_field(description: str) -> Any:
    """A ``conditions`` list, served as a list-map keyed by ``type`` (one entry per type)."""
    return Field(
        default=None,
        max_length=32,
        description=description,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


class ObjectMeta(BaseModel):
    """The part of metav1.ObjectMeta the models check; everything else passes through untouched."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, alias_generator=to_camel)

    # 63, not 253: a site's name is used in names on the nodes (backup folders, log lines),
    # and the CRD enforces the same limit with a CEL rule on the root.
    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Object name: an RFC 1123 label of at most 63 characters.",
    )
    namespace: str | None = Field(default=None, description="Namespace of the object.")
