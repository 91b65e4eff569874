"""The resident tool helper (toolsd + C shim) behaves like the direct per-command Python wrapper.

Every case runs the same command twice on the same node: through the tool's real path (the shim,
which hands it to the node's helper) and through its direct wrapper (one Python process per
command, the bed's original path), and compares exit status, stdout and stderr byte for byte.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest

from hack.testbed import api, toolsd
from hack.testbed.clp.logcmd import ALERT_LOG
from hack.testbed.config import BedRecord
from hack.testbed.nodetools import TOOL_PATHS
from hack.testbed.nsexec import node_env, nsenter_argv
from hack.testbed.toolshim import DIRECT_DIR


def test_parse_request_round_trip() -> None:
    data = b"\0".join([b"JCB1", b"101", b"clpgrp", b"/tmp/w", b"3", b"-s", b"", b"a b",
                       b"2", b"CLP_EVENT=START", b"X=a=b", b""])
    req = toolsd.parse_request(data)
    assert (req.fd_mask, req.tool, req.cwd) == ("101", "clpgrp", "/tmp/w")
    assert req.argv == ["-s", "", "a b"]  # empty arguments survive
    assert req.env == {"CLP_EVENT": "START", "X": "a=b"}


def test_parse_request_rejects_foreign_data() -> None:
    with pytest.raises(ValueError):
        toolsd.parse_request(b"GET / HTTP/1.0\r\n\r\n")


def test_tool_env_is_the_callers_plus_the_beds() -> None:
    env = toolsd.tool_env({"CLP_EVENT": "START", "JCB_NODE": "wrong", "PATH": "/bin"}, "/s/c1", "clu2", "/repo")
    assert env == {"CLP_EVENT": "START", "JCB_NODE": "clu2", "PATH": "/bin", "JCB_CLUSTER_DIR": "/s/c1",
                   "PYTHONPATH": "/repo"}


def _both(name: str, node: str, script: str, tool: str, stdin: str | None = None) -> tuple[Any, Any]:
    """Run ``script`` (sh, with $T = the tool to call) through the shim and through the direct wrapper."""
    out = []
    for path in (TOOL_PATHS[tool], f"{DIRECT_DIR}/{tool}"):
        r = api.exec_on(name, node, ["sh", "-c", f"T={shlex.quote(path)}; {script}"], input=stdin)
        out.append(r)
    return out[0], out[1]


CLASSIC_CASES = [
    ("clpstat", '"$T"'),
    ("clpstat", '"$T" -g'),
    ("clpstat", '"$T" --bogus'),
    ("clpgrp", '"$T" -n failover-jc'),
    ("clpgrp", '"$T" -s no-such-group'),
    ("clpgrp", '"$T" -s failover-jc'),  # already started: an error text and exit 1
    ("clpcfctrl", '"$T" --pull'),  # usage error, exit 2
    # cwd: a relative -x resolves against the caller's working directory
    ("clpcfctrl", 'rm -rf /tmp/w; mkdir -p /tmp/w/out && cd /tmp/w && "$T" --pull -x out && ls -R out'),
    ("clpcfctrl", 'cd /tmp && "$T" --pull -x missing-dir'),
    ("clplogcmd", '"$T"'),
    ("clplogcmd", '"$T" -m hello -l nope'),
    ("cjcls", '"$T" -a'),
    ("cjcls", '"$T" -x'),
    ("cjcmksite", '"$T"'),
    ("cjcmksite", '"$T" cluv 114 /mnt/sdb2'),  # local site running: refused
    ("nqsstart", '"$T"; echo "rc=$?"'),
    ("systemctl", '"$T" is-active jcexecutor_agent_9.service'),
    ("systemctl", '"$T" frobnicate x'),
    ("systemctl", '"$T"'),
    # stdout and stderr into one pipe: the interleaving follows the same buffering
    ("clpgrp", '"$T" -s no-such-group 2>&1; "$T" -n failover-jc 2>&1'),
    # closed stdin / stdout: still the same outcome
    ("clpstat", '"$T" <&- >/dev/null; echo "rc=$?"'),
]


@pytest.mark.root
def test_classic_commands_match_the_direct_path(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    for tool, script in CLASSIC_CASES:
        via_shim, direct = _both(info["name"], "clu1", script, tool)
        assert via_shim == direct, (tool, script)
    # closed stdout: the same failure (the traceback's frames differ: no runpy in the helper's fork)
    via_shim, direct = _both(info["name"], "clu1", '"$T" >&-; echo "rc=$?"', "clpstat")
    assert via_shim["stdout"] == direct["stdout"] == "rc=1\n"
    assert via_shim["stderr"].splitlines()[-1] == direct["stderr"].splitlines()[-1]
    # the helper really served them: its shims are not shell scripts
    head = api.exec_on(info["name"], "clu1", ["head", "-c", "4", TOOL_PATHS["clpstat"]])["stdout"]
    assert head == "\x7fELF"


@pytest.mark.root
def test_agent_commands_match_the_direct_path(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="standard-agent", database_path="/mnt/jobagdb")
    unit = info["agent"]["unit"]
    for tool, script in [("jcagctrl", '"$T" list'), ("jcagctrl", '"$T"'),
                         ("systemctl", f'"$T" is-enabled {unit}'), ("systemctl", f'"$T" status {unit}'),
                         ("systemctl", f'"$T" start {unit}'),  # disk not mounted on clu2: fails
                         ("systemctl", f'"$T" disable {unit}; "$T" enable {unit}; "$T" is-enabled {unit}')]:
        via_shim, direct = _both(info["name"], "clu2", script, tool)
        assert via_shim == direct, (tool, script)


@pytest.mark.root
def test_faults_and_environment_reach_the_command(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    name = info["name"]
    api.fault(name, "fail-command", "clu1", "clpstat")
    via_shim, direct = _both(name, "clu1", '"$T"', "clpstat")
    assert via_shim == direct and via_shim["exitStatus"] == 1
    assert "simulated failure" in via_shim["stderr"]
    # the caller's environment is the command's: clplogcmd stamps its line in the caller's TZ
    for tool_path in (TOOL_PATHS["clplogcmd"], f"{DIRECT_DIR}/clplogcmd"):
        r = api.exec_on(name, "clu2", ["sh", "-c", f"rm -f {ALERT_LOG}; TZ=AAA+7 {tool_path} -m west; "
                                       f"TZ=BBB-5 {tool_path} -m east; cat {ALERT_LOG}"])
        stamps = [datetime.strptime(" ".join(line.split()[:2]), "%Y/%m/%d %H:%M:%S")
                  for line in r["stdout"].splitlines()]
        assert abs((stamps[1] - stamps[0]).total_seconds() - 12 * 3600) < 60, (tool_path, r)


def _running_command_pid(name: str, node: str, title: str) -> int:
    """PID of the command started by the script below (it writes $! to /tmp/cmd.pid), once its
    simulated tool has taken its title (the slow fault then holds it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ps = api.exec_on(name, node, ["ps", "-eo", "args="])["stdout"].splitlines()
        pid = api.exec_on(name, node, ["cat", "/tmp/cmd.pid"])["stdout"].strip()
        if pid and title in ps:
            return int(pid)
        time.sleep(0.05)
    raise TimeoutError(f"{title} did not start")


@pytest.mark.root
@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_a_killed_caller_takes_its_command_along(testbed_cluster: Any, sig: str) -> None:
    info = testbed_cluster(mode="classic")
    name = info["name"]
    api.fault(name, "slow", "clu1", "30")
    statuses = []
    for path in (TOOL_PATHS["clpstat"], f"{DIRECT_DIR}/clpstat"):
        api.exec_on(name, "clu1", ["rm", "-f", "/tmp/cmd.pid", "/tmp/cmd.status"])
        script = f'{path} -g & echo $! > /tmp/cmd.pid; wait $!; echo "$?" > /tmp/cmd.status'
        # the outer sh runs on while the test kills its command
        init_pid = BedRecord.load(name).node("clu1").init_pid
        proc = subprocess.Popen(nsenter_argv(init_pid, ["sh", "-c", script]), env=node_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid = _running_command_pid(name, "clu1", f"{TOOL_PATHS['clpstat']} -g")
        api.exec_on(name, "clu1", ["kill", f"-{sig}", str(pid)])
        assert proc.wait(timeout=60) == 0
        statuses.append(api.exec_on(name, "clu1", ["cat", "/tmp/cmd.status"])["stdout"])
        # nothing of the command is left running (the helper's fork died with the caller)
        ps = api.exec_on(name, "clu1", ["ps", "-eo", "args="])["stdout"].splitlines()
        assert f"{TOOL_PATHS['clpstat']} -g" not in ps, ps
    assert statuses[0] == statuses[1] == ("143\n" if sig == "TERM" else "137\n")
    # and the helper still serves
    api.fault(name, "slow", "clu1", "0")
    assert api.exec_on(name, "clu1", ["clpgrp", "-n", "failover-jc"])["stdout"] == "clu1\n"
