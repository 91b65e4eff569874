"""CEL for CRD ``x-kubernetes-validations``, on top of cel-python (``celpy``).

Kubernetes evaluates each rule with ``self`` bound to the value at the rule's schema node, typed by the
schema (a ``type: number`` field is a double even when the JSON holds ``1``). celpy only sees JSON-ish
values, so :func:`to_cel` converts with the schema at hand. Kubernetes also adds a few library
functions (strings, lists) that celpy lacks; the common ones are provided in :data:`EXTENSIONS`.
"""

from __future__ import annotations

import datetime
import functools
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from hack.standin import regex

Schema = Mapping[str, Any]


class CelError(Exception):
    """A rule that does not compile or cannot be evaluated (Kubernetes reports both as invalid)."""


def _is_sorted(values: celtypes.ListType) -> celtypes.BoolType:
    items: list[Any] = list(values)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(items)))


def _join(values: celtypes.ListType, sep: celtypes.StringType | None = None) -> celtypes.StringType:
    return celtypes.StringType((sep or '').join(str(v) for v in values))


def _split(text: celtypes.StringType, sep: celtypes.StringType) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(part) for part in str(text).split(str(sep))])


def _sum(values: celtypes.ListType) -> Any:
    items: list[Any] = list(values)
    if not items:
        return celtypes.IntType(0)
    total = items[0]
    for item in items[1:]:
        total = total + item
    return total


def _matches(text: celtypes.StringType, pattern: celtypes.StringType) -> celtypes.BoolType:
    """CEL's ``matches`` is RE2 (cel-go): ``'a\\n'.matches('^a$')`` is false, as in the API server."""
    try:
        return celtypes.BoolType(regex.search(str(pattern), str(text)))
    except regex.PatternError as exc:
        raise CELEvalError(str(exc)) from exc


# Kubernetes CEL library extensions (k8s.io/apiserver/pkg/cel/library + cel-go ext/strings) that
# rules commonly use. Method-call syntax (``self.name.lowerAscii()``) maps to ``fn(self.name)``.
EXTENSIONS: dict[str, Callable[..., Any]] = {
    'lowerAscii': lambda s: celtypes.StringType(str(s).lower()),
    'upperAscii': lambda s: celtypes.StringType(str(s).upper()),
    'trim': lambda s: celtypes.StringType(str(s).strip()),
    'replace': lambda s, a, b: celtypes.StringType(str(s).replace(str(a), str(b))),
    'indexOf': lambda s, sub: celtypes.IntType(str(s).find(str(sub))),
    'lastIndexOf': lambda s, sub: celtypes.IntType(str(s).rfind(str(sub))),
    'split': _split,
    'join': _join,
    'isSorted': _is_sorted,
    'sum': _sum,
    'min': lambda values: min(values),
    'max': lambda values: max(values),
    'matches': _matches,
}

@functools.cache
def _environment() -> celpy.Environment:
    # Built on first use: it compiles celpy's grammar (~0.1 s), which the server start should not pay.
    return celpy.Environment()


@functools.lru_cache(maxsize=1024)
def compile_rule(expression: str) -> celpy.Runner:
    """Compile once per distinct rule text; CRDs are re-validated on every write."""
    env = _environment()
    try:
        ast = env.compile(expression)
    except CELParseError as exc:
        raise CelError(f'compilation failed: {exc}') from exc
    return env.program(ast, functions=EXTENSIONS)


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    """Evaluate a rule; raise :class:`CelError` for anything celpy reports as an evaluation error."""
    runner = compile_rule(expression)
    try:
        result = runner.evaluate(dict(variables))
    except CELEvalError as exc:
        raise CelError(str(exc.args[0]) if exc.args else repr(exc)) from exc
    except (TypeError, ValueError, KeyError, ZeroDivisionError) as exc:
        raise CelError(repr(exc)) from exc
    # celpy sometimes returns the error object instead of raising it (e.g. inside && / ||).
    if isinstance(result, CELEvalError):
        raise CelError(str(result.args[0]) if result.args else repr(result))
    return result


def uses_old_self(expression: str) -> bool:
    """A transition rule: Kubernetes evaluates it only on updates where the old value exists."""
    return 'oldSelf' in expression


def to_cel(value: Any, schema: Schema | None) -> Any:
    """Convert a JSON value into celpy types, following the structural schema's types."""
    if value is None:
        return None
    schema = schema or {}
    if schema.get('x-kubernetes-preserve-unknown-fields') and 'properties' not in schema:
        return json_to_cel(value)
    typ = schema.get('type')
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float) and (typ == 'number' or isinstance(value, float)):
        return celtypes.DoubleType(float(value))
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, str):
        return _string_to_cel(value, schema)
    if isinstance(value, list):
        items = schema.get('items')
        return celtypes.ListType([to_cel(item, items) for item in value])
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get('properties') or {}
        extra = schema.get('additionalProperties')
        extra_schema = extra if isinstance(extra, Mapping) else None
        return celtypes.MapType({
            celtypes.StringType(key): to_cel(item, props.get(key, extra_schema))
            for key, item in value.items()
        })
    return json_to_cel(value)


def _string_to_cel(value: str, schema: Schema) -> Any:
    # Kubernetes exposes date-time strings as CEL timestamps, so rules can compare them.
    if schema.get('format') == 'date-time':
        try:
            parsed = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
        except ValueError:
            return celtypes.StringType(value)
        return celtypes.TimestampType(parsed)
    return celtypes.StringType(value)


def to_python(value: Any) -> Any:
    """Convert a celpy result back into plain Python (for messageExpression and truthiness)."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.ListType):
        return [to_python(v) for v in value]
    if isinstance(value, celtypes.MapType):
        return {to_python(k): to_python(v) for k, v in value.items()}
    return value
