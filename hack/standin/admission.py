"""Admission of custom resources as kube-apiserver does it for CRDs: prune, default, validate, CEL.

Pure functions, no I/O: the stand-in server calls :func:`admit` on every create/update of a custom
resource, and the project's CRD tests call it directly to check manifests against the generated CRDs.

Order follows the apiextensions-apiserver: unknown fields are pruned (except under
``x-kubernetes-preserve-unknown-fields`` and in ``metadata``), schema defaults are applied, then the
OpenAPI v3 value validations run (through ``jsonschema`` on a translated schema), then list-type
uniqueness (``x-kubernetes-list-type: set|map``), then every ``x-kubernetes-validations`` CEL rule at every
level. Transition rules (those using ``oldSelf``) run only on updates where the old value exists.

Error texts mimic the real API server, e.g.
``spec.machineId: Invalid value: 0: spec.machineId in body should be greater than or equal to 1``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators

from hack.standin import cel, regex

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path with indexes, e.g. "spec.nodes[1].address"
    message: str  # human text, names the problem, e.g. "Required value"

    def __str__(self) -> str:
        return f'{self.field}: {self.message}' if self.field else self.message


def admit(crd: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None,
          ) -> tuple[dict[str, Any], list[FieldError]]:
    """Validate obj (a full custom resource dict) against the served version of crd (a CRD dict as in
    crds/*.yaml): prune unknown fields, apply defaults, check the OpenAPI schema and every CEL rule
    (transition rules only when old is given). Return the defaulted, pruned object and the list of
    violations (empty = admitted). Pure: no I/O."""
    schema = served_schema(crd, obj.get('apiVersion'))
    result = copy.deepcopy(obj)
    if schema is None:  # a CRD without a schema (only legal in apiextensions v1beta1): anything goes
        return result, []
    prune(schema, result, root=True)
    apply_defaults(schema, result)
    errors: list[FieldError] = []
    errors += schema_errors(schema, result)
    errors += list_type_errors(schema, result, '')
    errors += cel_errors(schema, result, old, '', has_old=old is not None)
    return result, _unique(errors)


def served_schema(crd: Mapping[str, Any], api_version: str | None = None) -> Schema | None:
    """The openAPIV3Schema of the version named in apiVersion, else of the storage version."""
    versions: list[Mapping[str, Any]] = list(crd.get('spec', {}).get('versions') or [])
    wanted = api_version.rsplit('/', 1)[-1] if api_version else None
    chosen = (
        next((v for v in versions if v.get('name') == wanted and v.get('served', True)), None)
        or next((v for v in versions if v.get('storage')), None)
        or (versions[0] if versions else None)
    )
    if chosen is None:
        return None
    schema: Schema | None = (chosen.get('schema') or {}).get('openAPIV3Schema')
    return schema


# --------------------------------------------------------------------------------------------------
# Pruning and defaulting

_ROOT_KEPT = ('apiVersion', 'kind', 'metadata')


def prune(schema: Schema, value: Any, *, root: bool = False) -> None:
    """Drop fields the schema does not specify, in place (structural-schema pruning)."""
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get('properties') or {}
        extra = schema.get('additionalProperties')
        keep_unknown = bool(schema.get('x-kubernetes-preserve-unknown-fields')) or extra is True
        embedded = root or bool(schema.get('x-kubernetes-embedded-resource'))
        for key in list(value):
            if embedded and key in _ROOT_KEPT:
                if key != 'metadata' and key in props:
                    prune(props[key], value[key])
                continue  # metadata is ObjectMeta, never pruned by the CRD schema
            if key in props:
                prune(props[key], value[key])
            elif isinstance(extra, Mapping):
                prune(extra, value[key])
            elif not keep_unknown:
                del value[key]
    elif isinstance(value, list):
        items = schema.get('items')
        if isinstance(items, Mapping):
            for item in value:
                prune(items, item)


def apply_defaults(schema: Schema, value: Any) -> None:
    """Fill absent (or null non-nullable) properties with their schema defaults, in place."""
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get('properties') or {}
        for key, sub in props.items():
            if 'default' in sub and (key not in value or (value[key] is None and not sub.get('nullable'))):
                value[key] = copy.deepcopy(sub['default'])
        for key, item in value.items():
            if key in props:
                apply_defaults(props[key], item)
            elif isinstance(schema.get('additionalProperties'), Mapping):
                apply_defaults(schema['additionalProperties'], item)
    elif isinstance(value, list) and isinstance(schema.get('items'), Mapping):
        for item in value:
            apply_defaults(schema['items'], item)


# --------------------------------------------------------------------------------------------------
# OpenAPI v3 value validation (through jsonschema)

_DROPPED_KEYS = {'default', 'description', 'example', 'externalDocs', 'title', 'nullable', 'format'}


def to_json_schema(schema: Schema) -> dict[str, Any]:
    """Translate the OpenAPI v3.0 subset used by CRDs into JSON Schema 2020-12."""
    out: dict[str, Any] = {}
    for key, val in schema.items():
        if key.startswith('x-kubernetes-') or key in _DROPPED_KEYS:
            continue
        if key == 'properties':
            out[key] = {name: to_json_schema(sub) for name, sub in val.items()}
        elif key in ('items', 'additionalProperties', 'not') and isinstance(val, Mapping):
            out[key] = to_json_schema(val)
        elif key in ('allOf', 'anyOf', 'oneOf'):
            out[key] = [to_json_schema(sub) for sub in val]
        elif key in ('exclusiveMinimum', 'exclusiveMaximum'):
            continue  # OpenAPI 3.0 booleans modify minimum/maximum: handled below
        else:
            out[key] = val
    types: list[str] = []
    if schema.get('x-kubernetes-int-or-string'):
        types = ['integer', 'string']
    elif isinstance(schema.get('type'), str):
        types = [schema['type']]
    if types:
        out['type'] = [*types, 'null'] if schema.get('nullable') else (types[0] if len(types) == 1 else types)
    if schema.get('exclusiveMinimum') is True and 'minimum' in schema:
        out['exclusiveMinimum'] = out.pop('minimum')
    if schema.get('exclusiveMaximum') is True and 'maximum' in schema:
        out['exclusiveMaximum'] = out.pop('maximum')
    if schema.get('format') in _FORMATS:
        out['format'] = schema['format']
    return out


def _check_date_time(value: str) -> bool:
    datetime.datetime.fromisoformat(value.replace('Z', '+00:00').replace('z', '+00:00'))
    return 'T' in value.upper()


def _check_int32(value: int) -> bool:
    return -(2**31) <= value < 2**31


_LABEL = r'[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'
# \Z, not $: Go's $ matches only at the very end, Python's also before a final newline.
_HOSTNAME = re.compile(rf'^(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\Z', re.IGNORECASE)
_DURATION = re.compile(r'^[-+]?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+\Z|^0\Z')
_EMAIL = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+\Z')

# Formats kube-openapi checks for CRDs (others are accepted as documentation only).
# Each checker receives the instance and raises or returns False when invalid.
_FORMATS: dict[str, tuple[Callable[[Any], Any], type | tuple[type, ...]]] = {
    'date-time': (_check_date_time, str),
    'date': (datetime.date.fromisoformat, str),
    'ipv4': (ipaddress.IPv4Address, str),
    'ipv6': (ipaddress.IPv6Address, str),
    'cidr': (lambda v: ipaddress.ip_network(v, strict=False), str),
    'hostname': (_HOSTNAME.match, str),
    'uuid': (uuid.UUID, str),
    'byte': (lambda v: base64.b64decode(v, validate=True) is not None, str),
    'email': (_EMAIL.match, str),
    'duration': (_DURATION.match, str),
    'int32': (_check_int32, int),
}


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, (func, typ) in _FORMATS.items():
        def check(instance: Any, func: Callable[[Any], Any] = func, typ: Any = typ) -> bool:
            if not isinstance(instance, typ) or isinstance(instance, bool):
                return True  # type mismatches are reported by 'type', not by 'format'
            return bool(func(instance))
        checker.checks(name, raises=(ValueError, TypeError, binascii.Error))(check)
    return checker


_CHECKER = _format_checker()


def _re2_pattern(validator: Any, pattern: str, instance: Any, schema: Any,
                 ) -> Iterator[jsonschema.exceptions.ValidationError]:
    """``pattern`` as kube-openapi checks it: Go's RE2, where ``$`` matches only at the very end."""
    if not isinstance(instance, str):
        return
    try:
        matched = regex.search(pattern, instance)
    except regex.PatternError as exc:
        yield jsonschema.exceptions.ValidationError(f'{pattern!r} is not a valid RE2 pattern: {exc}')
        return
    if not matched:
        yield jsonschema.exceptions.ValidationError(f'{instance!r} does not match {pattern!r}')


def invalid_patterns(schema: Schema, path: str = '') -> Iterator[tuple[str, str, str]]:
    """(path, pattern, problem) for every ``pattern`` in a schema that RE2 refuses, paths as the API server
    writes them (``.properties[spec].properties[name]``)."""
    pattern = schema.get('pattern')
    if isinstance(pattern, str):
        try:
            regex.compile_pattern(pattern)
        except regex.PatternError as exc:
            yield path, pattern, str(exc)
    for name, sub in (schema.get('properties') or {}).items():
        yield from invalid_patterns(sub, f'{path}.properties[{name}]')
    for key in ('items', 'additionalProperties'):
        if isinstance(schema.get(key), Mapping):
            yield from invalid_patterns(schema[key], f'{path}.{key}')
    for key in ('allOf', 'anyOf', 'oneOf'):
        for index, sub in enumerate(schema.get(key) or []):
            yield from invalid_patterns(sub, f'{path}.{key}[{index}]')


# Draft 2020-12 with Go's regexp semantics for `pattern` (jsonschema's own uses Python's re).
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {'pattern': _re2_pattern})

# Validators by schema identity: translating and checking a schema costs more than validating an object.
# The schema itself is kept in the value, so its id cannot be reused by another object meanwhile.
_VALIDATORS: dict[int, tuple[Schema, Any]] = {}


def _validator(schema: Schema) -> Any:
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        if len(_VALIDATORS) > 256:
            _VALIDATORS.clear()
        cached = (schema, _Validator(to_json_schema(schema), format_checker=_CHECKER))
        _VALIDATORS[id(schema)] = cached
    return cached[1]


def schema_errors(schema: Schema, obj: Any) -> list[FieldError]:
    validator = _validator(schema)
    errors: list[FieldError] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        errors.extend(_translate(schema, error))
    return errors


_GO_TYPES = {bool: 'boolean', int: 'integer', float: 'number', str: 'string', list: 'array',
             dict: 'object', type(None): 'null'}


def _go_type(value: Any) -> str:
    return _GO_TYPES.get(type(value), type(value).__name__)


def show(value: Any) -> str:
    """Render a value the way apimachinery field errors do (strings quoted, numbers bare)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(',', ':'), sort_keys=True)
    return 'null' if value is None else repr(value)


# apimachinery's texts per keyword; {v} = shown value, {n} = size, {at} = the path, {rule} = the limit.
_TEMPLATES = {
    'enum': 'Unsupported value: {v}: supported values: {supported}',
    'pattern': "Invalid value: {v}: {at} in body should match '{rule}'",
    'minimum': 'Invalid value: {v}: {at} in body should be greater than or equal to {rule}',
    'exclusiveMinimum': 'Invalid value: {v}: {at} in body should be greater than {rule}',
    'maximum': 'Invalid value: {v}: {at} in body should be less than or equal to {rule}',
    'exclusiveMaximum': 'Invalid value: {v}: {at} in body should be less than {rule}',
    'multipleOf': 'Invalid value: {v}: {at} in body should be a multiple of {rule}',
    'minLength': 'Invalid value: {v}: {at} in body should be at least {rule} chars long',
    'maxLength': 'Too long: may not be more than {rule} bytes',
    'minItems': 'Invalid value: {n}: {at} in body should have at least {rule} items',
    'maxItems': 'Too many: {n}: must have at most {rule} items',
    'minProperties': 'Invalid value: {n}: {at} in body should have at least {rule} properties',
    'maxProperties': 'Too many: {n}: must have at most {rule} items',
    'format': 'Invalid value: {v}: {at} in body must be of type {rule}: {v}',
    'type': 'Invalid value: "{actual}": {at} in body must be of type {expected}: "{actual}"',
}


def _translate(schema: Schema, error: jsonschema.exceptions.ValidationError) -> Iterator[FieldError]:
    path = render_path(schema, error.absolute_path)
    kw = str(error.validator)
    rule: Any = error.validator_value
    value = error.instance
    if kw == 'required':
        for prop in rule:
            if isinstance(value, dict) and prop not in value:
                yield FieldError(join(path, prop), 'Required value')
        return
    template = _TEMPLATES.get(kw)
    if template is None:  # anyOf/oneOf/allOf/not/const/uniqueItems: no dedicated apimachinery text
        yield FieldError(path, f'Invalid value: {show(value)}: {error.message}')
        return
    types = [rule] if isinstance(rule, str) else list(rule) if kw == 'type' else []
    yield FieldError(path, template.format(
        v=show(value), n=len(value) if isinstance(value, list | dict | str) else 0, at=path or '<root>',
        rule=rule, supported=', '.join(show(v) for v in rule) if kw == 'enum' else '',
        actual=_go_type(value), expected=' or '.join(t for t in types if t != 'null'),
    ))


def join(path: str, key: str) -> str:
    return f'{path}.{key}' if path else key


def render_path(schema: Schema, parts: Iterable[str | int]) -> str:
    """Render a JSON path the apimachinery way: properties dotted, list indexes and map keys in []."""
    out = ''
    node: Schema | None = schema
    for part in parts:
        if isinstance(part, int):
            out += f'[{part}]'
            items = (node or {}).get('items')
            node = items if isinstance(items, Mapping) else None
        else:
            props = (node or {}).get('properties') or {}
            extra = (node or {}).get('additionalProperties')
            if part in props or not isinstance(extra, Mapping):
                out = join(out, part)
                node = props.get(part)
            else:
                out += f'[{part}]'
                node = extra
    return out


# --------------------------------------------------------------------------------------------------
# x-kubernetes-list-type uniqueness

def list_type_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(value, list):
        items = schema.get('items') if isinstance(schema.get('items'), Mapping) else {}
        list_type = schema.get('x-kubernetes-list-type')
        seen: set[str] = set()
        for index, item in enumerate(value):
            if list_type == 'set':
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    errors.append(FieldError(f'{path}[{index}]', f'Duplicate value: {show(item)}'))
                seen.add(key)
            elif list_type == 'map' and isinstance(item, dict):
                keys = {k: item.get(k) for k in schema.get('x-kubernetes-list-map-keys') or []}
                key = json.dumps(keys, sort_keys=True)
                if key in seen:
                    errors.append(FieldError(f'{path}[{index}]', f'Duplicate value: {show(keys)}'))
                seen.add(key)
            errors += list_type_errors(items or {}, item, f'{path}[{index}]')
    elif isinstance(value, dict):
        props: Mapping[str, Any] = schema.get('properties') or {}
        extra = schema.get('additionalProperties')
        for key, item in value.items():
            if key in props:
                errors += list_type_errors(props[key], item, join(path, key))
            elif isinstance(extra, Mapping):
                errors += list_type_errors(extra, item, f'{path}[{key}]')
    return errors


# --------------------------------------------------------------------------------------------------
# CEL: x-kubernetes-validations

_REASON_TEXT = {
    'FieldValueForbidden': 'Forbidden: {msg}',
    'FieldValueRequired': 'Required value: {msg}',
    'FieldValueDuplicate': 'Duplicate value: {msg}',
}


def cel_errors(schema: Schema, value: Any, old: Any, path: str, *, has_old: bool) -> list[FieldError]:
    """Evaluate every rule of the schema node and its children, correlating old values by key."""
    if value is None:
        return []  # rules do not run on absent/null values
    errors = [err for rule in schema.get('x-kubernetes-validations') or []
              if (err := _run_rule(rule, schema, value, old, path, has_old=has_old)) is not None]
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get('properties') or {}
        extra = schema.get('additionalProperties')
        old_map = old if has_old and isinstance(old, dict) else {}
        for key, item in value.items():
            sub = props.get(key) if key in props else (extra if isinstance(extra, Mapping) else None)
            if sub is None:
                continue
            sub_path = join(path, key) if key in props else f'{path}[{key}]'
            errors += cel_errors(sub, item, old_map.get(key), sub_path, has_old=key in old_map)
    elif isinstance(value, list) and isinstance(schema.get('items'), Mapping):
        items: Schema = schema['items']
        old_items = _correlate_list(schema, value, old if has_old else None)
        for index, item in enumerate(value):
            old_item = old_items.get(index, _MISSING)
            errors += cel_errors(items, item, None if old_item is _MISSING else old_item, f'{path}[{index}]',
                                 has_old=old_item is not _MISSING)
    return errors


_MISSING = object()


def _correlate_list(schema: Schema, value: list[Any], old: Any) -> dict[int, Any]:
    """Only map-lists correlate items with their old selves (by the list-map keys), as in Kubernetes."""
    if not isinstance(old, list) or schema.get('x-kubernetes-list-type') != 'map':
        return {}
    keys = list(schema.get('x-kubernetes-list-map-keys') or [])

    def key_of(item: Any) -> str:
        return json.dumps({k: item.get(k) for k in keys} if isinstance(item, dict) else item, sort_keys=True)

    old_by_key = {key_of(item): item for item in old}
    return {i: old_by_key[key_of(item)] for i, item in enumerate(value) if key_of(item) in old_by_key}


def _run_rule(rule: Mapping[str, Any], schema: Schema, value: Any, old: Any, path: str, *,
              has_old: bool) -> FieldError | None:
    expression: str = rule.get('rule', '')
    transition = cel.uses_old_self(expression)
    if transition and (not has_old or old is None):
        return None
    variables: dict[str, Any] = {'self': cel.to_cel(value, schema)}
    if transition:
        variables['oldSelf'] = cel.to_cel(old, schema)
    field = _rule_field(path, rule.get('fieldPath'))
    typ = 'string' if schema.get('x-kubernetes-int-or-string') else schema.get('type', 'object')
    try:
        ok = cel.to_python(cel.evaluate(expression, variables))
    except cel.CelError as exc:
        return FieldError(field, f'Invalid value: "{typ}": rule evaluation error: {expression}: {exc}')
    if ok is True:
        return None
    msg = _rule_message(rule, variables)
    template = _REASON_TEXT.get(rule.get('reason', ''), 'Invalid value: "{typ}": {msg}')
    return FieldError(field, template.format(typ=typ, msg=msg))


def _rule_message(rule: Mapping[str, Any], variables: Mapping[str, Any]) -> str:
    if rule.get('messageExpression'):
        try:
            text = cel.to_python(cel.evaluate(rule['messageExpression'], variables))
        except cel.CelError:
            text = None
        if isinstance(text, str) and text.strip():
            return text
    message: str = rule.get('message') or f'failed rule: {rule.get("rule", "")}'
    return message


_FIELD_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']*)'\]")


def _rule_field(path: str, field_path: str | None) -> str:
    """fieldPath is relative to the rule's node (".spec.nodes", ".nodes[0]", "['key']")."""
    if not field_path:
        return path
    out = path
    for match in _FIELD_PATH_PART.finditer(field_path):
        prop, index, key = match.groups()
        if prop is not None:
            out = join(out, prop)
        elif index is not None:
            out += f'[{index}]'
        else:
            out += f'[{key}]'
    return out


def _unique(errors: list[FieldError]) -> list[FieldError]:
    return list(dict.fromkeys(errors))


def unknown_fields(original: Any, admitted: Any, path: str = '') -> list[str]:
    """Paths that pruning removed: what ``fieldValidation=Strict`` rejects and ``Warn`` warns about."""
    found: list[str] = []
    if isinstance(original, dict) and isinstance(admitted, dict):
        for key, value in original.items():
            sub = f'{path}.{key}' if path else key
            if key not in admitted:
                found.append(sub)
            else:
                found += unknown_fields(value, admitted[key], sub)
    elif isinstance(original, list) and isinstance(admitted, list):
        for index, (before, after) in enumerate(zip(original, admitted, strict=False)):
            found += unknown_fields(before, after, f'{path}[{index}]')
    return found


def status_message(kind: str, group: str, name: str, errors: list[FieldError]) -> str:
    """The Status.message of a 422 Invalid, as kube-apiserver composes it."""
    details = ', '.join(str(e) for e in errors)
    if len(errors) > 1:
        details = f'[{details}]'
    qualified = f'{kind}.{group}' if group else kind
    return f'{qualified} {json.dumps(name, ensure_ascii=False)} is invalid: {details}'  # Go's %q
