"""Gather facts -> plan -> execute -> verify, for one site or one cluster. No kopf here.

The I/O goes through a ``Runner`` (``node.NodePool`` in production; in tests a NodePool with an
observer that records commands, or the fast tier's scripted fake). Everything else is pure and
lives in facts/, plan/, render/: the plan's actions carry their commands, ``execute`` only sends
them (deletion, unconfigure.py, uses the same ``execute``).

Rules enforced here (DESIGN.md "Reconcile"):
- one facts round trip per node, all nodes in parallel; a drift check takes facts read for the
  cluster or another drift check of the node within the interval (shared_facts.py);
- actions run in plan order (standby nodes first), stopping at the first failure; consecutive
  actions on one node go in one round trip (``round_trip``, node/batch.py), each with its own
  node-side bound, lock, exit status and step report; the plan's last steps, once each of them
  changes only its own node (after the group's start: the standby's markers removed, the local
  sites started), go on every node at once (``node_lanes``);
- an action's ``restore`` (a stopped failover group started again on the same node) runs when a
  later step fails, so a failure never leaves the site down;
- after changes, facts are gathered again and the plan must be empty (verification); the
  processes are awaited with a bounded poll, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets as _secrets
import socket
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from .api.cluster import ClusterproClusterSpec
from .api.site import JobCenterSiteSpec
from .errors import ApplyRefused, CommandFailed, InvalidSpec, OperatorError, Timeout, TransientError
from .facts import NodeFacts, ProbeOutputError, ProbeTarget, parse_probe, probe_argv
from .node import BatchItem, CommandResult, NodeAddress, SSHCredentials, Timeouts, drift_checking, run_batch
from .outcome import ClusterResult, Gathered, SiteResult, StepReport
from .plan import Action, Plan, ProcessHealth, assess_processes, commands, plan_site
from .plan.disruption import Gate
from .plan.resume import resume_with_nodes_down
from .progress import StepProgress
from .shared_facts import SharedFacts

log = logging.getLogger("jobcenter_operator.reconcile")


# Told before and after each step (handlers write the status and post Events from it).
OnStep = Callable[[StepProgress], Awaitable[None]]
# The same, with what the run has found so far (the status of a site in progress is computed from it).
OnProgress = Callable[[StepProgress, SiteResult], Awaitable[None]]


class Runner(Protocol):
    async def run(
        self,
        node: NodeAddress,
        creds: SSHCredentials,
        timeouts: Timeouts,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CommandResult: ...


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach every node of one ClusterproCluster, resolved from its spec and Secret."""

    nodes: tuple[NodeAddress, ...]
    creds: SSHCredentials
    timeouts: Timeouts

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node(self, name: str) -> NodeAddress:
        return next(n for n in self.nodes if n.name == name)


def access_from(spec: ClusterproClusterSpec, secret: Mapping[str, bytes], *, cluster: str = "") -> ClusterAccess:
    """Combine the cluster spec with its Secret's (decoded) data; a malformed Secret is InvalidSpec.
    ``cluster`` ("namespace/name") scopes the nodes' host keys to this ClusterproCluster.

    Under AcceptNew the password is never used: a host trusted on first sight may be anyone's, and a
    password sent to it is given away (a key's signature is not). Without a key that is InvalidSpec.
    """
    key = secret.get("ssh-privatekey")
    password = _text(secret, "password")
    if not key and not password:
        raise InvalidSpec("the credentials Secret has neither ssh-privatekey nor password")
    if spec.ssh.host_key_policy == "AcceptNew" and password:
        if not key:
            raise InvalidSpec("password login needs hostKeyPolicy Strict (known_hosts in the Secret): under "
                              "AcceptNew the password could be sent to a host nobody vouched for")
        password = None
    known_hosts = _text(secret, "known_hosts") or ""
    if spec.ssh.host_key_policy == "Strict" and not known_hosts.strip():
        raise InvalidSpec("hostKeyPolicy Strict needs known_hosts in the credentials Secret")
    passphrase = _text(secret, "passphrase")
    t = spec.ssh.timeouts
    return ClusterAccess(
        nodes=tuple(NodeAddress(name=n.name, host=n.address, port=n.port, cluster=cluster) for n in spec.nodes),
        creds=SSHCredentials(
            user=spec.ssh.user,
            private_key=key or None,
            passphrase=passphrase or None,
            password=password or None,
            known_hosts=known_hosts,
            host_key_policy=spec.ssh.host_key_policy,
            become=spec.ssh.become,
        ),
        timeouts=Timeouts(
            connect=t.connect_seconds,
            login=t.connect_seconds + 5,
            command=t.command_seconds,
            keepalive_interval=t.keepalive_seconds,
            keepalive_count_max=3,
        ),
    )


def _text(secret: Mapping[str, bytes], key: str) -> str | None:
    """A Secret value that must be text; one that is not UTF-8 is InvalidSpec (never retried)."""
    value = secret.get(key)
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise InvalidSpec(f"the credentials Secret's {key} is not UTF-8 text") from None


