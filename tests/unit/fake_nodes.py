"""A scripted ``Runner`` for the fast tier: reconcile and deletion run against it without root.

``FakeRunner`` answers each command by the first rule whose pattern matches its node and argv
(rules added later win) and records what it was sent. ``FakeCluster`` is the default answer: a
pure model of the nodes (their ``NodeFacts``) that renders the facts probe's output from them
(``probe_stdout``, the inverse of the probe's parsers) and changes them the way the operator's
commands do on a node (``plan_factory.apply``, plus the group going offline with its stop marker
between stop and start).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from plan_factory import apply

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.errors import CommandFailed, OperatorError
from jobcenter_operator.facts import NodeFacts
from jobcenter_operator.facts.clusterpro import clp_conf_bytes as read_clp_conf_bytes
from jobcenter_operator.facts.gather import PARAMETERS, SECTIONS
from jobcenter_operator.facts.jobcenter import ClusterSite
from jobcenter_operator.facts.manager import OPTIONAL_UNITS
from jobcenter_operator.node import BatchItem, CommandResult, NodeAddress, SSHCredentials, Timeouts
from jobcenter_operator.paths import LOCAL_DAEMON_CONF, NQSSTART, NQSSTOP, SCRIPTS_ROOT, SYSTEMCTL
from jobcenter_operator.plan.commands import GUARD_CONCURRENT_EDIT, sha256_text, unbounded
from jobcenter_operator.plan.model import Action, Command
from jobcenter_operator.reconcile import ClusterAccess
from jobcenter_operator.xml_spans import encode_document

PROBE = "jcop-facts"


# ------------------------------------------------------------------------------ facts -> probe stdout


def _section(rc: int, stdout: str = "") -> tuple[str, int]:
    return stdout, rc


def _b64(text: str, encoding: str) -> str:
    """The probe reads clp.conf with base64 (its bytes, in its declared charset)."""
    return base64.encodebytes(encode_document(text, encoding)).decode()


def _clpstat(f: NodeFacts) -> tuple[str, int]:
    c = f.cluster
    if not c.running:
        return _section(1, "Could not connect to the server.")
    lines = [" ========================  CLUSTER STATUS  ===========================",
             f"  Cluster : {c.cluster_name}", "  <server>"]
    for name, state in c.servers.items():
        shown = "Suspend" if c.suspended and state == "Online" else state
        lines.append(f"   {'*' if name == c.local_server else ' '}{name} ....: {shown}")
    lines.append("  <group>")
    for g in c.groups.values():
        lines += [f"    {g.name} ....: {g.state}", f"      current        : {g.current or 'None'}"]
    lines.append("  <monitor>")
    lines += [f"    {name} : {state}" for name, state in c.monitors.items()]
    return _section(0, "\n".join(lines) + "\n")


def _clp_conf(f: NodeFacts, known_sha256: str) -> tuple[str, int]:
    """As the probe's section: the file in base64, or only its digest while it is ``known_sha256``."""
    if not f.clp_conf.present:
        return _section(1)
    data = encode_document(f.clp_conf.text, f.clp_conf.encoding)
    digest = hashlib.sha256(data).hexdigest()
    if known_sha256 and known_sha256 == digest:
        return _section(0, f"unchanged {digest}\n")
    return _section(0, base64.encodebytes(data).decode())


