"""The fault matrix of issue 12: each fault in Classic, StandardManager and StandardAgent against
a test bed, every step checked by the one invariant checker (invariants.py).

A cell: converge, inject the fault, one reconcile must show it as a condition (within the
harness's SURFACE_TIMEOUT), heal, converge again; the checker runs after every step and the cell
fails on any violation. Cells marked ``faults_long`` run with ``make faults``; the rest in CI.

Run: sudo .venv/bin/pytest tests/faults   (needs root; JCOP_FAULTS_LONG=1 for every cell)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from hack.testbed import api
from jobcenter_operator.plan import plan_site

from .harness import Cell, KillAt, OperatorKilled, fault

pytestmark = [pytest.mark.root, pytest.mark.faults]

ALL_MODES = ("Classic", "StandardManager", "StandardAgent")
Fault = Callable[[Cell], Awaitable[None]]


def standby(cell: Cell) -> str:
    active = cell.checker.holder()
    return next(n["name"] for n in cell.bed["nodes"] if n["name"] != active)


def active(cell: Cell) -> str:
    node = cell.checker.holder()
    assert node is not None
    return node


def change_spec(cell: Cell) -> None:
    """A spec change that needs a configuration push (group stop, push, start)."""
    cell.site = {**cell.site, "monitorIntervalSeconds": 2}
    cell.spec = cell.spec.model_copy(update={"monitor_interval_seconds": 2})


def on(cell: Cell, node: str, argv: list[str]) -> dict[str, Any]:
    return api.exec_on(cell.bed["name"], node, argv, timeout=60)


# --------------------------------------------------------------------------------------- faults


async def node_crash(cell: Cell) -> None:
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    node = standby(cell)
    fault(cell.bed, "crash-node", node)
    await cell.surface({"Unreachable"})
    fault(cell.bed, "heal", node)
    await cell.recover()


async def network_cut(cell: Cell) -> None:
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    node = standby(cell)
    fault(cell.bed, "cut-network", node)
    await cell.surface({"Timeout", "Unreachable"})
    fault(cell.bed, "heal", node)
    await cell.recover()


async def host_key_change(cell: Cell) -> None:
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    node = standby(cell)
    new = fault(cell.bed, "rekey-host", node)
    cell.new_operator()  # a fresh connection: the new key is presented
    await cell.surface({"HostKeyMismatch"})
    # An administrator checks the new key and puts it into the Secret's known_hosts.
    address = next(n["address"] for n in cell.bed["nodes"] if n["name"] == node)
    keytype, key = new["hostKey"].split()[:2]
    lines = [ln for ln in cell.known_hosts.decode().splitlines() if address not in ln.split()[0].split(",")]
    cell.known_hosts = ("\n".join([*lines, f"{address} {keytype} {key}"]) + "\n").encode()
    await cell.recover()


async def command_failure(cell: Cell) -> None:
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    node = active(cell)
    fault(cell.bed, "fail-command", node, "clpcfctrl")
    change_spec(cell)
    await cell.surface({"ApplyRefused"})  # the failed push, with clpcfctrl's output (issue 11)
    assert cell.checker.holder() == node, "the group was started again where it was"
    fault(cell.bed, "heal", node)
    await cell.recover()


async def slow_node(cell: Cell) -> None:
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    fault(cell.bed, "slow", active(cell), "1")
    change_spec(cell)
    await cell.recover()  # slower, but converges; nothing to surface
    fault(cell.bed, "heal", active(cell))


async def disk_unmounted(cell: Cell) -> None:
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    node = active(cell)
    fault(cell.bed, "unmount-disk", node)
    await cell.surface({"DiskNotMounted"})
    # An administrator restarts the group: the disk resource mounts the disk again.
    group = cell.site["failoverGroup"]
    assert on(cell, node, ["clpgrp", "-t", group])["exitStatus"] == 0
    assert on(cell, node, ["clpgrp", "-s", group, "-h", node])["exitStatus"] == 0
    await cell.recover()


async def process_kill(cell: Cell) -> None:
    """A site process killed: CLUSTERPRO's monitor (not the operator) restarts it or fails over;
    the operator must never start a second copy, and converges again."""
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    name = "jcexecutor_agent" if cell.mode == "StandardAgent" else "cjcpw"
    fault(cell.bed, "kill-process", active(cell), name)
    cell.check("process killed", settled=False)
    await cell.recover()


async def secret_rotation(cell: Cell) -> None:
    """A new client key in the Secret (the old one then revoked): the run uses it, and the
    connection made with the old one is closed."""
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    keys = Path(cell.bed["stateDir"]) / "keys"
    new_key = asyncssh.generate_private_key("ssh-ed25519")
    authorized = keys / "authorized_keys"
    old = authorized.read_text()
    authorized.write_text(old + new_key.export_public_key().decode())
    key_file = keys / "rotated_key"
    key_file.write_bytes(new_key.export_private_key())
    cell.bed = {**cell.bed, "privateKeyFile": str(key_file)}
    cell.checker.secrets.append(new_key.export_private_key().decode().splitlines()[2])
    change_spec(cell)
    await cell.recover()
    assert cell.pool is not None and cell.pool.stats()["connections_closed_stale"] >= 1
    authorized.write_text(new_key.export_public_key().decode())  # the old key revoked
    await cell.converge("old key revoked")


def _killed_at(step: str, nth: int = 1) -> Fault:
    """The operator SIGKILLed before the ``nth`` command of ``step`` of a fresh site's first run; a
    new operator process then finishes the job."""

    async def run(cell: Cell) -> None:
        cell.sigkill_operator_at(step, nth)  # a real process, really SIGKILLed
        cell.check(f"killed before {step}", settled=False)
        await cell.recover()

    return run


async def deletion_during_reconcile(cell: Cell) -> None:
    """The operator dies with the group stopped; the site is deleted (Unconfigure) meanwhile."""
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    change_spec(cell)
    assert cell.pool is not None
    with pytest.raises(OperatorKilled):
        await cell.reconcile(KillAt(cell.pool, "apply"))
    cell.new_operator()
    deleted = await cell.unconfigure()
    assert deleted.error is None, deleted.error
    cell.check("deleted", settled=True)


async def concurrent_clp_conf_edit(cell: Cell) -> None:
    """An administrator edits clp.conf between the operator's read and its push."""
    await cell.converge("converged")
    cell.checker.take_baseline(len(cell.recorder.sent))
    change_spec(cell)
    node = active(cell)
    script = ('d=$(mktemp -d) && clpcfctrl --pull -x "$d" >/dev/null && '
              'printf "<!-- edited by an administrator -->\\n" >>"$d/clp.conf" && '
              'clpcfctrl --push -x "$d" >/dev/null')

    def edit() -> None:
        r = on(cell, node, ["sh", "-c", script])
        assert r["exitStatus"] == 0, r

    assert cell.pool is not None
    await cell.surface({"ConcurrentEdit"}, KillAt(cell.pool, "apply", hook=edit))
    await cell.recover()
    assert "edited by an administrator" in on(cell, node, ["cat", "/opt/nec/clusterpro/etc/clp.conf"])["stdout"]


