"""kopf wiring: registration, settings, error mapping, Events. The only module that imports kopf.

Every trigger of a JobCenterSite (create, spec update, the requested-at annotation, resume, the
drift timer) calls one level-based ``_reconcile_site``; the same for ClusterproCluster. The
handlers only wire: what to do before the nodes (claims, the cluster and its Secret, a stalled
site's skip, enforce) is decided in resolve.py, each object's memory lives in memory.py, the run
in reconcile.py / unconfigure.py and the status in status.py. This module translates:

- domain errors -> kopf, in ``to_kopf`` alone: transient -> ``TemporaryError`` after the object's
  capped exponential backoff with jitter; permanent -> ``PermanentError`` with ``Stalled=True``;
  a stalled site is tried again only when its generation or its credentials Secret changes (the
  timer checks, cheaply);
- results -> a status patch, written only when it differs, and the Events events.py picks
  (kopf >= 1.41 posts no Events from logs), reported by component ``jobcenter-operator``;
- a run's progress -> before each round trip of steps a status write made at once (kopf's own
  ``patch`` lands only when the handler returns), and Events when a disruptive step starts and ends;
- ClusterproClusters and credential Secrets come from kopf indexes, so the operator needs no
  Kubernetes client of its own and notices rotated Secrets on the next timer tick (the one
  exception: with JCOP_SHARDS, coordination.py's shard Leases; ``_sharded`` gates each run on them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import functools
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from pydantic import ValidationError

from . import events as ev
from . import status as st
from .api import GROUP, VERSION, ClusterproClusterSpec, JobCenterSiteSpec
from .audit import AuditLog
from .coordination import CoordinationConfig, Coordinator, KubeLeases
from .errors import OperatorError
from .facts import is_probe_argv
from .memory import ObjectMemory, OperatorMemory
from .metrics import Metrics, result_of
from .node import CommandLimit, Limited, NodePool
from .outcome import ClusterResult, SiteResult, run_error
from .plan import Action
from .plan.disruption import Gate, decide
from .progress import StepProgress
from .reconcile import ClusterAccess, OnProgress, Runner, node_key, observe_cluster, probe_target, reconcile_site
from .resolve import (
    ClusterEntry,
    SecretEntry,
    SiteDecision,
    decide_deletion,
    decide_site,
    is_credentials_secret,
    observation_access,
)
from .shared_facts import SharedFacts
from .unconfigure import unconfigure_site

FINALIZER = f"{GROUP}/finalizer"
# kopf's own bookkeeping (progress, diff base) in annotations under a prefix of its own: kopf leaves
# every annotation under its storage prefix out of the diffs it reacts to, which would hide our
# requested-at annotation if both shared jobcenter.clusterpro.io/.
KOPF_PREFIX = f"kopf.{GROUP}"
REQUEST_ANNOTATION = f"{GROUP}/requested-at"
# Disruption control (plan/disruption.py): a person approves the pending disruptive steps by their
# hash, or forces them once (a hash or "once"). Both are removed once used.
APPROVE_ANNOTATION = f"{GROUP}/approve-plan"
OVERRIDE_ANNOTATION = f"{GROUP}/override-disruption"
SITES = "jobcentersites"
CLUSTERS = "clusterproclusters"
# Drift checks: how often the nodes are re-read (seconds). Tests and the demo shorten it.
TIMER_INTERVAL = float(os.environ.get("JCOP_TIMER_INTERVAL", "300"))
# A drift check takes a node's facts read by another run (the cluster's, a site's) when they are
# younger than this fraction of the interval: one read per node per interval, whatever the timers' jitter.
SHARED_FACTS_AGE = 0.9
SETTLE_TIMEOUT = float(os.environ.get("JCOP_SETTLE_TIMEOUT", "120"))
BACKOFF_CAP = float(os.environ.get("JCOP_BACKOFF_CAP", "300"))
# Commands in flight on all nodes at once (connects included); new and changed objects' go first.
MAX_COMMANDS = int(os.environ.get("JCOP_MAX_COMMANDS", "32"))
# With shards (JCOP_SHARDS): how often each object checks whether this replica just gained its shard.
SHARD_CHECK_INTERVAL = float(os.environ.get("JCOP_SHARD_CHECK_INTERVAL", "5"))
SECRET_KEYS = ("ssh-privatekey", "known_hosts", "password", "passphrase")
REPORTING_COMPONENT = "jobcenter-operator"
KINDS = {SITES: "JobCenterSite", CLUSTERS: "ClusterproCluster"}

log = logging.getLogger("jobcenter_operator.handlers")


# --------------------------------------------------------------------------- kopf's diff base

# The metadata a diff base is built from (kopf's essence keeps labels and annotations; it reads
# ownerReferences to name its keys): the rest of the metadata and the status never reach it.
_ESSENCE_METADATA = ("labels", "annotations", "ownerReferences")


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base with the same essence, built without copying what it drops.

    kopf builds the essence of every watch event it gets (each status write comes back as one) by
    deep-copying the whole body, status and metadata included, and then deleting both. This hands
    it the body without the status and with only the metadata the essence is made of, so the copy
    is of the spec, labels and annotations alone. A handler watching a status or other metadata
    field (none here) gets kopf's own build. tests/unit/test_handlers_kopf_storage.py compares the
    two on the operator's handlers and bodies.
    """

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> Any:
        fields = list(extra_fields or ())
        if any(_outside_lean_body(field) for field in fields):
            return super().build(body=body, extra_fields=fields)
        lean = {key: value for key, value in body.items() if key not in ("status", "metadata")}
        meta = body.get("metadata") or {}
        lean["metadata"] = {key: meta[key] for key in _ESSENCE_METADATA if key in meta}
        return super().build(body=kopf.Body(cast(kopf.RawBody, lean)), extra_fields=fields)