def _sections(f: NodeFacts, *, backup: bool, known_clp_conf: str = "") -> dict[str, tuple[str, int]]:
    jc, site, res, agent = f.jobcenter, f.site, f.resolution, f.agent
    version = "".join(f"{k}={v}\n" for k, v in (("VERSION", jc.version), ("MODE", jc.mode)) if v)
    rows = "".join(f"{r.instance_id}  {r.name}  {r.agent_name or '-'}  {str(r.active).lower()}  "
                   f"{str(r.enable).lower()}\n" for r in agent.instances)
    return {
        "jc_install": _section(0, version) if jc.installed else _section(3),
        "daemon_conf": _section(0, f.daemon_conf.text) if f.daemon_conf.present else _section(1),
        "site_conf": _section(0, f"site_name={site.virtual_host}\nmachine_id={site.machine_id}\n")
        if site.present else _section(4),
        "ps": _section(0, "".join(f"{p.pid} {p.ppid} {p.args}\n" for p in f.processes.processes)),
        "site_cwd": _section(0, "".join(f"{pid}\n" for pid in sorted(f.processes.in_database))),
        "clpstat": _clpstat(f),
        "clpgrp": _section(0, f"{f.group_node}\n") if f.group_node else _section(1),
        "clp_conf": _clp_conf(f, known_clp_conf),
        "backup_conf": _section(3) if not backup else _section(0, _b64(f.backup_clp_conf, f.clp_conf.encoding))
        if f.backup_clp_conf else _section(1),
        "stop_marker": _section(0, f"{f.stopped_by_operator}\n") if f.stopped_by_operator else _section(1),
        "suspend_marker": _section(0, f"{f.suspended_by_operator}\n") if f.suspended_by_operator
        else _section(1),
        "script_hashes": _section(0, "".join(f"{h}  {SCRIPTS_ROOT}/{p}\n" for p, h in f.script_hashes.items())
                                  + "".join(f"managed  {SCRIPTS_ROOT}/{p}\n" for p in sorted(f.managed_scripts))),
        "manager_services": _section(0, "".join(f"unit {u} {'enabled' if u in f.manager.units else ''}\n"
                                                for u in OPTIONAL_UNITS)
                                        + ("pending\n" if f.manager.restart_pending else "")),
        "ip_addr": _section(0, "".join(f"2: eth0    inet {a}/24 scope global\n" for a in sorted(f.addresses))),
        "mounts": _section(0, "".join(f"{i} 1 0:{i} / {m} rw - ext4 /dev/x rw\n"
                                      for i, m in enumerate(sorted(f.mounts)))),
        "resolve_forward": _section(0, "".join(f"{a} STREAM {res.canonical}\n" for a in res.forward))
        if res.forward else _section(2),
        "resolve_reverse": _section(0, f"{res.forward[0] if res.forward else '10.0.0.1'} {res.reverse}\n")
        if res.reverse else _section(2),
        "jcagctrl": _section(0, "Instance ID  Name  Agent Name  Active  Enable\n" + rows)
        if agent.installed else _section(3),
        "agent_unit": _section(0, f"{agent.unit_active}\n{agent.unit_enabled}\n") if agent.unit_active
        else _section(3),
    }


def probe_stdout(facts: NodeFacts, nonce: str, *, backup: bool = False, known_clp_conf: str = "") -> str:
    """What the facts probe prints on a node in the state ``facts`` describes (``backup``: the probe
    was asked for the pre-operator clp.conf; ``known_clp_conf``: the digest it was given)."""
    sections = _sections(facts, backup=backup, known_clp_conf=known_clp_conf)
    assert set(sections) == {s.name for s in SECTIONS}, "a section the fake cannot answer"
    return "".join(f"@@JCOP {nonce} BEGIN {s.name}@@\n{sections[s.name][0]}\n"
                   f"@@JCOP {nonce} END {s.name} {sections[s.name][1]}@@\n" for s in SECTIONS)


# ------------------------------------------------------------------------------ the runner


@dataclass(frozen=True)
class Sent:
    node: str
    argv: tuple[str, ...]  # the action's own argv (an executor's ``commands.bounded`` wrapper taken off)
    input: str | None
    raw: tuple[str, ...] = ()  # what was really sent
    trip: int = 0  # the round trip it went in (several commands of one batch share theirs)

    @property
    def is_probe(self) -> bool:
        return len(self.argv) > 3 and self.argv[3] == PROBE

    @property
    def step(self) -> str:
        """The step a command is: an sh wrapper's $0 (stopgroup, apply...), else the program."""
        return self.argv[3] if self.argv[:2] == ("sh", "-c") and len(self.argv) > 3 else self.argv[0]


Answer = CommandResult | OperatorError
Responder = Callable[[Sent], Answer]
Pattern = Callable[[Sent], bool]