def probe_target(spec: JobCenterSiteSpec, *, backup: bool = False) -> ProbeTarget:
    """What the probe looks at for ``spec``; ``backup``: also the pre-operator clp.conf (deletion)."""
    return ProbeTarget(
        database_path=spec.database_path,
        virtual_host=spec.virtual_host or "",
        floating_ip=spec.floating_ip or "",
        failover_group=spec.failover_group,
        exec_resource=spec.exec_resource,
        monitor_resource=spec.monitor_resource,
        agent_instance_id=spec.agent.instance_id if spec.agent else "",
        backup="yes" if backup else "",
    )


def node_key(access: ClusterAccess, node: NodeAddress) -> Hashable:
    """What a node's facts are shared under (shared_facts): its endpoint, its name and the
    credentials they were read with."""
    return (node.endpoint, node.name, access.creds)


async def gather(runner: Runner, access: ClusterAccess, target: ProbeTarget, *,
                 shared: SharedFacts | None = None, reuse: bool = False) -> Gathered:
    """One facts round trip per node, all nodes at once.

    With ``shared``: what was read is kept there for the drift checks of the cluster and the
    other sites of these nodes, and with ``reuse`` (a drift check) a node read recently enough for
    ``target`` is not read again (shared_facts decides)."""
    return (await _gather(runner, access, target, shared=shared, reuse=reuse))[0]


async def _gather(runner: Runner, access: ClusterAccess, target: ProbeTarget | None, *,
                  shared: SharedFacts | None, reuse: bool,
                  read: Mapping[str, NodeFacts] | None = None) -> tuple[Gathered, bool]:
    """``gather``; ``target`` None: the cluster's observation (any node's facts serve it; a node
    not read recently is probed for what its site asks). Also returns whether any node's facts
    came from ``shared``. ``read``: nodes this run has just read for ``target`` (not probed again)."""
    reused = False

    async def one(node: NodeAddress) -> NodeFacts:
        nonlocal reused
        key = node_key(access, node)
        if read is not None and node.name in read and target is not None:
            if shared is not None:
                shared.record(key, target, read[node.name], time.monotonic(), site=True)
            return read[node.name]
        if shared is not None and reuse:
            kept = shared.fresh(key, target, time.monotonic())
            if kept is not None:
                reused = True
                return kept
        if shared is not None and (reuse or target is None):
            under_way = shared.reading(key, target)
            if under_way is not None:
                got = await asyncio.shield(under_way)
                if got is not None:
                    return got  # the node as it is now: read by a probe that started a moment ago
        asked = target if target is not None else shared.target_for(key) if shared is not None else ProbeTarget()
        if shared is None:
            return await probe(node, key, asked)
        reading: asyncio.Future[NodeFacts | None] = asyncio.get_running_loop().create_future()
        offered = shared.begin(key, asked, reading)
        try:
            facts = await probe(node, key, asked)
            reading.set_result(facts)
        finally:
            if offered:
                shared.end(key, reading)
            if not reading.done():  # a failed or cancelled probe: whoever waits probes for itself
                reading.set_result(None)
        return facts

    async def probe(node: NodeAddress, key: Hashable, asked: ProbeTarget) -> NodeFacts:
        # the node's clp.conf comes back only if it is no longer the copy read last (shared_facts)
        known = shared.clp_conf(key) if shared is not None else None
        sent = replace(asked, clp_conf_sha256=known.file_sha256 or "") if known is not None else asked
        nonce = _secrets.token_hex(8)
        result = await runner.run(node, access.creds, access.timeouts, probe_argv(sent, nonce), check=False)
        try:
            # shared: a node that answers what it answered last time is not parsed again (shared_facts)
            facts = (shared.parse(key, node.name, result.stdout, nonce, known) if shared is not None
                     else parse_probe(node.name, result.stdout, nonce, known))
        except ProbeOutputError as exc:
            raise CommandFailed(node.name, "facts probe", result.exit_status, str(exc)) from exc
        if shared is not None:
            shared.record(key, asked, facts, time.monotonic(), site=target is not None)
        return facts

    results = await asyncio.gather(*(one(n) for n in access.nodes), return_exceptions=True)
    facts: dict[str, NodeFacts] = {}
    errors: dict[str, OperatorError] = {}
    for node, res in zip(access.nodes, results, strict=True):
        if isinstance(res, OperatorError):
            errors[node.name] = res
        elif isinstance(res, BaseException):
            raise res
        else:
            facts[node.name] = res
    return Gathered(facts=facts, errors=errors), reused


class NotConverged(TransientError):
    reason = "NotConverged"


# Execute/verify rounds in one reconcile before giving up (and retrying with backoff).
MAX_ROUNDS = 3
# The first wait for the processes after a round; each next one twice as long, up to settle_interval.
SETTLE_FIRST = 0.1


class Stopping(Protocol):
    """Set when the operator is exiting (kopf's ``stopped`` of a timer, say)."""

    def is_set(self) -> bool: ...