def _outside_lean_body(field: Any) -> bool:
    path = tuple(field.split(".")) if isinstance(field, str) else tuple(field)
    if not path:
        return False
    return path[0] == "status" or (path[0] == "metadata" and (len(path) < 2 or path[1] not in _ESSENCE_METADATA))


# --------------------------------------------------------------------------- startup / login


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    _start_shards(memo)
    logging.getLogger("kopf.objects").addFilter(_quiet_timers)
    # Sharded replicas keep kopf's bookkeeping apart (one prefix per replica): a replica that skips
    # an object not in its shards must not mark the change handled for the replica that owns it.
    prefix = f"{memo.shards.config.identity}.{KOPF_PREFIX}" if memo.shards else KOPF_PREFIX
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(prefix=prefix, key="last-handled-configuration")
    settings.posting.level = logging.INFO
    # Events say who wrote them (kubectl's "From" column, reportingComponent), not "kopf".
    settings.posting.reporting_component = REPORTING_COMPONENT
    settings.posting.reporting_instance = os.environ.get("POD_NAME") or socket.gethostname()
    settings.posting.event_name_prefix = f"{REPORTING_COMPONENT}-"
    memo.settings = settings  # the progress writes below use kopf's API client and settings
    settings.networking.error_backoffs = [1, 2, 5, 10]
    if "pool" not in memo:  # a test may bring its own Runner
        memo.audit = AuditLog.from_env(os.environ, memo.shards.config.identity if memo.shards else None)
        # The facts probe of every drift check goes to each connection's resident shell (node.pool._Shell).
        memo.pool = NodePool(observer=memo.audit.observer(_ACTING_ON.get) if memo.audit else None,
                             resident=is_probe_argv)
    memo.metrics = Metrics()
    memo.metrics.watch_connections(memo.pool.stats)
    # every command sent to a node waits for one of MAX_COMMANDS slots, then is timed and counted
    memo.runner = memo.metrics.metered(Limited(memo.pool, CommandLimit(MAX_COMMANDS)))
    if memo.get("metrics_port"):
        memo.metrics.serve(memo.metrics_port, memo.get("metrics_address") or "0.0.0.0")  # noqa: S104
    memo.objects = OperatorMemory()
    # One facts read per node per drift interval for the cluster and its sites (shared_facts.py).
    memo.facts = SharedFacts(max_age=SHARED_FACTS_AGE * TIMER_INTERVAL)
    if "stopping" not in memo:  # run_operator brings the one its signal handler sets
        memo.stopping = asyncio.Event()


@kopf.on.cleanup()
async def close_pool(memo: kopf.Memo, **_: Any) -> None:
    # kopf gives up on timers at exit and runs this meanwhile: let their runs reach their safe
    # point first (workers are awaited by kopf itself). The pod's grace period bounds the wait.
    await memo.objects.runs_ended()
    await _stop_shards(memo)
    await memo.pool.close()
    if memo.get("audit"):
        memo.audit.close()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # Explicit: the kubernetes library reads KUBECONFIG only when imported, so kopf's implicit
    # client-based login would miss a KUBECONFIG set later (tests, the demo).
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(
        **kwargs
    )
    return info


