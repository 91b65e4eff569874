"""Issue 11: which CLUSTERPRO manager services a node has (the clpcl -r options follow them) and the
operator's restart marker, from the probe section run by a real shell on unit directories laid out
as systemd reads them (systemd.unit(5))."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from jobcenter_operator.facts import manager
from jobcenter_operator.facts.sections import SectionOutput
from jobcenter_operator.paths import MANAGER_RESTART_DIR
from jobcenter_operator.plan import suspend_commands

UNIT = "[Unit]\nDescription=EXPRESSCLUSTER {}\n\n[Service]\nExecStart=/bin/true\n"
# (directory, unit, kind): kind "file" a unit file, "link" a symlink to one in /usr/lib, "mask" a
# symlink to /dev/null, "empty" an empty file (systemd reads both as masked), "dangling" a link to nothing.
PRODUCTS: dict[str, list[tuple[str, str, str]]] = {
    "x42-rpm": [("usr/lib", "clusterpro_ib", "file"), ("usr/lib", "clusterpro_api", "file")],
    "x42-deb": [("lib", "clusterpro_ib", "file"), ("lib", "clusterpro_api", "file")],
    "x42-enabled-links": [("usr/lib", "clusterpro_ib", "file"), ("usr/lib", "clusterpro_api", "file"),
                          ("etc", "clusterpro_ib", "link")],
    "x41": [],
    "api-masked": [("usr/lib", "clusterpro_ib", "file"), ("usr/lib", "clusterpro_api", "file"),
                   ("etc", "clusterpro_api", "mask")],
    "ib-masked-at-runtime": [("usr/lib", "clusterpro_ib", "file"), ("run", "clusterpro_ib", "empty")],
    "api-dangling": [("etc", "clusterpro_api", "dangling")],
}
EXPECTED = {"x42-rpm": {"clusterpro_ib", "clusterpro_api"}, "x42-deb": {"clusterpro_ib", "clusterpro_api"},
            "x42-enabled-links": {"clusterpro_ib", "clusterpro_api"}, "x41": set(), "api-masked": {"clusterpro_ib"},
            "ib-masked-at-runtime": set(), "api-dangling": set()}
SEARCH = ("etc", "run", "usr/local/lib", "usr/lib", "lib")


def _lay_out(root: Path, product: str) -> tuple[str, ...]:
    dirs = tuple(str(root / d / "systemd" / "system") for d in SEARCH)
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    for where, unit, kind in PRODUCTS[product]:
        path = root / where / "systemd" / "system" / f"{unit}.service"
        if kind == "file":
            path.write_text(UNIT.format(unit))
        elif kind == "empty":
            path.write_text("")
        elif kind == "mask":
            path.symlink_to("/dev/null")
        elif kind == "link":
            path.symlink_to(root / "usr/lib/systemd/system" / f"{unit}.service")
        else:
            path.symlink_to(root / "nowhere" / f"{unit}.service")
    return dirs


def _run(tmp_path: Path, product: str, *, group: str = "failover-jc", pending: bool = False) -> SectionOutput:
    dirs = _lay_out(tmp_path / "root", product)
    markers = tmp_path / "manager-restart"
    markers.mkdir(exist_ok=True)
    if pending:
        (markers / group).touch()
    body = manager.manager_services_section(dirs).body.replace(MANAGER_RESTART_DIR, str(markers))
    # PATH empty: the section starts no process (every word is a shell builtin)
    done = subprocess.run(["sh", "-c", f"f() {{\n{body}\n}}\ngroup=$1\nPATH=\nf", "probe", group],
                          capture_output=True, text=True, check=False)
    assert not done.stderr
    return SectionOutput(done.stdout, done.returncode)


def test_the_probe_section_searches_systemds_unit_path() -> None:
    assert manager.MANAGER_SERVICES.body == manager.manager_services_section(manager.UNIT_DIRS).body
    assert manager.UNIT_DIRS == tuple(f"/{d}/systemd/system" for d in SEARCH)


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_the_installed_units_decide_the_restart_options(tmp_path: Path, product: str) -> None:
    found = manager.parse_manager_services(_run(tmp_path, product))
    assert found.units == EXPECTED[product] and not found.restart_pending
    options = suspend_commands.manager_restart_options(found.units)
    assert options[:2] == ("--web", "--alert")  # every version (node-protocol 8)
    assert ("--ib" in options, "--api" in options) == ("clusterpro_ib" in found.units,
                                                       "clusterpro_api" in found.units)


def test_the_restart_marker_is_read_for_the_probed_group_only(tmp_path: Path) -> None:
    assert manager.parse_manager_services(_run(tmp_path, "x42-rpm", pending=True)).restart_pending
    assert not manager.parse_manager_services(_run(_fresh(tmp_path), "x42-rpm", group="other")).restart_pending
    assert not manager.parse_manager_services(_run(tmp_path, "x42-rpm", group="a/b")).restart_pending


def test_odd_output_reads_as_no_optional_service() -> None:
    assert manager.parse_manager_services(SectionOutput("garbage\nunit\nunit clusterpro_nm enabled\n", 0)) \
        == manager.ManagerServices()
    assert manager.parse_manager_services(SectionOutput("unit clusterpro_ib enabled\npending\n", 1)) \
        == manager.ManagerServices()


def _restart(tmp_path: Path, clpcl_rc: int) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    log = tmp_path / "clpcl.log"
    clpcl = tmp_path / "clpcl"
    clpcl.write_text(f'#!/bin/sh\necho "$@" >>{log}\necho "clpcl says {clpcl_rc}"\nexit {clpcl_rc}\n')
    clpcl.chmod(0o755)
    markers = tmp_path / "markers"
    argv = list(suspend_commands.restart_manager_services("failover-jc", {"clusterpro_ib", "clusterpro_api"}).argv)
    argv[2] = argv[2].replace("/usr/sbin/clpcl", str(clpcl))
    argv[argv.index(MANAGER_RESTART_DIR)] = str(markers)
    return subprocess.run(argv, capture_output=True, text=True, check=False), log, markers / "failover-jc"


def test_the_restart_command_leaves_its_marker_only_when_clpcl_fails(tmp_path: Path) -> None:
    done, log, marker = _restart(tmp_path, 0)
    assert done.returncode == 0 and log.read_text() == "-r -a --web --alert --ib --api\n" and not marker.exists()
    failed, _, marker = _restart(_fresh(tmp_path), 7)
    assert failed.returncode == 7 and "clpcl says 7" in failed.stderr and marker.exists()


def _fresh(tmp_path: Path) -> Path:
    other = tmp_path / "again"
    other.mkdir()
    return other