async def execute(
    runner: Runner, access: ClusterAccess, actions: Sequence[Action], on_step: OnStep | None = None,
    *, stopping: Stopping | None = None, shared: SharedFacts | None = None, reread: Reread | None = None,
) -> tuple[list[StepReport], OperatorError | None]:
    """Run each action's command in order; stop at the first failure, then run the ``restore`` of
    every action that still needs it (a stopped group is started again on its node), and once they
    all ran, remove the stop markers this run wrote (unless its group stop itself failed).

    ``reread``: the facts probe (of ``reread.target``) goes at the end of each node's last round
    trip of the plan, when nothing after that trip changes that node (``_last_on_node``); what it
    read is put in ``reread.facts`` (the verification then reads only the other nodes).

    Returns every step's report (the failed one and the restoring steps included) and the error
    that stopped the run, if any.

    The operator exiting (``stopping`` set, or this task cancelled: kopf cancels its workers on
    SIGTERM) never cuts a step off: a command ended halfway on a node could leave a group stopped.
    The round trip in flight runs to its end (at most MAX_TRIP_ACTIONS actions, each bounded on
    the node, every disruptive one told before it was sent); a trip whose steps were being told
    when the signal came is cut before its first action an exiting operator would not start; from
    then on actions go one at a time; while a stopped group is owed its start, the plan goes on
    up to that start (the push between stop and start, suspended around when a monitor changes:
    finishing it gives the site one restart, where restoring now would cost a second one next run);
    no other action starts.
    The restores still owed run, and the stop markers this run set are removed once they have;
    then the run ends as cancelled (asyncio.CancelledError) at that safe point.

    ``shared``: the facts kept of a node a step ran on are forgotten (they are the node as it was).
    """
    reports: list[StepReport] = []
    pending: list[Action] = []  # restores owed, in the order their actions ran
    marked: set[str] = set()  # nodes this run put a stop marker on
    failure: OperatorError | None = None
    disruptive = any(a.disruptive for a in actions)
    shielded = _Shielded(stopping)
    rest: Sequence[Action] = ()  # what was not sent (the operator exiting, or after a failure)
    failed_kind = ""
    ran = 0
    while ran < len(actions) and failure is None:
        action = actions[ran]
        if shielded.stopping() and not _completes_restart(action, pending):
            rest = actions[ran:]
            break
        lanes = None if shielded.stopping() or not _settled_by(pending, actions[ran:]) else node_lanes(actions, ran)
        if lanes is not None:
            # What is left changes each node on its own (the standby's markers removed and its local
            # site started, the active node's local site started): every node's part at once.
            ordered = await shielded.run(_run_lanes(runner, access, actions, lanes, on_step, shared, reread,
                                                    disruptive, shielded.stopping))
            for done in ordered:
                reports.append(done)
                if not done.ok:
                    if failure is None:
                        failure, failed_kind = done.failure, done.action.kind
                    continue
                if done.action.kind == "MarkGroupStopped":
                    marked.add(done.action.node)
                pending = _owed_after(pending, done.action)
            sent = {id(done.action) for done in ordered}
            rest = [a for a in actions[ran:] if id(a) not in sent]
            ran += len(ordered)
            break
        # Once the operator is exiting, one action at a time: each is checked before it starts.
        trip = (action,) if shielded.stopping() else round_trip(actions, ran)
        steps = [StepProgress(ran + k + 1, len(actions), a, disruptive) for k, a in enumerate(trip)]
        end = ran + len(trip)
        fold = reread if reread is not None and _last_on_node(actions, end, trip[0].node) else None

        def sendable(trip_actions: Sequence[Action], owed: tuple[Action, ...] = tuple(pending)) -> int:
            # Checked again once the trip's steps are told (status writes, Events: the signal may come
            # meanwhile): an operator told to exit sends no disruptive action it has not started.
            return len(trip_actions) if not shielded.stopping() else _sendable_while_exiting(trip_actions, owed)

        for done in await shielded.run(_reported_trip(runner, access, steps, on_step, shared, sendable, fold)):
            ran += 1
            reports.append(done)
            if not done.ok:
                failure = done.failure
                failed_kind = done.action.kind
                break
            if done.action.kind == "MarkGroupStopped":
                marked.add(done.action.node)
            pending = _owed_after(pending, done.action)
        if failure is not None:
            rest = actions[ran:]
    if failure is not None or rest:
        # Never leave the failover group stopped because a step after its stop failed.
        restored = True
        for restore in reversed(pending):
            report = await shielded.run(
                _reported_step(runner, access, StepProgress(0, len(actions), restore, True), on_step, shared))
            if not report.ok:
                log.error("node=%s %s failed: %s", restore.node, restore.describe(), report.error)
                restored = False
            reports.append(report)
        if restored and failed_kind != "StopGroup":
            # The group runs again, or this run never stopped it: its stop markers would only mislead
            # a later run (an administrator's stop taken for the operator's, and finished). Not after a
            # failed stop (the group may be half stopped: the markers let the next run finish it) nor a
            # failed restore.
            for clear in (a for a in rest if a.kind == "ClearStopMarker" and a.node in marked):
                reports.append(await shielded.run(
                    _reported_step(runner, access, StepProgress(0, len(actions), clear, False), on_step, shared)))
    if shielded.stopping():
        log.warning("operator exiting: the run stopped at a safe point (%d of %d actions run)", ran, len(actions))
        raise asyncio.CancelledError("the operator is exiting")
    return reports, failure


