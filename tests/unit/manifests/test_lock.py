"""The lock files pin the full transitive set with hashes, agree with pyproject.toml's own pins, and
are what `make setup` (requirements-dev.lock) and the image (requirements.lock) install."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = PIN.match(line.strip())
        if m:
            out[normal(re.sub(r"\[.*\]", "", m.group(1)))] = m.group(2)
    return out


def lock(name: str) -> tuple[dict[str, str], str]:
    text = (ROOT / name).read_text()
    return pins(text.splitlines()), text


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize(("name", "extras"), [("requirements.lock", []), ("requirements-dev.lock", ["test"])])
def test_lock_holds_pyprojects_pins_and_hashes(name: str, extras: list[str]) -> None:
    locked, text = lock(name)
    wanted = pins([d.replace("[bcrypt]", "") for d in PROJECT["dependencies"]])
    for extra in extras:
        wanted.update(pins(PROJECT["optional-dependencies"][extra]))
    assert {k: locked.get(k) for k in wanted} == wanted, "pyproject.toml changed: run `make lock`"
    assert len(locked) > len(wanted)  # transitive dependencies are pinned too
    # Every pinned requirement carries hashes (pip then checks every download).
    entries = [e for e in re.split(r"\n(?=[A-Za-z0-9])", text) if PIN.match(e)]  # one per requirement
    assert len(entries) == len(locked)
    assert [e.split()[0] for e in entries if "--hash=sha256:" not in e] == []


def test_setup_and_image_install_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -r requirements-dev.lock" in makefile
    containerfile = (ROOT / "Containerfile").read_text()
    assert re.search(r"pip install .*-r /src/requirements.lock", containerfile)


def test_the_dev_venv_matches_the_lock() -> None:
    """What `make setup` installed is what requirements-dev.lock says (a stale .venv shows here)."""
    locked, _ = lock("requirements-dev.lock")
    installed = {}
    for name in locked:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    assert installed == locked
