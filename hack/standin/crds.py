"""What creating a CustomResourceDefinition does to an API server: register, accept, establish.

kmock 0.8 stores a CRD like any object; its resource stays unknown, so kubectl answers "no matches for
kind". Here each served version of the CRD becomes a registered resource (kind, plural, singular,
shortNames, categories, scope, subresources), and the CRD gets the status conditions that
``kubectl wait --for condition=established`` and kopf look for.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kmock

CRDS = kmock.resource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')
VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']


@dataclass(frozen=True)
class ServedVersion:
    """One served version of a CRD: everything the server needs per request."""
    resource: kmock.resource
    crd: Mapping[str, Any]
    version: Mapping[str, Any]

    @property
    def names(self) -> Mapping[str, Any]:
        names: Mapping[str, Any] = self.crd['spec']['names']
        return names

    @property
    def kind(self) -> str:
        return str(self.names['kind'])

    @property
    def list_kind(self) -> str:
        return str(self.names.get('listKind') or f'{self.kind}List')

    @property
    def namespaced(self) -> bool:
        return bool(self.crd['spec'].get('scope', 'Namespaced') == 'Namespaced')

    @property
    def subresources(self) -> Mapping[str, Any]:
        subs: Mapping[str, Any] = self.version.get('subresources') or {}
        return subs

    @property
    def printer_columns(self) -> list[Mapping[str, Any]]:
        return list(self.version.get('additionalPrinterColumns') or [])

    @property
    def schema(self) -> Mapping[str, Any] | None:
        schema: Mapping[str, Any] | None = (self.version.get('schema') or {}).get('openAPIV3Schema')
        return schema

    def info(self) -> kmock.ResourceInfo:
        return kmock.ResourceInfo(
            kind=self.kind, singular=self.names.get('singular') or self.kind.lower(),
            namespaced=self.namespaced, verbs=set(VERBS),
            shortnames=set(self.names.get('shortNames') or []),
            categories=set(self.names.get('categories') or []),
            subresources=set(self.subresources),
        )


def served_versions(crd: Mapping[str, Any]) -> list[ServedVersion]:
    spec = crd.get('spec') or {}
    group, plural = spec.get('group'), (spec.get('names') or {}).get('plural')
    return [ServedVersion(kmock.resource(group, v['name'], plural), crd, v)
            for v in spec.get('versions') or [] if v.get('served', True)]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def accepted_status(crd: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The status the apiextensions controllers write: names accepted, established, stored versions."""
    spec = crd.get('spec') or {}
    stamp = now()
    old_conditions = {c.get('type'): c for c in ((previous or {}).get('conditions') or [])}

    def condition(ctype: str, reason: str, message: str) -> dict[str, Any]:
        since = old_conditions.get(ctype, {}).get('lastTransitionTime', stamp)
        return {'type': ctype, 'status': 'True', 'reason': reason, 'message': message,
                'lastTransitionTime': since}

    stored = [v['name'] for v in spec.get('versions') or [] if v.get('storage')]
    return {
        'acceptedNames': dict(spec.get('names') or {}),
        'conditions': [
            condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
            condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
        ],
        'storedVersions': sorted({*((previous or {}).get('storedVersions') or []), *stored}),
    }
