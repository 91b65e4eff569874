"""``plan NAME -n NAMESPACE``: read a JobCenterSite, its ClusterproCluster and their credentials
Secret from the live cluster with the ``kubernetes`` client, as the current kubeconfig context
allows (the administrator's own RBAC, never the operator's).

The kubeconfig is loaded explicitly from ``--kubeconfig``, else ``$KUBECONFIG`` as it is at call
time (the library reads ``$KUBECONFIG`` once, at import), else ``~/.kube/config``; it is never
written back (``persist_config=False``). Every failure is a :class:`ClusterReadError` with a
one-line text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .api import GROUP, VERSION

# Bound each request: a preview must not hang on an unreachable API server.
REQUEST_TIMEOUT_SECONDS = 30


class ClusterReadError(Exception):
    """The live objects could not be read; the text is the whole message for the user."""


@dataclass(frozen=True)
class LiveSite:
    site: dict[str, Any]
    cluster: dict[str, Any]
    secret: dict[str, Any]  # the Secret object as the API server returns it (base64 `data`)
    namespace: str


def kubeconfig_path(explicit: str | None) -> str:
    return explicit or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _api_client(kubeconfig: str, context: str | None) -> tuple[client.ApiClient, str]:
    """A client for the context, and that context's namespace (``default`` when it has none)."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]  # the config loader has no annotations
            config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False)
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ClusterReadError(f"kubeconfig {kubeconfig}: {_one_line(exc)}") from None
    except OSError as exc:
        raise ClusterReadError(f"kubeconfig {kubeconfig}: {exc.strerror or exc}") from None
    chosen = next((c for c in contexts if c.get("name") == context), current) if context else current
    namespace = str((chosen or {}).get("context", {}).get("namespace") or "default")
    return client.ApiClient(configuration), namespace


def read_live_site(name: str, namespace: str | None, kubeconfig: str | None, context: str | None) -> LiveSite:
    """The site NAME, the ClusterproCluster it refers to and that cluster's credentials Secret."""
    path = kubeconfig_path(kubeconfig)
    api_client, context_namespace = _api_client(path, context)
    namespace = namespace or context_namespace
    with api_client:
        custom = client.CustomObjectsApi(api_client)
        site = _get(lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "jobcentersites", name, _request_timeout=REQUEST_TIMEOUT_SECONDS),
            f"JobCenterSite {namespace}/{name}")
        cluster_name = _nested(site, "spec", "clusterRef", "name")
        cluster = _get(lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "clusterproclusters", cluster_name, _request_timeout=REQUEST_TIMEOUT_SECONDS),
            f"ClusterproCluster {namespace}/{cluster_name} (the site's clusterRef)")
        secret_name = _nested(cluster, "spec", "ssh", "credentialsSecretRef", "name")
        core = client.CoreV1Api(api_client)
        secret = _get(lambda: api_client.sanitize_for_serialization(  # type: ignore[no-untyped-call]
            core.read_namespaced_secret(secret_name, namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS)),
            f"Secret {namespace}/{secret_name} (the cluster's SSH credentials)")
    return LiveSite(site=site, cluster=cluster, secret=secret, namespace=namespace)


APPROVE_ANNOTATION = f"{GROUP}/approve-plan"


@dataclass(frozen=True)
class Approval:
    namespace: str
    plan_hash: str
    steps: list[dict[str, Any]]  # the pending steps as status.plan lists them


def approve_site_plan(name: str, namespace: str | None, kubeconfig: str | None, context: str | None,
                      expected: str | None) -> Approval:
    """Annotate the site with the plan hash its status shows as awaiting approval; with ``expected``,
    only if that is still the pending hash (the plan may have changed since the person looked)."""
    api_client, context_namespace = _api_client(kubeconfig_path(kubeconfig), context)
    namespace = namespace or context_namespace
    what = f"JobCenterSite {namespace}/{name}"
    with api_client:
        custom = client.CustomObjectsApi(api_client)
        site = _get(lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "jobcentersites", name, _request_timeout=REQUEST_TIMEOUT_SECONDS), what)
        status = site.get("status") or {}
        pending = (status.get("disruption") or {}).get("planHash")
        if not isinstance(pending, str) or not pending:
            raise ClusterReadError(f"{what}: no disruptive step is pending (status.disruption.planHash is empty)")
        if expected is not None and expected != pending:
            raise ClusterReadError(f"{what}: the pending plan is {pending}, not {expected}: review it, approve again")
        patch = {"metadata": {"annotations": {APPROVE_ANNOTATION: pending}}}
        _get(lambda: custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "jobcentersites", name, patch, _request_timeout=REQUEST_TIMEOUT_SECONDS),
            f"{what} (setting {APPROVE_ANNOTATION})")
    steps = [s for s in status.get("plan") or [] if isinstance(s, dict)]
    return Approval(namespace=namespace, plan_hash=pending, steps=steps)


def _get(read: Any, what: str) -> dict[str, Any]:
    try:
        body = read()
    except ApiException as exc:
        if exc.status == 404:
            raise ClusterReadError(f"{what} not found") from None
        if exc.status in (401, 403):
            raise ClusterReadError(f"{what}: not allowed to read it ({exc.status} {exc.reason})") from None
        raise ClusterReadError(f"{what}: the API server answered {exc.status} {exc.reason}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterReadError(f"{what}: cannot reach the API server: {_one_line(exc)}") from None
    if not isinstance(body, dict):
        raise ClusterReadError(f"{what}: unexpected answer from the API server")
    return body


def _nested(body: dict[str, Any], *keys: str) -> str:
    value: Any = body
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        kind = body.get("kind", "object")
        raise ClusterReadError(f"{kind} {body.get('metadata', {}).get('name', '?')} has no {'.'.join(keys)}")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
