"""Object-level rules of the API server: patch types, metadata stamping, generation, errors."""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

import jsonpatch
import kmock
import yaml

from hack.standin.crds import now

# Stable metadata that clients cannot change after creation.
IMMUTABLE_META = ('name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp',
                  'deletionGracePeriodSeconds', 'generation')

_NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789'  # apiserver's generateName alphabet (no vowels)


def api_error(status: int, reason: str, message: str, details: Mapping[str, Any] | None = None,
              ) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=dict(details or {}))


def status_body(error: kmock.KubernetesError) -> dict[str, Any]:
    return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': error.message or '', 'reason': error.reason or '', 'details': error.details or {},
            'code': error.status}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def decode_body(text: str, content_type: str) -> Any:
    """JSON bodies, and YAML ones (``application/yaml``, ``application/apply-patch+yaml``)."""
    if not text.strip():
        return None
    if 'yaml' in content_type:
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise api_error(400, 'BadRequest', f'the request body is not valid JSON: {exc}') from exc


def apply_patch(current: dict[str, Any], patch: Any, content_type: str, what: str) -> dict[str, Any]:
    """Apply a PATCH body by its Content-Type (JSON patch, merge, strategic-merge or apply as merge)."""
    if 'json-patch' in content_type or (isinstance(patch, list) and 'merge' not in content_type):
        try:
            result = jsonpatch.apply_patch(current, patch)
        except jsonpatch.JsonPatchTestFailed as exc:
            # The real server answers 422 Invalid; kopf relies on it for its optimistic concurrency.
            raise api_error(422, 'Invalid', f'the server rejected our request due to an error in our '
                                            f'request: {exc}', {'name': what}) from exc
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise api_error(422, 'Invalid', f'the server rejected our request due to an error in our '
                                            f'request: {exc}', {'name': what}) from exc
        if not isinstance(result, dict):
            raise api_error(422, 'Invalid', 'a JSON patch must leave an object')
        return result
    if not isinstance(patch, dict):
        raise api_error(400, 'BadRequest', f'a merge patch must be a JSON object, got {type(patch).__name__}')
    result = merge_patch(current, patch)
    assert isinstance(result, dict)
    return result


def generate_name(prefix: str) -> str:
    return prefix + ''.join(secrets.choice(_NAME_CHARS) for _ in range(5))


def stamp_new(obj: dict[str, Any], *, api_version: str, kind: str) -> None:
    """Fill what the server owns on create (resourceVersion is stamped at commit)."""
    obj.setdefault('apiVersion', api_version)
    obj.setdefault('kind', kind)
    meta = obj.setdefault('metadata', {})
    meta['uid'] = str(uuid.uuid4())
    meta['creationTimestamp'] = now()
    meta['generation'] = 1
    for key in ('deletionTimestamp', 'deletionGracePeriodSeconds'):
        meta.pop(key, None)


def keep_server_fields(new: dict[str, Any], current: Mapping[str, Any]) -> None:
    """Clients cannot change identity, timestamps or generation on update."""
    meta = new.setdefault('metadata', {})
    for key in IMMUTABLE_META:
        if key in current.get('metadata', {}):
            meta[key] = current['metadata'][key]
        else:
            meta.pop(key, None)
    new['apiVersion'] = current.get('apiVersion', new.get('apiVersion'))
    new['kind'] = current.get('kind', new.get('kind'))


def content_of(obj: Mapping[str, Any], has_status: bool) -> dict[str, Any]:
    """What counts for metadata.generation: everything except metadata (and status, if a subresource)."""
    skipped = {'metadata', 'status'} if has_status else {'metadata'}
    return {k: v for k, v in obj.items() if k not in skipped}


def same_except_rv(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """No-op updates do not bump resourceVersion or emit events, as in a real API server."""
    def strip(obj: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(obj)
        out['metadata'] = {k: v for k, v in (obj.get('metadata') or {}).items()
                           if k not in ('resourceVersion', 'managedFields')}
        return out
    return strip(a) == strip(b)
