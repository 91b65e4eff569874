"""Exec resource and custom monitor scripts for a JobCenter site (start.sh, stop.sh, genw.sh).

Pure module. The exec scripts follow the shape of the vendor sample (guide chapters 2.5 and 3.4):
branch on ``CLP_EVENT`` (START / FAILOVER), and inside each branch run the command only when
``CLP_DISK`` is SUCCESS. Differences from the printed sample, each on purpose:

- The printed sample's ``else`` branch holds only a comment, which is a shell syntax error
  (``"fi" unexpected``). Ours runs ``echo "NO_CLP"``.
- The PDF prints a full-width number sign and an en dash (``-stop``); everything here is ASCII,
  and :func:`_finish` asserts it.
- A disk that did not attach (``CLP_DISK`` other than SUCCESS: FAILURE, or whatever word the
  product uses; only SUCCESS is sourced) is reported as CLUSTERPRO's own template does
  (``ERROR_DISK from START``). A start script then fails (activation failure: CLUSTERPRO retries or
  fails over) instead of silently exiting 0. A stop script still stops what may run and exits 0:
  a non-zero stop.sh triggers the deactivation-failure action, whose default stops the cluster
  service and shuts the server down (node-protocol 4.2, ``deact/action`` 4), and nothing about a
  missing disk is a reason for that.
- The exit status carries the command's status where it means something (see each renderer).

Every value is quoted exactly once with :func:`shlex.join`, never pasted into the text, and
values never appear in comments (a newline in a value would end the comment).
Output is deterministic (no timestamps) so the planner can compare content hashes.
"""

from __future__ import annotations

import shlex

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.paths import CJCPW, MANAGED_BY, agent_unit


def site_start_script(*, virtual_host: str, database_path: str, monitored: bool) -> str:
    """start.sh of the exec resource running a Classic or StandardManager cluster site.

    monitored=True: ``cjcpw`` runs resident in the foreground. The exec resource is asynchronous
    and the PID monitor watches this script's PID, so the script must live exactly as long as
    cjcpw: it runs cjcpw as a child (not ``exec``: the site's processes stay children of cjcpw
    whose parent is this script, as the guide's ``ps`` check expects) and then exits with
    cjcpw's status, which CLUSTERPRO only logs.

    monitored=False: ``cjcpw -c`` starts the daemons and returns. The exec resource is
    synchronous, so the script exits with cjcpw's status: a failed start is an activation
    failure CLUSTERPRO can retry or fail over, not a silently "online" resource.
    """
    argv = [CJCPW, virtual_host, database_path] if monitored else [CJCPW, "-c", virtual_host, database_path]
    if monitored:
        purpose = [
            "cjcpw stays resident: the exec resource is asynchronous and the PID monitor watches",
            "this script, which ends when cjcpw ends.",
        ]
    else:
        purpose = [
            "cjcpw -c starts the site and returns (no process monitoring): the exec resource is",
            "synchronous and this script exits with cjcpw's status.",
        ]
    return _event_script(
        name="start.sh",
        description=["Starts the JobCenter cluster site.", *purpose],
        argv=argv,
        start_message="NORMAL CJCPW STARTUP",
        failover_message="FAILOVER CJCPW STARTUP",
    )


def site_stop_script(*, virtual_host: str) -> str:
    """stop.sh of the exec resource running a Classic or StandardManager cluster site.

    ``cjcpw -stop`` takes one to two minutes; the exec resource stops synchronously. Unlike the
    start scripts this one logs cjcpw's status but exits 0, as the vendor sample does: stop.sh
    also runs when the PID monitor reactivates the exec after cjcpw died, where ``-stop`` finds
    no running site and may fail, and a failed deactivation's default action is to stop the
    cluster service and shut the node down.
    """
    return _event_script(
        name="stop.sh",
        description=[
            "Stops the JobCenter cluster site (takes one to two minutes).",
            "cjcpw's status is logged, not returned: a failed deactivation would shut the node down.",
        ],
        argv=[CJCPW, "-stop", virtual_host],
        start_message="NORMAL CJCPW STOP",
        failover_message="FAILOVER CJCPW STOP",
        propagate_status=False,
        stopping=True,
    )


def agent_start_script(*, instance_id: str) -> str:
    """start.sh of the exec resource running a standard-mode agent (synchronous, systemctl's status)."""
    unit = agent_unit(instance_id)
    return _event_script(
        name="start.sh",
        description=["Starts the JobCenter agent unit; exits with systemctl's status."],
        argv=["systemctl", "start", unit],
        start_message="NORMAL AGENT STARTUP",
        failover_message="FAILOVER AGENT STARTUP",
    )


