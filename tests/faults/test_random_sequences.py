"""Seeded random sequences of apply / spec change / delete / fault steps on the fast tier's fake
nodes (no root), with the invariants checked after every step (issue 12, "The fault matrix").

Each run draws its steps from ``random.Random(seed)``; a failure names the seed and the steps, so
it replays exactly (``JCOP_RANDOM_SEED=<seed>``). Budget: ``JCOP_RANDOM_RUNS`` runs (CI: a few
dozen; ``make faults``: hundreds).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import pytest
from fake_faults import OperatorKilled, admin_edits_clp_conf, crash, kill_at
from fake_nodes import FakeCluster, FakeRunner, Sent, access, fake_runner
from plan_factory import AGENT, CLASSIC, MANAGER, NODES, cluster

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.outcome import run_error
from jobcenter_operator.reconcile import reconcile_site
from jobcenter_operator.unconfigure import unconfigure_site

RUNS = int(os.environ.get("JCOP_RANDOM_RUNS", "30"))
SEED = os.environ.get("JCOP_RANDOM_SEED")
STEPS_PER_RUN = 10
ACCESS = access(NODES)
KILL_STEPS = ("cjcmksite", "markstop", "stopgroup", "apply", "startgroup", "clearmark")
SPECS = {"Classic": CLASSIC, "StandardManager": MANAGER, "StandardAgent": AGENT}


@dataclass
class World:
    spec: JobCenterSiteSpec
    runner: FakeRunner
    nodes: FakeCluster
    down: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    creates_over_a_site: list[str] = field(default_factory=list)

    def watch_creates(self) -> None:
        """Record any cjcmksite sent while the switched disk already holds a site."""
        default = self.runner.default

        def answer(sent: Sent) -> object:
            site_exists = self.nodes.disk_site is not None or any(f.site.present for f in self.nodes.facts.values())
            if sent.step == "cjcmksite" and site_exists:
                self.creates_over_a_site.append(sent.node)
            return default(sent)

        self.runner.default = answer  # type: ignore[assignment]

    def reset_faults(self) -> None:
        self.runner.rules.clear()
        for node in self.down:
            crash(self.runner, node)


def violations(world: World, *, settled: bool) -> list[str]:
    facts = world.nodes.facts
    bad = []
    if world.creates_over_a_site:
        bad.append(f"cjcmksite over an existing site on {world.creates_over_a_site}")
    if world.spec.mode == "StandardAgent":
        running = [n for n, f in facts.items() if f.agent.unit_active == "active" and any(
            r.active for r in f.agent.instances)]
    else:
        running = [n for n, f in facts.items() if any(t.virtual_host == world.spec.virtual_host
                                                       for t in f.processes.sites())]
    if len(running) > 1:
        bad.append(f"the site runs on {running}")
    if settled:
        if not any(f.group_node for f in facts.values()):
            bad.append("the group was left stopped")
        marked = [n for n, f in facts.items() if f.stopped_by_operator]
        if marked:
            bad.append(f"stop markers left on {marked}")
    if ACCESS.creds.password and any(ACCESS.creds.password in line for line in world.log):
        bad.append("the password appears in an error")
    return bad


async def step(world: World, rng: random.Random, name: str) -> None:
    if name == "reconcile":
        result = await reconcile_site(world.runner, ACCESS, world.spec, enforce=True, settle_interval=0,
                                      settle_timeout=0)
        world.log.append(str(run_error(result) or ""))
    elif name == "killed":
        kill_at(world.runner, rng.choice(KILL_STEPS))
        try:
            await reconcile_site(world.runner, ACCESS, world.spec, enforce=True, settle_interval=0, settle_timeout=0)
        except OperatorKilled:
            pass
        world.reset_faults()  # the operator restarts
    elif name == "crash":
        world.down.add(rng.choice(NODES))
        world.down = world.down if len(world.down) < len(NODES) else {rng.choice(NODES)}
        world.reset_faults()
    elif name == "heal":
        world.down.clear()
        world.reset_faults()
    elif name == "admin-edit":
        admin_edits_clp_conf(world.runner, world.nodes, after="stopgroup")
    elif name == "spec-change":
        world.spec = world.spec.model_copy(update={"monitor_interval_seconds": rng.choice((5, 10, 20, 30))})
        world.nodes.spec = world.spec
    elif name == "delete":
        result = await unconfigure_site(world.runner, ACCESS, world.spec)
        world.log.append(str(result.error or ""))


STEP_NAMES = ("reconcile", "reconcile", "killed", "crash", "heal", "admin-edit", "spec-change", "delete")


def _seeds() -> list[int]:
    return [int(SEED)] if SEED else list(range(RUNS))


@pytest.mark.parametrize("seed", _seeds())
async def test_random_sequence_keeps_the_invariants(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not security)
    mode = rng.choice(sorted(SPECS))
    runner, nodes = fake_runner(SPECS[mode], cluster(spec=SPECS[mode]))
    world = World(spec=SPECS[mode], runner=runner, nodes=nodes)
    world.watch_creates()
    names = [rng.choice(STEP_NAMES) for _ in range(STEPS_PER_RUN)]
    for i, name in enumerate(names):
        await step(world, rng, name)
        bad = violations(world, settled=False)
        assert not bad, f"seed {seed} ({mode}) after step {i} {name} of {names}: {bad}"
    # Heal everything; the operator must converge and leave the group online, no marker behind.
    world.down.clear()
    world.reset_faults()
    for _ in range(4):
        result = await reconcile_site(world.runner, ACCESS, world.spec, enforce=True, settle_interval=0,
                                      settle_timeout=0)
        if run_error(result) is None and result.plan is not None and result.plan.converged:
            break
    assert run_error(result) is None and result.plan is not None and result.plan.converged, (
        f"seed {seed} ({mode}) {names}: not converged: {run_error(result)}")
    bad = violations(world, settled=True)
    assert not bad, f"seed {seed} ({mode}) {names}: {bad}"
