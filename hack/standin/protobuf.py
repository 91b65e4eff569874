"""Decoding of the protobuf bodies kubectl sends for built-in kinds (``kubectl create secret|configmap|namespace``).

kubectl's typed clients send ``application/vnd.kubernetes.protobuf`` (and accept JSON back). A body is the
``k8s\\x00`` magic and a ``runtime.Unknown`` envelope (``typeMeta``, ``raw``) around the object's own
message. Only the kinds and fields that ``kubectl create`` writes are decoded (field numbers from
k8s.io/api/core/v1/generated.proto and apimachinery's meta/v1); anything else is refused as before.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b'k8s\x00'


class ProtobufError(ValueError):
    """A body this stand-in cannot decode (answered 415 / 400)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError('truncated varint')
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError('truncated field')
            yield number, data[pos:pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f'unsupported wire type {wire}')


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError('expected a string field')
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, bytes]:
    """A map entry message: key = 1, value = 2."""
    if not isinstance(value, bytes):
        raise ProtobufError('expected a map entry')
    key, item = '', b''
    for number, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2 and isinstance(part, bytes):
            item = part
    return key, item


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    strings = {1: 'name', 2: 'generateName', 3: 'namespace', 6: 'resourceVersion'}
    for number, value in fields(data):
        if number in strings and _text(value):
            meta[strings[number]] = _text(value)
        elif number in (11, 12):  # labels, annotations
            key, item = _entry(value)
            meta.setdefault('labels' if number == 11 else 'annotations', {})[key] = item.decode()
        elif number == 14:
            meta.setdefault('finalizers', []).append(_text(value))
    return meta


def _secret(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj['metadata'] = _object_meta(value)
        elif number == 2:  # data: map<string, bytes>, JSON shows it base64
            key, item = _entry(value)
            obj.setdefault('data', {})[key] = base64.b64encode(item).decode()
        elif number == 3:
            obj['type'] = _text(value)
        elif number == 4:
            key, item = _entry(value)
            obj.setdefault('stringData', {})[key] = item.decode()
        elif number == 5:
            obj['immutable'] = bool(value)
    return obj


def _configmap(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj['metadata'] = _object_meta(value)
        elif number == 2:
            key, item = _entry(value)
            obj.setdefault('data', {})[key] = item.decode()
        elif number == 3:
            key, item = _entry(value)
            obj.setdefault('binaryData', {})[key] = base64.b64encode(item).decode()
        elif number == 4:
            obj['immutable'] = bool(value)
    return obj


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            obj['metadata'] = _object_meta(value)
    return obj


DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ('v1', 'Secret'): _secret,
    ('v1', 'ConfigMap'): _configmap,
    ('v1', 'Namespace'): _namespace,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; ProtobufError for other kinds or broken bodies."""
    if not body.startswith(MAGIC):
        raise ProtobufError('missing the k8s protobuf magic prefix')
    api_version = kind = ''
    raw = b''
    for number, value in fields(body[len(MAGIC):]):
        if number == 1 and isinstance(value, bytes):  # typeMeta
            for sub, part in fields(value):
                if sub == 1:
                    api_version = _text(part)
                elif sub == 2:
                    kind = _text(part)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(f'protobuf bodies of {api_version}/{kind} are not decoded by this stand-in')
    return {'apiVersion': api_version, 'kind': kind, **decoder(raw)}