async def failover_during_reconcile(cell: Cell) -> None:
    """The group moves to the other node right before the operator's stop (first run of a site)."""
    group = cell.site["failoverGroup"]

    def move() -> None:
        node = active(cell)
        r = on(cell, node, ["clpgrp", "-m", group])
        assert r["exitStatus"] == 0, r

    assert cell.pool is not None
    # Sites: right before cjcmksite (its guard refuses: the group is not online there any more).
    step = "stopgroup" if cell.mode == "StandardAgent" else "cjcmksite"
    await cell.reconcile(KillAt(cell.pool, step, hook=move))
    cell.check("failed over during the run", settled=False)
    await cell.recover()


FAULTS: dict[str, Fault] = {
    "node-crash": node_crash,
    "network-cut": network_cut,
    "host-key-change": host_key_change,
    "command-failure": command_failure,
    "slow-node": slow_node,
    "disk-unmounted": disk_unmounted,
    "process-kill": process_kill,
    "secret-rotation": secret_rotation,
    "deletion-during-reconcile": deletion_during_reconcile,
    "concurrent-clp-conf-edit": concurrent_clp_conf_edit,
    "failover-during-reconcile": failover_during_reconcile,
}
# The operator killed at each step boundary of a fresh site's first run (the steps its plan has).
_APPLY = ("markstop", "stopgroup", "marksuspend", "suspendcluster", "apply", "restartmanager", "resumecluster",
          "clearsuspend", "startgroup", "clearmark")
KILL_POINTS = {
    "Classic": ("cjcmksite", *_APPLY),
    "StandardManager": ("cjcmksite", *_APPLY),
    "StandardAgent": _APPLY,
}
# What CI runs (the rest: make faults).
CI_CELLS = {"node-crash", "command-failure", "sigkill@apply"}


def _cells() -> list[Any]:
    cells = []
    for mode in ALL_MODES:
        for name, run in FAULTS.items():
            marks = [] if name in CI_CELLS else [pytest.mark.faults_long]
            cells.append(pytest.param(mode, run, id=f"{name}/{mode}", marks=marks))
        for step in KILL_POINTS[mode]:
            name = f"sigkill@{step}"
            marks = [] if name in CI_CELLS else [pytest.mark.faults_long]
            cells.append(pytest.param(mode, _killed_at(step), id=f"{name}/{mode}", marks=marks))
    return cells


@pytest.mark.parametrize(("mode", "run"), _cells())
async def test_fault(cell_factory: Callable[[str], Cell], mode: str, run: Fault) -> None:
    cell = cell_factory(mode)
    await run(cell)
    assert cell.violations == [], "\n".join(cell.violations)


def test_the_kill_points_are_the_steps_a_first_run_takes() -> None:
    """Every disruptive step boundary of a first run is a kill point (none forgotten)."""
    from plan_factory import AGENT, CLASSIC, MANAGER, NODES, cluster  # the fast tier's builders

    from jobcenter_operator.plan.commands import unbounded

    for mode, spec in (("Classic", CLASSIC), ("StandardManager", MANAGER), ("StandardAgent", AGENT)):
        plan = plan_site(spec, NODES, cluster(spec=spec))
        steps = {unbounded(a.command.argv)[3] for a in plan.actions if a.command.argv[:2] == ("sh", "-c")}
        wanted = steps - {"sh"}  # daemon.conf writes are not disruptive
        assert wanted <= set(KILL_POINTS[mode]), (mode, wanted - set(KILL_POINTS[mode]))
