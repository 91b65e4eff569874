"""``/openapi/v3`` documents, enough for kubectl to delegate validation to the server and to explain.

kubectl >= 1.27 looks in ``/openapi/v3/<gv>`` for a PATCH operation tagged with the object's
``x-kubernetes-group-version-kind`` that takes the ``fieldValidation`` query parameter. If it finds one,
it sends ``?fieldValidation=Strict`` and lets the server validate; otherwise it wants ``/openapi/v2``
as protobuf, which we do not serve. ``kubectl explain`` reads the component schema of the same GVK.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import kmock

_QUERY_PARAMS = ('dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty')
_PERMISSIVE = {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}


def gv_key(group: str, version: str) -> str:
    return f'api/{version}' if group == '' else f'apis/{group}/{version}'


def schema_name(group: str, version: str, kind: str) -> str:
    prefix = 'io.k8s.api.core' if group == '' else '.'.join(reversed(group.split('.')))
    return f'{prefix}.{version}.{kind}'


def _operation(action: str, gvk: Mapping[str, str], params: Iterable[str] = ()) -> dict[str, Any]:
    return {
        'operationId': f'{action}{gvk["kind"]}',
        'x-kubernetes-action': action,
        'x-kubernetes-group-version-kind': dict(gvk),
        'parameters': [{'name': p, 'in': 'query', 'schema': {'type': 'string'}, 'uniqueItems': True}
                       for p in params],
        'responses': {'200': {'description': 'OK'}},
    }


def document(group: str, version: str,
             kinds: Iterable[tuple[kmock.resource, kmock.ResourceInfo, Mapping[str, Any] | None]],
             ) -> dict[str, Any]:
    """One group-version document: a component schema and CRUD paths per (resource, info, schema)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for res, info, schema in kinds:
        kind = info.kind or str(res.plural).capitalize()
        gvk = {'group': group, 'version': version, 'kind': kind}
        body = dict(schema or _PERMISSIVE)
        body['x-kubernetes-group-version-kind'] = [gvk]
        schemas[schema_name(group, version, kind)] = body
        base = '/api/v1' if group == '' else f'/apis/{group}/{version}'
        collection = f'{base}/namespaces/{{namespace}}/{res.plural}' if info.namespaced else f'{base}/{res.plural}'
        paths[collection] = {'get': _operation('list', gvk), 'post': _operation('post', gvk, _QUERY_PARAMS)}
        item = {'get': _operation('get', gvk), 'put': _operation('put', gvk, _QUERY_PARAMS),
                'patch': _operation('patch', gvk, _QUERY_PARAMS), 'delete': _operation('delete', gvk)}
        paths[f'{collection}/{{name}}'] = item
        if 'status' in info.subresources:
            paths[f'{collection}/{{name}}/status'] = {
                'get': _operation('get', gvk), 'put': _operation('put', gvk, _QUERY_PARAMS),
                'patch': _operation('patch', gvk, _QUERY_PARAMS)}
    return {
        'openapi': '3.0.0',
        'info': {'title': 'Kubernetes (jobcenter-operator stand-in)', 'version': 'unversioned'},
        'paths': paths,
        'components': {'schemas': schemas},
    }


def digest(doc: Mapping[str, Any]) -> str:
    """The ``?hash=`` kubectl keys its openapi cache on: it must change when a CRD schema changes."""
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()
