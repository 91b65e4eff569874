"""Before a run reaches the nodes: the decisions a handler makes from the site's spec, kopf's
index entries and what the operator remembers. No kopf, no I/O; handlers.py only wires these.

- ``claim_error``: the oldest JobCenterSite of a failover group manages it; a later one is refused.
- ``cluster_access``: the ClusterproCluster and its Secret into ``ClusterAccess`` or the error
  that says what is missing or wrong.
- ``decide_site``: all of that, plus whether a stalled site's timer tick can skip (nothing that
  could unblock it changed) and whether actions may run (``enforce``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .api import ClusterproClusterSpec, JobCenterSiteSpec
from .api.disruption import Disruption, effective_disruption
from .errors import InvalidSpec, OperatorError, PermanentError, TransientError
from .reconcile import ClusterAccess, access_from


@dataclass(frozen=True)
class ClusterEntry:
    """A ClusterproCluster as its index holds it: the spec and the host keys its status recorded."""

    spec: Mapping[str, Any]
    host_keys: Mapping[str, str] = field(default_factory=dict)
    scope: str = ""  # "namespace/name": the host keys of its nodes are this cluster's alone

    def secret_name(self) -> str | None:
        """The credentials Secret the spec names (read before the spec is validated)."""
        ref = (self.spec.get("ssh") or {}).get("credentialsSecretRef") or {}
        name = ref.get("name")
        return name if isinstance(name, str) else None


@dataclass(frozen=True)
class SecretEntry:
    """A credentials Secret as its index holds it: the decoded keys the operator reads."""

    data: Mapping[str, bytes]
    resource_version: str | None = None


# A Secret is read only when its owner marked it for this operator (issue 12): someone who may edit a
# ClusterproCluster must not be able to point it at any Secret of the namespace that happens to
# have a ``password`` key. Either mark will do: the label (can be added to an existing Secret) or
# the type (``kubectl create secret generic --type=...``).
CREDENTIALS_LABEL = "jobcenter.clusterpro.io/credentials"
CREDENTIALS_TYPE = "jobcenter.clusterpro.io/ssh-credentials"


_UNMARKED = f" (or not labelled {CREDENTIALS_LABEL}=true)"


def is_credentials_secret(body: Mapping[str, Any]) -> bool:
    """Whether a Secret is marked as SSH credentials for this operator."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    return labels.get(CREDENTIALS_LABEL) == "true" or body.get("type") == CREDENTIALS_TYPE


@dataclass(frozen=True)
class SiteDecision:
    """What a site's handler does: skip, stop at ``error`` (raising it or only showing it), or run."""

    access: ClusterAccess | None = None  # set: reach the nodes
    error: OperatorError | None = None  # set: why the run stops before the nodes
    retry: bool = True  # False: the error is shown, not raised (a claim is looked at again each tick)
    skip: bool = False  # a stalled site's timer tick with nothing changed: do nothing at all
    enforce: bool = False  # actions may run (else the plan is only reported)
    stall_key: Hashable = None  # what a permanent error stalls on
    host_keys: Mapping[str, str] = field(default_factory=dict)  # recorded fingerprints to pin
    # The site's windows and approval, its cluster's filling the gaps.
    disruption: Disruption = field(default_factory=Disruption)


def claim_error(name: str, site: JobCenterSiteSpec, claims: Iterable[tuple[str, str]]) -> OperatorError | None:
    """``claims``: (creationTimestamp, name) of every site naming this cluster and group."""
    ordered = sorted(claims)
    if not ordered or ordered[0][1] == name:
        return None
    return PermanentError(f"failover group {site.failover_group} is already managed by JobCenterSite "
                          f"{ordered[0][1]}", reason="GroupClaimed")


# The last accesses built, by the index entries they came from (kept, so compared by identity): kopf's
# index hands a site's drift check the same entries until the ClusterproCluster or Secret changes,
# and validating the cluster's spec and decoding the Secret again each check cost more than the rest
# of the decision. Bounded: about one entry per ClusterproCluster in use.
_ACCESSES: OrderedDict[tuple[str, int, int], tuple[ClusterEntry, SecretEntry, ClusterAccess | OperatorError]] = (
    OrderedDict())
ACCESS_CACHE_SIZE = 256


_SPECS: OrderedDict[int, tuple[ClusterEntry, ClusterproClusterSpec]] = OrderedDict()


def _cluster_spec(cluster: ClusterEntry) -> ClusterproClusterSpec:
    """The entry's spec validated, once per index entry (as ``_ACCESSES``); invalid: ValidationError."""
    kept = _SPECS.get(id(cluster))
    if kept is not None and kept[0] is cluster:
        _SPECS.move_to_end(id(cluster))
        return kept[1]
    spec = ClusterproClusterSpec.model_validate(dict(cluster.spec))
    _SPECS[id(cluster)] = (cluster, spec)
    if len(_SPECS) > ACCESS_CACHE_SIZE:
        _SPECS.popitem(last=False)
    return spec


