"""Label and field selectors (the equality subset, plus set-based ``in``/``notin``/existence for labels).

``kubectl wait`` lists and watches with ``fieldSelector=metadata.name=<name>``; kopf 1.45 can filter
by labels server-side. Field selectors on custom resources only support metadata.name and
metadata.namespace in a real API server; we accept any dotted path, which is a superset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_EXPR = re.compile(r'^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$')


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside the parentheses of a set expression."""
    terms, depth, current = [], 0, ''
    for char in selector:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            terms.append(current)
            current = ''
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _term(term: str, lookup: Callable[[Mapping[str, Any], str], str | None]) -> Predicate:
    if match := _SET_EXPR.match(term):
        key, op, raw = match.groups()
        values = {v.strip() for v in raw.split(',') if v.strip()}
        if op == 'in':
            return lambda obj: lookup(obj, key) in values
        return lambda obj: lookup(obj, key) not in values
    for op in ('!=', '==', '='):
        if op in term:
            key, value = (s.strip() for s in term.split(op, 1))
            if op == '!=':
                return lambda obj: lookup(obj, key) != value
            return lambda obj: lookup(obj, key) == value
    if term.startswith('!'):
        key = term[1:].strip()
        return lambda obj: lookup(obj, key) is None
    return lambda obj: lookup(obj, term) is not None


def _label(obj: Mapping[str, Any], key: str) -> str | None:
    labels = (obj.get('metadata') or {}).get('labels') or {}
    value = labels.get(key)
    return None if value is None else str(value)


def _field(obj: Mapping[str, Any], path: str) -> str | None:
    node: Any = obj
    for part in path.split('.'):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool):
        return 'true' if node else 'false'
    return None if node is None else str(node)


def compile_selectors(label_selector: str | None, field_selector: str | None) -> Predicate:
    """One predicate for both selectors; empty selectors match everything."""
    predicates = [_term(t, _label) for t in _split_terms(label_selector or '')]
    predicates += [_term(t, _field) for t in _split_terms(field_selector or '')]
    return lambda obj: all(p(obj) for p in predicates)