# Between a group stop and its start, the documented apply sequence may suspend the cluster around
# the push (a monitor changes): those steps are bounded and undone within the same run.
_SUSPENDED_PUSH = frozenset({"MarkSuspended", "SuspendCluster", "RestartManagerServices", "ResumeCluster",
                             "ClearSuspendMarker"})


def _owed_after(pending: Sequence[Action], done: Action) -> list[Action]:
    """The restores still owed once ``done`` ran: running a restore's own command (the plan's
    StartGroup after its StopGroup) settles it; an action with a restore adds it."""
    owed = [r for r in pending if (r.node, r.command) != (done.node, done.command)]
    return [*owed, done.restore] if done.restore is not None else owed


def _sendable_while_exiting(trip: Sequence[Action], pending: Sequence[Action]) -> int:
    """How many of ``trip``'s leading actions an exiting operator still sends: those on the way to
    the start of a group it stopped (``_completes_restart``), as if each were checked before it starts."""
    owed = list(pending)
    for n, action in enumerate(trip):
        if not _completes_restart(action, owed):
            return n
        owed = _owed_after(owed, action)
    return len(trip)


def _completes_restart(action: Action, pending: Sequence[Action]) -> bool:
    """While a stopped group is owed its start: the start itself, or a step on the way to it (the
    push, with the cluster suspended and resumed around it when a monitor changes). Finishing them
    reaches the same safe point (group started, cluster resumed) with one restart of the site, where
    restoring now would cost a second one on the next run. A marker's restore alone (its removal)
    is no restart to complete: the run stops there and removes it."""
    if not any(r.kind in ("StartGroup", "ResumeCluster") for r in pending):
        return False
    if action.kind in _SUSPENDED_PUSH and any(r.kind == "StartGroup" for r in pending):
        return True
    return not action.disruptive or any((r.node, r.command) == (action.node, action.command) for r in pending)


_T = TypeVar("_T")


class _Shielded:
    """Runs steps so that cancelling the task awaiting them does not cancel them: the cancellation
    is remembered (``stopping``) and the step awaited to its end."""

    def __init__(self, stopping: Stopping | None) -> None:
        self._flag = stopping
        self.cancelled = False

    def stopping(self) -> bool:
        return self.cancelled or (self._flag is not None and self._flag.is_set())

    async def run(self, step: Awaitable[_T]) -> _T:
        task = asyncio.ensure_future(step)
        while True:
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    raise  # the step itself was cancelled (not by us): nothing left to wait for
                self.cancelled = True
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()  # this cancellation is handled: the run goes on to its safe point
                if task.done():
                    return task.result()


def holder_identity() -> str:
    """This operator process as the node lock records it: the replica (JCOP_REPLICA_ID, the pod's
    name, else the host's) and the process id, so a second process at a node's lock is told apart
    even from a restarted replica of the same name."""
    replica = os.environ.get("JCOP_REPLICA_ID") or os.environ.get("POD_NAME") or socket.gethostname()
    return commands.holder_identity(replica, os.getpid())


# At most this many actions in one round trip. The operator exiting waits for the round trip in
# flight (each of its actions bounded on the node); should that outlast the pod's grace period, the
# operator is killed mid-trip and the node-side markers let the next run finish or undo what it
# interrupted, as after a crash in the middle of one step (issue 12).
MAX_TRIP_ACTIONS = 6
# A payload up to this size can go first in a round trip (read by sh line by line); a larger one only last.
SMALL_INPUT = 64 * 1024


def round_trip(actions: Sequence[Action], start: int) -> tuple[Action, ...]:
    """The actions sent in one round trip from ``actions[start]``: it and the actions right after it
    on the same node. The executor only decides between them whether to go on (the first failure
    ends the run), which the node does as well (node/batch.py stops at the first failure); every
    action keeps its own node-side bound, lock and exit status. At most MAX_TRIP_ACTIONS, a large
    payload (the configuration archive) is the round trip's last one, and a group stop starts a new
    round trip when this one cannot also carry everything up to the group's start.

    A round trip may hold several disruptive actions (the local site's stop and cjcmksite; the
    group's stop, the suspend, the push and the resume): every one of them is told (its Started
    Event) before the trip is sent (see _reported_trip), and the trip is checked for the operator
    exiting after that, so an exiting operator sends no disruptive action it has not started. A
    trip once sent runs to its end on the node; what the exit guarantees is that no group is left
    stopped and no cluster suspended (execute)."""
    first = actions[start]
    trip = [first]
    large = len(first.command.input or "") > SMALL_INPUT
    for index in range(start + 1, len(actions)):
        action = actions[index]
        if (action.node != first.node or len(trip) == MAX_TRIP_ACTIONS
                or (large and action.command.input is not None)
                or (action.kind == "StopGroup" and len(trip) + _restart_length(actions, index) > MAX_TRIP_ACTIONS)):
            break
        trip.append(action)
        large = large or len(action.command.input or "") > SMALL_INPUT
    return tuple(trip)


