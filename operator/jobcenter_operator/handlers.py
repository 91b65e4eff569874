"""kopf wiring: registration, settings, error mapping, Events. The only module that imports kopf.

Every trigger of a JobCenterSite (create, spec update, the requested-at annotation, resume, the
drift timer) calls one level-based ``_reconcile_site``; the same for ClusterproCluster. Business
logic lives in reconcile.py (no kopf) and status.py (pure); this module translates:

- domain errors -> kopf: transient -> ``TemporaryError`` with capped exponential backoff and
  jitter; permanent -> ``PermanentError`` with ``Stalled=True``; a stalled site is tried again
  only when its generation or its credentials Secret changes (the timer checks, cheaply);
- results -> a status patch, written only when it differs, and one Event per condition flip
  (kopf >= 1.41 posts no Events from logs);
- ClusterproClusters and credential Secrets come from kopf indexes, so the operator needs no
  Kubernetes client of its own and notices rotated Secrets on the next timer tick.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from . import status as st
from .api import GROUP, VERSION, ClusterproClusterSpec, JobCenterSiteSpec
from .errors import InvalidSpec, OperatorError, PermanentError, TransientError
from .node import NodePool
from .outcome import SiteResult, run_error
from .reconcile import ClusterAccess, access_from, observe_cluster, reconcile_site
from .unconfigure import unconfigure_site

FINALIZER = f"{GROUP}/finalizer"
# kopf's own bookkeeping (progress, diff base) in annotations under a prefix of its own: kopf leaves
# every annotation under its storage prefix out of the diffs it reacts to, which would hide our
# requested-at annotation if both shared jobcenter.clusterpro.io/.
KOPF_PREFIX = f"kopf.{GROUP}"
REQUEST_ANNOTATION = f"{GROUP}/requested-at"
SITES = "jobcentersites"
CLUSTERS = "clusterproclusters"
# Drift checks: how often the nodes are re-read (seconds). Tests and the demo shorten it.
TIMER_INTERVAL = float(os.environ.get("JCOP_TIMER_INTERVAL", "300"))
SETTLE_TIMEOUT = float(os.environ.get("JCOP_SETTLE_TIMEOUT", "120"))
BACKOFF_CAP = float(os.environ.get("JCOP_BACKOFF_CAP", "300"))
SECRET_KEYS = ("ssh-privatekey", "known_hosts", "password", "passphrase")

log = logging.getLogger("jobcenter_operator.handlers")


# --------------------------------------------------------------------------- startup / login


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.networking.error_backoffs = [1, 2, 5, 10]
    memo.pool = NodePool(observer=_audit_observer())
    memo.locks = {}
    memo.failures = {}
    memo.stalled = {}
    memo.suspended = set()
    memo.written = {}  # (kind, namespace, name, uid) -> the status this process last wrote


def _audit_observer() -> Any:
    """With JCOP_AUDIT_LOG=FILE, append one JSON line per command sent to a node (node and argv;
    never stdin, which is where file contents travel). An audit trail for operators and tests."""
    path = os.environ.get("JCOP_AUDIT_LOG")
    if not path:
        return None

    def record(node: str, argv: tuple[str, ...]) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"node": node, "argv": list(argv)}) + "\n")

    return record


@kopf.on.cleanup()
async def close_pool(memo: kopf.Memo, **_: Any) -> None:
    await memo.pool.close()


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


@kopf.index(GROUP, VERSION, CLUSTERS)
def cluster_by_name(**kwargs: Any) -> dict[tuple[str, str], Any]:
    status = kwargs.get("status") or {}
    known = {n["name"]: n["hostKeyFingerprint"] for n in status.get("nodes") or [] if n.get("hostKeyFingerprint")}
    return {(kwargs["namespace"], kwargs["name"]): {"spec": dict(kwargs["spec"]), "hostKeys": known}}


@kopf.index("", "v1", "secrets", when=lambda body, **_: any(k in (body.get("data") or {}) for k in SECRET_KEYS))
def secret_by_name(**kwargs: Any) -> dict[tuple[str, str], Any]:
    body = kwargs["body"]
    data = {k: base64.b64decode(v) for k, v in (body.get("data") or {}).items() if k in SECRET_KEYS}
    version = body.get("metadata", {}).get("resourceVersion")
    return {(kwargs["namespace"], kwargs["name"]): {"data": data, "resourceVersion": version}}


@kopf.index(GROUP, VERSION, SITES)
def site_by_group(**kwargs: Any) -> dict[Any, Any]:
    spec, meta = kwargs["spec"], kwargs["meta"]
    cluster = (spec.get("clusterRef") or {}).get("name")
    key = (kwargs["namespace"], cluster, spec.get("failoverGroup"))
    return {key: (meta.get("creationTimestamp") or "", kwargs["name"])}


def _one(index: kopf.Index[Any, Any], key: Any) -> Any | None:
    store = index.get(key)
    if not store:
        return None
    return next(iter(store))


# --------------------------------------------------------------------------- helpers


def _backoff(memo: kopf.Memo, key: tuple[str, str]) -> float:
    """Capped exponential backoff with jitter, per object; reset by a success."""
    failures = memo.failures[key] = memo.failures.get(key, 0) + 1
    return float(min(BACKOFF_CAP, 2 ** min(failures, 16)) * random.uniform(0.8, 1.2))  # noqa: S311


def _lock(memo: kopf.Memo, key: tuple[str, str]) -> asyncio.Lock:
    lock: asyncio.Lock = memo.locks.setdefault(key, asyncio.Lock())
    return lock


def _known_status(memo: kopf.Memo, key: tuple[Any, ...], body_status: Mapping[str, Any]) -> dict[str, Any]:
    """The status as it stands: what this process last wrote, else what the body shows.

    Only the operator writes status, so its own last write is authoritative; the body a timer gets
    can predate it (a watch event still in flight), and computing from that stale copy would flip
    conditions back and forth and move their lastTransitionTime for nothing.
    """
    written: dict[str, Any] | None = memo.written.get(key)
    return dict(written) if written is not None else dict(body_status or {})


def _write_status(memo: kopf.Memo, key: tuple[Any, ...], patch: kopf.Patch, body_status: Mapping[str, Any],
                  known: Mapping[str, Any], new: dict[str, Any]) -> bool:
    """Patch ``new`` in if it differs from the known status; remember it as written."""
    if not st.differs(dict(known), new):
        return False
    for field in set(body_status or {}) | set(known):
        if field not in new:
            patch.status[field] = None  # merge-patch null removes the field
    for field, value in new.items():
        patch.status[field] = value
    memo.written[key] = new
    return True


def _post_transitions(body: kopf.Body, old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """One Event per condition flip worth telling: Ready and Stalled either way, any other domain
    condition turning False or Unknown (its recovery shows as Ready=True). Reconciling is left out:
    it flips on every retry."""
    for t in st.transitions(list(old.get("conditions") or []), new.get("conditions", [])):
        if t.type == "Reconciling" or (t.type not in ("Ready", "Stalled") and t.status == "True"):
            continue
        reason = "Ready" if t.type == "Ready" and t.status == "True" else t.reason
        kopf.event(body, type="Warning" if t.warning else "Normal", reason=reason,
                   message=f"{t.type}={t.status}: {t.message}")


def _raise_for(error: OperatorError | None, memo: kopf.Memo, key: tuple[str, str], stall_key: Any, *,
               timer: bool) -> None:
    if error is None:
        memo.failures.pop(key, None)
        memo.stalled.pop(key, None)
        return
    if error.transient:
        raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=_backoff(memo, key))
    memo.stalled[key] = stall_key
    if timer:
        return  # a PermanentError would end the timer for good; the status already says Stalled
    raise kopf.PermanentError(f"{error.reason}: {error.message}")


def _pin_recorded_host_keys(memo: kopf.Memo, access: ClusterAccess, recorded: Mapping[str, str]) -> None:
    """AcceptNew trusts a node's key once; the fingerprint recorded in the ClusterproCluster's status
    keeps that trust across operator restarts (a restarted operator must not accept a new key)."""
    if access.creds.host_key_policy != "AcceptNew":
        return
    for node in access.nodes:
        fp = recorded.get(node.name)
        if fp and memo.pool.host_key_fingerprint(node.name) is None:
            memo.pool.pin_host_key(node, fp)


# --------------------------------------------------------------------------- JobCenterSite


async def _reconcile_site(
    *, body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch,
    memo: kopf.Memo, cluster_by_name: kopf.Index[Any, Any], secret_by_name: kopf.Index[Any, Any],
    site_by_group: kopf.Index[Any, Any], drift_check: bool = False, requested_at: str | None = None,
) -> None:
    namespace, name = meta["namespace"], meta["name"]
    key = (namespace, name)
    generation = meta.get("generation")
    status_key = (SITES, namespace, name, meta.get("uid"))
    old_status = _known_status(memo, status_key, status)
    if requested_at is None:
        requested_at = (meta.get("annotations") or {}).get(REQUEST_ANNOTATION)

    def finish(result: SiteResult | None, error: OperatorError | None) -> None:
        new = st.site_status(spec=site, generation=generation, previous=old_status, result=result, error=error,
                             requested_at=requested_at)
        if _write_status(memo, status_key, patch, status, old_status, new):
            _post_transitions(body, old_status, new)

    try:
        site = JobCenterSiteSpec.model_validate(dict(spec))
    except ValidationError as exc:
        # Only reachable without admission (the CRD's schema/CEL refuse these manifests).
        if drift_check:
            return  # already reported by the handler that saw the spec
        kopf.event(body, type="Warning", reason="InvalidSpec", message=str(exc)[:1000])
        raise kopf.PermanentError(f"InvalidSpec: {exc}") from exc

    if site.suspend:
        if key not in memo.suspended:
            memo.suspended.add(key)
            kopf.event(body, type="Normal", reason="Suspended", message="reconciliation suspended")
        return
    memo.suspended.discard(key)

    claims = sorted(site_by_group.get((namespace, site.cluster_ref.name, site.failover_group)) or [])
    if claims and claims[0][1] != name:
        claimed = PermanentError(
            f"failover group {site.failover_group} is already managed by JobCenterSite {claims[0][1]}",
            reason="GroupClaimed")
        finish(None, claimed)
        return  # re-checked on every timer tick: the claim ends when the other site goes

    cluster = _one(cluster_by_name, (namespace, site.cluster_ref.name))
    if cluster is None:
        finish(None, TransientError(f"ClusterproCluster {site.cluster_ref.name} not found"))
        raise kopf.TemporaryError("ClusterproCluster not found", delay=_backoff(memo, key))
    try:
        cluster_spec = ClusterproClusterSpec.model_validate(cluster["spec"])
    except ValidationError as exc:
        # Only reachable without admission; the ClusterproCluster's own status says what is wrong.
        finish(None, TransientError(f"ClusterproCluster {site.cluster_ref.name} is invalid"))
        raise kopf.TemporaryError(f"ClusterproCluster {site.cluster_ref.name} is invalid: {exc}", delay=60) from exc
    secret_name = cluster_spec.ssh.credentials_secret_ref.name
    secret = _one(secret_by_name, (namespace, secret_name))
    if secret is None:
        finish(None, TransientError(f"Secret {secret_name} (SSH credentials) not found"))
        raise kopf.TemporaryError("credentials Secret not found", delay=_backoff(memo, key))

    stall_key = (generation, secret["resourceVersion"])
    if drift_check and memo.stalled.get(key) == stall_key:
        return  # stalled: nothing changed that could unblock it

    try:
        access: ClusterAccess = access_from(cluster_spec, secret["data"])
    except InvalidSpec as exc:
        finish(None, exc)
        _raise_for(exc, memo, key, stall_key, timer=drift_check)
        return
    _pin_recorded_host_keys(memo, access, cluster["hostKeys"])

    enforce = site.management_policy == "Enforce" and not (drift_check and site.drift_policy == "Report")
    async with _lock(memo, (namespace, site.cluster_ref.name)):
        result = await reconcile_site(memo.pool, access, site, enforce=enforce, settle_timeout=SETTLE_TIMEOUT)
    for step in result.steps:
        if step.ok and step.action.disruptive:
            kopf.event(body, type="Normal", reason=step.action.kind, message=step.action.message)
    finish(result, None)
    _raise_for(run_error(result), memo, key, stall_key, timer=drift_check)


@kopf.on.create(GROUP, VERSION, SITES)
@kopf.on.update(GROUP, VERSION, SITES, field="spec")
@kopf.on.resume(GROUP, VERSION, SITES)
async def site_changed(**kwargs: Any) -> None:
    await _reconcile_site(**_site_kwargs(kwargs))


@kopf.on.update(GROUP, VERSION, SITES, field=("metadata", "annotations", REQUEST_ANNOTATION))
async def site_reconcile_requested(new: Any, **kwargs: Any) -> None:
    await _reconcile_site(**_site_kwargs(kwargs), requested_at=str(new) if new is not None else None)


@kopf.timer(GROUP, VERSION, SITES, interval=TIMER_INTERVAL, initial_delay=random.uniform(0, TIMER_INTERVAL / 4))  # noqa: S311
async def site_drift(**kwargs: Any) -> None:
    await _reconcile_site(**_site_kwargs(kwargs), drift_check=True)


def _site_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = ("body", "spec", "meta", "status", "patch", "memo", "cluster_by_name", "secret_by_name", "site_by_group")
    return {n: kwargs[n] for n in names}


@kopf.on.delete(GROUP, VERSION, SITES)
async def site_deleted(**kwargs: Any) -> None:
    body, spec, meta, memo = kwargs["body"], kwargs["spec"], kwargs["meta"], kwargs["memo"]
    cluster_by_name, secret_by_name = kwargs["cluster_by_name"], kwargs["secret_by_name"]
    key = (meta["namespace"], meta["name"])
    for registry in (memo.failures, memo.stalled):
        registry.pop(key, None)
    memo.written.pop((SITES, *key, meta.get("uid")), None)
    try:
        site = JobCenterSiteSpec.model_validate(dict(spec))
    except ValidationError:
        return  # never configured anything
    if site.deletion_policy == "Retain":
        return  # the nodes stay as they are: no command is sent
    cluster = _one(cluster_by_name, (meta["namespace"], site.cluster_ref.name))
    if cluster is None:
        raise kopf.PermanentError("Unconfigure needs the ClusterproCluster; it is gone, nothing was changed")
    cluster_spec = ClusterproClusterSpec.model_validate(cluster["spec"])
    secret = _one(secret_by_name, (meta["namespace"], cluster_spec.ssh.credentials_secret_ref.name))
    if secret is None:
        raise kopf.TemporaryError("Unconfigure needs the credentials Secret", delay=30)
    access = access_from(cluster_spec, secret["data"])
    _pin_recorded_host_keys(memo, access, cluster["hostKeys"])
    async with _lock(memo, (meta["namespace"], site.cluster_ref.name)):
        error = (await unconfigure_site(memo.pool, access, site)).error
    if error is not None:
        if error.transient:
            raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=30) from error
        raise kopf.PermanentError(f"{error.reason}: {error.message}") from error
    kopf.event(body, type="Normal", reason="Unconfigured", message="exec scripts and monitor restored")


# --------------------------------------------------------------------------- ClusterproCluster


@kopf.on.create(GROUP, VERSION, CLUSTERS)
@kopf.on.update(GROUP, VERSION, CLUSTERS, field="spec")
@kopf.on.resume(GROUP, VERSION, CLUSTERS)
@kopf.timer(GROUP, VERSION, CLUSTERS, interval=TIMER_INTERVAL, initial_delay=random.uniform(0, TIMER_INTERVAL / 4))  # noqa: S311
async def cluster_observed(**kwargs: Any) -> None:
    body, spec, meta, status = kwargs["body"], kwargs["spec"], kwargs["meta"], kwargs["status"]
    patch, memo, secret_by_name = kwargs["patch"], kwargs["memo"], kwargs["secret_by_name"]
    key = (meta["namespace"], meta["name"])
    status_key = (CLUSTERS, *key, meta.get("uid"))  # uid: a re-created object starts afresh
    old_status = _known_status(memo, status_key, status)
    try:
        cluster_spec = ClusterproClusterSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise kopf.PermanentError(f"InvalidSpec: {exc}") from exc
    names = [n.name for n in cluster_spec.nodes]
    secret = _one(secret_by_name, (meta["namespace"], cluster_spec.ssh.credentials_secret_ref.name))
    error: OperatorError | None = None
    result = None
    if secret is None:
        error = TransientError(f"Secret {cluster_spec.ssh.credentials_secret_ref.name} not found")
    else:
        try:
            access = access_from(cluster_spec, secret["data"])
            recorded = {n["name"]: n["hostKeyFingerprint"] for n in old_status.get("nodes") or []
                        if n.get("hostKeyFingerprint")}
            _pin_recorded_host_keys(memo, access, recorded)
            result = await observe_cluster(memo.pool, access)
            result.fingerprints.update({n: memo.pool.host_key_fingerprint(n) for n in names})
            error = result.gathered.first_error()
        except InvalidSpec as exc:
            error = exc
    new = st.cluster_status(generation=meta.get("generation"), previous=old_status, result=result,
                            node_names=names, error=error)
    if _write_status(memo, status_key, patch, status, old_status, new):
        _post_transitions(body, old_status, new)
    if error is not None and error.transient:
        raise kopf.TemporaryError(f"{error.reason}: {error.message}", delay=_backoff(memo, key))
    memo.failures.pop(key, None)


# --------------------------------------------------------------------------- entry point


def run_operator(*, namespaces: list[str], clusterwide: bool, json_logs: bool, liveness: str | None,
                 verbose: bool) -> None:
    """Run kopf with this module's handlers until SIGINT/SIGTERM (``python -m jobcenter_operator run``)."""
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL)
    # asyncssh logs every remote command line at INFO; ours carry whole scripts. Warnings suffice.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    asyncio.run(kopf.operator(clusterwide=clusterwide, namespaces=namespaces, standalone=True,
                              liveness_endpoint=liveness))
