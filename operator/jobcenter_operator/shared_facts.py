"""One facts probe per node per drift interval for the ClusterproCluster and every site on it.

Pure module (no I/O; the caller passes the clock). The one place that decides when a node's facts
read by one run may serve another:

- only drift checks (a site's timer, the cluster's timer) take facts from here; a create, an update,
  a requested reconcile always read the node afresh;
- a site takes facts that were read for its own probe target; the cluster's observation (versions,
  groups, reachability: sections no target changes) takes any node's facts;
- facts older than ``max_age`` (a little less than the drift interval, so that each interval has
  one read and the timers' jitter does not make two) are not taken;
- a command sent to a node for a change forgets that node's facts (``forget``): they are the node
  as it was before;
- the cluster, when it must probe, probes with the target a site last asked for on that node
  (``target_for``), so that the site's next drift check finds its facts here. Two sites of one node
  with different targets still read the node once each (the probe answers one target);
- a probe under way (``reading``) serves the cluster's observation and drift checks that would probe
  the node at the same moment: at creation the cluster's first read and its new site's first read
  of a node are one probe. A site's create or update never waits for a probe it did not start.

A drift check that finds something to do on facts from here reads the node again before acting
(reconcile.reconcile_site): facts from here only ever confirm that nothing is to be done.

Apart from that, the last clp.conf read from each node is kept (``clp_conf``), whatever read it and
even after ``forget``: the probe is given its digest and sends the file only when it differs, so
the copy is only ever used for a node whose file still has exactly those bytes.

Two memos make a drift check that finds the nodes as they were cheap (issue 15: a converged node
answers the same bytes every interval). Both only skip recomputing a pure function on the same
input, so they can never change an outcome:

- ``parse``: the node's last answer (the nonce aside) and the facts parsed from it; the same answer
  with the same known clp.conf is the same facts (the very object: the planner's memo below keys on it);
- ``verdict``: a site's last plan and process health with the spec, node names and facts objects
  they were computed from (plan_site and assess_processes are pure: same input, same plan).

Both are bounded by the nodes and sites kept (one entry each, let go with the node's facts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from .api.site import JobCenterSiteSpec
from .facts import NodeFacts, ProbeTarget, parse_probe
from .facts.clusterpro import ClpConf
from .plan import Plan, ProcessHealth, assess_processes, plan_site

# What the facts of a node are kept under: the node's endpoint and the credentials used (a rotated
# Secret, another address or another cluster's scope read the node for themselves).
NodeKey = Hashable
# Nodes nobody read for this many drift intervals (a deleted cluster's) are let go.
KEEP_INTERVALS = 10
# Sites whose last plan is kept (one entry per site; far above any one operator's sites).
MAX_VERDICTS = 4096


@dataclass(frozen=True)
class Probed:
    target: ProbeTarget
    facts: NodeFacts
    at: float  # the caller's monotonic clock when the probe answered


@dataclass(frozen=True)
class _Answer:
    """A node's last probe answer with its nonce taken out, and what it parsed to."""

    node: str
    text: str
    known_sha256: str | None  # the clp.conf copy the probe was told of (the answer may say "unchanged")
    facts: NodeFacts


@dataclass(frozen=True)
class _Verdict:
    """A site's plan and health, and exactly what they were computed from."""

    spec: JobCenterSiteSpec
    nodes: tuple[str, ...]
    facts: tuple[NodeFacts, ...]  # compared by identity: the parse memo hands out the same object
    plan: Plan
    health: ProcessHealth | None = None


# Stands for the nonce in a kept answer: not alphanumeric, so never a nonce itself.
_NONCE = "<nonce>"


def covers(had: ProbeTarget, asked: ProbeTarget | None) -> bool:
    """Facts read for ``had`` answer a run asking for ``asked`` (None: the cluster's observation,
    which reads no target-specific section)."""
    return asked is None or had == asked


