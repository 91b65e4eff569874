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
  with different targets still read the node once each (the probe answers one target).

A drift check that finds something to do on facts from here reads the node again before acting
(reconcile.reconcile_site): facts from here only ever confirm that nothing is to be done.

Apart from that, the last clp.conf read from each node is kept (``clp_conf``), whatever read it and
even after ``forget``: the probe is given its digest and sends the file only when it differs, so
the copy is only ever used for a node whose file still has exactly those bytes.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from .facts import NodeFacts, ProbeTarget
from .facts.clusterpro import ClpConf

# What the facts of a node are kept under: the node's endpoint and the credentials used (a rotated
# Secret, another address or another cluster's scope read the node for themselves).
NodeKey = Hashable
# Nodes nobody read for this many drift intervals (a deleted cluster's) are let go.
KEEP_INTERVALS = 10


@dataclass(frozen=True)
class Probed:
    target: ProbeTarget
    facts: NodeFacts
    at: float  # the caller's monotonic clock when the probe answered


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

    def __len__(self) -> int:
        return len(self._probed)
