"""Issue 7 end to end: a StandardManager site and a StandardAgent site side by side in two failover
groups of ONE ClusterproCluster (test-bed mode `standard`), through kubectl and the operator:
both Ready, an agent-unit stop fails only the AG group over, re-runs send only facts probes, and a
spec change of the AG site (groups on different nodes) leaves the manager alone.
Waits are bounded polls on conditions, never sleeps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from e2e_support import TIMER, Operator, is_probe, step_name, wait_for

from hack.testbed import api as testbed

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
MG, AG = "jcmgcluster", "jcagcluster"  # the samples' site names
REQUEST = "jobcenter.clusterpro.io/requested-at"


def _manifests(bed: dict[str, Any]) -> str:
    """The samples' ClusterproCluster and both standard-mode sites, pointed at the bed's groups."""
    cluster = yaml.safe_load((SAMPLES / "clusterprocluster.yaml").read_text())
    cluster["spec"]["nodes"] = [{"name": n["name"], "address": n["address"]} for n in bed["nodes"]]
    mg_group, ag_group = bed["groups"]
    mg = yaml.safe_load((SAMPLES / "jobcentersite-standard-manager.yaml").read_text())
    mg["spec"].update(failoverGroup=mg_group["name"], execResource=mg_group["execResource"],
                      databasePath=mg_group["databasePath"], floatingIP=mg_group["floatingIP"],
                      virtualHost=mg_group["virtualHost"], machineId=mg_group["machineId"],
                      monitorIntervalSeconds=1)
    ag = yaml.safe_load((SAMPLES / "jobcentersite-standard-agent.yaml").read_text())
    agent = ag_group["agent"]
    ag["spec"].update(failoverGroup=ag_group["name"], execResource=ag_group["execResource"],
                      databasePath=ag_group["databasePath"], monitorIntervalSeconds=1,
                      agent={"instanceId": agent["instanceId"], "instanceName": agent["instanceName"],
                             "agentName": agent["agentName"]})
    return yaml.safe_dump_all([cluster, mg, ag], sort_keys=False)


def _setup(bed: dict[str, Any], op: Operator) -> None:
    secret = op.kubectl("create", "secret", "generic", "jc-cluster-ssh",
                        "--type=jobcenter.clusterpro.io/ssh-credentials",
                        f"--from-file=ssh-privatekey={bed['privateKeyFile']}",
                        f"--from-file=known_hosts={bed['knownHostsFile']}", "--dry-run=client", "-o", "yaml")
    assert secret.returncode == 0, secret.stderr
    assert (applied := op.kubectl("apply", "-f", "-", input=secret.stdout)).returncode == 0, applied.stderr
    op.start()
    assert (applied := op.kubectl("apply", "-f", "-", input=_manifests(bed))).returncode == 0, applied.stderr


def _ready(op: Operator, name: str) -> bool:
    cond = op.condition(name, "Ready")
    return cond is not None and cond["status"] == "True"


def _cjcpw(bed: dict[str, Any], node: str) -> list[int]:
    return [p["pid"] for p in testbed.node_processes(bed["name"], node) if p["comm"] == "cjcpw"]


def _mentions(command: dict[str, Any], words: tuple[str, ...]) -> bool:
    text = " ".join(command["argv"])
    return any(w in text for w in words)


def _rerun_changes_nothing(op: Operator, site: str, group: str, value: str) -> None:
    """A requested reconcile of a converged site sends facts probes only: per reconcile one per node."""
    before = len(op.commands())
    assert op.kubectl("annotate", "jcs", site, "--overwrite", f"{REQUEST}={value}").returncode == 0
    wait_for(f"{site} to handle {value}",
             lambda: op.get("jcs", site).get("status", {}).get("lastHandledReconcileAt") == value, timeout=60)
    since = op.commands()[before:]
    assert [step_name(c) for c in since if not is_probe(c)] == [], f"re-running {site} changed something"
    assert _ready(op, site)
    # a probe's argv: sh -c SCRIPT jcop-facts NONCE dbpath vhost fip group exec monitor instance backup
    per_node: dict[str, int] = {}
    for c in since:
        if c["argv"][8] == group:
            per_node[c["node"]] = per_node.get(c["node"], 0) + 1
    # the requested run probes each node once; a drift-timer run of the same site that happened to
    # fall in the window adds one more per node (a run in flight at the snapshot: at most one apart)
    counts = sorted(per_node.values())
    assert len(per_node) == 2 and counts[0] >= 1 and counts[-1] - counts[0] <= 1, per_node


def test_manager_and_agent_side_by_side(testbed_cluster: Callable[..., dict[str, Any]],
                                        operator_env: Operator) -> None:
    op = operator_env
    bed = testbed_cluster(mode="standard")
    name = bed["name"]
    mg_group, ag_group = bed["groups"]
    unit = ag_group["agent"]["unit"]
    _setup(bed, op)
    for site in (MG, AG):
        waited = op.standin.kubectl("wait", "--for=condition=Ready", f"jobcentersite/{site}", "--timeout=120s",
                                    timeout=150)
        assert waited.returncode == 0, waited.stderr + op.log()

    rows = {line.split()[0]: line.split() for line in op.kubectl("get", "jcs").stdout.splitlines()[1:]}
    mg_active = op.get("jcs", MG)["status"]["activeNode"]
    ag_active = op.get("jcs", AG)["status"]["activeNode"]
    assert mg_active == mg_group["activeNode"] == "clu1" and ag_active == ag_group["activeNode"] == "clu1"
    assert rows[MG][:7] == [MG, "StandardManager", mg_group["name"], mg_active, "11/11", "True", "Succeeded"], rows
    assert rows[AG][:7] == [AG, "StandardAgent", ag_group["name"], ag_active, "1/1", "True", "Succeeded"], rows
    registration = op.condition(AG, "AgentRegistration")
    assert registration is not None and (registration["status"], registration["reason"]) == (
        "Unknown", "NotVerifiable"), registration
    cpc = op.kubectl("get", "cpc").stdout.splitlines()[1].split()
    assert cpc[:4] == ["jc-cluster", "2/2", "True", "Succeeded"]
    # both groups really are what the sites say: the agent unit runs on clu1 only, disabled at boot
    for node in ("clu1", "clu2"):
        active = testbed.exec_on(name, node, ["systemctl", "is-active", unit])["stdout"].strip()
        enabled = testbed.exec_on(name, node, ["systemctl", "is-enabled", unit])["stdout"].strip()
        assert (active, enabled) == ("active" if node == "clu1" else "inactive", "disabled"), node
    [mg_pid] = _cjcpw(bed, "clu1")
    assert _cjcpw(bed, "clu2") == []
    mg_ready_since = op.condition(MG, "Ready")["lastTransitionTime"]  # type: ignore[index]

    # The agent unit stops behind CLUSTERPRO's back: the genw monitor fails the AG group over.
    fault_at = len(op.commands())
    stopped = testbed.exec_on(name, "clu1", ["systemctl", "stop", unit])
    assert stopped["exitStatus"] == 0, stopped
    wait_for("the AG group on clu2", lambda: testbed.cluster_status(name)["groups"][ag_group["name"]]["current"]
             == "clu2", timeout=30)
    wait_for("the AG site's activeNode clu2", lambda: op.get("jcs", AG)["status"].get("activeNode") == "clu2",
             timeout=TIMER + 30)
    wait_for("the AG site Ready on clu2", lambda: _ready(op, AG), timeout=TIMER + 60)
    assert op.kubectl("get", "jcs", AG).stdout.splitlines()[1].split()[3:6] == ["clu2", "1/1", "True"]
    assert testbed.exec_on(name, "clu2", ["systemctl", "is-active", unit])["stdout"].strip() == "active"
    # the manager site is untouched: same node, same cjcpw, no command for its group
    assert testbed.cluster_status(name)["groups"][mg_group["name"]]["current"] == "clu1"
    assert op.get("jcs", MG)["status"]["activeNode"] == "clu1" and _ready(op, MG)
    assert op.condition(MG, "Ready")["lastTransitionTime"] == mg_ready_since  # type: ignore[index]
    assert _cjcpw(bed, "clu1") == [mg_pid]
    mg_words = (mg_group["name"], mg_group["execResource"], mg_group["databasePath"], mg_group["virtualHost"],
                "cjcpw", "pidw-jcmg")
    after = [c for c in op.commands()[fault_at:] if not is_probe(c)]
    assert [c for c in after if _mentions(c, mg_words)] == [], "commands for the MG group after the AG fault"
    # CLUSTERPRO did the failover; the operator only had to observe it
    assert [step_name(c) for c in after] == [], "the operator changed nodes after the AG failover"

    # Re-running either site changes nothing.
    _rerun_changes_nothing(op, MG, mg_group["name"], "rerun-mg-1")
    _rerun_changes_nothing(op, AG, ag_group["name"], "rerun-ag-1")
    assert _cjcpw(bed, "clu1") == [mg_pid]

    # A spec change of the AG site, its group now on the other node than the MG one: the operator
    # restarts only the AG group, where it is; the manager keeps running.
    before = len(op.commands())
    patched = op.kubectl("patch", "jcs", AG, "--type=merge", "-p", '{"spec":{"monitorIntervalSeconds":2}}')
    assert patched.returncode == 0, patched.stderr
    wait_for("the AG site's generation 2 Ready", lambda: op.get("jcs", AG)["status"].get("observedGeneration")
             == 2 and _ready(op, AG), timeout=90)
    changes = [c for c in op.commands()[before:] if not is_probe(c)]
    # A monitor change: the cluster is suspended around the push (node-protocol 10); the suspend
    # marker (and a stop marker, should the group be stopped) is written on (and cleared from) every
    # node, everything else runs where the AG group is.
    markers = [c for c in changes if step_name(c) in ("marksuspend", "clearsuspend", "markstop", "clearmark")]
    assert {c["node"] for c in markers} == {"clu1"}, markers
    changes = [c for c in changes if c not in markers]
    assert changes and {c["node"] for c in changes} == {"clu2"}, changes
    assert [step_name(c) for c in changes].count("suspendcluster") == 1
    assert [c for c in changes if _mentions(c, mg_words)] == []
    assert testbed.cluster_status(name)["groups"][ag_group["name"]]["current"] == "clu2"
    assert _cjcpw(bed, "clu1") == [mg_pid] and op.get("jcs", MG)["status"]["activeNode"] == "clu1"
    assert op.condition(MG, "Ready")["lastTransitionTime"] == mg_ready_since  # type: ignore[index]
