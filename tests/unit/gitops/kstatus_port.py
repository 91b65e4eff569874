"""A Python port of kstatus's status computation for custom resources (sigs.k8s.io/cli-utils
pkg/kstatus/status: Compute, checkGenericProperties, checkGeneration, checkReadyCondition).

This is what Flux's ``wait``/``healthChecks`` use for a kind without ``healthCheckExprs``, and kpt,
cli-utils appliers and similar waiters. The built-in kinds' "legacy" rules are left out: the objects
here are custom resources, for which ``GetLegacyConditionsFn`` returns nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CURRENT, IN_PROGRESS, FAILED, TERMINATING = 'Current', 'InProgress', 'Failed', 'Terminating'


@dataclass(frozen=True)
class Result:
    status: str
    message: str


def _nested_int(obj: Mapping[str, Any], *path: str) -> int | None:
    """unstructured.NestedInt64: the value if every step exists (a non-int64 would be an error)."""
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if node is None:
        return None
    if not isinstance(node, int) or isinstance(node, bool):
        raise TypeError(f'{".".join(path)} accessor error: {node!r} is of the type {type(node).__name__}')
    return node


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = obj.get('status')
    if not isinstance(status, Mapping):
        return []
    return [c for c in status.get('conditions') or [] if isinstance(c, Mapping)]


def _check_generation(obj: Mapping[str, Any]) -> Result | None:
    generation = _nested_int(obj, 'metadata', 'generation')
    if generation is None:
        return None
    observed = _nested_int(obj, 'status', 'observedGeneration')
    if observed is not None and observed != generation:  # absent: "can't do this check"
        return Result(IN_PROGRESS, f'{obj.get("kind")} generation is {generation}, but latest observed '
                                   f'generation is {observed}')
    return None


def _check_generic_properties(obj: Mapping[str, Any]) -> Result | None:
    if (obj.get('metadata') or {}).get('deletionTimestamp'):
        return Result(TERMINATING, 'Resource scheduled for deletion')
    result = _check_generation(obj)
    if result is not None:
        return result
    for cond in _conditions(obj):  # in list order: the first abnormal-true condition decides
        if cond.get('type') == 'Reconciling' and cond.get('status') == 'True':
            return Result(IN_PROGRESS, str(cond.get('message', '')))
        if cond.get('type') == 'Stalled' and cond.get('status') == 'True':
            return Result(FAILED, str(cond.get('message', '')))
    return None


def _check_ready_condition(obj: Mapping[str, Any]) -> Result | None:
    for cond in _conditions(obj):
        if cond.get('type') != 'Ready':
            continue
        if cond.get('status') == 'True':
            return Result(CURRENT, 'Resource is Ready')
        if cond.get('status') in ('False', 'Unknown'):
            return Result(IN_PROGRESS, str(cond.get('message', '')))
    return None


def compute(obj: Mapping[str, Any]) -> Result:
    """kstatus.Compute for a custom resource."""
    return (_check_generic_properties(obj) or _check_ready_condition(obj)
            or Result(CURRENT, 'Resource is current'))  # no known conditions at all: assumed current