def _restart_length(actions: Sequence[Action], stop: int) -> int:
    """How many actions from the group stop at ``stop`` through its start, when all on its node (else 1).
    A round trip does not take a group stop it cannot carry to that start: the group's stop, the push
    and its start then go together in the next one, with no status write or Event while it is down."""
    for end in range(stop, len(actions)):
        if actions[end].node != actions[stop].node:
            return 1
        if actions[end].kind == "StartGroup":
            return end - stop + 1
    return 1


def node_lanes(actions: Sequence[Action], start: int) -> list[list[int]] | None:
    """The indexes of ``actions[start:]`` by node, in plan order, when there are several nodes and
    every one of those actions changes only its own node and has nothing to restore (so no order
    between nodes matters, and a failure on one undoes nothing on another); else None."""
    lanes: dict[str, list[int]] = {}
    for index in range(start, len(actions)):
        action = actions[index]
        if action.kind not in NODE_LOCAL or action.restore is not None:
            return None
        lanes.setdefault(action.node, []).append(index)
    return list(lanes.values()) if len(lanes) > 1 else None


def _settled_by(pending: Sequence[Action], rest: Sequence[Action]) -> bool:
    """Every restore still owed is one of ``rest``'s own steps (the standby's suspend marker, removed
    after the resume): running ``rest`` settles it, and should it fail first the restore runs."""
    return all(any((r.node, r.command) == (a.node, a.command) for a in rest) for r in pending)


async def _run_lanes(runner: Runner, access: ClusterAccess, actions: Sequence[Action], lanes: Sequence[Sequence[int]],
                     on_step: OnStep | None, shared: SharedFacts | None, reread: Reread | None, disruptive: bool,
                     stopping: Callable[[], bool]) -> list[StepReport]:
    """Each lane's round trips in order, the lanes at once; a lane sends no further round trip once any
    step failed (a trip in flight elsewhere runs to its end) or the operator is exiting. The
    verification's read goes at the end of each node's last round trip (nothing after it changes
    that node). Returns the reports in plan order."""
    failed = False

    def sendable(trip: Sequence[Action]) -> int:
        return len(trip) if not stopping() else _sendable_while_exiting(trip, ())

    async def lane(indexes: Sequence[int]) -> list[tuple[int, StepReport]]:
        nonlocal failed
        mine = tuple(actions[i] for i in indexes)
        done: list[tuple[int, StepReport]] = []
        k = 0
        while k < len(mine) and not failed:
            trip = round_trip(mine, k)
            at = indexes[k:k + len(trip)]
            steps = [StepProgress(i + 1, len(actions), actions[i], disruptive) for i in at]
            last = k + len(trip) == len(mine)
            reports = await _reported_trip(runner, access, steps, on_step, shared, sendable, reread if last else None)
            done += zip(at, reports, strict=False)
            if len(reports) < len(trip) or not all(r.ok for r in reports):
                failed = failed or not all(r.ok for r in reports)
                break
            k += len(trip)
        return done

    results = await asyncio.gather(*(lane(indexes) for indexes in lanes))
    return [report for _, report in sorted((pair for found in results for pair in found), key=lambda p: p[0])]


# Actions whose command changes only the node it runs on (its daemon.conf, its local site, its
# marker files, its systemd unit). Any other (cjcmksite on the shared disk, a group's stop or start,
# suspend, resume, a configuration push) changes what every node of the cluster reports.
NODE_LOCAL = frozenset({"SetLocalDaemon", "StopLocalSite", "StartLocalSite", "MarkGroupStopped", "ClearStopMarker",
                        "MarkSuspended", "ClearSuspendMarker", "DisableAgentUnit"})


def _last_on_node(actions: Sequence[Action], end: int, node: str) -> bool:
    """No action from ``actions[end]`` on changes what ``node`` reports: none runs there, and every
    one on another node changes only its own node. Facts read on ``node`` at ``end`` are then the
    ones a read after the whole plan would give."""
    return all(a.node != node and a.kind in NODE_LOCAL for a in actions[end:])


@dataclass
class Reread:
    """The verification's facts read folded into each node's last round trip of a plan (execute)."""

    target: ProbeTarget
    facts: dict[str, NodeFacts] = field(default_factory=dict)


def _limit(action: Action, command_timeout: float) -> float:
    return command_timeout if action.command.timeout is None else action.command.timeout


