"""Exec and custom monitor scripts: golden files, shell syntax, quoting and run-time behaviour."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from render_golden import assert_golden

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.paths import CJCPW
from jobcenter_operator.render.scripts import (
    agent_monitor_script,
    agent_start_script,
    agent_stop_script,
    scripts_for,
    site_start_script,
    site_stop_script,
)

ROOT = Path(__file__).resolve().parents[3]
SHELLS = [shell for shell in ("sh", "bash", "dash") if shutil.which(shell)]

# The vendor's printed start.sh (guide 2.5, node-protocol 3.1), re-typed in ASCII. Its else
# branch holds only a comment: a syntax error in every POSIX shell. Never copy it.
VENDOR_SAMPLE = """#! /bin/sh
if [ "$CLP_EVENT" = "START" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "NORMAL CJCPW STARTUP"
    /usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2
  fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "FAILOVER CJCPW STARTUP"
    /usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2
  fi
else
  #NO_CLP
fi
#EXIT
exit 0
"""

RENDERED = {
    "classic-start-monitored.sh": site_start_script(virtual_host="cluv", database_path="/mnt/sdb2", monitored=True),
    "classic-start-unmonitored.sh": site_start_script(virtual_host="cluv", database_path="/mnt/sdb2", monitored=False),
    "classic-stop.sh": site_stop_script(virtual_host="cluv"),
    "manager-start-monitored.sh": site_start_script(
        virtual_host="jcmgcluster", database_path="/mnt/jobmgdb", monitored=True
    ),
    "manager-start-unmonitored.sh": site_start_script(
        virtual_host="jcmgcluster", database_path="/mnt/jobmgdb", monitored=False
    ),
    "manager-stop.sh": site_stop_script(virtual_host="jcmgcluster"),
    "agent-start.sh": agent_start_script(instance_id="1"),
    "agent-stop.sh": agent_stop_script(instance_id="1"),
    "agent-genw.sh": agent_monitor_script(instance_id="1"),
}


def sample_spec(name: str, **changes: object) -> JobCenterSiteSpec:
    manifest = yaml.safe_load((ROOT / "manifests" / "samples" / f"jobcentersite-{name}.yaml").read_text())
    spec = JobCenterSiteSpec.model_validate(manifest["spec"])
    return spec.model_copy(update=changes) if changes else spec


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_script_matches_golden_file(name: str) -> None:
    assert_golden(name, RENDERED[name])


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_script_is_ascii_with_sh_shebang_and_operator_header(name: str) -> None:
    script = RENDERED[name]
    assert script.isascii()
    assert script.startswith("#! /bin/sh\n")
    assert "Managed by jobcenter-operator" in script
    assert script.endswith("\n") and "\r" not in script


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", sorted(RENDERED))
def test_script_parses_in_every_shell(name: str, shell: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(RENDERED[name])
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_vendor_printed_sample_is_a_shell_syntax_error(shell: str, tmp_path: Path) -> None:
    # Why scripts.py renders its own NO_CLP branch instead of copying the guide.
    path = tmp_path / "vendor-start.sh"
    path.write_text(VENDOR_SAMPLE)
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "fi" in result.stderr


def test_event_scripts_follow_the_vendor_structure() -> None:
    script = RENDERED["classic-start-monitored.sh"]
    assert script.count('[ "$CLP_DISK" = "SUCCESS" ]') == 2
    assert script.count("/usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2\n") == 2
    assert 'echo "ERROR_DISK from START"' in script and 'echo "ERROR_DISK from FAILOVER"' in script
    assert 'else\n  echo "NO_CLP"\nfi\n' in script
    assert "/usr/lib/nqs/cluster/cjcpw -c jcmgcluster /mnt/jobmgdb\n" in RENDERED["manager-start-unmonitored.sh"]
    assert "/usr/lib/nqs/cluster/cjcpw -stop cluv\n" in RENDERED["classic-stop.sh"]
    assert "systemctl -q is-active jcexecutor_agent_1.service\n" in RENDERED["agent-genw.sh"]


def test_non_ascii_value_is_refused() -> None:
    # A full-width or en-dash character copied from the PDF must never reach a node.
    with pytest.raises(ValueError, match="ASCII"):
        site_stop_script(virtual_host="\uff43luv")


# --- scripts_for -----------------------------------------------------------------------------


def test_scripts_for_classic_sample() -> None:
    assert scripts_for(sample_spec("classic")) == {
        "scripts/failover-jc/exec-jc/start.sh": RENDERED["classic-start-monitored.sh"],
        "scripts/failover-jc/exec-jc/stop.sh": RENDERED["classic-stop.sh"],
    }


def test_scripts_for_classic_without_process_monitoring() -> None:
    scripts = scripts_for(sample_spec("classic", process_monitoring=False))
    assert scripts["scripts/failover-jc/exec-jc/start.sh"] == RENDERED["classic-start-unmonitored.sh"]


def test_scripts_for_standard_manager_sample() -> None:
    assert scripts_for(sample_spec("standard-manager")) == {
        "scripts/failover-jcmg/exec-jcmg/start.sh": RENDERED["manager-start-monitored.sh"],
        "scripts/failover-jcmg/exec-jcmg/stop.sh": RENDERED["manager-stop.sh"],
    }


def test_scripts_for_standard_agent_sample() -> None:
    assert scripts_for(sample_spec("standard-agent")) == {
        "scripts/failover-jcag/exec-jcag/start.sh": RENDERED["agent-start.sh"],
        "scripts/failover-jcag/exec-jcag/stop.sh": RENDERED["agent-stop.sh"],
        "scripts/monitor.s/genw-jcag/genw.sh": RENDERED["agent-genw.sh"],
    }


# --- quoting -----------------------------------------------------------------------------------

HOSTILE_HOST = "x; touch pwned-host"
HOSTILE_PATH = "/mnt/$(touch pwned-path)`touch pwned-tick`"


def test_hostile_values_are_one_quoted_argument_each() -> None:
    # Renderers are called directly here, bypassing the models' patterns.
    script = site_start_script(virtual_host=HOSTILE_HOST, database_path=HOSTILE_PATH, monitored=False)
    expected = shlex.join([CJCPW, "-c", HOSTILE_HOST, HOSTILE_PATH])
    command_lines = [line.strip() for line in script.splitlines() if line.strip().startswith(CJCPW)]
    assert command_lines == [expected, expected]
    assert shlex.split(expected) == [CJCPW, "-c", HOSTILE_HOST, HOSTILE_PATH]
    assert HOSTILE_HOST not in "".join(line for line in script.splitlines() if line.startswith("#"))


def test_hostile_values_reach_cjcpw_verbatim_when_the_script_runs(tmp_path: Path) -> None:
    script = site_start_script(virtual_host=HOSTILE_HOST, database_path=HOSTILE_PATH, monitored=True)
    outcome = run_with_stub(tmp_path, script, event="START")
    assert outcome.argv == [HOSTILE_HOST, HOSTILE_PATH]
    assert not list(tmp_path.glob("pwned*"))


# --- run-time behaviour, with the command replaced by a recording stub -------------------------


class Outcome:
    def __init__(self, returncode: int, stdout: str, argv: list[str] | None) -> None:
        self.returncode, self.stdout, self.argv = returncode, stdout, argv


def run_with_stub(
    tmp_path: Path, script: str, *, event: str | None, disk: str = "SUCCESS", stub_status: int = 0
) -> Outcome:
    """Run ``script`` in ``tmp_path`` with cjcpw and systemctl replaced by a stub that records
    its arguments (NUL-separated) and exits with ``stub_status``."""
    stub = tmp_path / "bin" / "stub"
    stub.parent.mkdir(exist_ok=True)
    record = tmp_path / "argv"
    stub.write_text(f"#! /bin/sh\nprintf '%s\\0' \"$@\" > {shlex.quote(str(record))}\nexit {stub_status}\n")
    stub.chmod(0o755)
    (tmp_path / "bin" / "systemctl").symlink_to(stub)
    # cjcpw is called by absolute path: point that (operator-controlled) prefix at the stub.
    path = tmp_path / "script.sh"
    path.write_text(script.replace(CJCPW + " ", f"{stub} "))
    env = {"PATH": f"{stub.parent}:{os.environ['PATH']}", "CLP_DISK": disk}
    if event is not None:
        env["CLP_EVENT"] = event
    result = subprocess.run(["sh", str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    argv = record.read_bytes().decode().split("\0")[:-1] if record.exists() else None
    return Outcome(result.returncode, result.stdout, argv)


@pytest.mark.parametrize("event", ["START", "FAILOVER"])
def test_unmonitored_start_exits_with_cjcpw_status(event: str, tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED["classic-start-unmonitored.sh"], event=event, stub_status=3)
    assert outcome.argv == ["-c", "cluv", "/mnt/sdb2"]
    assert outcome.returncode == 3


def test_monitored_start_ends_when_cjcpw_ends_with_its_status(tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED["classic-start-monitored.sh"], event="START", stub_status=1)
    assert outcome.argv == ["cluv", "/mnt/sdb2"]
    assert outcome.returncode == 1
    assert "NORMAL CJCPW STARTUP" in outcome.stdout


def test_stop_logs_but_does_not_return_cjcpw_failure(tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED["classic-stop.sh"], event="FAILOVER", stub_status=1)
    assert outcome.argv == ["-stop", "cluv"]
    assert outcome.returncode == 0
    assert "EXIT 1" in outcome.stdout


@pytest.mark.parametrize("disk", ["FAILURE", "ERROR"])
@pytest.mark.parametrize("name", [name for name in sorted(RENDERED) if "start" in name])
def test_disk_failure_fails_a_start_without_running_the_command(name: str, disk: str, tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED[name], event="START", disk=disk)
    assert outcome.returncode == 1
    assert outcome.argv is None
    assert "ERROR_DISK from START" in outcome.stdout


@pytest.mark.parametrize("event", ["START", "FAILOVER"])
@pytest.mark.parametrize("name", [name for name in sorted(RENDERED) if "stop" in name])
def test_disk_failure_in_a_stop_still_stops_and_never_fails_the_deactivation(name: str, event: str,
                                                                            tmp_path: Path) -> None:
    # A non-zero stop.sh would trigger deact/action 4 (stop the cluster service, shut down).
    outcome = run_with_stub(tmp_path, RENDERED[name], event=event, disk="FAILURE", stub_status=1)
    assert outcome.returncode == 0
    assert outcome.argv is not None and outcome.argv[0] in ("-stop", "stop")
    assert f"ERROR_DISK from {event}" in outcome.stdout


@pytest.mark.parametrize("name", [name for name in sorted(RENDERED) if name != "agent-genw.sh"])
def test_outside_clusterpro_does_nothing(name: str, tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED[name], event=None)
    assert outcome.returncode == 0
    assert outcome.argv is None
    assert "NO_CLP" in outcome.stdout


@pytest.mark.parametrize(("name", "argv"), [("agent-start.sh", "start"), ("agent-stop.sh", "stop")])
def test_agent_exec_scripts_exit_with_systemctl_status(name: str, argv: str, tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED[name], event="FAILOVER", stub_status=5)
    assert outcome.argv == [argv, "jcexecutor_agent_1.service"]
    assert outcome.returncode == 5


@pytest.mark.parametrize("status", [0, 3])
def test_agent_monitor_exits_with_is_active_status(status: int, tmp_path: Path) -> None:
    outcome = run_with_stub(tmp_path, RENDERED["agent-genw.sh"], event=None, stub_status=status)
    assert outcome.argv == ["-q", "is-active", "jcexecutor_agent_1.service"]
    assert outcome.returncode == status
