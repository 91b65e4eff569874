"""Fixtures for the stand-in's own tests (other folders import hack.standin.pytest_fixtures the same way)."""

from __future__ import annotations

import pathlib

import pytest

from hack.standin.pytest_fixtures import standin_crds_dir, standin_server  # noqa: F401

DATA = pathlib.Path(__file__).parent / 'data'
REPO = pathlib.Path(__file__).resolve().parents[2]
PROJECT_CRDS = REPO / 'crds'


@pytest.fixture()
def project_crds() -> pathlib.Path:
    if not any(PROJECT_CRDS.glob('*.yaml')):
        pytest.skip('the project CRDs (crds/*.yaml) are not generated yet')
    return PROJECT_CRDS