async def _reported_trip(runner: Runner, access: ClusterAccess, steps: Sequence[StepProgress],
                         on_step: OnStep | None, shared: SharedFacts | None,
                         sendable: Callable[[Sequence[Action]], int] | None = None,
                         reread: Reread | None = None) -> list[StepReport]:
    """One round trip of ``steps`` (all on one node). Before it is sent, its first disruptive step
    (else its first step) is told as starting and shown in the status, and every other disruptive
    step is told too (``shown=False``: for its Started Event), so Events come before the
    interruption; one status write per round trip. ``sendable`` then says how many of the trip's
    leading actions are sent (the operator may have been told to exit meanwhile). Once it is back,
    each step that ran is told with its report, and each step told as starting that never ran ends
    as not run. ``reread``: the facts probe goes at the end of the trip (execute)."""
    shown = next((s for s in steps if s.action.disruptive), steps[0])
    told = [s for s in steps if s is shown or s.action.disruptive]
    if on_step is not None:
        for step in told:
            await on_step(step if step is shown else replace(step, shown=False))
    count = len(steps) if sendable is None else sendable([s.action for s in steps])
    sent = steps[:count]
    reports: list[StepReport] = []
    if sent:
        for step in sent:
            log.info("node=%s action=%s reason=%s", step.action.node, step.action.kind, step.action.reason)
        node = access.node(sent[0].action.node)
        try:
            reports = await _run_trip(runner, access, node, [s.action for s in sent],
                                      reread if count == len(steps) else None)
        finally:
            if shared is not None:
                shared.forget(node_key(access, node))
    if on_step is not None:
        for step, report in zip(steps, reports, strict=False):
            await on_step(replace(step, report=report))
        for k, step in enumerate(steps[len(reports):], len(reports)):
            if step in told:
                # Told as starting, never sent: an earlier step of the trip failed, or the operator is
                # exiting. Say so, so that its Started Event is not left without an end.
                why = (f"{reports[-1].action.kind if reports else 'the round trip'} before it failed" if k < count
                       else "the operator is exiting")
                await on_step(replace(step, report=StepReport(action=step.action, ok=False, duration=0.0,
                                                              error=f"not run: {why}")))
    return reports


async def _run_trip(runner: Runner, access: ClusterAccess, node: NodeAddress,
                    actions: Sequence[Action], reread: Reread | None = None) -> list[StepReport]:
    """A report per action that ran: all, or up to the failed one. An error of the round trip
    itself (which actions ran is unknown) is the first action's. ``reread``: the facts probe is
    sent after the actions in the same round trip (run only when they all succeeded)."""
    limits = [_limit(a, access.timeouts.command) for a in actions]
    holder = holder_identity()
    items = [BatchItem(commands.bounded(a.command.argv, limit, holder), a.command.input)
             for a, limit in zip(actions, limits, strict=True)]
    budget = sum(commands.bounded_budget(limit) for limit in limits)
    nonce = _secrets.token_hex(8)
    if reread is not None:
        items.append(BatchItem(tuple(probe_argv(reread.target, nonce))))
        budget += access.timeouts.command
    started = time.monotonic()
    try:
        results = await run_batch(runner, node, access.creds, access.timeouts, items, timeout=budget)
    except OperatorError as exc:
        error = refusal(actions[0], exc, limits[0])
        return [StepReport(actions[0], ok=False, duration=time.monotonic() - started, error=error.message,
                           failure=error)]
    took = time.monotonic() - started  # the round trip's: the node does not time each command
    if reread is not None and len(results) == len(items) and isinstance(results[-1], CommandResult):
        try:
            reread.facts[node.name] = parse_probe(node.name, results[-1].stdout, nonce)
        except ProbeOutputError as exc:  # the verification reads the node again
            log.warning("node=%s facts read after the last step not usable: %s", node.name, exc)
    reports = []
    for action, limit, got in zip(actions, limits, results, strict=False):
        if isinstance(got, OperatorError):
            error = refusal(action, got, limit)
            reports.append(StepReport(action, ok=False, duration=took, error=error.message, failure=error))
        else:
            reports.append(StepReport(action, ok=True, duration=took))
    return reports


async def _reported_step(runner: Runner, access: ClusterAccess, progress: StepProgress,
                         on_step: OnStep | None, shared: SharedFacts | None = None) -> StepReport:
    if on_step is not None:
        await on_step(progress)
    try:
        report = await _run_step(runner, access, progress.action)
    finally:
        if shared is not None:
            shared.forget(node_key(access, access.node(progress.action.node)))
    if on_step is not None:
        await on_step(replace(progress, report=report))
    return report


async def _run_step(runner: Runner, access: ClusterAccess, action: Action) -> StepReport:
    cmd = action.command
    limit = access.timeouts.command if cmd.timeout is None else cmd.timeout
    started = time.monotonic()
    try:
        await runner.run(access.node(action.node), access.creds, access.timeouts,
                         commands.bounded(cmd.argv, limit, holder_identity()),
                         input=cmd.input, timeout=commands.bounded_budget(limit))
    except OperatorError as exc:
        exc = refusal(action, exc, limit)
        return StepReport(action, ok=False, duration=time.monotonic() - started, error=exc.message, failure=exc)
    return StepReport(action, ok=True, duration=time.monotonic() - started)