def agent_stop_script(*, instance_id: str) -> str:
    """stop.sh of the exec resource running a standard-mode agent (synchronous, systemctl's status)."""
    unit = agent_unit(instance_id)
    return _event_script(
        name="stop.sh",
        description=["Stops the JobCenter agent unit; exits with systemctl's status."],
        argv=["systemctl", "stop", unit],
        start_message="NORMAL AGENT STOP",
        failover_message="FAILOVER AGENT STOP",
        stopping=True,
    )


def agent_monitor_script(*, instance_id: str) -> str:
    """genw.sh of the synchronous custom monitor watching a standard-mode agent.

    CLUSTERPRO runs it every polling interval and treats any exit status other than the
    monitor's normal value (0) as an error. Monitor scripts get no CLP_EVENT, hence no branches.
    """
    unit = agent_unit(instance_id)
    lines = [
        "#! /bin/sh",
        "# genw.sh of a CLUSTERPRO custom monitor: is the JobCenter agent unit active? Exit 0 = yes.",
        MANAGED_BY,
        shlex.join(["systemctl", "-q", "is-active", unit]),
        'exit "$?"',
    ]
    return _finish(lines)


def scripts_for(spec: JobCenterSiteSpec) -> dict[str, str]:
    """Scripts of a site, keyed by their path relative to a ``clpcfctrl -x`` configuration directory."""
    exec_dir = f"scripts/{spec.failover_group}/{spec.exec_resource}"
    if spec.mode == "StandardAgent":
        if spec.agent is None:
            raise ValueError("agent is required when mode is StandardAgent")
        instance_id = spec.agent.instance_id
        return {
            f"{exec_dir}/start.sh": agent_start_script(instance_id=instance_id),
            f"{exec_dir}/stop.sh": agent_stop_script(instance_id=instance_id),
            f"scripts/monitor.s/{spec.monitor_resource}/genw.sh": agent_monitor_script(instance_id=instance_id),
        }
    if spec.virtual_host is None:
        raise ValueError(f"virtualHost is required when mode is {spec.mode}")
    return {
        f"{exec_dir}/start.sh": site_start_script(
            virtual_host=spec.virtual_host,
            database_path=spec.database_path,
            monitored=spec.process_monitoring,
        ),
        f"{exec_dir}/stop.sh": site_stop_script(virtual_host=spec.virtual_host),
    }


def _event_script(
    *,
    name: str,
    description: list[str],
    argv: list[str],
    start_message: str,
    failover_message: str,
    propagate_status: bool = True,
    stopping: bool = False,
) -> str:
    command = shlex.join(argv)
    lines = [
        "#! /bin/sh",
        f"# {name} of a CLUSTERPRO exec resource.",
        *(f"# {line}" for line in description),
        MANAGED_BY,
        "",
        'if [ "$CLP_EVENT" = "START" ]',
        "then",
        *_disk_guarded(start_message, command, "START", propagate_status, stopping),
        'elif [ "$CLP_EVENT" = "FAILOVER" ]',
        "then",
        *_disk_guarded(failover_message, command, "FAILOVER", propagate_status, stopping),
        "else",
        # Run outside CLUSTERPRO (no CLP_EVENT): do nothing, like the vendor sample, but with a
        # real command so the branch is valid shell.
        '  echo "NO_CLP"',
        "fi",
        'echo "EXIT"',
        "exit 0",
    ]
    return _finish(lines)


def _disk_guarded(message: str, command: str, event: str, propagate_status: bool, stopping: bool) -> list[str]:
    if stopping:
        failure_branch = [
            f'    echo "ERROR_DISK from {event}"',
            # Stop whatever may still run; never fail the deactivation (see the module docstring).
            f"    {command}",
            '    echo "EXIT $?"',
            "    exit 0",
        ]
    else:
        failure_branch = [f'    echo "ERROR_DISK from {event}"', "    exit 1"]
    return [
        '  if [ "$CLP_DISK" = "SUCCESS" ]',
        "  then",
        f'    echo "{message}"',
        f"    {command}",
        '    status="$?"',
        '    echo "EXIT $status"',
        '    exit "$status"' if propagate_status else "    exit 0",
        "  else",
        *failure_branch,
        "  fi",
    ]


def _finish(lines: list[str]) -> str:
    text = "\n".join(lines) + "\n"
    # CLUSTERPRO runs these with /bin/sh on nodes with any locale; a stray full-width character
    # copied from the PDF would break the script. Values are validated ASCII by the API models;
    # this catches a renderer bug or a caller bypassing them.
    if not text.isascii():
        raise ValueError("rendered script is not ASCII")
    return text
