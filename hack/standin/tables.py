"""Server-side printing: ``meta.k8s.io/v1 Table`` from a CRD's ``additionalPrinterColumns``.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints whatever columns the
server sends; without a Table it cannot show printer columns at all. Cells follow the CRD table
convertor: Name first, the printer columns, and an Age column (unless the CRD declares one).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

_SEGMENT = re.compile(
    r"""\.(?P<prop>(?:\\.|[^.\[\]\\])+)      # .name  (dots escaped as \.)
      | \[(?P<index>-?\d+|\*)\]             # [0] or [*]
      | \[\?\(@\.(?P<fkey>[\w.-]+)\s*==\s*(?P<fval>"[^"]*"|'[^']*')\)\]   # [?(@.type=="Ready")]
      | \[['"](?P<qkey>[^'"]+)['"]\]        # ['key']
    """, re.VERBOSE)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Evaluate the JSONPath subset that printer columns use; return all matches."""
    path = path.strip()
    if path.startswith('{') and path.endswith('}'):
        path = path[1:-1]
    path = path.removeprefix('$')
    nodes: list[Any] = [obj]
    pos = 0
    while pos < len(path):
        match = _SEGMENT.match(path, pos)
        if match is None:
            return []
        pos = match.end()
        nodes = list(_step(nodes, match))
    return nodes


def _step(nodes: Iterable[Any], match: re.Match[str]) -> Iterable[Any]:
    prop, index, fkey, fval, qkey = match.group('prop', 'index', 'fkey', 'fval', 'qkey')
    for node in nodes:
        if prop is not None or qkey is not None:
            key = qkey if qkey is not None else prop.replace('\\.', '.')
            if isinstance(node, Mapping) and key in node:
                yield node[key]
        elif index is not None and isinstance(node, list):
            if index == '*':
                yield from node
            elif -len(node) <= int(index) < len(node):
                yield node[int(index)]
        elif fkey is not None and isinstance(node, list):
            wanted = fval[1:-1]
            for item in node:
                found = jsonpath(item, '.' + fkey)
                if found and str(found[0]) == wanted:
                    yield item


def human_age(timestamp: str | None, now: datetime.datetime | None = None) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, as ``kubectl get`` shows ages."""
    if not timestamp:
        return '<unknown>'
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace('Z', '+00:00'))
    except ValueError:
        return '<invalid>'
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = max(0, int((now - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f'{seconds}s'
    if minutes < 10:
        return f'{minutes}m{seconds % 60}s' if seconds % 60 else f'{minutes}m'
    if minutes < 180:
        return f'{minutes}m'
    if hours < 8:
        return f'{hours}h{minutes % 60}m' if minutes % 60 else f'{hours}h'
    if hours < 48:
        return f'{hours}h'
    if hours < 24 * 8:
        return f'{days}d{hours % 24}h' if hours % 24 else f'{days}d'
    if days < 365 * 2:
        return f'{days}d'
    if days < 365 * 8:
        return f'{days // 365}y{days % 365}d'
    return f'{days // 365}y'


def _cell(value: list[Any], column: Mapping[str, Any]) -> Any:
    if not value:
        return None
    first = value[0] if len(value) == 1 else value
    if column.get('type') == 'date' and isinstance(first, str):
        return human_age(first)
    if isinstance(first, dict | list):
        return json.dumps(first, separators=(',', ':'))
    return first


def column_definitions(columns: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    definitions = [{'name': 'Name', 'type': 'string', 'format': 'name', 'priority': 0,
                    'description': 'Name must be unique within a namespace.'}]
    for column in columns:
        definitions.append({
            'name': column['name'], 'type': column.get('type', 'string'), 'format': column.get('format', ''),
            'priority': column.get('priority', 0), 'description': column.get('description', ''),
        })
    return definitions


def with_age(columns: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Append the Age column unless the CRD already prints the creation timestamp."""
    has_age = any(c.get('name', '').lower() == 'age' or c.get('jsonPath') == '.metadata.creationTimestamp'
                  for c in columns)
    age = {'name': 'Age', 'type': 'date', 'jsonPath': '.metadata.creationTimestamp',
           'description': 'CreationTimestamp is a timestamp representing the server time when this object '
                          'was created.'}
    return list(columns) if has_age else [*columns, age]


def make_table(objects: Iterable[Mapping[str, Any]], columns: list[Mapping[str, Any]], *,
               resource_version: str, include_object: str = 'Metadata') -> dict[str, Any]:
    columns = with_age(columns)
    rows = []
    for obj in objects:
        cells = [obj.get('metadata', {}).get('name')]
        cells += [_cell(jsonpath(obj, c.get('jsonPath', '')), c) for c in columns]
        if include_object == 'Object':
            row_object: Mapping[str, Any] | None = obj
        elif include_object == 'None':
            row_object = None
        else:
            row_object = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',
                          'metadata': obj.get('metadata', {})}
        rows.append({'cells': cells, 'object': row_object})
    return {
        'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1',
        'metadata': {'resourceVersion': resource_version},
        'columnDefinitions': column_definitions(columns),
        'rows': rows,
    }
