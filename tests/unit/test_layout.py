"""The source root `operator/` must never become a package: it would shadow the stdlib module."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_operator_source_root_has_no_init() -> None:
    assert (ROOT / "operator" / "jobcenter_operator" / "__init__.py").is_file()
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_import_operator_is_the_standard_library_from_the_repo_root() -> None:
    # A fresh interpreter started in the repo root, with operator/ on sys.path as well.
    code = (
        "import sys; sys.path[:0] = ['', 'operator']; import operator, jobcenter_operator; "
        "print(operator.__file__); print(hasattr(operator, 'itemgetter'))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    path, has_itemgetter = out.stdout.split()
    assert "site-packages" not in path and not path.startswith(str(ROOT)), path
    assert has_itemgetter == "True"


def test_package_imports_as_installed() -> None:
    module = importlib.import_module("jobcenter_operator")
    assert Path(module.__file__ or "").parent == ROOT / "operator" / "jobcenter_operator"