def result(sent: Sent, exit_status: int = 0, stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(node=sent.node, argv=sent.argv, exit_status=exit_status, stdout=stdout, stderr=stderr,
                         duration=0.0)


def step_is(name: str, node: str | None = None) -> Pattern:
    return lambda s: s.step == name and (node is None or s.node == node)


def probe_on(node: str) -> Pattern:
    return lambda s: s.is_probe and s.node == node


@dataclass
class FakeRunner:
    """A ``reconcile.Runner``: the first matching rule answers; ``sent`` records every command."""

    default: Responder
    rules: list[tuple[Pattern, Responder]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    trips: int = 0  # round trips: a batch of commands is one

    def on(self, pattern: Pattern, answer: Responder) -> None:
        self.rules.insert(0, (pattern, answer))

    def fail(self, pattern: Pattern, stderr: str = "refused") -> None:
        self.on(pattern, lambda s: result(s, 1, stderr=stderr))

    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: tuple[str, ...] | list[str],
                  *, input: str | None = None, check: bool = True, timeout: float | None = None) -> CommandResult:  # noqa: ASYNC109
        self.trips += 1
        answer = self._answer(node, tuple(argv), input)
        if isinstance(answer, OperatorError):
            raise answer
        if check and answer.exit_status != 0:
            raise CommandFailed(node.name, unbounded(tuple(argv))[0], answer.exit_status, answer.stderr)
        return answer

    async def run_batch(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, items: Sequence[BatchItem],
                        *, timeout: float | None = None) -> list[CommandResult | OperatorError]:  # noqa: ASYNC109
        """As the node's batch script: each in turn, up to the first that exits non-zero. An error
        answer (the node unreachable...) is the round trip's."""
        self.trips += 1
        results: list[CommandResult | OperatorError] = []
        for item in items:
            answer = self._answer(node, item.argv, item.input)
            if isinstance(answer, OperatorError):
                raise answer
            if answer.exit_status != 0:
                results.append(CommandFailed(node.name, unbounded(item.argv)[0], answer.exit_status, answer.stderr))
                break
            results.append(answer)
        return results

    def _answer(self, node: NodeAddress, argv: tuple[str, ...], input: str | None) -> Answer:
        sent = Sent(node.name, unbounded(argv), input, raw=argv, trip=self.trips)
        self.sent.append(sent)
        respond = next((r for p, r in self.rules if p(sent)), self.default)
        return respond(sent)

    def actions(self) -> list[Sent]:
        """Everything sent that is not the facts probe."""
        return [s for s in self.sent if not s.is_probe]


# ------------------------------------------------------------------------------ the nodes


_STEPS = {"stopgroup": "StopGroup", "startgroup": "StartGroup", "cjcmksite": "CreateSite",
          "apply": "ApplyClusterConfig", "restore": "RestoreClusterConfig", "suspendcluster": "SuspendCluster",
          "resumecluster": "ResumeCluster",
          "restartmanager": "RestartManagerServices", "marksuspend": "MarkSuspended",
          "clearsuspend": "ClearSuspendMarker",
          "markstop": "MarkGroupStopped", "clearmark": "ClearStopMarker"}


def kind_of(sent: Sent) -> str | None:
    """The action kind a command carries out, read from its argv as a node would."""
    if sent.step in _STEPS:
        return _STEPS[sent.step]
    if sent.argv[:2] == ("sh", "-c") and LOCAL_DAEMON_CONF in sent.argv[4:]:
        return "SetLocalDaemon"
    if sent.argv == (NQSSTOP,):
        return "StopLocalSite"
    if sent.argv == (NQSSTART,):
        return "StartLocalSite"
    if sent.argv[:2] == (SYSTEMCTL, "disable"):
        return "DisableAgentUnit"
    return None


@dataclass
class FakeCluster:
    """The nodes as NodeFacts, changed by the commands sent to them."""

    spec: JobCenterSiteSpec
    facts: dict[str, NodeFacts]
    backup_scripts: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> script hashes backed up
    backup_managed: dict[str, frozenset[str]] = field(default_factory=dict)  # node -> which of them are ours
    disk_site: ClusterSite | None = None  # the site on the switched disk, once there is one

    def __call__(self, sent: Sent) -> Answer:
        if sent.is_probe:
            asked = dict(zip(PARAMETERS, sent.argv[5:], strict=True))
            return result(sent, stdout=probe_stdout(self.facts[sent.node], sent.argv[4], backup=bool(asked["backup"]),
                                                    known_clp_conf=asked["clp_sha"]))
        kind = kind_of(sent)
        if kind is None:
            return result(sent, 127, stderr=f"{sent.argv[0]}: not found")
        if kind in ("ApplyClusterConfig", "RestoreClusterConfig") and \
                sent.argv[5] != sha256_text(self.facts[sent.node].clp_conf.text):
            # The push script's guard: the pulled clp.conf is not the one the plan was made from.
            return result(sent, GUARD_CONCURRENT_EDIT, stderr="ConcurrentEdit: clp.conf changed since the plan")
        if any(f.cluster.suspended for f in self.facts.values()):
            # As CLUSTERPRO (and the test bed) answer while the cluster is suspended.
            if kind == "SuspendCluster":
                return result(sent, 1, stderr="The cluster is already suspended.")
            if kind in ("StartGroup", "StopGroup"):
                return result(sent, 1, stderr="The cluster is suspended. Resume the cluster (clpcl --resume) first.")
        getattr(self, f"_{kind}", self._apply)(sent, kind)
        return result(sent)

    def _apply(self, sent: Sent, kind: str) -> None:
        action = Action.model_validate({"kind": kind, "node": sent.node, "reason": "Sent", "message": "",
                                        "command": Command(argv=sent.argv, input=sent.input)})
        self.facts = apply(self.spec, self.facts, (action,))

    def _group_online_on(self, node: str | None) -> None:
        """The group (with its floating IP and disk) online on ``node`` only; None: offline."""
        group, fip, disk = self.spec.failover_group, self.spec.floating_ip, self.spec.database_path
        # The site lives on the switched disk: it is seen where the disk is mounted.
        self.disk_site = next((f.site for f in self.facts.values() if f.site.present), self.disk_site)
        site = self.disk_site
        for name, f in self.facts.items():
            groups = {**f.cluster.groups, group: f.cluster.groups[group].model_copy(
                update={"current": node, "state": "Online" if node else "Offline"})}
            here = name == node
            addresses = (f.addresses | {fip}) if here and fip else f.addresses - {fip}
            mounts = (f.mounts | {disk}) if here else f.mounts - {disk}
            self.facts[name] = f.model_copy(update={
                "group_node": node, "cluster": f.cluster.model_copy(update={"groups": groups}),
                "addresses": addresses, "mounts": mounts,
                **({"site": site if here else ClusterSite(present=False)} if site is not None else {})})

    def _StopGroup(self, sent: Sent, kind: str) -> None:
        """Offline, with the operator's stop marker (naming this node) left on this node."""
        self._apply(sent, kind)
        self._group_online_on(None)
        self.facts[sent.node] = self.facts[sent.node].model_copy(update={"stopped_by_operator": sent.node})

    def _ApplyClusterConfig(self, sent: Sent, kind: str) -> None:
        """The first push keeps a backup of the configuration as it was, on the pushing node."""
        before = self.facts[sent.node]
        self._apply(sent, kind)
        if before.backup_clp_conf is None:
            self.facts[sent.node] = self.facts[sent.node].model_copy(update={"backup_clp_conf": before.clp_conf.text})
            self.backup_scripts[sent.node] = dict(before.script_hashes)
            self.backup_managed[sent.node] = before.managed_scripts

    def _RestoreClusterConfig(self, sent: Sent, kind: str) -> None:
        """clp.conf from stdin and the scripts from the backup, on every node."""
        assert sent.input is not None
        backup = self.backup_scripts.get(sent.node, {})
        managed = self.backup_managed.get(sent.node, frozenset())
        for name, f in self.facts.items():
            self.facts[name] = f.model_copy(update={"clp_conf": read_clp_conf_bytes(base64.b64decode(sent.input)),
                                                    "script_hashes": dict(backup), "managed_scripts": managed})

    def _StartGroup(self, sent: Sent, kind: str) -> None:
        """Online on this node, this node's marker removed (the start script's own clean-up)."""
        self._apply(sent, kind)
        self._group_online_on(sent.node)
        self.facts[sent.node] = self.facts[sent.node].model_copy(update={"stopped_by_operator": None})

    def _MarkGroupStopped(self, sent: Sent, kind: str) -> None:
        self.facts[sent.node] = self.facts[sent.node].model_copy(update={"stopped_by_operator": sent.argv[5]})

    def _ClearStopMarker(self, sent: Sent, kind: str) -> None:
        self.facts[sent.node] = self.facts[sent.node].model_copy(update={"stopped_by_operator": None})


def fake_runner(spec: JobCenterSiteSpec, facts: dict[str, NodeFacts]) -> tuple[FakeRunner, FakeCluster]:
    nodes = FakeCluster(spec=spec, facts=dict(facts))
    return FakeRunner(default=nodes), nodes


def access(nodes: tuple[str, ...]) -> ClusterAccess:
    return ClusterAccess(nodes=tuple(NodeAddress(name=n, host=f"{n}.test") for n in nodes),
                         creds=SSHCredentials(user="root", password="unused"),  # noqa: S106
                         timeouts=Timeouts())