def refusal(action: Action, error: OperatorError, limit: float) -> OperatorError:
    """A failed command as the reason it failed for: a guard of the command (ConcurrentEdit,
    DiskNotMounted...), the node's lock held by someone else (NodeBusy), the node's time limit."""
    if not isinstance(error, CommandFailed):
        return error
    reasons = dict(action.command.refusals)
    if error.exit_status in reasons:
        return TransientError(f"{action.node}: {action.kind} refused: {error.stderr or reasons[error.exit_status]}",
                              reason=reasons[error.exit_status])
    if error.exit_status == commands.EXIT_NODE_BUSY:
        return TransientError(f"{action.node}: another operator process holds the node's lock {commands.LOCK_FILE}; "
                              f"{action.kind} was not run", reason="NodeBusy")
    if error.exit_status in (commands.EXIT_TIMED_OUT, commands.EXIT_KILLED):
        return Timeout(action.node, f"{action.kind} did not finish within {limit:g}s and was ended on the node")
    if action.kind in ("ApplyClusterConfig", "RestoreClusterConfig"):
        # The push's own reason (clpcfctrl's output) is what the status must say.
        return ApplyRefused(action.node, error.exit_status, error.stderr)
    return error


async def reconcile_site(
    runner: Runner,
    access: ClusterAccess,
    spec: JobCenterSiteSpec,
    *,
    enforce: bool,
    settle_timeout: float = 60.0,
    settle_interval: float = 1.0,
    gate: Callable[[Sequence[Action]], Gate] | None = None,
    progress: OnProgress | None = None,
    stopping: Stopping | None = None,
    shared: SharedFacts | None = None,
    drift_check: bool = False,
) -> SiteResult:
    """One level-based pass over a site. ``enforce=False`` (Observe, or drift Report) only plans.
    ``gate`` (plan/disruption.py) says which actions may run now; what it holds back waits for a
    maintenance window or an approval and is not an error (the result carries the gate's verdict).
    ``progress`` is told before and after each step, with what the run found so far.
    ``stopping``: the operator is exiting (see ``execute``: the run ends at a safe point).
    ``shared``: the facts of the nodes are kept there for the cluster and the other sites; a
    ``drift_check`` takes them from there when recent enough (shared_facts), and reads the nodes
    again before acting on them: kept facts only ever confirm that nothing is to be done.
    A drift check's commands wait behind every other run's (node.limit)."""
    with drift_checking() if drift_check else contextlib.nullcontext():
        def runnable(current: Plan) -> tuple[Action, ...]:
            if gate is None:
                return current.actions
            result.gates.append(gate(current.actions))
            return result.gates[-1].run

        if stopping is not None and stopping.is_set():
            raise asyncio.CancelledError("the operator is exiting")  # a run that waited for the cluster's lock
        target = probe_target(spec)
        gathered, reused = await _gather(runner, access, target, shared=shared, reuse=drift_check)
        result = SiteResult(gathered=gathered, enforced=enforce)
        if reused and not _confirmed(spec, access.names, result, runnable, shared):
            # Kept facts only confirm; anything to do (or to report) is decided on the nodes as they are now.
            gathered = await gather(runner, access, target, shared=shared)
            result = SiteResult(gathered=gathered, enforced=enforce)
        elif reused:
            return result
        if gathered.errors:
            _report_reachable(result, spec, access.names)
            # Except one thing: a group an interrupted run left stopped is started again (issue 12).
            reachable = tuple(n for n in access.names if n in gathered.facts)
            resume = resume_with_nodes_down(spec, reachable, gathered.facts) if enforce and reachable else ()
            if resume:
                result.steps, _ = await execute(runner, access, resume, stopping=stopping, shared=shared)
            return result
        plan = _plan(shared, spec, access.names, gathered.facts)
        result.plan, result.active_node = plan, plan.active_node
        actions = runnable(plan)
        if plan.preflight or not enforce or not actions:
            result.health = _health(shared, spec, access.names, gathered.facts, plan)
            return result
        # Execute, then verify by planning again. A plan can leave work for a second round (a run
        # resumed after an interruption finishes the group start first); rounds are bounded.
        deadline = time.monotonic() + settle_timeout

        async def on_step(step: StepProgress) -> None:
            if progress is not None:
                await progress(step, result)

        for _round in range(MAX_ROUNDS):
            # The verification's read of a node goes in its last round trip where it can (execute).
            reread = Reread(target)
            steps, failure = await execute(runner, access, actions, on_step, stopping=stopping, shared=shared,
                                           reread=reread)
            result.steps += steps
            if failure is not None:
                result.error = failure
                return result
            actions = await _verify(runner, access, spec, target, result, deadline, settle_interval, runnable, shared,
                                    reread.facts)
            if not actions:
                return result
        pending = "; ".join(a.describe() for a in actions)
        result.error = NotConverged(f"still not converged after {MAX_ROUNDS} rounds: {pending}")
        return result