def cluster_access(cluster_name: str, cluster: ClusterEntry | None,
                   secret: SecretEntry | None) -> ClusterAccess | OperatorError:
    if cluster is not None and secret is not None:
        key = (cluster_name, id(cluster), id(secret))
        kept = _ACCESSES.get(key)
        if kept is not None and kept[0] is cluster and kept[1] is secret:
            _ACCESSES.move_to_end(key)
            return kept[2]
        access = _cluster_access(cluster_name, cluster, secret)
        _ACCESSES[key] = (cluster, secret, access)
        if len(_ACCESSES) > ACCESS_CACHE_SIZE:
            _ACCESSES.popitem(last=False)
        return access
    return _cluster_access(cluster_name, cluster, secret)


def _cluster_access(cluster_name: str, cluster: ClusterEntry | None,
                    secret: SecretEntry | None) -> ClusterAccess | OperatorError:
    if cluster is None:
        return TransientError(f"ClusterproCluster {cluster_name} not found", reason="ClusterNotFound")
    try:
        spec = _cluster_spec(cluster)
    except ValidationError:
        # Only reachable without admission; the ClusterproCluster's own status says what is wrong.
        return TransientError(f"ClusterproCluster {cluster_name} is invalid", reason="ClusterInvalid")
    if secret is None:
        return TransientError(f"Secret {spec.ssh.credentials_secret_ref.name} (SSH credentials) not found{_UNMARKED}",
                              reason="SecretNotFound")
    try:
        return access_from(spec, secret.data, cluster=cluster.scope)
    except InvalidSpec as exc:
        return exc


def observation_access(spec: ClusterproClusterSpec, secret: SecretEntry | None, *,
                       scope: str = "") -> ClusterAccess | OperatorError:
    """How a ClusterproCluster's own observation reaches its nodes (``scope``: "namespace/name")."""
    if secret is None:
        return TransientError(f"Secret {spec.ssh.credentials_secret_ref.name} (SSH credentials) not found{_UNMARKED}",
                              reason="SecretNotFound")
    # The cluster's drift check passes the same spec model (memory.validated) and Secret entry each
    # interval: the access is built once for them, as ``_ACCESSES``.
    key = (scope, id(spec), id(secret))
    kept = _OBSERVATIONS.get(key)
    if kept is not None and kept[0] is spec and kept[1] is secret:
        _OBSERVATIONS.move_to_end(key)
        return kept[2]
    try:
        access: ClusterAccess | OperatorError = access_from(spec, secret.data, cluster=scope)
    except InvalidSpec as exc:
        access = exc
    _OBSERVATIONS[key] = (spec, secret, access)
    if len(_OBSERVATIONS) > ACCESS_CACHE_SIZE:
        _OBSERVATIONS.popitem(last=False)
    return access


_OBSERVATIONS: OrderedDict[tuple[str, int, int], tuple[ClusterproClusterSpec, SecretEntry,
                                                       ClusterAccess | OperatorError]] = OrderedDict()


def enforce(site: JobCenterSiteSpec, *, drift_check: bool) -> bool:
    """Actions run under Enforce, except on a drift check of a site that only reports drift."""
    return site.management_policy == "Enforce" and not (drift_check and site.drift_policy == "Report")


def decide_site(*, name: str, site: JobCenterSiteSpec, generation: int | None, claims: Iterable[tuple[str, str]],
                cluster: ClusterEntry | None, secret: SecretEntry | None, stalled_on: Hashable,
                drift_check: bool) -> SiteDecision:
    claimed = claim_error(name, site, claims)
    if claimed is not None:
        return SiteDecision(error=claimed, retry=False)  # the claim ends when the other site goes
    access = cluster_access(site.cluster_ref.name, cluster, secret)
    stall_key = (generation, secret.resource_version) if secret is not None else None
    resolved = isinstance(access, ClusterAccess) or not access.transient  # cluster and Secret found and valid
    if drift_check and resolved and stalled_on == stall_key:
        return SiteDecision(skip=True)  # stalled: nothing changed that could unblock it
    if isinstance(access, OperatorError):
        return SiteDecision(error=access, stall_key=stall_key)
    assert cluster is not None
    cluster_default = _cluster_spec(cluster).disruption  # valid: access resolved
    return SiteDecision(access=access, enforce=enforce(site, drift_check=drift_check), stall_key=stall_key,
                        host_keys=cluster.host_keys, disruption=effective_disruption(site.disruption, cluster_default))


def decide_deletion(site: JobCenterSiteSpec, cluster: ClusterEntry | None, secret: SecretEntry | None, *,
                    name: str = "", claims: Iterable[tuple[str, str]] = ()) -> ClusterAccess | OperatorError | None:
    """What deletionPolicy Unconfigure needs: without the ClusterproCluster nothing can be done.
    None: this site does not own the group (it got GroupClaimed), so its deletion touches nothing:
    unconfiguring would stop the owner's group and revert the owner's scripts."""
    if claim_error(name, site, claims) is not None:
        return None
    if cluster is None:
        return PermanentError("Unconfigure needs the ClusterproCluster; it is gone, nothing was changed",
                              reason="ClusterGone")
    if secret is None:
        return TransientError("Unconfigure needs the credentials Secret", reason="SecretNotFound")
    return cluster_access(site.cluster_ref.name, cluster, secret)
