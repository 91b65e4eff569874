"""Fixtures for the stand-in's own tests (other folders import hack.standin.pytest_fixtures the same way)."""

from __future__ import annotations

from hack.standin.pytest_fixtures import standin_crds_dir, standin_server  # noqa: F401