def _report_reachable(result: SiteResult, spec: JobCenterSiteSpec, names: Sequence[str]) -> None:
    """Some node is unreachable (a crashed standby after a failover, say): change nothing, but
    still report where the group runs and how the site is doing on the nodes that answered."""
    gathered = result.gathered
    result.error = gathered.first_error()
    reachable = tuple(n for n in names if n in gathered.facts)
    if reachable:
        partial = plan_site(spec, reachable, gathered.facts)
        result.plan, result.active_node = partial, partial.active_node
        result.health = assess_processes(spec, reachable, gathered.facts, partial.active_node)


async def _verify(runner: Runner, access: ClusterAccess, spec: JobCenterSiteSpec, target: ProbeTarget,
                  result: SiteResult, deadline: float, interval: float,
                  runnable: Callable[[Plan], tuple[Action, ...]],
                  shared: SharedFacts | None = None, read: Mapping[str, NodeFacts] | None = None,
                  ) -> tuple[Action, ...]:
    """Gather and plan again after a round, into ``result``; wait (bounded) for the processes.
    ``read``: nodes already read after the round's last change to them (execute's ``reread``): the
    first read takes them from there.

    Returns the actions of the next round when work is left that may run now, () when the run is
    over: converged, what is left waits for a window or an approval, a check failed, a node stopped
    answering or the processes did not come up in time.
    """
    # The daemons often come up within a moment of their start (the verification's first read is
    # folded into the start's round trip): look again soon, then less often, up to ``interval``.
    wait = min(interval, SETTLE_FIRST)
    while True:
        again, _ = await _gather(runner, access, target, shared=shared, reuse=False, read=read)
        read = None
        if again.errors:
            result.gathered, result.error = again, again.first_error()
            return ()
        replan = plan_site(spec, access.names, again.facts)
        health = assess_processes(spec, access.names, again.facts, replan.active_node)
        result.gathered, result.plan, result.active_node, result.health = again, replan, replan.active_node, health
        if replan.preflight:
            return ()  # reported as the plan's failed check
        actions = runnable(replan)
        if actions:
            return actions
        if health.healthy or (result.gate is not None and result.gate.waiting):
            return ()
        if time.monotonic() >= deadline:
            result.error = NotConverged(f"processes not healthy after applying the plan: {health.message}")
            return ()
        await asyncio.sleep(wait)  # the site's daemons start asynchronously
        wait = min(interval, wait * 2)


async def observe_cluster(runner: Runner, access: ClusterAccess, *, shared: SharedFacts | None = None,
                          drift_check: bool = False) -> ClusterResult:
    """Reachability, versions, groups: the ClusterproCluster's status (read-only). The caller adds
    the host key fingerprints its pool saw. With ``shared``, a node is probed for what its site
    asks (so the site's drift check finds it there), and a ``drift_check`` takes any node's facts
    read recently enough (shared_facts)."""
    with drift_checking() if drift_check else contextlib.nullcontext():
        gathered, _ = await _gather(runner, access, None if shared is not None else ProbeTarget(), shared=shared,
                                    reuse=drift_check)
    return ClusterResult(gathered=gathered, fingerprints={})


def _confirmed(spec: JobCenterSiteSpec, names: Sequence[str], result: SiteResult,
               runnable: Callable[[Plan], tuple[Action, ...]], shared: SharedFacts | None = None) -> bool:
    """Facts kept from an earlier read say there is nothing to do: every node answered, no check
    failed, the plan holds nothing that may run and the processes are healthy. Fills ``result``
    (plan, active node, health) from them."""
    gathered = result.gathered
    if gathered.errors:
        return False
    plan = _plan(shared, spec, names, gathered.facts)
    result.plan, result.active_node = plan, plan.active_node
    if plan.preflight or plan.actions or runnable(plan):
        return False
    result.health = _health(shared, spec, names, gathered.facts, plan)
    return result.health.healthy


def _plan(shared: SharedFacts | None, spec: JobCenterSiteSpec, names: Sequence[str],
          facts: Mapping[str, NodeFacts]) -> Plan:
    """``plan_site``; with ``shared``, the site's last plan when spec, nodes and facts are the same
    (a drift check of a converged site plans nothing new)."""
    return shared.plan(spec, names, facts) if shared is not None else plan_site(spec, names, facts)


def _health(shared: SharedFacts | None, spec: JobCenterSiteSpec, names: Sequence[str],
            facts: Mapping[str, NodeFacts], plan: Plan) -> ProcessHealth:
    """``assess_processes`` for ``plan``, kept with it in ``shared`` the same way."""
    if shared is not None:
        return shared.health(spec, names, facts, plan)
    return assess_processes(spec, names, facts, plan.active_node)


__all__ = [
    "ClusterAccess",
    "ClusterResult",
    "Gathered",
    "NotConverged",
    "Reread",
    "Runner",
    "SiteResult",
    "StepReport",
    "Stopping",
    "access_from",
    "execute",
    "gather",
    "observe_cluster",
    "probe_target",
    "reconcile_site",
]