class SharedFacts:
    """The last facts read from each node, for the drift checks of everything that shares the node."""

    def __init__(self, max_age: float) -> None:
        if max_age < 0:
            raise ValueError("max_age must be >= 0")
        self.max_age = max_age
        self._probed: dict[NodeKey, Probed] = {}
        self._targets: dict[NodeKey, ProbeTarget] = {}
        self._clp_confs: dict[NodeKey, ClpConf] = {}
        self._answers: dict[NodeKey, _Answer] = {}
        self._verdicts: dict[Hashable, _Verdict] = {}
        self._reading: dict[NodeKey, tuple[ProbeTarget, Awaitable[NodeFacts | None]]] = {}
        self._swept = 0.0

    def fresh(self, key: NodeKey, asked: ProbeTarget | None, now: float) -> NodeFacts | None:
        """The node's facts if a probe answering ``asked`` was read less than ``max_age`` ago."""
        probed = self._probed.get(key)
        if probed is None or now - probed.at >= self.max_age or not covers(probed.target, asked):
            return None
        return probed.facts

    def record(self, key: NodeKey, target: ProbeTarget, facts: NodeFacts, now: float, *, site: bool) -> None:
        """A probe of the node answered (``site``: asked by a site run; its target is what the
        cluster probes with next)."""
        self._probed[key] = Probed(target=target, facts=facts, at=now)
        if facts.clp_conf.file_sha256 is not None:
            self._clp_confs[key] = facts.clp_conf
        if site and not target.backup:
            self._targets[key] = target
        if now - self._swept >= KEEP_INTERVALS * self.max_age:
            self._swept = now
            self.drop_older_than(now, KEEP_INTERVALS * self.max_age)

    def parse(self, key: NodeKey, node: str, stdout: str, nonce: str, known: ClpConf | None) -> NodeFacts:
        """``parse_probe``, skipped when the node answered exactly what it answered last time (the
        nonce aside) about the same known clp.conf: those facts are returned again (the same object).
        A changed byte anywhere parses afresh; an answer that does not parse is never kept."""
        text = stdout.replace(nonce, _NONCE)
        known_sha256 = known.file_sha256 if known is not None else None
        last = self._answers.get(key)
        if last is not None and last.node == node and last.known_sha256 == known_sha256 and last.text == text:
            return last.facts
        facts = parse_probe(node, stdout, nonce, known)
        self._answers[key] = _Answer(node=node, text=text, known_sha256=known_sha256, facts=facts)
        return facts

    def plan(self, spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> Plan:
        """``plan_site(spec, nodes, facts)``, taken from the last one computed for this site when the
        spec, the nodes and every node's facts object are the same."""
        return self._verdict(spec, nodes, facts).plan

    def health(self, spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts],
               plan: Plan) -> ProcessHealth:
        """``assess_processes`` for the plan ``plan`` returned, kept with it the same way."""
        verdict = self._verdict(spec, nodes, facts)
        if verdict.plan is not plan:  # not the plan of these inputs: compute, keep nothing
            return assess_processes(spec, nodes, facts, plan.active_node)
        if verdict.health is None:
            verdict = self._verdicts[self._site(spec, nodes)] = _Verdict(
                spec=verdict.spec, nodes=verdict.nodes, facts=verdict.facts, plan=verdict.plan,
                health=assess_processes(spec, nodes, facts, plan.active_node))
        assert verdict.health is not None
        return verdict.health

    @staticmethod
    def _site(spec: JobCenterSiteSpec, nodes: Sequence[str]) -> Hashable:
        # One entry per site (its cluster, group and nodes); the spec itself is compared on lookup.
        return (spec.cluster_ref.name, spec.failover_group, tuple(nodes))

    def _verdict(self, spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> _Verdict:
        names = tuple(nodes)
        read = tuple(facts[n] for n in names) if all(n in facts for n in names) else None
        site = self._site(spec, names)
        last = self._verdicts.get(site)
        if (read is not None and last is not None and last.nodes == names and len(last.facts) == len(read)
                and all(a is b for a, b in zip(last.facts, read, strict=True)) and last.spec == spec):
            return last
        verdict = _Verdict(spec=spec, nodes=names, facts=read or (), plan=plan_site(spec, names, facts))
        if read is not None:
            self._verdicts.pop(site, None)
            if len(self._verdicts) >= MAX_VERDICTS:  # sites come and go (renamed groups): oldest out
                del self._verdicts[next(iter(self._verdicts))]
            self._verdicts[site] = verdict
        return verdict

    def begin(self, key: NodeKey, target: ProbeTarget, reading: Awaitable[NodeFacts | None]) -> bool:
        """A probe of the node for ``target`` starts; ``reading`` gives its facts (None: it failed).
        False when another is already under way (this one is then not offered to others)."""
        if key in self._reading:
            return False
        self._reading[key] = (target, reading)
        return True

    def end(self, key: NodeKey, reading: Awaitable[NodeFacts | None]) -> None:
        if key in self._reading and self._reading[key][1] is reading:
            del self._reading[key]

    def reading(self, key: NodeKey, asked: ProbeTarget | None) -> Awaitable[NodeFacts | None] | None:
        """A probe of the node under way that answers ``asked``: a run that would probe the node now
        (the cluster's first observation while its new site's first read runs, say) awaits it
        instead; it reads the node as it is now, as its own probe would."""
        got = self._reading.get(key)
        return got[1] if got is not None and covers(got[0], asked) else None

    def clp_conf(self, key: NodeKey) -> ClpConf | None:
        """The node's clp.conf as last read from it (its digest goes with the next probe)."""
        return self._clp_confs.get(key)

    def target_for(self, key: NodeKey) -> ProbeTarget:
        """What the cluster's probe of the node asks: the target a site last asked for there."""
        return self._targets.get(key, ProbeTarget())

    def withdraw(self, target: ProbeTarget) -> None:
        """No site asks for ``target`` any more (suspended, deleted): the cluster probes without it."""
        for key in [k for k, t in self._targets.items() if t == target]:
            del self._targets[key]

    def forget(self, key: NodeKey) -> None:
        """A command changed (or may have changed) the node: its facts are old."""
        self._probed.pop(key, None)

    def drop_older_than(self, now: float, age: float) -> None:
        """Let go of nodes nobody read for ``age`` seconds (a deleted cluster's)."""
        for key in [k for k, p in self._probed.items() if now - p.at >= age]:
            del self._probed[key]
        for key in [k for k in self._targets if k not in self._probed]:
            del self._targets[key]
        for key in [k for k in self._clp_confs if k not in self._probed]:
            del self._clp_confs[key]
        for key in [k for k in self._answers if k not in self._probed]:
            del self._answers[key]
        # A site whose nodes are all let go is gone too (a deleted cluster's); the others keep theirs.
        kept = {id(a.facts) for a in self._answers.values()} | {id(p.facts) for p in self._probed.values()}
        for site in [s for s, v in self._verdicts.items() if not any(id(f) in kept for f in v.facts)]:
            del self._verdicts[site]

    def __len__(self) -> int:
        return len(self._probed)