@kopf.on.probe(id="ssh")
def ssh_stats(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    stats: dict[str, int] = memo.pool.stats()
    return stats


# --------------------------------------------------------------------------- indexes
# kopf calls every index function of a kind on every watch event of it (each status write comes
# back as one). They are coroutines, though they never await: kopf runs a plain function in its
# thread pool (a thread hop and a shielded task per call), a coroutine inline.


@kopf.index(GROUP, VERSION, CLUSTERS)
async def cluster_by_name(**kwargs: Any) -> dict[tuple[str, str], ClusterEntry]:
    namespace, name = kwargs["namespace"], kwargs["name"]
    return {(namespace, name): ClusterEntry(dict(kwargs["spec"]), _recorded_host_keys(kwargs.get("status")),
                                            scope=f"{namespace}/{name}")}


@kopf.index("", "v1", "secrets", when=lambda body, **_: is_credentials_secret(body))
async def secret_by_name(**kwargs: Any) -> dict[tuple[str, str], SecretEntry]:
    body = kwargs["body"]
    data = {k: base64.b64decode(v) for k, v in (body.get("data") or {}).items() if k in SECRET_KEYS}
    return {(kwargs["namespace"], kwargs["name"]): SecretEntry(data, body.get("metadata", {}).get("resourceVersion"))}


@kopf.index(GROUP, VERSION, SITES)
async def site_by_group(**kwargs: Any) -> dict[Any, tuple[str, str]]:
    spec, meta = kwargs["spec"], kwargs["meta"]
    key = (kwargs["namespace"], (spec.get("clusterRef") or {}).get("name"), spec.get("failoverGroup"))
    return {key: (meta.get("creationTimestamp") or "", kwargs["name"])}


@kopf.index(GROUP, VERSION, CLUSTERS)
async def cluster_labels(**kwargs: Any) -> dict[tuple[str, str], dict[str, str]]:
    return {(kwargs["namespace"], kwargs["name"]): dict(kwargs["labels"])}  # the shard pin label is here


def _one(index: kopf.Index[Any, Any], key: Any) -> Any | None:
    return next(iter(index.get(key) or ()), None)


def _recorded_host_keys(status: Mapping[str, Any] | None) -> dict[str, str]:
    """The fingerprints a ClusterproCluster's status recorded, by node."""
    nodes = (status or {}).get("nodes") or []
    return {n["name"]: n["hostKeyFingerprint"] for n in nodes if n.get("hostKeyFingerprint")}


# --------------------------------------------------------------------------- shards (issue 16)
# With JCOP_SHARDS set, several replicas share the objects: each object's shard is its cluster's
# (shard.py), and a replica acts only on the shards whose Lease it holds (coordination.py).


def _start_shards(memo: kopf.Memo) -> None:
    if not hasattr(memo, "shards"):  # a test may bring its own Coordinator
        config = CoordinationConfig.from_env(os.environ)
        memo.shards = Coordinator(config, KubeLeases()) if config else None
    if memo.shards is not None:
        memo.shards_loop = asyncio.create_task(memo.shards.run(), name="shard leases")
        log.info("replica %s: %d shards, Leases in %s", memo.shards.config.identity, memo.shards.config.shards,
                 memo.shards.config.namespace)


# kopf logs "Timer '<id>' succeeded." at INFO each time a timer returns: for these, every object
# every interval (the shard checks every few seconds). A drift check that found nothing to change
# leaves no trace (no status write, no Event, no log line); what it found goes to status and Events.
_QUIET_TIMERS = frozenset(f"Timer '{name}' succeeded." for name in (
    "site_drift", "cluster_drift", "site_shard_gained", "cluster_shard_gained"))


def _quiet_timers(record: logging.LogRecord) -> bool:
    """Drop kopf's "Timer ... succeeded" lines of the drift and shard-check timers (a failure still logs)."""
    return not (record.levelno == logging.INFO and record.msg in _QUIET_TIMERS)


async def _stop_shards(memo: kopf.Memo) -> None:
    """Hand the shards over now rather than after the lease duration (a rolling update)."""
    if getattr(memo, "shards", None) is None:
        return
    memo.shards_loop.cancel()
    await asyncio.gather(memo.shards_loop, return_exceptions=True)
    await memo.shards.stop()


# The cluster ("namespace/name") the running handler acts for: the audit log names it.
_ACTING_ON: contextvars.ContextVar[str | None] = contextvars.ContextVar("jcop_acting_on", default=None)


def _cluster_of(kw: Mapping[str, Any], kind: str) -> str:
    return str(kw["meta"]["name"] if kind == CLUSTERS else (kw["spec"].get("clusterRef") or {}).get("name") or "")


def _shard_of(kw: Mapping[str, Any], kind: str) -> int:
    meta, coordinator, cluster = kw["meta"], kw["memo"].shards, _cluster_of(kw, kind)
    labels = _one(kw["cluster_labels"], (meta["namespace"], cluster))
    shard: int = coordinator.shard_of(meta["namespace"], cluster, labels)
    return shard


Handler = Callable[..., Awaitable[Any]]  # a site's run returns its result label (metrics)


def _sharded(kind: str, *, defer: bool = False) -> Callable[[Handler], Handler]:
    """Run the handler only on the replica holding the object's shard, and keep that shard from being
    handed over while it runs. Elsewhere it returns at once (a deletion is retried instead, so this
    replica's finalizer bookkeeping does not count the site as unconfigured)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(*args: Any, **kwargs: Any) -> Any:
            kw = args[0] if args else kwargs
            meta, coordinator = kw["meta"], getattr(kw["memo"], "shards", None)
            token = _ACTING_ON.set(f"{meta['namespace']}/{_cluster_of(kw, kind)}")
            try:
                if coordinator is None:
                    return await handler(*args, **kwargs)
                shard = _shard_of(kw, kind)
                async with coordinator.acting(shard, key=(kind, meta["namespace"], meta["name"])) as may:
                    if may:
                        return await handler(*args, **kwargs)
                if defer:
                    raise kopf.TemporaryError(f"shard {shard} is another replica's",
                                              delay=coordinator.config.lease_duration)
                return None
            finally:
                _ACTING_ON.reset(token)

        return run

    return wrap


def _sharding(memo: kopf.Memo, **_: Any) -> bool:
    return getattr(memo, "shards", None) is not None


def _behind(kw: Mapping[str, Any], kind: str) -> bool:
    meta = kw["meta"]
    return bool(kw["memo"].shards.behind((kind, meta["namespace"], meta["name"]), _shard_of(kw, kind)))


@kopf.timer(GROUP, VERSION, SITES, interval=SHARD_CHECK_INTERVAL, when=_sharding)
async def site_shard_gained(**kwargs: Any) -> None:
    """A replica that just gained the site's shard reconciles it now, not at the next drift check."""
    if _behind(kwargs, SITES):
        await _reconcile_site(kwargs, drift_check=True)


@kopf.timer(GROUP, VERSION, CLUSTERS, interval=SHARD_CHECK_INTERVAL, when=_sharding)
async def cluster_shard_gained(**kwargs: Any) -> None:
    if _behind(kwargs, CLUSTERS):
        await cast(Handler, cluster_observed)(**kwargs)  # kopf's decorators are typed as returning object


# --------------------------------------------------------------------------- helpers


def to_kopf(error: OperatorError, memory: ObjectMemory) -> kopf.TemporaryError | kopf.PermanentError:
    """The one mapping of domain errors onto kopf: transient -> retried after the object's backoff."""
    if error.transient:
        return kopf.TemporaryError(f"{error.reason}: {error.message}", delay=memory.retry_delay(BACKOFF_CAP))
    return kopf.PermanentError(f"{error.reason}: {error.message}")


def _settle(error: OperatorError | None, memory: ObjectMemory, stall_key: Any, *, timer: bool) -> None:
    """Remember how the run ended; raise it to kopf (a timer never raises a permanent error: that
    would end the timer for good, and the status already says Stalled)."""
    if error is None:
        memory.succeeded()
        return
    if not error.transient:
        memory.stalled_on = stall_key
        if timer:
            return
    raise to_kopf(error, memory)


def _write_status(kw: Mapping[str, Any], memory: ObjectMemory, old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """Patch ``new`` in if it differs from the known status; post one Event per condition flip."""
    _metrics(kw).record_status(_kind(kw), kw["meta"]["namespace"], kw["meta"]["name"], new)
    if not st.differs(dict(old), new):
        return
    for name in set(kw["status"] or {}) | set(old):
        if name not in new:
            kw["patch"].status[name] = None  # merge-patch null removes the field
    for name, value in new.items():
        kw["patch"].status[name] = value
    memory.written = new
    _post_transitions(kw["body"], old, new)


def _post_transitions(body: kopf.Body, old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """The Events the change is worth (events.py decides: one per meaningful transition)."""
    _post(body, ev.transition_events(old, new))


def _post(body: kopf.Body, events: list[ev.Event]) -> None:
    for event in events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


async def _patch_status_now(kw: Mapping[str, Any], old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """Merge-patch the status at once, mid-handler. kopf's ``patch`` is applied only after the
    handler returns, so a build of minutes would show nothing; kopf's own API client (internal
    module, kopf is pinned) is used so that the operator's login stays the only one. Its plain
    request, not ``patching.patch_obj``, which deep-copies the whole patched object afterwards to
    diff it against callable transformations a status merge-patch never has."""
    from kopf._cogs.clients import api

    resource, meta = kw["resource"], kw["meta"]
    sub = "status" if "status" in resource.subresources else None
    url = resource.get_url(namespace=meta["namespace"], name=meta["name"], subresource=sub)
    await api.patch(url=url, headers={"Content-Type": "application/merge-patch+json"},
                    payload={"status": {**dict.fromkeys(set(old) - set(new)), **new}},
                    settings=kw["memo"].settings, logger=kw["logger"])


def _progress_reporter(kw: Mapping[str, Any], site: JobCenterSiteSpec, memory: ObjectMemory,
                       generation: int | None) -> OnProgress:
    """Before each round trip: the status says which step (the one shown: at most one write per round
    trip, none when nothing changed, none when the step shown is one of the operator's markers:
    progress.BOOKKEEPING); a disruptive step also gets an Event when it starts and when it ends."""

    async def report(progress: StepProgress, result: SiteResult) -> None:
        _post(kw["body"], ev.step_events(progress))
        if progress.report is not None or not progress.shown or progress.bookkeeping:
            return
        old = memory.known_status(kw["status"])
        new = st.site_status(spec=site, generation=generation, previous=old, result=result, progress=progress)
        if not st.differs(old, new):
            return
        try:
            await _patch_status_now(kw, old, new)
        except Exception as exc:  # progress is a courtesy: the run goes on, the final write still comes
            log.warning("progress of %s not written: %s", kw["meta"]["name"], exc)
            return
        memory.written = new
        _post_transitions(kw["body"], old, new)

    return report


def _pin_recorded_host_keys(pool: NodePool, access: ClusterAccess, recorded: Mapping[str, str]) -> None:
    """AcceptNew trusts a node's key once; the fingerprint recorded in the ClusterproCluster's status
    keeps that trust across operator restarts (a restarted operator must not accept a new key)."""
    if access.creds.host_key_policy != "AcceptNew":
        return
    for node in access.nodes:
        fp = recorded.get(node.name)
        if fp and pool.host_key_fingerprint(node) is None:  # per (cluster, host, port): a new address is pinned too
            pool.pin_host_key(node, fp)


def _kind(kw: Mapping[str, Any]) -> str:
    """The handled object's kind, for metric labels."""
    resource = kw.get("resource")
    plural = str(resource.plural) if resource is not None else SITES
    return KINDS.get(plural, plural)


def _withdraw_probe_target(kw: Mapping[str, Any], site: JobCenterSiteSpec) -> None:
    """A site that stops being checked (suspended, deleted): the cluster's probe no longer reads its paths."""
    shared = _shared_facts(kw)
    if shared is not None:
        shared.withdraw(probe_target(site))


def _shared_facts(kw: Mapping[str, Any]) -> SharedFacts | None:
    """The facts kept for drift checks (configure() made them; a test's memo may have none)."""
    shared: SharedFacts | None = getattr(kw["memo"], "facts", None)
    return shared


def _runner(kw: Mapping[str, Any]) -> Runner:
    """The metered pool configure() made (a test's memo may bring only its pool)."""
    runner: Runner = getattr(kw["memo"], "runner", None) or kw["memo"].pool
    return runner


_UNSERVED_METRICS = Metrics()  # for a memo without metrics (tests): counted, never served


def _metrics(kw: Mapping[str, Any]) -> Metrics:
    metrics: Metrics = getattr(kw["memo"], "metrics", None) or _UNSERVED_METRICS
    return metrics


def _memory(kw: Mapping[str, Any], kind: str) -> ObjectMemory:
    meta = kw["meta"]
    objects: OperatorMemory = kw["memo"].objects
    return objects.of(kind, meta["namespace"], meta["name"], meta.get("uid"))


def _valid_site(kw: Mapping[str, Any], *, drift_check: bool) -> JobCenterSiteSpec | None:
    try:
        return _memory(kw, SITES).validated(kw["spec"], JobCenterSiteSpec.model_validate)
    except ValidationError as exc:
        # Only reachable without admission (the CRD's schema/CEL refuse these manifests).
        if drift_check:
            return None  # already reported by the handler that saw the spec
        kopf.event(kw["body"], type="Warning", reason="InvalidSpec", message=str(exc)[:1000])
        raise kopf.PermanentError(f"InvalidSpec: {exc}") from exc


def _suspended(kw: Mapping[str, Any], memory: ObjectMemory, site: JobCenterSiteSpec) -> bool:
    """A suspended site is acknowledged once: observedGeneration follows, Reconciling says Suspended."""
    if site.suspend:
        _withdraw_probe_target(kw, site)
        old = memory.known_status(kw["status"])
        _write_status(kw, memory, old, st.suspended_status(old, kw["meta"].get("generation")))
        if not memory.suspended:
            kopf.event(kw["body"], type="Normal", reason="Suspended", message="reconciliation suspended (spec.suspend)")
    memory.suspended = site.suspend
    return site.suspend


def _cluster_entry(kw: Mapping[str, Any], site: JobCenterSiteSpec) -> ClusterEntry | None:
    return _one(kw["cluster_by_name"], (kw["meta"]["namespace"], site.cluster_ref.name))


def _secret_entry(kw: Mapping[str, Any], entry: ClusterEntry | None) -> SecretEntry | None:
    name = entry.secret_name() if entry is not None else None
    return _one(kw["secret_by_name"], (kw["meta"]["namespace"], name)) if name else None


def _decide(kw: Mapping[str, Any], site: JobCenterSiteSpec, memory: ObjectMemory, drift_check: bool) -> SiteDecision:
    entry = _cluster_entry(kw, site)
    claims = kw["site_by_group"].get((kw["meta"]["namespace"], site.cluster_ref.name, site.failover_group))
    return decide_site(name=kw["meta"]["name"], site=site, generation=kw["meta"].get("generation"),
                       claims=claims or [], cluster=entry, secret=_secret_entry(kw, entry),
                       stalled_on=memory.stalled_on, drift_check=drift_check)


async def _run(kw: Mapping[str, Any], site: JobCenterSiteSpec, decision: SiteDecision,
               memory: ObjectMemory, generation: int | None, *, drift_check: bool = False) -> SiteResult:
    pool, objects, namespace = kw["memo"].pool, kw["memo"].objects, kw["meta"]["namespace"]
    assert decision.access is not None
    _pin_recorded_host_keys(pool, decision.access, decision.host_keys)
    annotations = kw["meta"].get("annotations") or {}

    def gate(actions: Sequence[Action]) -> Gate:
        return decide(actions, decision.disruption, datetime.now(UTC), approved=annotations.get(APPROVE_ANNOTATION),
                      override=annotations.get(OVERRIDE_ANNOTATION))

    async with objects.cluster_lock(namespace, site.cluster_ref.name):
        result = await reconcile_site(_runner(kw), decision.access, site, enforce=decision.enforce,
                                      settle_timeout=SETTLE_TIMEOUT, gate=gate,
                                      progress=_progress_reporter(kw, site, memory, generation),
                                      stopping=getattr(kw["memo"], "stopping", None),  # set on SIGTERM
                                      shared=_shared_facts(kw), drift_check=drift_check)
    _disruption_annotations(kw, result, annotations)
    return result


def _disruption_annotations(kw: Mapping[str, Any], result: SiteResult, annotations: Mapping[str, str]) -> None:
    """Tell what became of an approval or override, and remove it once used (an override applies
    once; an approval is for one plan). A refused one is told once, in a Warning Event."""
    memory, body = _memory(kw, SITES), kw["body"]
    first = result.gates[0] if result.gates else None
    if result.used_override and first is not None:
        kopf.event(body, type="Warning", reason="DisruptionOverride",
                   message=f"{OVERRIDE_ANNOTATION}={annotations.get(OVERRIDE_ANNOTATION)} applied plan "
                   f"{first.plan_hash} outside the window/approval rules: {first.message}")
        kw["patch"].metadata.annotations[OVERRIDE_ANNOTATION] = None
    if result.used_approval and first is not None:
        kopf.event(body, type="Normal", reason="PlanApproved", message=f"approved plan {first.plan_hash} applied")
        kw["patch"].metadata.annotations[APPROVE_ANNOTATION] = None
    refused = next((g.refused for g in result.gates if g.refused), None)
    if refused is not None and refused != memory.refused:
        kopf.event(body, type="Warning", reason="ApprovalRefused", message=refused)
        if OVERRIDE_ANNOTATION in refused:
            kw["patch"].metadata.annotations[OVERRIDE_ANNOTATION] = None  # never kept for a later plan
    memory.refused = refused


# --------------------------------------------------------------------------- JobCenterSite


async def _measured(kw: Mapping[str, Any], run: Awaitable[str | None]) -> None:
    """Count and time one handler run by kind and result (``run`` returns its result label; None:
    another replica's shard, nothing was done)."""
    with _metrics(kw).reconciling(_kind(kw)) as record:
        try:
            record.result = await run or "skipped"
        except kopf.TemporaryError:
            record.result = "retry"
            raise
        except kopf.PermanentError:
            record.result = "stalled"
            raise


@_sharded(SITES)
async def _reconcile_site(kw: Mapping[str, Any], *, drift_check: bool = False, requested_at: str | None = None) -> str:
    # Before the run: kopf's body is a live view, and a spec change arriving meanwhile must not lend
    # its generation to a status computed from the spec this run saw.
    generation, annotations = kw["meta"].get("generation"), dict(kw["meta"].get("annotations") or {})
    memory, site = _memory(kw, SITES), _valid_site(kw, drift_check=drift_check)
    if site is None or _suspended(kw, memory, site):
        return "skipped"
    decision = _decide(kw, site, memory, drift_check)
    if decision.skip:
        return "skipped"
    result = (await _run(kw, site, decision, memory, generation, drift_check=drift_check)
              if decision.access is not None else None)
    if drift_check and result is not None:
        _metrics(kw).record_drift(_kind(kw), result)
    error = decision.error or (run_error(result) if result is not None else None)
    # After the run: another handler of this object (the timer) may have written meanwhile.
    old = memory.known_status(kw["status"])
    _write_status(kw, memory, old, st.site_status(
        spec=site, generation=generation, previous=old, result=result, error=decision.error,
        requested_at=annotations.get(REQUEST_ANNOTATION) if requested_at is None else requested_at))
    if decision.retry:
        _settle(error, memory, decision.stall_key, timer=drift_check)
    return result_of(error)


@kopf.on.create(GROUP, VERSION, SITES)
@kopf.on.update(GROUP, VERSION, SITES, field="spec")
@kopf.on.resume(GROUP, VERSION, SITES)
async def site_changed(**kwargs: Any) -> None:
    await _measured(kwargs, _reconcile_site(kwargs))


@kopf.on.update(GROUP, VERSION, SITES, field=("metadata", "annotations", REQUEST_ANNOTATION))
async def site_reconcile_requested(new: Any, **kwargs: Any) -> None:
    await _measured(kwargs, _reconcile_site(kwargs, requested_at=str(new) if new is not None else None))


@kopf.on.update(GROUP, VERSION, SITES, id="approve-plan", field=("metadata", "annotations", APPROVE_ANNOTATION))
@kopf.on.update(GROUP, VERSION, SITES, id="override-disruption",
                field=("metadata", "annotations", OVERRIDE_ANNOTATION))
async def site_disruption_annotated(new: Any, **kwargs: Any) -> None:
    if new is not None:  # set by a person; its removal (by this operator, once used) needs no run
        await _reconcile_site(kwargs)


@kopf.timer(GROUP, VERSION, SITES, interval=TIMER_INTERVAL, initial_delay=random.uniform(0, TIMER_INTERVAL / 4))  # noqa: S311
async def site_drift(**kwargs: Any) -> None:
    await _measured(kwargs, _reconcile_site(kwargs, drift_check=True))


@kopf.on.delete(GROUP, VERSION, SITES)
@_sharded(SITES, defer=True)
async def site_deleted(**kwargs: Any) -> None:
    meta, memory = kwargs["meta"], _memory(kwargs, SITES)
    with contextlib.suppress(ValidationError):
        _withdraw_probe_target(kwargs, JobCenterSiteSpec.model_validate(dict(kwargs["spec"])))
    site = _site_to_unconfigure(kwargs["spec"])
    if site is not None:
        entry = _cluster_entry(kwargs, site)
        claims = kwargs["site_by_group"].get((meta["namespace"], site.cluster_ref.name, site.failover_group))
        access = decide_deletion(site, entry, _secret_entry(kwargs, entry), name=meta["name"], claims=claims or [])
        if access is None:
            kopf.event(kwargs["body"], type="Normal", reason="NotOwner",
                       message=f"another JobCenterSite manages {site.failover_group}: nothing was unconfigured")
        else:
            error = access if isinstance(access, OperatorError) else await _unconfigure(kwargs, site, access, entry)
            if error is not None:
                raise to_kopf(error, memory)
            kopf.event(kwargs["body"], type="Normal", reason="Unconfigured",
                       message="exec scripts and monitor restored")
    kwargs["memo"].objects.forget(SITES, meta["namespace"], meta["name"])
    _metrics(kwargs).forget(_kind(kwargs), meta["namespace"], meta["name"])


def _site_to_unconfigure(spec: Mapping[str, Any]) -> JobCenterSiteSpec | None:
    """The site, when its deletion changes the nodes (deletionPolicy Unconfigure)."""
    try:
        site = JobCenterSiteSpec.model_validate(dict(spec))
    except ValidationError:
        return None  # never configured anything
    return site if site.deletion_policy == "Unconfigure" else None  # Retain: no command is sent


async def _unconfigure(kw: Mapping[str, Any], site: JobCenterSiteSpec, access: ClusterAccess,
                       entry: ClusterEntry | None) -> OperatorError | None:
    pool, objects = kw["memo"].pool, kw["memo"].objects
    _pin_recorded_host_keys(pool, access, entry.host_keys if entry else {})
    async with objects.cluster_lock(kw["meta"]["namespace"], site.cluster_ref.name):
        return (await unconfigure_site(_runner(kw), access, site, shared=_shared_facts(kw))).error


# --------------------------------------------------------------------------- ClusterproCluster


@kopf.on.create(GROUP, VERSION, CLUSTERS)
@kopf.on.update(GROUP, VERSION, CLUSTERS, field="spec")
@kopf.on.resume(GROUP, VERSION, CLUSTERS)
@_sharded(CLUSTERS)
async def cluster_observed(**kwargs: Any) -> None:
    await _measured(kwargs, _observe_cluster(kwargs))


@kopf.timer(GROUP, VERSION, CLUSTERS, interval=TIMER_INTERVAL, initial_delay=random.uniform(0, TIMER_INTERVAL / 4))  # noqa: S311
@_sharded(CLUSTERS)
async def cluster_drift(**kwargs: Any) -> None:
    await _measured(kwargs, _observe_cluster(kwargs, drift_check=True))


async def _observe_cluster(kwargs: Mapping[str, Any], *, drift_check: bool = False) -> str:
    meta, memory, pool = kwargs["meta"], _memory(kwargs, CLUSTERS), kwargs["memo"].pool
    generation = meta.get("generation")  # before the run (the body is a live view)
    try:
        spec = memory.validated(kwargs["spec"], ClusterproClusterSpec.model_validate)
    except ValidationError as exc:
        raise kopf.PermanentError(f"InvalidSpec: {exc}") from exc
    secret = _one(kwargs["secret_by_name"], (meta["namespace"], spec.ssh.credentials_secret_ref.name))
    access = observation_access(spec, secret, scope=f"{meta['namespace']}/{meta['name']}")
    recorded = _recorded_host_keys(memory.known_status(kwargs["status"]))
    shared = _shared_facts(kwargs)
    if drift_check and isinstance(access, ClusterAccess) and memory.observed is not None:
        unchanged = _Observation.of(pool, access, recorded, generation, shared, None)
        if unchanged is not None and unchanged.same(memory.observed):
            memory.succeeded()  # the status these exact inputs give is written already: nothing to do
            return result_of(None)
    memory.observed = None
    result = (await _observe(pool, _runner(kwargs), access, recorded, shared, drift_check)
              if isinstance(access, ClusterAccess) else None)
    error = access if isinstance(access, OperatorError) else result.gathered.first_error() if result else None
    old = memory.known_status(kwargs["status"])  # after the run: the latest write counts
    new = st.cluster_status(generation=generation, previous=old, result=result,
                            node_names=[n.name for n in spec.nodes], error=error)
    settled = not st.differs(dict(old), new)
    _write_status(kwargs, memory, old, new)
    if error is not None and error.transient:
        raise to_kopf(error, memory)
    if settled and error is None and isinstance(access, ClusterAccess) and result is not None:
        memory.observed = _Observation.of(pool, access, recorded, generation, None, result.gathered.facts)
    memory.succeeded()
    return result_of(error)


@dataclass(frozen=True)
class _Observation:
    """What a ClusterproCluster's status is computed from on a drift check (issue 15). Each of its
    sites' drift checks reads every node of the cluster, so the cluster's own timer, firing in the
    same interval, finds the nodes' facts in shared_facts; when they are the very objects its last
    status was computed from (shared_facts.parse hands out the same object for the same answer),
    with the same generation, access and host key fingerprints, that status (already written: it is
    recorded only when a computation left it unchanged) is what it would compute again, and the
    check ends there: no observation, no status computation, no write, no Event."""

    generation: int | None
    access: ClusterAccess
    facts: tuple[Any, ...]  # one NodeFacts per node, compared by identity
    fingerprints: tuple[str | None, ...]

    @staticmethod
    def of(pool: NodePool, access: ClusterAccess, recorded: Mapping[str, str], generation: int | None,
           shared: SharedFacts | None, read: Mapping[str, Any] | None) -> _Observation | None:
        """From what this check would take from ``shared`` (None when a node is not fresh there: it
        must be read), or from ``read`` (the facts the status was just computed from)."""
        facts = []
        now = time.monotonic()
        for node in access.nodes:
            got = (shared.fresh(node_key(access, node), None, now) if shared is not None
                   else (read or {}).get(node.name))
            if got is None:
                return None
            facts.append(got)
        return _Observation(generation=generation, access=access, facts=tuple(facts), fingerprints=tuple(
            pool.host_key_fingerprint(n) or recorded.get(n.name) for n in access.nodes))

    def same(self, other: _Observation) -> bool:
        return (self.generation == other.generation and self.access == other.access
                and self.fingerprints == other.fingerprints and len(self.facts) == len(other.facts)
                and all(a is b for a, b in zip(self.facts, other.facts, strict=True)))


async def _observe(pool: NodePool, runner: Runner, access: ClusterAccess, recorded: Mapping[str, str],
                   shared: SharedFacts | None, drift_check: bool) -> ClusterResult:
    _pin_recorded_host_keys(pool, access, recorded)
    result = await observe_cluster(runner, access, shared=shared, drift_check=drift_check)
    # A node refused (or not reached) at a new address keeps the fingerprint recorded before.
    result.fingerprints.update({n.name: pool.host_key_fingerprint(n) or recorded.get(n.name) for n in access.nodes})
    return result


# --------------------------------------------------------------------------- entry point


def run_operator(*, namespaces: list[str], clusterwide: bool, json_logs: bool, liveness: str | None,
                 verbose: bool, metrics_port: int | None = None, metrics_address: str | None = None) -> None:
    """Run kopf with this module's handlers until SIGINT/SIGTERM (``python -m jobcenter_operator run``)."""
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL)
    # asyncssh logs every remote command line at INFO; ours carry whole scripts. Warnings suffice.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    memo = kopf.Memo(metrics_port=metrics_port, metrics_address=metrics_address, stopping=asyncio.Event())
    asyncio.run(_operate(memo, clusterwide=clusterwide, namespaces=namespaces, standalone=True,
                         liveness_endpoint=liveness))


async def _operate(memo: kopf.Memo, **options: Any) -> None:
    """``kopf.operator`` (its spawn_tasks + run_tasks), with SIGTERM/SIGINT told to the runs in flight.

    kopf's own signal handlers only stop kopf, which cancels a handler in the middle of a node step
    once its exit_timeout is over. Ours replace them (installed after spawn_tasks installed kopf's):
    ``memo.stopping`` makes every run stop before its next action and restore what it interrupted
    (reconcile.execute), and the stop flag then stops kopf as its signal would. kopf's SIGKILL after
    ``ultimate_exiting_timeout`` is not armed on this path: the pod's grace period (660 s, longer
    than the longest bounded step) bounds the exit.
    """
    existing = asyncio.all_tasks()
    stop_flag = asyncio.Event()
    tasks = await kopf.spawn_tasks(memo=memo, stop_flag=stop_flag, **options)

    def exiting(sig: signal.Signals) -> None:
        log.info("%s received: no new step starts, runs in flight stop at a safe point", sig.name)
        memo.stopping.set()
        stop_flag.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, exiting, sig)
    await kopf.run_tasks(tasks, ignored=existing)
