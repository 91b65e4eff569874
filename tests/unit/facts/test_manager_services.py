"""Issue 11: which CLUSTERPRO manager services a node has (the clpcl -r options follow them) and the
operator's restart marker, from the probe section run by a real shell with a stand-in systemctl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jobcenter_operator.facts import manager
from jobcenter_operator.facts.sections import SectionOutput
from jobcenter_operator.paths import MANAGER_RESTART_DIR, SYSTEMCTL
from jobcenter_operator.plan import suspend_commands

# is-enabled's answers: X4.2+ (both units), X4.1 (old systemd: nothing on stdout; new: not-found),
# an administrator's mask.
SYSTEMCTLS = {
    "x42": 'case "$2" in clusterpro_ib.service|clusterpro_api.service) echo enabled ;; esac',
    "x41-old-systemd": 'echo "Failed to get unit file state for $2: No such file or directory" >&2; exit 1',
    "x41": "echo not-found; exit 1",
    "api-masked": 'case "$2" in clusterpro_api.service) echo masked ;; *) echo static ;; esac; exit 0',
}
EXPECTED = {"x42": {"clusterpro_ib", "clusterpro_api"}, "x41-old-systemd": set(), "x41": set(),
            "api-masked": {"clusterpro_ib"}}


def _run(tmp_path: Path, systemctl: str, *, group: str = "failover-jc", pending: bool = False) -> SectionOutput:
    fake = tmp_path / "systemctl"
    fake.write_text(f"#!/bin/sh\n{systemctl}\n")
    fake.chmod(0o755)
    markers = tmp_path / "manager-restart"
    markers.mkdir(exist_ok=True)
    if pending:
        (markers / group).touch()
    body = manager.MANAGER_SERVICES.body.replace(SYSTEMCTL, str(fake)).replace(MANAGER_RESTART_DIR, str(markers))
    done = subprocess.run(["sh", "-c", f"f() {{\n{body}\n}}\ngroup=$1\nf", "probe", group],
                          capture_output=True, text=True, check=False)
    return SectionOutput(done.stdout, done.returncode)


@pytest.mark.parametrize("product", sorted(SYSTEMCTLS))
def test_the_installed_units_decide_the_restart_options(tmp_path: Path, product: str) -> None:
    found = manager.parse_manager_services(_run(tmp_path, SYSTEMCTLS[product]))
    assert found.units == EXPECTED[product] and not found.restart_pending
    options = suspend_commands.manager_restart_options(found.units)
    assert options[:2] == ("--web", "--alert")  # every version (node-protocol 8)
    assert ("--ib" in options, "--api" in options) == ("clusterpro_ib" in found.units,
                                                       "clusterpro_api" in found.units)


def test_the_restart_marker_is_read_for_the_probed_group_only(tmp_path: Path) -> None:
    assert manager.parse_manager_services(_run(tmp_path, SYSTEMCTLS["x42"], pending=True)).restart_pending
    assert not manager.parse_manager_services(_run(_fresh(tmp_path), SYSTEMCTLS["x42"], group="other")).restart_pending
    assert not manager.parse_manager_services(_run(tmp_path, SYSTEMCTLS["x42"], group="a/b")).restart_pending


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
