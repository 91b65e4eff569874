"""Server-side printing of Events, as kube-apiserver's event printer does it.

``kubectl get events`` prints the Table the server sends: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, and
with ``-o wide`` also SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME (priority 1 columns: the server always
sends them, kubectl hides them unless asked). Both ``v1`` and ``events.k8s.io/v1`` Events are printed
from the same fields (the latter's ``deprecated*``/``regarding``/``note`` names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hack.standin.tables import human_age

COLUMNS: list[dict[str, Any]] = [
    {'name': 'Last Seen', 'type': 'string', 'format': '', 'priority': 0,
     'description': 'The time at which the most recent occurrence of this event was recorded.'},
    {'name': 'Type', 'type': 'string', 'format': '', 'priority': 0,
     'description': 'Type of this event (Normal, Warning), new types could be added in the future'},
    {'name': 'Reason', 'type': 'string', 'format': '', 'priority': 0,
     'description': 'This should be a short, machine understandable string that gives the reason for the '
                    'transition into the object\'s current status.'},
    {'name': 'Object', 'type': 'string', 'format': '', 'priority': 0,
     'description': 'The object that this event is about.'},
    {'name': 'Subobject', 'type': 'string', 'format': '', 'priority': 1,
     'description': 'If referring to a piece of an object instead of an entire object, this string should '
                    'contain a valid JSON/Go field access statement.'},
    {'name': 'Source', 'type': 'string', 'format': '', 'priority': 1,
     'description': 'The component reporting this event.'},
    {'name': 'Message', 'type': 'string', 'format': '', 'priority': 0,
     'description': 'A human-readable description of the status of this operation.'},
    {'name': 'First Seen', 'type': 'string', 'format': '', 'priority': 1,
     'description': 'The time at which the event was first recorded.'},
    {'name': 'Count', 'type': 'string', 'format': '', 'priority': 1,
     'description': 'The number of times this event has occurred.'},
    {'name': 'Name', 'type': 'string', 'format': 'name', 'priority': 1,
     'description': 'Name must be unique within a namespace.'},
]


def _first(event: Mapping[str, Any], *keys: str) -> Any:
    return next((event[k] for k in keys if event.get(k)), None)


def _source(event: Mapping[str, Any]) -> str:
    """printers.formatEventSource: component, then ", host"; falls back to the reporting controller."""
    source = _first(event, 'source', 'deprecatedSource') or {}
    component = source.get('component') or event.get('reportingController') or ''
    host = source.get('host') or event.get('reportingInstance') or ''
    return f'{component}, {host}' if host else component


def row_cells(event: Mapping[str, Any]) -> list[Any]:
    first = human_age(_first(event, 'firstTimestamp', 'deprecatedFirstTimestamp', 'eventTime'))
    last_stamp = _first(event, 'lastTimestamp', 'deprecatedLastTimestamp')
    last = human_age(last_stamp) if last_stamp else first
    count = event.get('count') or event.get('deprecatedCount') or 1
    series = event.get('series')
    if isinstance(series, Mapping):
        last = human_age(series.get('lastObservedTime'))
        count = series.get('count') or count
    involved = _first(event, 'involvedObject', 'regarding') or {}
    kind = str(involved.get('kind') or '').lower()
    target = f'{kind}/{involved["name"]}' if involved.get('name') else kind
    message = str(_first(event, 'message', 'note') or '').strip()
    return [last, event.get('type') or '', event.get('reason') or '', target, involved.get('fieldPath') or '',
            _source(event), message, first, int(count), event.get('metadata', {}).get('name')]


def make_table(items: Iterable[Mapping[str, Any]], *, resource_version: str,
               include_object: str = 'Metadata') -> dict[str, Any]:
    rows = []
    for event in items:
        if include_object == 'Object':
            row_object: Mapping[str, Any] | None = event
        elif include_object == 'None':
            row_object = None
        else:
            row_object = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',
                          'metadata': event.get('metadata', {})}
        rows.append({'cells': row_cells(event), 'object': row_object})
    return {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': {'resourceVersion': resource_version},
            'columnDefinitions': COLUMNS, 'rows': rows}
