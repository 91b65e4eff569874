"""The operator end to end: kubectl against the API stand-in, the operator as a subprocess, the
simulated CLUSTERPRO nodes over real SSH. Waits are bounded polls on conditions, never sleeps."""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_support import TIMER, Operator, is_probe, step_name, wait_for

from hack.testbed import api as testbed

SITE = "cluv"


def _ready(op: Operator, name: str = SITE) -> bool:
    cond = op.condition(name, "Ready")
    return cond is not None and cond["status"] == "True"


def _nqs_checksums(bed: dict[str, Any], node: str) -> str:
    out = testbed.exec_on(bed["name"], node, ["sh", "-c", f"cd {bed['databasePath']}/nqs && "
                                              "find . -type f -exec sha256sum {} + | sort"])
    assert out["exitStatus"] == 0, out
    return hashlib.sha256(out["stdout"].encode()).hexdigest()


def test_apply_change_and_reject(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    waited = op.standin.kubectl("wait", "--for=condition=Ready", f"jobcentersite/{SITE}", "--timeout=120s",
                                timeout=150)
    assert waited.returncode == 0, waited.stderr + op.log()

    table = op.kubectl("get", "jcs").stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    assert header == ["NAME", "MODE", "GROUP", "ACTIVE", "PROCESSES", "READY", "REASON", "DISRUPTION", "STEP", "AGE"]
    assert row[:8] == [SITE, "Classic", bed["failoverGroup"], bed["activeNode"], "8/8", "True", "Succeeded",
                       "NothingHeld"]
    cpc = op.kubectl("get", "cpc").stdout.splitlines()[1].split()
    assert cpc[:4] == ["jc-cluster", "2/2", "True", "Succeeded"]

    # A spec change: localDaemon Site -> Off reaches both nodes and observedGeneration follows.
    patched = op.kubectl("patch", "jcs", SITE, "--type=merge", "-p", '{"spec":{"localDaemon":"Off"}}')
    assert patched.returncode == 0, patched.stderr
    obj = wait_for("observedGeneration 2 and Ready", lambda: (
        (o := op.get("jcs", SITE))["status"].get("observedGeneration") == o["metadata"]["generation"] == 2
        and _ready(op)), timeout=90)
    assert obj
    for node in bed["nodes"]:
        conf = testbed.exec_on(bed["name"], node["name"], ["cat", "/usr/lib/nqs/rc/daemon.conf"])["stdout"]
        assert "\nlocal_daemon=OFF\n" in conf
        ps = testbed.exec_on(bed["name"], node["name"], ["ps", "-eo", "ppid,args"])["stdout"].splitlines()
        assert not [line for line in ps if line.split()[0] == "1" and "nqsdaemon" in line], "local site still up"

    # An invalid manifest is refused at admission with the field's message and never exists.
    before = len(op.commands())
    bad = op.kubectl("apply", "-f", "-", input=(
        "apiVersion: jobcenter.clusterpro.io/v1alpha1\nkind: JobCenterSite\nmetadata: {name: bad}\n"
        "spec: {clusterRef: {name: jc-cluster}, mode: Classic, failoverGroup: failover-jc, execResource: exec-jc,"
        " monitorResource: pidw-jc, virtualHost: cluv, machineId: 0, databasePath: '/mnt/x; reboot',"
        " floatingIP: 10.0.0.1}\n"))
    assert bad.returncode != 0
    assert "spec.machineId" in bad.stderr and "spec.databasePath" in bad.stderr
    assert op.kubectl("get", "jcs", "bad").returncode != 0
    assert not [c for c in op.commands()[before:] if "bad" in " ".join(c["argv"])]


def test_failover_and_killed_daemon(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    wait_for("Ready", lambda: _ready(op), timeout=120)
    first = bed["activeNode"]
    other = next(n["name"] for n in bed["nodes"] if n["name"] != first)

    testbed.fault(bed["name"], "crash-node", first)
    # Failover by the simulated CLUSTERPRO, seen by the operator's drift timer within an interval
    # (plus the time the bed needs to notice the dead node and move the group).
    wait_for("activeNode moved", lambda: op.get("jcs", SITE)["status"].get("activeNode") == other,
             timeout=TIMER + 30)
    wait_for("Ready on the other node", lambda: _ready(op), timeout=TIMER + 60)

    # A killed daemon: cjcpw exits, the PID monitor reactivates the exec; the site shows it, then recovers.
    testbed.fault(bed["name"], "kill-process", other, "jcdbs")
    op.kubectl("annotate", "jcs", SITE, "--overwrite", "jobcenter.clusterpro.io/requested-at=kill-1")
    cond = wait_for("ProcessesHealthy=False", lambda: (c := op.condition(SITE, "ProcessesHealthy"))
                    and c["status"] == "False" and c, timeout=30, interval=0.1)
    assert cond["reason"] in ("Degraded", "NotRunning")
    wait_for("ProcessesHealthy=True again", lambda: (c := op.condition(SITE, "ProcessesHealthy"))
             and c["status"] == "True", timeout=TIMER + 60)
    assert op.get("jcs", SITE)["status"]["lastHandledReconcileAt"] == "kill-1"


def test_sigkill_mid_reconcile(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    site_setup()
    first = op.procs[0]
    wait_for("the first run stopping the group", lambda: any(step_name(c) == "stopgroup" for c in op.commands()),
             timeout=60, interval=0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    op.start()
    wait_for("Ready after the restart", lambda: _ready(op), timeout=120)
    steps = [step_name(c) for c in op.commands() if not is_probe(c)]
    assert steps.count("cjcmksite") == 1, steps
    assert steps.count("startgroup") == 1, steps


def test_delete_retain_then_unconfigure(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup()
    name, active = bed["name"], bed["activeNode"]
    scripts = f"/opt/nec/clusterpro/scripts/{bed['failoverGroup']}/{bed['execResource']}"
    original = {n["name"]: testbed.exec_on(name, n["name"], ["cat", f"{scripts}/start.sh"])["stdout"]
                for n in bed["nodes"]}
    wait_for("Ready", lambda: _ready(op), timeout=120)
    assert testbed.exec_on(name, active, ["cat", f"{scripts}/start.sh"])["stdout"] != original[active]
    checksum = _nqs_checksums(bed, active)

    # Retain: the resource goes, the nodes see nothing but (read-only) facts probes.
    before = len(op.commands())
    assert op.kubectl("delete", "jcs", SITE, "--timeout=60s").returncode == 0
    changing = [c for c in op.commands()[before:] if not is_probe(c)]
    assert changing == []
    assert _nqs_checksums(bed, active) == checksum

    # Again, with Unconfigure: scripts restored, the site stopped, <databasePath>/nqs kept byte for byte.
    site_setup_again = op.kubectl("apply", "-f", "-", input=__import__("hack.demo").demo.manifests(bed))
    assert site_setup_again.returncode == 0
    wait_for("Ready again", lambda: _ready(op), timeout=120)
    patched = op.kubectl("patch", "jcs", SITE, "--type=merge", "-p", '{"spec":{"deletionPolicy":"Unconfigure"}}')
    assert patched.returncode == 0
    wait_for("generation observed", lambda: op.get("jcs", SITE)["status"].get("observedGeneration") == 2,
             timeout=60)
    assert op.kubectl("delete", "jcs", SITE, "--timeout=90s").returncode == 0, op.log()
    for node in bed["nodes"]:
        restored = testbed.exec_on(name, node["name"], ["cat", f"{scripts}/start.sh"])["stdout"]
        assert restored == original[node["name"]]
    now_active = wait_for("group online", lambda: testbed.exec_on(name, active, ["/usr/sbin/clpgrp", "-n",
                                                                             bed["failoverGroup"]])["stdout"].strip(),
                          timeout=30)
    ps = testbed.exec_on(name, now_active, ["ps", "-eo", "args"])["stdout"]
    assert "/usr/lib/nqs/cluster/cjcpw" not in ps, "the cluster site still runs"
    assert _nqs_checksums(bed, now_active) == checksum


def test_observe_suspend_and_group_claims(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup(site_spec={"managementPolicy": "Observe"})
    # Observe: the plan is reported, nothing but facts probes reaches the nodes.
    obj = wait_for("status.plan in Observe mode", lambda: (o := op.get("jcs", SITE)).get("status", {}).get("plan")
                   and o, timeout=60)
    assert [p["action"] for p in obj["status"]["plan"]].count("CreateSite") == 1
    assert op.condition(SITE, "InSync")["reason"] == "DriftDetected"  # type: ignore[index]
    assert [c for c in op.commands() if not is_probe(c)] == []

    # Enforce: converges; a second site claiming the same group is refused with a clear condition.
    op.kubectl("patch", "jcs", SITE, "--type=merge", "-p", '{"spec":{"managementPolicy":"Enforce"}}')
    wait_for("Ready after switching to Enforce", lambda: _ready(op), timeout=120)
    assert "plan" not in op.get("jcs", SITE)["status"]
    twin = op.get("jcs", SITE)
    twin = {"apiVersion": twin["apiVersion"], "kind": twin["kind"], "metadata": {"name": "cluv-twin"},
            "spec": {**twin["spec"], "machineId": 115}}
    assert op.kubectl("apply", "-f", "-", input=__import__("json").dumps(twin)).returncode == 0
    stalled = wait_for("the twin stalled", lambda: (c := op.condition("cluv-twin", "Stalled"))
                       and c["status"] == "True" and c, timeout=60)
    assert stalled["reason"] == "GroupClaimed" and SITE in stalled["message"]
    assert not [c for c in op.commands() if "115" in c["argv"]], "the twin reached a node"

    # Suspend: conditions frozen, nothing sent for the site even when asked to reconcile.
    op.kubectl("patch", "jcs", SITE, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_for("the Suspended event", lambda: '"reason": "Suspended"' in op.kubectl("get", "events", "-o", "json").stdout,
             timeout=30)
    # Acknowledged once: observedGeneration follows, Reconciling says Suspended, Ready is kept.
    obj = wait_for("the suspend acknowledged", lambda: (o := op.get("jcs", SITE))["status"].get(
        "observedGeneration") == o["metadata"]["generation"] and o, timeout=30)
    assert op.condition(SITE, "Reconciling")["reason"] == "Suspended"  # type: ignore[index]
    assert op.condition(SITE, "Ready")["status"] == "True"  # type: ignore[index]
    conditions = obj["status"]["conditions"]
    before = len(op.commands())
    op.kubectl("annotate", "jcs", SITE, "--overwrite", "jobcenter.clusterpro.io/requested-at=while-suspended")

    def cluster_probes_since() -> int:
        # The ClusterproCluster's probes carry no database path; the site's do.
        return len([c for c in op.commands()[before:] if is_probe(c) and bed["databasePath"] not in c["argv"]])

    # Two ClusterproCluster timer ticks: more than one site timer interval has passed as well.
    wait_for("two drift intervals", lambda: cluster_probes_since() >= 2 * len(bed["nodes"]), timeout=TIMER * 4)
    site_commands = [c for c in op.commands()[before:] if bed["databasePath"] in c["argv"] or not is_probe(c)]
    assert site_commands == [], "a suspended site reached a node"
    after = op.get("jcs", SITE)["status"]
    assert after["conditions"] == conditions
    assert after.get("lastHandledReconcileAt") != "while-suspended"


def test_accept_new_host_keys_survive_an_operator_restart(site_setup: Callable[..., dict[str, Any]],
                                                          operator_env: Operator) -> None:
    op = operator_env
    bed = site_setup(start_operator=False)
    # Trust on first use: no known_hosts in the Secret, hostKeyPolicy AcceptNew.
    secret = op.kubectl("create", "secret", "generic", "jc-cluster-ssh",
                        "--type=jobcenter.clusterpro.io/ssh-credentials",
                        f"--from-file=ssh-privatekey={bed['privateKeyFile']}", "--dry-run=client", "-o", "yaml")
    assert op.kubectl("apply", "-f", "-", input=secret.stdout).returncode == 0
    op.kubectl("patch", "cpc", "jc-cluster", "--type=merge", "-p", '{"spec":{"ssh":{"hostKeyPolicy":"AcceptNew"}}}')
    op.start()
    wait_for("Ready with AcceptNew", lambda: _ready(op), timeout=120)
    nodes = wait_for("fingerprints recorded", lambda: (ns := op.get("cpc", "jc-cluster")["status"].get("nodes"))
                     and all(n.get("hostKeyFingerprint") for n in ns) and ns, timeout=30)
    assert all(n["hostKeyFingerprint"].startswith("SHA256:") for n in nodes)

    # The operator restarts, then a node presents another key: refused, not trusted anew.
    op.stop()
    rekeyed = testbed.fault(bed["name"], "rekey-host", bed["activeNode"])
    op.start()
    op.kubectl("annotate", "jcs", SITE, "--overwrite", "jobcenter.clusterpro.io/requested-at=after-rekey")
    stalled = wait_for("Stalled=HostKeyMismatch", lambda: (c := op.condition(SITE, "Stalled"))
                       and c["status"] == "True" and c, timeout=60)
    assert stalled["reason"] == "HostKeyMismatch"
    assert op.condition(SITE, "Ready")["status"] == "False"  # type: ignore[index]

    # An administrator checks the new key and puts it into the Secret: Stalled clears by itself.
    address = next(n["address"] for n in bed["nodes"] if n["name"] == bed["activeNode"])
    keytype, key = rekeyed["hostKey"].split()[:2]
    known = Path(bed["knownHostsFile"]).read_text().splitlines()
    known = [line for line in known if address not in line.split()[0].split(",")] + [f"{address} {keytype} {key}"]
    (op.workdir / "known_hosts").write_text("\n".join(known) + "\n")
    secret = op.kubectl("create", "secret", "generic", "jc-cluster-ssh",
                        "--type=jobcenter.clusterpro.io/ssh-credentials",
                        f"--from-file=ssh-privatekey={bed['privateKeyFile']}",
                        f"--from-file=known_hosts={op.workdir / 'known_hosts'}", "--dry-run=client", "-o", "yaml")
    assert op.kubectl("apply", "-f", "-", input=secret.stdout).returncode == 0
    wait_for("Stalled cleared by the changed Secret", lambda: _ready(op)
             and op.condition(SITE, "Stalled")["status"] == "False", timeout=TIMER * 4 + 30)  # type: ignore[index]


def test_json_logs_and_liveness_endpoint(site_setup: Callable[..., dict[str, Any]], operator_env: Operator) -> None:
    import json
    import socket
    import urllib.request

    op = operator_env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site_setup(start_operator=False)
    op.start("--log-format", "json", "--liveness", f"http://127.0.0.1:{port}/healthz")
    wait_for("Ready", lambda: _ready(op), timeout=120)

    def probe() -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return json.loads(r.read()) if r.status == 200 else None  # type: ignore[no-any-return]
        except OSError:
            return None

    health = wait_for("the liveness endpoint", probe, timeout=30)
    assert health["ssh"]["commands_total"] > 0, health
    lines = [line for line in op.log().splitlines() if line.strip()]
    assert lines and all(json.loads(line) for line in lines if line.startswith("{"))
    assert sum(line.startswith("{") for line in lines) >= len(lines) * 0.9, lines[:5]
