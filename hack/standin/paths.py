"""URL parsing for Kubernetes resource paths, fixing kmock 0.8's reading of ``/api/v1/namespaces``.

kmock treats every ``namespaces`` segment as the ``/namespaces/{ns}/`` prefix, so ``GET /api/v1/namespaces``
fails with a ValueError and ``/api/v1/namespaces/default`` loses the name. Here, ``namespaces`` as the
last one or two segments (or with the ``status``/``finalize`` subresources) is the resource itself.
"""

from __future__ import annotations

from kmock._internal import parsing

_NAMESPACE_SUBRESOURCES = {'status', 'finalize'}


def parse_path(path: str) -> parsing.ParsedPath:
    parts = [p for p in path.strip('/').split('/')]
    if len(parts) >= 3 and parts[0] == 'apis':
        group, version, rest = parts[1], parts[2], parts[3:]
    elif len(parts) >= 2 and parts[0] == 'api':
        group, version, rest = '', parts[1], parts[2:]
    else:
        return parsing.parse_path(path)  # discovery paths (/api, /apis/<g>) and non-Kubernetes URLs
    if rest and rest[0] == 'namespaces':
        namespace_itself = len(rest) <= 2 or (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES)
        if namespace_itself:
            name = rest[1] if len(rest) >= 2 else None
            sub = rest[2] if len(rest) == 3 else None
            return parsing.ParsedPath(group, version, 'namespaces', None, name, sub)
        namespace: str | None = rest[1]
        rest = rest[2:]
    else:
        namespace = None
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) >= 2 else None
    subresource = '/'.join(rest[2:]) or None
    return parsing.ParsedPath(group, version, plural, namespace, name, subresource)
