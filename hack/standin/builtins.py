"""What kube-apiserver does for every object and for the built-in kinds users write by hand. Pure.

* ``metadata.name`` validation by kind (apimachinery's ``NameIsDNSSubdomain``, namespaces as DNS-1123
  labels, services as DNS-1035 labels), with the apimachinery texts.
* Unknown fields: ``metadata`` is an ObjectMeta for every kind, and Secrets/ConfigMaps have a fixed
  set of top-level fields; the caller rejects them (``fieldValidation=Strict``) or drops them with a
  warning (``Warn``, the server's default).
* Secrets: ``stringData`` is write-only, merged into ``data`` (base64) and never stored, as the
  v1 -> internal conversion does; ``type`` defaults to ``Opaque``; ``data`` must be base64 and keys must
  be config keys. ConfigMaps: keys must be config keys.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import kmock

from hack.standin import regex
from hack.standin.admission import FieldError

SECRETS = kmock.resource('', 'v1', 'secrets')
CONFIGMAPS = kmock.resource('', 'v1', 'configmaps')
NAMESPACES = kmock.resource('', 'v1', 'namespaces')
SERVICES = kmock.resource('', 'v1', 'services')

OBJECT_META_FIELDS = frozenset({
    'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation',
    'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations',
    'ownerReferences', 'finalizers', 'managedFields',
})
TOP_LEVEL_FIELDS = {
    SECRETS: frozenset({'apiVersion', 'kind', 'metadata', 'data', 'stringData', 'type', 'immutable'}),
    CONFIGMAPS: frozenset({'apiVersion', 'kind', 'metadata', 'data', 'binaryData', 'immutable'}),
}

# (regex, max length, message, examples) as in k8s.io/apimachinery/pkg/util/validation.
_SUBDOMAIN = (r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*', 253,
              "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
              'and must start and end with an alphanumeric character', ('example.com',))
_LABEL = (r'[a-z0-9]([-a-z0-9]*[a-z0-9])?', 63,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
          'start and end with an alphanumeric character', ('my-name', '123-abc'))
_DNS1035 = (r'[a-z]([-a-z0-9]*[a-z0-9])?', 63,
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            'alphabetic character, and end with an alphanumeric character', ('my-name', 'abc-123'))
_CONFIG_KEY = (r'[-._a-zA-Z0-9]+', 253,
               "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
               ('key.name', 'KEY_NAME', 'key-name'))


def _regex_error(message: str, fmt: str, examples: tuple[str, ...]) -> str:
    """apimachinery's validation.RegexError, double space before "or" included."""
    shown = ''.join(("'" if i == 0 else " or '") + example + "', " for i, example in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _check(value: str, rule: tuple[str, int, str, tuple[str, ...]]) -> list[str]:
    fmt, max_length, message, examples = rule
    problems = []
    if len(value) > max_length:
        problems.append(f'must be no more than {max_length} characters')
    if not regex.search(f'^(?:{fmt})$', value):  # RE2: $ is the very end, "name\n" does not pass
        problems.append(_regex_error(message, fmt, examples))
    if rule is _CONFIG_KEY:  # validation.IsConfigMapKey also refuses relative path components
        if value in ('.', '..'):
            problems.append(f"must not be '{value}'")
        elif value.startswith('..'):
            problems.append("must not start with '..'")
    return problems


def name_rule(resource: kmock.resource) -> tuple[str, int, str, tuple[str, ...]]:
    if resource == NAMESPACES:
        return _LABEL
    if resource == SERVICES:
        return _DNS1035
    return _SUBDOMAIN  # every other built-in kind and every custom resource (NameIsDNSSubdomain)


def name_errors(resource: kmock.resource, meta: Mapping[str, Any], *, generated: bool) -> list[FieldError]:
    """metadata.name (or, for a generated name, metadata.generateName as a prefix) problems."""
    rule = name_rule(resource)
    name = str(meta.get('name'))
    errors = [FieldError('metadata.name', f'Invalid value: {json.dumps(name)}: {problem}')
              for problem in _check(name, rule)]
    if generated:
        prefix = str(meta.get('generateName'))
        # A prefix may end in '-' (apimachinery masks the trailing dash before checking).
        masked = prefix[:-1] + 'a' if prefix.endswith('-') else prefix
        errors = [FieldError('metadata.generateName', f'Invalid value: {json.dumps(prefix)}: {problem}')
                  for problem in _check(masked, rule)]
    return errors


def unknown_fields(resource: kmock.resource, obj: Mapping[str, Any]) -> list[str]:
    """Fields a typed decoder would not know: in metadata (every kind) and at the top of Secret/ConfigMap."""
    found = [f'metadata.{key}' for key in (obj.get('metadata') or {}) if key not in OBJECT_META_FIELDS]
    known = TOP_LEVEL_FIELDS.get(resource)
    if known is not None:
        found += [key for key in obj if key not in known]
    return found


def drop_fields(obj: dict[str, Any], paths: list[str]) -> None:
    for path in paths:
        head, _, rest = path.partition('.')
        if rest and isinstance(obj.get(head), dict):
            obj[head].pop(rest, None)
        elif not rest:
            obj.pop(head, None)


class DecodeError(ValueError):
    """A body the typed decoder refuses (answered as 400 BadRequest)."""


def normalize(resource: kmock.resource, obj: dict[str, Any]) -> list[FieldError]:
    """Server-side conversion and defaults of built-in kinds, in place; returns validation errors."""
    if resource == SECRETS:
        return _normalize_secret(obj)
    if resource == CONFIGMAPS:
        errors = _key_errors('data', obj.get('data'))
        errors += _key_errors('binaryData', obj.get('binaryData'))
        return errors
    return []


def _normalize_secret(secret: dict[str, Any]) -> list[FieldError]:
    data = secret.get('data')
    if data is not None and not isinstance(data, dict):
        raise DecodeError('data must be an object of base64 strings')
    merged = dict(data or {})
    for key, value in merged.items():
        if not isinstance(value, str):
            raise DecodeError(f'data[{key}] must be a base64 string')
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise DecodeError(f'illegal base64 data in data[{key}]: {exc}') from exc
    string_data = secret.pop('stringData', None)
    if string_data is not None:
        if not isinstance(string_data, dict):
            raise DecodeError('stringData must be an object of strings')
        for key, value in string_data.items():
            if not isinstance(value, str):
                raise DecodeError(f'stringData[{key}] must be a string')
            # stringData wins over data for the same key (core/v1 conversion), stored base64.
            merged[key] = base64.b64encode(value.encode()).decode()
    if data is not None or string_data is not None:
        secret['data'] = merged
    if not secret.get('type'):
        secret['type'] = 'Opaque'
    return _key_errors('data', merged)


def _key_errors(field: str, values: Any) -> list[FieldError]:
    if not isinstance(values, dict):
        return []
    return [FieldError(f'{field}[{key}]', f'Invalid value: {json.dumps(key)}: {problem}')
            for key in values for problem in _check(str(key), _CONFIG_KEY)]
