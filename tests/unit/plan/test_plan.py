"""Table-driven plan cases. Each case: facts of a two-node cluster -> expected preflight reasons or
action sequence; then the idempotency check: the facts after those actions give an empty plan."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from plan_factory import AGENT, CLASSIC, MANAGER, NODES, apply, clp_conf, cluster, node, pushed_files, site_tree

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.facts.agent import AgentFacts
from jobcenter_operator.facts.clusterpro import ClusterStatus
from jobcenter_operator.facts.clusterpro import clp_conf as read_clp_conf
from jobcenter_operator.facts.jobcenter import ClusterSite, DaemonConf, JobCenterInstall
from jobcenter_operator.facts.manager import ManagerServices
from jobcenter_operator.facts.network import Resolution
from jobcenter_operator.facts.processes import ProcessTable
from jobcenter_operator.paths import MANAGER_RESTART_DIR
from jobcenter_operator.plan import assess_processes, plan_site

# A monitor added: the group stopped (its scripts change; its stop marker on the other node first, so
# any survivor can finish the run: issue 12), then the cluster suspended around the push (the
# suspend marker on the other node first), resumed, the group started. The other node's markers
# are both written before the stop and both removed after the start, so the stop, suspend, push,
# resume and start follow each other on the active node (one round trip).
SUSPENDED_PUSH = [
    ("MarkGroupStopped", "clu2"),
    ("MarkSuspended", "clu2"),
    ("StopGroup", "clu1"),
    ("SuspendCluster", "clu1"),
    ("ApplyClusterConfig", "clu1"),
    ("RestartManagerServices", "clu1"),
    ("ResumeCluster", "clu1"),
    ("StartGroup", "clu1"),
    ("ClearSuspendMarker", "clu2"),
    ("ClearStopMarker", "clu2"),
]
GROUP_STOP_PUSH = [("MarkGroupStopped", "clu2"), ("StopGroup", "clu1"), ("ApplyClusterConfig", "clu1"),
                   ("StartGroup", "clu1"), ("ClearStopMarker", "clu2")]
# The exec resource added to clp.conf without a monitor: the manager services load it, no suspend.
GROUP_STOP_CONF_PUSH = [*GROUP_STOP_PUSH[:3], ("RestartManagerServices", "clu1"),
                        *GROUP_STOP_PUSH[3:]]
# The standby goes first: its local daemon change and local site stop, and with them (plan/order.py)
# the markers of the stop and the suspend, in one round trip; then the active node's.
LOCAL_FIRST = [
    ("SetLocalDaemon", "clu2"),
    ("StopLocalSite", "clu2"),
    ("MarkGroupStopped", "clu2"),
    ("MarkSuspended", "clu2"),
    ("SetLocalDaemon", "clu1"),
    ("StopLocalSite", "clu1"),
    ("CreateSite", "clu1"),
]
LOCAL_LAST = [("StartLocalSite", "clu2"), ("StartLocalSite", "clu1")]
FRESH_CLASSIC = LOCAL_FIRST + SUSPENDED_PUSH[2:] + LOCAL_LAST

SITE_PRESENT = {"site": ClusterSite(present=True, virtual_host="cluv", machine_id=114)}

CASES: list[Any] = [
    pytest.param(CLASSIC, cluster(), FRESH_CLASSIC, id="a fresh classic cluster follows the guide's steps"),
    pytest.param(
        CLASSIC, cluster(active="clu2"),
        [(k, {"clu1": "clu2", "clu2": "clu1"}[n]) for k, n in FRESH_CLASSIC],
        id="the group online on clu2 makes clu2 the active node and clu1 go first",
    ),
    pytest.param(
        CLASSIC.model_copy(update={"local_daemon": "Off"}), cluster(),
        FRESH_CLASSIC[:-2], id="localDaemon Off leaves the local site stopped",
    ),
    pytest.param(
        CLASSIC, cluster(clu1=SITE_PRESENT),
        [a for a in FRESH_CLASSIC if a[0] != "CreateSite"],
        id="an existing site for the same vhost and machine ID is never re-created",
    ),
    pytest.param(
        MANAGER, cluster(spec=MANAGER), FRESH_CLASSIC, id="a fresh standard-manager cluster takes the same steps",
    ),
    pytest.param(
        CLASSIC.model_copy(update={"process_monitoring": False}), cluster(),
        [a for a in LOCAL_FIRST if a[0] != "MarkSuspended"] + GROUP_STOP_CONF_PUSH[1:] + LOCAL_LAST,
        id="without process monitoring (no monitor to add) other scripts are pushed with the group stopped only",
    ),
    pytest.param(
        AGENT, cluster(spec=AGENT),
        [("DisableAgentUnit", "clu2"), *SUSPENDED_PUSH[:2], ("DisableAgentUnit", "clu1"), *SUSPENDED_PUSH[2:]],
        id="a fresh agent cluster disables the unit at boot and pushes the systemctl scripts",
    ),
]


@pytest.mark.parametrize(("spec", "facts", "expected"), CASES)
def test_plan_and_idempotency(spec: JobCenterSiteSpec, facts: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    plan = plan_site(spec, NODES, facts)
    assert plan.preflight == ()
    assert [(a.kind, a.node) for a in plan.actions] == expected
    assert plan_site(spec, NODES, facts) == plan, "the same facts must give the same plan"
    after = apply(spec, facts, plan.actions)
    again = plan_site(spec, NODES, after)
    assert again.converged, [a.describe() for a in again.actions]
    health = assess_processes(spec, NODES, after, again.active_node)
    assert health.healthy, health.message


def test_cjcmksite_only_on_the_active_node_and_only_when_absent() -> None:
    for active in NODES:
        plan = plan_site(CLASSIC, NODES, cluster(active=active))
        creates = [a for a in plan.actions if a.kind == "CreateSite"]
        assert [a.node for a in creates] == [active]
        assert creates[0].disruptive


def test_create_with_config_already_in_place_restarts_the_group() -> None:
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    # The disk got replaced by an empty one: the site is gone, the scripts are right.
    facts = {**converged, "clu1": converged["clu1"].model_copy(update={"site": ClusterSite(present=False)})}
    plan = plan_site(CLASSIC, NODES, facts)
    kinds = [a.kind for a in plan.actions]
    assert kinds[:6] == ["StopLocalSite", "CreateSite", "MarkGroupStopped", "StopGroup", "StartGroup",
                         "ClearStopMarker"]
    assert "ApplyClusterConfig" not in kinds


def test_scripts_drifted_on_the_standby_only_are_pushed_again() -> None:
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    drifted = dict(converged["clu2"].script_hashes)
    drifted["failover-jc/exec-jc/start.sh"] = "0" * 64
    facts = {**converged, "clu2": converged["clu2"].model_copy(update={"script_hashes": drifted})}
    plan = plan_site(CLASSIC, NODES, facts)
    assert [a.kind for a in plan.actions] == ["MarkGroupStopped", "StopGroup", "ApplyClusterConfig", "StartGroup",
                                              "ClearStopMarker"]
    assert "start.sh on clu2" in plan.actions[2].message


PREFLIGHT: list[Any] = [
    pytest.param(CLASSIC, {"clu2": {"jobcenter": JobCenterInstall(installed=False)}},
                 ["JobCenterMissing"], id="JobCenter missing on the standby"),
    pytest.param(MANAGER, {}, ["JobCenterModeMismatch", "JobCenterModeMismatch"],
                 id="a classic install cannot run a standard-manager site"),
    pytest.param(CLASSIC, {n: {"cluster": ClusterStatus(running=False)} for n in NODES},
                 ["ClusterproNotRunning"], id="CLUSTERPRO not running"),
    pytest.param(CLASSIC, {n: {"clp_conf": read_clp_conf(clp_conf(group="other"))} for n in NODES},
                 ["GroupMissing"], id="the failover group is missing"),
    pytest.param(CLASSIC, {n: {"clp_conf": read_clp_conf(clp_conf(fip=None))} for n in NODES},
                 ["FloatingIPResourceMissing"], id="no floating IP resource"),
    pytest.param(CLASSIC, {n: {"clp_conf": read_clp_conf(clp_conf(fip="10.9.9.9"))} for n in NODES},
                 ["FloatingIPMismatch"], id="the floating IP resource has another address"),
    pytest.param(CLASSIC, {n: {"clp_conf": read_clp_conf(clp_conf(mount="/mnt/x"))} for n in NODES},
                 ["DiskResourceMissing"], id="no disk resource at the database path"),
    pytest.param(CLASSIC, {n: {"clp_conf": read_clp_conf(clp_conf(exec_name="exec-x"))} for n in NODES},
                 ["ExecResourceMissing"], id="no exec resource of that name"),
    pytest.param(CLASSIC, {n: {"clp_conf": read_clp_conf("<root><group")} for n in NODES},
                 ["ClusterproConfigInvalid"], id="clp.conf is not XML"),
    pytest.param(CLASSIC, {n: {"group_node": None, "cluster": node(n).cluster.model_copy(update={"groups": {}})}
                           for n in NODES}, ["GroupOffline"], id="the group is offline"),
    pytest.param(CLASSIC, {"clu1": {"mounts": frozenset({"/"})}}, ["DiskNotMounted"], id="the disk is not mounted"),
    pytest.param(CLASSIC, {"clu1": {"addresses": frozenset({"10.200.1.11"})}}, ["FloatingIPNotActive"],
                 id="the floating IP is not up on the active node"),
    pytest.param(CLASSIC, {"clu2": {"resolution": Resolution()}}, ["VirtualHostNotResolving"],
                 id="the virtual host does not resolve on the standby"),
    pytest.param(CLASSIC, {"clu1": {"resolution": Resolution(forward=("10.200.1.100",), canonical="cluv",
                                                             reverse="other")}},
                 ["VirtualHostReverseMismatch"], id="the floating IP resolves back to another name"),
    pytest.param(CLASSIC, {n: {"resolution": Resolution(forward=("10.200.1.100",), canonical="cluv.example",
                                                        reverse="cluv.example")} for n in NODES},
                 ["VirtualHostIsAlias", "VirtualHostIsAlias"], id="the virtual host is an alias"),
    pytest.param(CLASSIC, {"clu1": {"site": ClusterSite(present=True, virtual_host="cluv", machine_id=115)}},
                 ["SiteMismatch"], id="a site for another machine ID is at the database path"),
    pytest.param(CLASSIC, {"clu1": {"site": ClusterSite(present=True, virtual_host="other", machine_id=114)}},
                 ["SiteMismatch"], id="a site for another virtual host is at the database path"),
    pytest.param(AGENT, {"clu2": {"agent": AgentFacts(installed=False)}}, ["AgentMissing"],
                 id="the agent is not installed on the standby"),
    pytest.param(AGENT, {n: {"agent": AgentFacts(installed=True)} for n in NODES},
                 ["AgentInstanceUnknown", "AgentInstanceUnknown"], id="the instance is unknown to jcagctrl"),
]


@pytest.mark.parametrize(("spec", "overrides", "reasons"), PREFLIGHT)
def test_preflight_failure_yields_no_action(spec: JobCenterSiteSpec, overrides: dict[str, Any],
                                            reasons: list[str]) -> None:
    facts = cluster(spec=AGENT if spec is AGENT else CLASSIC, **overrides)
    plan = plan_site(spec, NODES, facts)
    assert [f.reason for f in plan.preflight] == reasons
    assert plan.actions == ()
    assert all(f.message for f in plan.preflight)


def test_process_assessment() -> None:
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    health = assess_processes(CLASSIC, NODES, converged, "clu1")
    assert (health.healthy, health.found, health.expected) == (True, 8, 8)
    # A killed daemon.
    procs = tuple(p for p in converged["clu1"].processes.processes if not (p.name == "jcdbs" and p.ppid != 1))
    degraded = {**converged, "clu1": converged["clu1"].model_copy(update={"processes": ProcessTable(processes=procs)})}
    health = assess_processes(CLASSIC, NODES, degraded, "clu1")
    assert (health.healthy, health.reason, health.missing, health.found) == (False, "Degraded", ("jcdbs",), 7)
    # The site on the standby too.
    both = {**converged, "clu2": converged["clu2"].model_copy(update={
        "processes": ProcessTable(processes=converged["clu2"].processes.processes + tuple(site_tree(CLASSIC, 900)))})}
    assert assess_processes(CLASSIC, NODES, both, "clu1").reason == "RunningOnStandby"
    manager = apply(MANAGER, cluster(spec=MANAGER), plan_site(MANAGER, NODES, cluster(spec=MANAGER)).actions)
    assert assess_processes(MANAGER, NODES, manager, "clu1").found == 11


def test_daemon_conf_edit_is_the_only_change_to_the_file() -> None:
    plan = plan_site(CLASSIC, NODES, cluster(clu2={"daemon_conf": DaemonConf(
        present=True, text="# keep me\nfoo=bar\n# local_daemon=SITE\n", local_daemon=None)}))
    [conf] = [a.command.input for a in plan.actions if a.kind == "SetLocalDaemon" and a.node == "clu2"]
    assert conf is not None and conf.startswith("# keep me\nfoo=bar\n# local_daemon=SITE\n")
    assert conf.count("\nlocal_daemon=SITE") == 1


def _offline(facts: dict[str, Any], marker: str | None) -> dict[str, Any]:
    return {
        n: f.model_copy(update={
            "group_node": None, "stopped_by_operator": marker,
            "cluster": f.cluster.model_copy(update={"groups": {}}),
            "mounts": frozenset({"/"}), "addresses": frozenset({"127.0.0.1"}),
        })
        for n, f in facts.items()
    }


def test_a_run_interrupted_after_stopping_the_group_is_finished_with_one_start() -> None:
    # Interrupted between StopGroup and ApplyClusterConfig: push (the monitor it adds needs the
    # cluster suspended), then start where it was.
    plan = plan_site(CLASSIC, NODES, _offline(cluster(clu1=SITE_PRESENT), "clu1"))
    assert [(a.kind, a.node, a.reason) for a in plan.actions] == [
        ("MarkSuspended", "clu2", "ResumeAfterInterruption"),
        ("SuspendCluster", "clu1", "ResumeAfterInterruption"),
        ("ApplyClusterConfig", "clu1", "ClusterConfigDiffers"),
        ("RestartManagerServices", "clu1", "ResumeAfterInterruption"),
        ("ResumeCluster", "clu1", "ResumeAfterInterruption"),
        ("ClearSuspendMarker", "clu2", "ResumeAfterInterruption"),
        ("StartGroup", "clu1", "ResumeAfterInterruption"),
        ("ClearStopMarker", "clu2", "ResumeAfterInterruption"),  # the start removes clu1's own marker
    ]
    # Interrupted after the push: only the start is left.
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    plan = plan_site(CLASSIC, NODES, _offline(converged, "clu2"))
    assert [(a.kind, a.node) for a in plan.actions] == [("StartGroup", "clu2"), ("ClearStopMarker", "clu1")]


def test_a_group_offline_without_the_operators_marker_is_left_alone() -> None:
    plan = plan_site(CLASSIC, NODES, _offline(cluster(), None))
    assert [f.reason for f in plan.preflight] == ["GroupOffline"] and plan.actions == ()


def test_a_monitor_in_error_makes_the_site_unhealthy() -> None:
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    active = converged["clu1"]
    broken = active.cluster.model_copy(update={"monitors": {"pidw-jc": "Error", "userw": "Normal"}})
    facts = {**converged, "clu1": active.model_copy(update={"cluster": broken})}
    health = assess_processes(CLASSIC, NODES, facts, "clu1")
    assert (health.healthy, health.reason) == (False, "MonitorError")
    assert "pidw-jc" in health.message


def test_create_site_argv_carries_the_spec_values_as_separate_elements() -> None:
    plan = plan_site(CLASSIC, NODES, cluster(active="clu2"))
    [create] = [a for a in plan.actions if a.kind == "CreateSite"]
    assert create.command.argv[:2] == ("sh", "-c") and create.command.argv[3] == "cjcmksite"
    assert create.command.argv[4:] == ("cluv", "114", "/mnt/sdb2", "failover-jc", "clu2")
    assert create.command.input is None and create.disruptive


def test_every_action_carries_its_command_and_no_message_repeats_it() -> None:
    fresh = plan_site(CLASSIC, NODES, cluster())
    agent = plan_site(AGENT, NODES, cluster(spec=AGENT))
    for action in fresh.actions + agent.actions:
        argv = action.command.argv
        program = argv[3] if argv[:2] == ("sh", "-c") else argv[0].rsplit("/", 1)[-1]
        assert not action.message.startswith(program), action.describe()
        assert shlex.join(argv[-2:]) not in action.message, action.describe()
    kinds = {a.kind: a for a in fresh.actions}
    assert kinds["StopGroup"].disruptive and kinds["StartGroup"].disruptive
    assert not kinds["SetLocalDaemon"].disruptive and not kinds["ApplyClusterConfig"].disruptive
    # The stop carries what undoes it should a later step fail: the group started where it was.
    restore = kinds["StopGroup"].restore
    assert restore is not None and (restore.node, restore.command) == ("clu1", kinds["StartGroup"].command)
    files = pushed_files(kinds["ApplyClusterConfig"])
    assert set(files) == {"clp.conf", "scripts/failover-jc/exec-jc/start.sh", "scripts/failover-jc/exec-jc/stop.sh"}


def _converged(spec: JobCenterSiteSpec = CLASSIC) -> dict[str, Any]:
    return apply(spec, cluster(spec=spec), plan_site(spec, NODES, cluster(spec=spec)).actions)


def test_a_monitor_only_change_suspends_the_cluster_and_leaves_the_group_running() -> None:
    spec = CLASSIC.model_copy(update={"monitor_interval_seconds": 7})
    plan = plan_site(spec, NODES, _converged())
    assert [(a.kind, a.node) for a in plan.actions] == [
        ("MarkSuspended", "clu2"), ("SuspendCluster", "clu1"), ("ApplyClusterConfig", "clu1"),
        ("RestartManagerServices", "clu1"),
        ("ResumeCluster", "clu1"), ("ClearSuspendMarker", "clu2")]
    kinds = {a.kind: a for a in plan.actions}
    assert kinds["SuspendCluster"].disruptive and kinds["ResumeCluster"].disruptive
    # The suspend's undo is the resume the plan runs anyway; the marker's undo is clearing it.
    restore = kinds["SuspendCluster"].restore
    assert restore is not None and (restore.node, restore.command) == ("clu1", kinds["ResumeCluster"].command)
    assert kinds["MarkSuspended"].restore is not None
    assert kinds["MarkSuspended"].restore.command == kinds["ClearSuspendMarker"].command
    after = apply(spec, _converged(), plan.actions)
    assert plan_site(spec, NODES, after).actions == ()
    assert not any(f.suspended_by_operator or f.cluster.suspended for f in after.values())


def test_a_script_only_change_stops_the_group_without_suspending() -> None:
    facts = _converged()
    stale = {n: f.model_copy(update={"script_hashes": {**f.script_hashes, "failover-jc/exec-jc/stop.sh": "0" * 64}})
             for n, f in facts.items()}
    plan = plan_site(CLASSIC, NODES, stale)
    assert [(a.kind, a.node) for a in plan.actions] == GROUP_STOP_PUSH


def _suspended(facts: dict[str, Any], markers: dict[str, str], suspended: bool = True) -> dict[str, Any]:
    return {n: f.model_copy(update={"suspended_by_operator": markers.get(n),
                                    "cluster": f.cluster.model_copy(update={"suspended": suspended})})
            for n, f in facts.items()}


def test_a_run_killed_while_suspended_is_resumed_first_whatever_else_is_wrong() -> None:
    facts = _suspended(_offline(_converged(), None), {"clu1": "clu1", "clu2": "clu1"})
    plan = plan_site(CLASSIC, NODES, facts)
    # Whether the killed run had pushed is not known: the manager services are restarted first.
    assert [(a.kind, a.node, a.reason) for a in plan.actions] == [
        ("RestartManagerServices", "clu1", "ResumeAfterInterruption"),
        ("ResumeCluster", "clu1", "ResumeAfterInterruption"),
        ("ClearSuspendMarker", "clu2", "ResumeAfterInterruption")]
    # A restart that fails still resumes the cluster (its restore), never leaving it suspended.
    assert all(a.restore is not None and a.restore.kind == "ResumeCluster" and a.restore.node == "clu1"
               for a in plan.actions if a.kind == "RestartManagerServices")
    # The node that suspended is gone: the marker on the other node is enough to resume from there.
    only = {"clu2": _suspended(_converged(), {"clu2": "clu1"})["clu2"]}
    plan = plan_site(CLASSIC, ("clu2",), only)
    assert [(a.kind, a.node) for a in plan.actions] == [("RestartManagerServices", "clu2"), ("ResumeCluster", "clu2")]


def test_markers_of_a_cluster_no_longer_suspended_are_only_cleared() -> None:
    plan = plan_site(CLASSIC, NODES, _suspended(_converged(), {"clu2": "clu1"}, suspended=False))
    assert [(a.kind, a.node, a.reason) for a in plan.actions] == [
        ("ClearSuspendMarker", "clu2", "ResumeAfterInterruption")]


def test_someone_elses_suspend_is_waited_for_and_never_resumed() -> None:
    plan = plan_site(CLASSIC, NODES, _suspended(_converged(), {}))
    assert plan.actions == ()
    assert [(f.reason, f.permanent) for f in plan.preflight] == [("ClusterSuspended", False)]


def test_a_site_without_identity_keys_is_identity_unknown_never_a_mismatch() -> None:
    unknown = {"site": ClusterSite(present=True)}
    plan = plan_site(CLASSIC, NODES, cluster(clu1=unknown))
    assert plan.preflight == () and "CreateSite" not in [a.kind for a in plan.actions]
    # Sourced evidence does make a mismatch: a cjcpw serving another virtual host from the path.
    other = CLASSIC.model_copy(update={"virtual_host": "otherv"})
    foreign = ProcessTable(processes=tuple(site_tree(other)))
    plan = plan_site(CLASSIC, NODES, cluster(clu1={**unknown, "processes": foreign}))
    assert [(f.reason, f.permanent) for f in plan.preflight] == [("SiteMismatch", True)]
    assert "otherv" in plan.preflight[0].message


def test_an_unreadable_jcagctrl_table_defers_to_the_unit_state() -> None:
    unreadable = {"agent": AgentFacts(installed=True, instances=(), listed=False, unit_active="inactive",
                                      unit_enabled="enabled")}
    plan = plan_site(AGENT, NODES, cluster(spec=AGENT, clu1=unreadable, clu2=unreadable))
    assert plan.preflight == ()
    gone = {"agent": AgentFacts(installed=True, instances=(), listed=False, unit_active="inactive",
                                unit_enabled="not-found")}
    plan = plan_site(AGENT, NODES, cluster(spec=AGENT, clu1=gone, clu2=gone))
    assert {(f.reason, f.permanent) for f in plan.preflight} == {("AgentInstanceUnknown", False)}
    converged = apply(AGENT, cluster(spec=AGENT), plan_site(AGENT, NODES, cluster(spec=AGENT)).actions)
    blind = {n: f.model_copy(update={"agent": f.agent.model_copy(update={"instances": (), "listed": False})})
             for n, f in converged.items()}
    assert assess_processes(AGENT, NODES, blind, "clu1").healthy


def test_a_site_started_with_cjcpw_c_is_told_from_the_local_site_by_its_working_directory() -> None:
    # processMonitoring false: cjcpw -c returns, its daemons end up with PPID 1 like a local site's.
    spec = CLASSIC.model_copy(update={"process_monitoring": False, "local_daemon": "Off"})
    converged = apply(spec, cluster(), plan_site(spec, NODES, cluster()).actions)
    tree = [p for p in site_tree(spec, 700) if "cjcpw" not in p.args and "start.sh" not in p.args]
    daemons = tuple(p.model_copy(update={"ppid": 1}) for p in tree)
    active = converged["clu1"]
    others = tuple(p for p in active.processes.processes if p.pid < 500)
    unparented = ProcessTable(processes=others + daemons)
    # Without the evidence the site's daemons look like a local site: nqsstop on every reconcile.
    blind = {**converged, "clu1": active.model_copy(update={"processes": unparented})}
    assert ("StopLocalSite", "clu1") in [(a.kind, a.node) for a in plan_site(spec, NODES, blind).actions]
    seen = {**converged, "clu1": active.model_copy(update={"processes": unparented.model_copy(
        update={"in_database": frozenset(p.pid for p in daemons)})})}
    assert plan_site(spec, NODES, seen).actions == ()
    health = assess_processes(spec, NODES, seen, "clu1")
    assert health.healthy, health


# --------------------------------------------------------------------------- manager services (issue 11)


def _manager(facts: dict[str, Any], **per_node: ManagerServices) -> dict[str, Any]:
    return {n: f.model_copy(update={"manager": per_node.get(n, f.manager)}) for n, f in facts.items()}


def test_the_manager_restart_options_follow_the_units_installed_on_every_node() -> None:
    # X4.2+ has clusterpro_ib and clusterpro_api (node-protocol 4.1, 8): --ib --api; X4.1 neither. One
    # clpcl -r -a from the pushing node restarts every server's services: the options every node has.
    spec = CLASSIC.model_copy(update={"monitor_interval_seconds": 7})
    x42 = ManagerServices(units=frozenset({"clusterpro_ib", "clusterpro_api"}))
    for clu2, options in ((x42, ("--web", "--alert", "--ib", "--api")), (ManagerServices(), ("--web", "--alert"))):
        plan = plan_site(spec, NODES, _manager(_converged(), clu1=x42, clu2=clu2))
        [restart] = [a for a in plan.actions if a.kind == "RestartManagerServices"]
        assert restart.node == "clu1" and not restart.disruptive
        assert restart.command.argv[3:] == ("restartmanager", "failover-jc", MANAGER_RESTART_DIR, *options)


def test_a_script_only_change_does_not_restart_the_manager_services() -> None:
    facts = _converged()
    stale = {n: f.model_copy(update={"script_hashes": {**f.script_hashes, "failover-jc/exec-jc/stop.sh": "0" * 64}})
             for n, f in facts.items()}
    assert "RestartManagerServices" not in [a.kind for a in plan_site(CLASSIC, NODES, stale).actions]


def test_a_restart_that_failed_is_tried_again_alone_and_only_where_it_failed() -> None:
    facts = _manager(_converged(), clu2=ManagerServices(restart_pending=True))
    plan = plan_site(CLASSIC, NODES, facts)
    assert [(a.kind, a.node, a.reason) for a in plan.actions] == [
        ("RestartManagerServices", "clu2", "ManagerRestartPending")]
    assert plan.actions[0].restore is None and not plan.actions[0].disruptive
    after = apply(CLASSIC, facts, plan.actions)
    assert plan_site(CLASSIC, NODES, after).actions == ()
    # While the cluster is suspended (someone else's suspend) it waits: the resume's restart does it.
    assert plan_site(CLASSIC, NODES, _suspended(facts, {})).actions == ()
    # A change that restarts the services anyway (every server, from clu1) restarts them once; clu2's
    # marker, which only clu2 can remove, costs one more restart on the next run.
    spec = CLASSIC.model_copy(update={"monitor_interval_seconds": 7})
    kinds = [(a.kind, a.node) for a in plan_site(spec, NODES, facts).actions]
    assert [k for k in kinds if k[0] == "RestartManagerServices"] == [("RestartManagerServices", "clu1")]
