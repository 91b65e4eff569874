"""`up` / `down`: timings, isolation, several clusters at once, nothing left behind."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hack.testbed import api
from hack.testbed.config import REPO_ROOT

pytestmark = pytest.mark.root


def _netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _mounts_mentioning(text: str) -> list[str]:
    return [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if text in ln]


def _procs_mentioning(text: str) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if text in (p / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def test_cli_up_down_leaves_nothing(testbed_required: None) -> None:
    # How long up and down take is measured by the bench (python -m hack.bench bedcost), not asserted here.
    name = f"pt-{uuid.uuid4().hex[:8]}"
    cp = subprocess.run([sys.executable, "-m", "hack.testbed", "up", "--name", name], cwd=REPO_ROOT,
                        capture_output=True, text=True, check=False)
    try:
        assert cp.returncode == 0, cp.stderr
        info = json.loads(cp.stdout)
        k = info["nodes"][0]["address"].split(".")[2]
        ours_ns = {ns for ns in _netns() if ns.startswith(f"jcb{k}-")}
        ours_links = {ln for ln in _links() if ln.startswith(f"jcb{k}-")}
        assert len(ours_ns) == 2 and len(ours_links) == 3  # other users' clusters may come and go meanwhile
        assert set(info) >= {"name", "nodes", "floatingIP", "user", "privateKeyFile", "knownHostsFile",
                             "failoverGroup", "execResource", "databasePath", "virtualHost", "activeNode", "mode"}
        assert info["activeNode"] == "clu1" and info["nodes"][0]["address"].startswith("10.200.")
        # each node sees only its own processes; the host has no /usr/lib/nqs
        r = api.exec_on(name, "clu1", ["ps", "-eo", "pid="])
        assert "1" in r["stdout"].split() and len(r["stdout"].split()) < 30
        assert not Path("/usr/lib/nqs").exists()
        state = info["stateDir"]
        assert _mounts_mentioning(state) == []  # node mounts live only in the nodes' mount namespaces
    finally:
        cp = subprocess.run([sys.executable, "-m", "hack.testbed", "down", "--name", name], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False)
    assert cp.returncode == 0, cp.stderr
    assert not ours_ns & _netns()
    assert not ours_links & _links()
    assert not Path(info["stateDir"]).exists()
    assert _procs_mentioning(info["stateDir"]) == []
    assert _mounts_mentioning(info["stateDir"]) == []


def test_ten_clusters_at_once(testbed_required: None) -> None:
    names = [f"pt-{uuid.uuid4().hex[:6]}-{i}" for i in range(10)]
    ks: list[str] = []
    try:
        infos = [api.up(n) for n in names]
        ks += [i["floatingIP"].split(".")[2] for i in infos]
        subnets = {i["floatingIP"].rsplit(".", 1)[0] for i in infos}
        assert len(subnets) == 10
        assert all(i["activeNode"] == "clu1" for i in infos)
        listed = {c["name"] for c in api.list_clusters()}
        assert set(names) <= listed
    finally:
        for n in names:
            api.down(n)
    left = _netns()
    # a bed of another checkout may have taken a freed number meanwhile (the machine-wide reservation
    # names its folder): its namespaces are not ours
    ours = {str((api.state_root() / n).resolve()) for n in names}
    for k in ks:
        reservation = api.RESERVATIONS / k
        taken = reservation.exists() and reservation.read_text().strip() not in ours \
            and api._reservation_live(int(k))
        assert taken or not any(ns.startswith(f"jcb{k}-") for ns in left), k


async def test_rekey_and_network_cut_are_seen_by_ssh_clients(testbed_cluster: object) -> None:
    import asyncssh

    from hack.testbed.ssh import connect, run

    info = testbed_cluster()  # type: ignore[operator]
    c = await connect(info, "clu2")
    assert (await run(c, "hostname"))[1].strip() == "clu2"
    c.close()
    api.fault(info["name"], "rekey-host", "clu2")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(info, "clu2")
    api.fault(info["name"], "cut-network", "clu1")
    with pytest.raises((TimeoutError, OSError)):
        await asyncssh.connect(info["nodes"][0]["address"], username="root", known_hosts=info["knownHostsFile"],
                               client_keys=[info["privateKeyFile"]], connect_timeout=1)
    # the isolated server fences itself and the group moves to clu2
    deadline = time.monotonic() + 15
    while api.cluster_status(info["name"])["groups"]["failover-jc"]["current"] != "clu2":
        assert time.monotonic() < deadline, "the group did not leave the isolated clu1"
        await asyncio.sleep(0.1)
    assert api.exec_on(info["name"], "clu1", ["mountpoint", "-q", "/mnt/sdb2"])["exitStatus"] != 0
    assert api.status(info["name"])["floatingIPHolder"] == "clu2"
    api.fault(info["name"], "heal", "clu1")
    c = await connect(info, "clu1")
    assert (await run(c, "hostname"))[1].strip() == "clu1"
    c.close()
