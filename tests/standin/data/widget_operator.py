"""A tiny kopf operator for the stand-in's tests: reacts to Widgets and writes status."""

from __future__ import annotations

import os
from typing import Any

import kopf

WIDGETS = ('test.standin.io', 'v1', 'widgets')


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.scanning.disabled = True  # no cluster-wide discovery of namespaces/CRDs
    settings.networking.error_backoffs = [0.5]
    settings.persistence.finalizer = 'test.standin.io/finalizer'


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    # Explicit: the kubernetes library reads $KUBECONFIG once at import time, before fixtures run.
    return kopf.ConnectionInfo(server=os.environ['STANDIN_URL'], token='standin-dummy-token',  # noqa: S106
                               default_namespace='default')


@kopf.on.create(*WIDGETS)
def created(spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
    patch.status['phase'] = f'created-{spec["machineId"]}'


@kopf.on.update(*WIDGETS)
def updated(spec: kopf.Spec, patch: kopf.Patch, meta: kopf.Meta, **_: Any) -> None:
    patch.status['phase'] = f'updated-{spec["machineId"]}'
    patch.status['observedGeneration'] = meta['generation']


@kopf.on.delete(*WIDGETS)
def deleted(name: str, logger: kopf.Logger, **_: Any) -> None:
    logger.info(f'widget {name} is gone')
