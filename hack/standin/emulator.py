"""KubeStandIn: kmock 0.8's KubernetesEmulator, completed into what kubectl and kopf need from an API server.

kmock stores objects and streams events but is "a database over HTTP". This subclass adds the API-server
behaviour (see hack/standin/README.md for the list): resourceVersion/uid/generation, optimistic
concurrency, status subresource isolation, PUT, CRD registration with admission (schema + CEL),
Tables, /openapi/v3, resumable watches, selectors, and bounded memory for long runs.

Object writes happen in ``_handle`` before kmock's reaction matching (as kmock itself does), so user
reactions added through kmock's DSL still see and may override the responses; the fallbacks then
serve the stored state. All state changes are synchronous code, hence atomic under asyncio.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import functools
import json
import pathlib
import re
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import dsl, enums, parsing, rendering
from kmock._internal.apps import KMockError
from kmock._internal.rendering import Response

from hack.standin import (
    admission,
    builtins,
    crds,
    events,
    objects,
    openapi,
    paths,
    protobuf,
    selectors,
    tables,
)
from hack.standin.objects import api_error

ObjectKey = tuple[kmock.resource, str | None, str]

NAMESPACES = kmock.resource('', 'v1', 'namespaces')
EVENT_RESOURCES = (kmock.resource('', 'v1', 'events'), kmock.resource('events.k8s.io', 'v1', 'events'))
DEFAULT_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')
_CAUSE_REASONS = {'Required value': 'FieldValueRequired', 'Unsupported value': 'FieldValueNotSupported',
                  'Too long': 'FieldValueTooLong', 'Too many': 'FieldValueTooMany',
                  'Duplicate value': 'FieldValueDuplicate', 'Forbidden': 'FieldValueForbidden'}


def _padded(priorities: tuple[float, ...], width: int = 8) -> tuple[float, ...]:
    """Descending priority order, with tuples padded as kmock does: (100,0) ranks above (100,-1)."""
    return tuple(-p for p in priorities) + (0,) * (width - len(priorities))


@attrs.define(eq=False)
class _Watcher:
    """One open watch connection: its filter and its queue of (resourceVersion, event)."""
    namespace: str | None
    matches: Callable[[Mapping[str, Any]], bool]
    limit: int
    queue: asyncio.Queue[dict[str, Any] | None] = attrs.field(factory=asyncio.Queue)

    def offer(self, event: dict[str, Any]) -> None:
        obj = event['object']
        if self.namespace is not None and obj.get('metadata', {}).get('namespace') != self.namespace:
            return
        if not self.matches(obj):
            return
        if self.queue.qsize() >= self.limit:
            # A consumer this far behind is cut off with 410 Gone, as kube-apiserver does, instead
            # of letting its queue grow without bound.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)


@attrs.define(kw_only=True)
class KubeStandIn(kmock.KubernetesEmulator):
    """A Kubernetes API stand-in. Use through kmock's fixture, :func:`hack.standin.serve` or the CLI."""

    # Memory bounds for long demos/soaks (kmock itself keeps every request and object version).
    history_limit: int = 8  # object versions kept per object in kmock.objects[...].history
    request_log_limit: int = 1000  # requests kept for kmock's assertions (kmock[...], reactions)
    event_log_limit: int = 10000  # watch events kept for resuming watches with ?resourceVersion=
    tombstone_limit: int = 500  # deleted objects kept (soft-deleted) for assertions
    k8s_events_limit: int = 1000  # stored core/v1 and events.k8s.io Events (kopf posts many)
    watch_queue_limit: int = 10000  # events queued for one slow watcher before it gets 410 Gone
    preload_builtins: bool = True  # kmock's bundled discovery of built-in resources (K3s dump)

    _rv: int = attrs.field(default=0, init=False)
    _served: int = attrs.field(default=0, init=False)
    _served_versions: dict[kmock.resource, crds.ServedVersion] = attrs.field(factory=dict, init=False)
    _event_log: collections.deque[tuple[int, kmock.resource, dict[str, Any]]] = attrs.field(
        factory=collections.deque, init=False)
    _evicted_rv: int = attrs.field(default=0, init=False)
    _watchers: dict[kmock.resource, set[_Watcher]] = attrs.field(factory=dict, init=False)
    _tombstones: collections.deque[ObjectKey] = attrs.field(factory=collections.deque, init=False)
    _k8s_events: collections.deque[ObjectKey] = attrs.field(factory=collections.deque, init=False)
    _results: dict[int, Any] = attrs.field(factory=dict, init=False)
    _openapi_cache: dict[str, dict[str, Any]] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.preload_builtins:
            with warnings.catch_warnings():  # kmock 0.8 uses the deprecated importlib.resources.read_binary
                warnings.simplefilter('ignore', DeprecationWarning)
                self.resources.load_bundled()
        self.fallback['get /openapi/v3'] << self._serve_openapi_index
        self.fallback['get', re.compile(r'/openapi/v3/.+')] << self._serve_openapi_document
        self.fallback[kmock.method.PUT] << self._serve_result
        if NAMESPACES in self.resources:
            for namespace in DEFAULT_NAMESPACES:
                self.create_object(NAMESPACES, {'apiVersion': 'v1', 'kind': 'Namespace',
                                                'metadata': {'name': namespace}})

    # ----------------------------------------------------------------------------------------------
    # Public helpers (in-process use)

    @property
    def resource_version(self) -> int:
        return self._rv

    def create_object(self, resource: kmock.resource, obj: Mapping[str, Any],
                      namespace: str | None = None) -> dict[str, Any]:
        """Create an object as a POST would (stamping, admission, CRD registration); raise on errors."""
        info = self._info(resource)
        return self._create(resource, info, copy.deepcopy(dict(obj)), namespace, strict=False, dry_run=False)[0]

    def load_crds(self, directory: str | pathlib.Path) -> list[str]:
        """Create every CustomResourceDefinition found in *.yaml/*.yml/*.json files of a directory."""
        files = sorted(p for p in pathlib.Path(directory).iterdir() if p.suffix in ('.yaml', '.yml', '.json'))
        return [self.create_object(crds.CRDS, doc)['metadata']['name'] for doc in iter_crd_docs(files)]

    def get_object(self, resource: kmock.resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        entry = self._objects._objects.get((resource, namespace, name))
        return None if entry is None or entry.deleted else entry.raw

    # ----------------------------------------------------------------------------------------------
    # Request intake: our own parsing (fixed paths, YAML bodies) and bounded logs

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        await raw_request.read()
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            if self.limit is not None and self._served >= self.limit:
                raise KMockError('Too many requests have been served so far.')
            request = await self._parse(raw_request)
            self._served += 1
            self._log(request)
            try:
                return await self._handle(request)
            except rendering.StreamingError as exc:
                raw_response = exc.args[0]
                raise exc.__cause__ or exc from None
        except kmock.KubernetesError as exc:
            # An API answer (404, 409, 422, ...), not a fault of the server: not recorded in kmock.errors.
            return await self._render_error(exc)
        except Exception as exc:
            if not self._errors:
                raise
            self._errors[-1].append(exc)
            del self._errors[-1][:-100]
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(exc)
            await self._stream_error(exc, raw_response)
            await raw_response.write_eof()
            return raw_response

    async def _parse(self, raw_request: aiohttp.web.BaseRequest) -> rendering.Request:
        body = await raw_request.read()
        text = body.decode('utf-8', errors='replace')
        content_type = raw_request.headers.get('Content-Type', '')
        data: Any = None
        if body and 'protobuf' in content_type:
            try:
                data = protobuf.decode(body)  # kubectl create secret|configmap|namespace
            except (protobuf.ProtobufError, UnicodeDecodeError):
                data = None  # answered 415 in _handle
        elif body:
            try:
                data = objects.decode_body(text, content_type)
            except (kmock.KubernetesError, yaml.YAMLError):
                data = None  # reported as 400 when a handler needs the body
        k8s = paths.parse_path(raw_request.path)
        resource = None if k8s.group is None else kmock.resource(
            group=k8s.group, version=k8s.version, plural=k8s.plural)
        action = parsing.guess_k8s(k8s, enums.method(raw_request.method), dict(raw_request.query))
        return rendering.Request(
            id=self._served, raw_request=raw_request, url=raw_request.url, method=raw_request.method,
            params=dict(raw_request.query), headers=dict(raw_request.headers), cookies=dict(raw_request.cookies),
            data=data, body=body, text=text, action=action, resource=resource,
            namespace=k8s.namespace, name=k8s.name, subresource=k8s.subresource,
        )

    def _log(self, request: rendering.Request) -> None:
        """Keep kmock's request logs (the root's and every reaction's) bounded."""
        self._requests.append(request)
        limit = self.request_log_limit
        if len(self._requests) > 2 * limit:
            del self._requests[:-limit]
            for reaction in self._payloads:
                if len(reaction._requests) > limit:
                    del reaction._requests[:-limit]

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, kmock.KubernetesError):
            return aiohttp.web.json_response(objects.status_body(exc), status=exc.status)
        return aiohttp.web.json_response({
            'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure', 'code': 500,
            'reason': 'InternalError', 'message': repr(exc),
            'details': {'causes': [{'message': traceback.format_exc()}]},
        }, status=500)

    # ----------------------------------------------------------------------------------------------
    # Writes

    @staticmethod
    def _is_object_request(request: rendering.Request) -> bool:
        res = request.resource
        return res is not None and res.plural is not None and res.version is not None

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if self._is_object_request(request):
            content_type = self._header(request, 'Content-Type')
            if request.body and 'protobuf' in content_type and request.data is None:
                raise api_error(415, 'UnsupportedMediaType',
                                'the body of the request was in an unknown format - accepted media types '
                                f'include: application/json, application/yaml (got {content_type}); this '
                                'stand-in decodes protobuf only for v1 Secret, ConfigMap and Namespace, use '
                                'e.g. `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`')
            if request.method in (enums.method.POST, enums.method.PUT, enums.method.PATCH, enums.method.DELETE):
                self._results[id(request)] = self._write(request)
        try:
            return await self._react(request)
        finally:
            self._results.pop(id(request), None)

    async def _react(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """kmock's RawHandler._handle (reactions by priority), with a cheap "does it see this request" test.

        kmock checks ``request in reaction._source``, which re-filters the whole request log for every
        reaction on every request: latency grows with the log (50 ms per GET after 200 creates). A
        request is in a plain filter chain iff every filter's criteria accept it, which is what
        :meth:`_sees` checks; slices, groups and exclusions keep kmock's exact (log-based) semantics.
        """
        ranked = sorted(self._payloads, key=lambda payload: _padded(payload.priorities))
        for payload in ranked:
            if not payload._disabled.is_set() and self._sees(payload._source, request):
                try:
                    return await payload(request)
                except rendering.ReactionMismatchError:  # either mismatch or depletion
                    payload._disabled.set()
                except NotImplementedError:  # matched, but non-actionable (e.g. not an object request)
                    pass
        raise NotImplementedError('no reaction matches the request')

    def _sees(self, view: Any, request: rendering.Request) -> bool:
        node = view
        while node is not self:
            if type(node) is dsl.Filter:
                if not node.criteria(request):
                    return False
            elif type(node) is not dsl.Priority:
                return request in view  # slices, groups, exclusions: depend on the request log
            node = node._source
        return True

    async def _serve_result(self, request: rendering.Request) -> rendering.Payload:
        if id(request) not in self._results:
            raise NotImplementedError  # not ours (e.g. a PUT to a non-Kubernetes URL): keep matching
        result: rendering.Payload = self._results[id(request)]
        return result

    _serve_create = _serve_update = _serve_delete = _serve_result

    def _write(self, request: rendering.Request) -> Response:
        assert request.resource is not None
        res = request.resource
        info = self._info(res)
        strict = request.params.get('fieldValidation', '') == 'Strict'
        dry_run = 'dryRun' in request.params
        if request.method == enums.method.POST and request.name is None:
            if not isinstance(request.data, dict):
                raise api_error(400, 'BadRequest', 'the request body must be a JSON or YAML object')
            obj, warnings = self._create(res, info, copy.deepcopy(request.data), request.namespace,
                                         strict=strict, dry_run=dry_run)
            return self._response(201, obj, warnings)
        if request.name is None:
            raise api_error(405, 'MethodNotAllowed', 'the server does not allow this method on the requested '
                                                     'resource (collection-wide writes are not supported)')
        key = self._key(res, info, request.namespace, request.name)
        applying = 'apply-patch' in self._header(request, 'Content-Type')
        if applying and request.subresource is None and self.get_object(*key) is None:
            # Server-side apply creates what does not exist yet (applied as a plain create here).
            if not isinstance(request.data, dict):
                raise api_error(400, 'BadRequest', 'the applied configuration must be an object')
            obj, warnings = self._create(res, info, copy.deepcopy(request.data), request.namespace,
                                         strict=strict, dry_run=dry_run)
            return self._response(201, obj, warnings)
        if request.method == enums.method.DELETE:
            return self._response(200, self._delete(res, info, key, request.data, dry_run=dry_run), [])
        obj, warnings = self._update(request, res, info, key, strict=strict, dry_run=dry_run)
        return self._response(200, obj, warnings)

    @staticmethod
    def _response(status: int, obj: dict[str, Any], warnings: list[str]) -> Response:
        headers = {'Warning': ', '.join(f'299 - {json.dumps(w)}' for w in warnings)} if warnings else None
        return Response(status=status, payload=obj, headers=headers)

    def _create(self, res: kmock.resource, info: kmock.ResourceInfo, obj: dict[str, Any],
                url_namespace: str | None, *, strict: bool, dry_run: bool) -> tuple[dict[str, Any], list[str]]:
        meta = obj.setdefault('metadata', {})
        if not isinstance(meta, dict):
            raise api_error(400, 'BadRequest', 'metadata must be an object')
        namespace: str | None = None
        if info.namespaced:
            body_ns = meta.get('namespace')
            if url_namespace and body_ns and url_namespace != body_ns:
                raise api_error(400, 'BadRequest', 'the namespace of the provided object does not match the '
                                                   'namespace sent on the request')
            namespace = url_namespace or body_ns
            if not namespace:
                raise api_error(400, 'BadRequest', 'a namespaced object needs a namespace')
            meta['namespace'] = namespace
            if NAMESPACES in self.resources and self.get_object(NAMESPACES, None, namespace) is None:
                raise api_error(404, 'NotFound', f'namespaces "{namespace}" not found',
                                {'name': namespace, 'kind': 'namespaces'})
        else:
            meta.pop('namespace', None)
        if meta.get('resourceVersion'):
            raise api_error(400, 'BadRequest', 'resourceVersion should not be set on objects to be created')
        generated = not meta.get('name') and bool(meta.get('generateName'))
        if generated:
            meta['name'] = objects.generate_name(str(meta['generateName']))
        name = meta.get('name')
        kind = info.kind or str(res.plural).capitalize()
        if not name or not isinstance(name, str):
            raise self._invalid(res, kind, '', [admission.FieldError(
                'metadata.name', 'Required value: name or generateName is required')])
        name_errors = builtins.name_errors(res, meta, generated=generated)
        if name_errors:
            raise self._invalid(res, kind, name, name_errors)
        objects.stamp_new(obj, api_version=self._api_version(res), kind=kind)
        if 'status' in info.subresources:
            obj.pop('status', None)  # status is written through /status only
        obj, warnings = self._admit(res, kind, obj, None, strict=strict)
        self._server_fields(res, obj, None)
        key: ObjectKey = (res, namespace, name)
        if self.get_object(*key) is not None:
            raise api_error(409, 'AlreadyExists', f'{self._qualified(res)} "{name}" already exists',
                            {'name': name, 'group': res.group, 'kind': res.plural})
        if not dry_run:
            self._commit(res, key, obj, 'ADDED')
        return obj, warnings

    def _update(self, request: rendering.Request, res: kmock.resource, info: kmock.ResourceInfo,
                key: ObjectKey, *, strict: bool, dry_run: bool) -> tuple[dict[str, Any], list[str]]:
        current = self._existing(res, key)
        sub = request.subresource
        has_status = 'status' in info.subresources
        if sub not in (None, 'status') or (sub == 'status' and not has_status):
            raise api_error(404, 'NotFound', f'the server could not find the requested resource ({sub})')
        body = request.data
        if request.method == enums.method.PUT:
            if not isinstance(body, dict):
                raise api_error(400, 'BadRequest', 'the request body must be a JSON or YAML object')
            body_name = (body.get('metadata') or {}).get('name')
            if body_name and body_name != key[2]:
                raise api_error(400, 'BadRequest', f'the name of the object ({body_name}) does not match the '
                                                   f'name on the URL ({key[2]})')
            new = copy.deepcopy(body)
            precondition = (body.get('metadata') or {}).get('resourceVersion')
        elif request.method == enums.method.PATCH:
            if body is None:
                raise api_error(400, 'BadRequest', 'the patch body is missing or not JSON/YAML')
            content_type = self._header(request, 'Content-Type')
            new = objects.apply_patch(copy.deepcopy(current), body, content_type, key[2])
            precondition = (body.get('metadata') or {}).get('resourceVersion') if isinstance(body, dict) else None
        else:
            raise api_error(405, 'MethodNotAllowed', f'{request.method} is not supported on objects')
        if precondition and str(precondition) != current['metadata'].get('resourceVersion'):
            raise api_error(409, 'Conflict', f'Operation cannot be fulfilled on {self._qualified(res)} '
                                             f'"{key[2]}": the object has been modified; please apply your '
                                             'changes to the latest version and try again',
                            {'name': key[2], 'group': res.group, 'kind': res.plural})
        if sub == 'status':
            status = new.get('status')
            new = copy.deepcopy(current)
            if status is None:
                new.pop('status', None)
            else:
                new['status'] = status
        elif has_status:
            new.pop('status', None)
            if 'status' in current:
                new['status'] = copy.deepcopy(current['status'])
        objects.keep_server_fields(new, current)
        kind = str(current.get('kind'))
        new, warnings = self._admit(res, kind, new, current, strict=strict)
        if objects.content_of(new, has_status) != objects.content_of(current, has_status):
            new['metadata']['generation'] = int(current['metadata'].get('generation') or 1) + 1
        self._server_fields(res, new, current)
        if objects.same_except_rv(new, current):
            return current, warnings
        if dry_run:
            return new, warnings
        self._commit(res, key, new, 'MODIFIED')
        if new['metadata'].get('deletionTimestamp') and not new['metadata'].get('finalizers'):
            self._remove(res, key)  # the last finalizer is gone: the deletion completes
        return new, warnings

    def _delete(self, res: kmock.resource, info: kmock.ResourceInfo, key: ObjectKey, options: Any, *,
                dry_run: bool) -> dict[str, Any]:
        current = self._existing(res, key)
        preconditions = (options or {}).get('preconditions') or {} if isinstance(options, dict) else {}
        for field in ('uid', 'resourceVersion'):
            wanted = preconditions.get(field)
            if wanted and wanted != current['metadata'].get(field):
                raise api_error(409, 'Conflict', f'Precondition failed: {field} in precondition: {wanted}, '
                                                 f'{field} in object meta: {current["metadata"].get(field)}')
        if dry_run:
            return current
        if current['metadata'].get('finalizers'):
            if current['metadata'].get('deletionTimestamp'):
                return current
            marked = copy.deepcopy(current)
            marked['metadata']['deletionTimestamp'] = crds.now()
            marked['metadata']['deletionGracePeriodSeconds'] = 0
            self._commit(res, key, marked, 'MODIFIED')
            return marked
        return self._remove(res, key)

    # ----------------------------------------------------------------------------------------------
    # Storage, events, bounds

    def _commit(self, res: kmock.resource, key: ObjectKey, obj: dict[str, Any], event_type: str) -> None:
        self._rv += 1
        obj['metadata']['resourceVersion'] = str(self._rv)
        entry = self._objects._objects.get(key)
        if entry is None:
            self._objects[key] = obj
        else:
            entry.history.append(obj)
            if len(entry.history) > self.history_limit:
                del entry.history[:-self.history_limit]
        self._publish(res, event_type, obj)
        if res == crds.CRDS:
            self._register_crd(obj)
        if event_type == 'ADDED' and res in EVENT_RESOURCES:
            self._k8s_events.append(key)
            while len(self._k8s_events) > self.k8s_events_limit:
                old_key = self._k8s_events.popleft()
                if self.get_object(*old_key) is not None:
                    self._remove(old_key[0], old_key)  # as if their TTL expired

    def _remove(self, res: kmock.resource, key: ObjectKey) -> dict[str, Any]:
        entry = self._objects._objects[key]
        self._rv += 1
        final = copy.deepcopy(entry.raw)
        final['metadata']['resourceVersion'] = str(self._rv)
        entry.history.append(final)
        entry.delete()
        if len(entry.history) > self.history_limit:
            del entry.history[:-self.history_limit]
        self._tombstones.append(key)
        while len(self._tombstones) > self.tombstone_limit:
            old_key = self._tombstones.popleft()
            old_entry = self._objects._objects.get(old_key)
            if old_entry is not None and old_entry.deleted:
                del self._objects._objects[old_key]
        self._publish(res, 'DELETED', final)
        if res == crds.CRDS:
            self._unregister_crd(final)
        return final

    def _publish(self, res: kmock.resource, event_type: str, obj: dict[str, Any]) -> None:
        event = {'type': event_type, 'object': obj}
        self._event_log.append((self._rv, res, event))
        while len(self._event_log) > self.event_log_limit:
            self._evicted_rv = self._event_log.popleft()[0]
        for watcher in list(self._watchers.get(res, ())):
            watcher.offer(event)

    def _existing(self, res: kmock.resource, key: ObjectKey) -> dict[str, Any]:
        current = self.get_object(*key)
        if current is None:
            raise api_error(404, 'NotFound', f'{self._qualified(res)} "{key[2]}" not found',
                            {'name': key[2], 'group': res.group, 'kind': res.plural})
        return current

    def _live(self, res: kmock.resource, namespace: str | None) -> list[dict[str, Any]]:
        """Live objects of a resource (all namespaces when namespace is None), sorted like etcd keys."""
        found = [(key[1] or '', key[2], entry) for key, entry in self._objects._objects.items()
                 if key[0] == res and (namespace is None or key[1] == namespace) and not entry.deleted]
        found.sort(key=lambda item: (item[0], item[1]))
        return [entry.raw for _, _, entry in found]

    # ----------------------------------------------------------------------------------------------
    # CRDs and admission

    def _register_crd(self, crd: Mapping[str, Any]) -> None:
        self._drop_registrations(crd['metadata']['name'])
        for served in crds.served_versions(crd):
            self._served_versions[served.resource] = served
            self.resources[served.resource] = served.info()
        self._openapi_cache.clear()

    def _unregister_crd(self, crd: Mapping[str, Any]) -> None:
        gone = self._drop_registrations(crd['metadata']['name'])
        for res in gone:  # deleting a CRD deletes its custom resources
            for obj in self._live(res, None):
                self._remove(res, (res, obj['metadata'].get('namespace'), obj['metadata']['name']))
        self._openapi_cache.clear()

    def _drop_registrations(self, crd_name: str) -> list[kmock.resource]:
        gone = [res for res, sv in self._served_versions.items() if sv.crd['metadata']['name'] == crd_name]
        for res in gone:
            del self._served_versions[res]
            if res in self.resources:
                del self.resources[res]
        return gone

    def _server_fields(self, res: kmock.resource, obj: dict[str, Any], current: Mapping[str, Any] | None) -> None:
        """Fields controllers of a real cluster would fill in at once."""
        if res == crds.CRDS:
            self._check_crd(obj)
            obj['status'] = crds.accepted_status(obj, (current or {}).get('status'))
        elif res == NAMESPACES:
            obj['status'] = {'phase': 'Terminating' if obj['metadata'].get('deletionTimestamp') else 'Active'}

    def _check_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get('spec') or {}
        names = spec.get('names') or {}
        expected = f'{names.get("plural")}.{spec.get("group")}'
        if crd['metadata']['name'] != expected:
            raise self._invalid(crds.CRDS, 'CustomResourceDefinition', crd['metadata']['name'], [
                admission.FieldError('metadata.name', f'Invalid value: {json.dumps(crd["metadata"]["name"])}: '
                                                      f'must be spec.names.plural+"."+spec.group')])
        if not names.get('kind') or not spec.get('versions'):
            raise self._invalid(crds.CRDS, 'CustomResourceDefinition', crd['metadata']['name'], [
                admission.FieldError('spec', 'Required value: names.kind and versions are required')])
        bad_patterns = [admission.FieldError(f'spec.versions[{i}].schema.openAPIV3Schema{path}.pattern',
                                             f'Invalid value: {json.dumps(pattern)}: must be a valid regular '
                                             f"expression, but isn't: {problem}")
                        for i, version in enumerate(spec['versions'])
                        for path, pattern, problem in admission.invalid_patterns(
                            (version.get('schema') or {}).get('openAPIV3Schema') or {})]
        if bad_patterns:  # Go's regexp (RE2) refuses lookarounds and backreferences, so does the server
            raise self._invalid(crds.CRDS, 'CustomResourceDefinition', crd['metadata']['name'], bad_patterns)

    def _admit(self, res: kmock.resource, kind: str, obj: dict[str, Any], old: dict[str, Any] | None, *,
               strict: bool) -> tuple[dict[str, Any], list[str]]:
        """Decode (unknown fields: 400 when strict, else dropped with a warning), convert, validate."""
        cannot = f'{kind} in version "{res.version}" cannot be handled as a {kind}'
        unknown = builtins.unknown_fields(res, obj)
        served = self._served_versions.get(res)
        if served is not None:
            admitted, errors = admission.admit(dict(served.crd), obj, old)
            unknown += [f for f in admission.unknown_fields(obj, admitted) if not f.startswith('metadata.')]
        if unknown and strict:
            listed = ', '.join(f'unknown field "{field}"' for field in unknown)
            raise api_error(400, 'BadRequest', f'{cannot}: strict decoding error: {listed}')
        if served is None:  # built-in kinds: the few server-side rules users rely on (see README)
            admitted = obj
            builtins.drop_fields(admitted, unknown)
            try:
                errors = builtins.normalize(res, admitted)
            except builtins.DecodeError as exc:
                raise api_error(400, 'BadRequest', f'{cannot}: {exc}') from exc
        else:
            builtins.drop_fields(admitted, [f for f in unknown if f.startswith('metadata.')])
        if errors:
            raise self._invalid(res, kind, obj.get('metadata', {}).get('name', ''), errors)
        return admitted, [f'unknown field "{field}"' for field in unknown]

    def _invalid(self, res: kmock.resource, kind: str, name: str,
                 errors: list[admission.FieldError]) -> kmock.KubernetesError:
        causes = [{'reason': next((r for p, r in _CAUSE_REASONS.items() if e.message.startswith(p)),
                                  'FieldValueInvalid'),
                   'message': e.message, 'field': e.field} for e in errors]
        return api_error(422, 'Invalid', admission.status_message(kind, res.group or '', name, errors),
                         {'name': name, 'group': res.group, 'kind': kind, 'causes': causes})

    # ----------------------------------------------------------------------------------------------
    # Reads: get, list, watch (with Tables and selectors)

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None and request.name is not None
        res = request.resource
        info = self._info(res)
        if request.subresource not in (None, 'status') or (
                request.subresource == 'status' and 'status' not in info.subresources):
            raise api_error(404, 'NotFound', 'the server could not find the requested resource')
        obj = self._existing(res, self._key(res, info, request.namespace, request.name))
        if self._wants_table(request):
            return self._table(res, [obj], request)
        return obj

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        if not self._is_object_request(request):
            raise NotImplementedError  # discovery (/apis/<g>/<v>) is served by the scaffold
        assert request.resource is not None
        res = request.resource
        info = self._info(res)
        match = selectors.compile_selectors(request.params.get('labelSelector'), request.params.get('fieldSelector'))
        items = [obj for obj in self._live(res, request.namespace if info.namespaced else None) if match(obj)]
        metadata: dict[str, Any] = {'resourceVersion': str(self._rv)}
        limit = int(request.params.get('limit') or 0)
        start = int(request.params.get('continue') or 0)
        if limit and start + limit < len(items):
            metadata['continue'] = str(start + limit)  # an offset: good enough for one short-lived list
            metadata['remainingItemCount'] = len(items) - start - limit
        items = items[start:start + limit] if limit else items[start:]
        if self._wants_table(request):
            return self._table(res, items, request)
        return {'apiVersion': self._api_version(res), 'kind': self._list_kind(res, info),
                'metadata': metadata, 'items': items}

    # kmock declares its _serve_watch as an async generator; ours wraps one in a Response for the headers.
    async def _serve_watch(self, request: rendering.Request) -> rendering.Payload:  # type: ignore[override]
        if not self._is_object_request(request):
            raise NotImplementedError
        assert request.resource is not None
        info = self._info(request.resource)
        stream = self._watch_stream(request, request.resource, info)
        return Response(headers={'Content-Type': 'application/json'}, payload=stream)

    async def _watch_stream(self, request: rendering.Request, res: kmock.resource, info: kmock.ResourceInfo,
                            ) -> AsyncIterator[rendering.Payload]:
        params = request.params
        field_selector = params.get('fieldSelector') or ''
        if request.name:  # the legacy single-object watch: /<plural>/<name>?watch=true
            field_selector = ','.join(filter(None, [field_selector, f'metadata.name={request.name}']))
        watcher = _Watcher(namespace=request.namespace if info.namespaced else None,
                           matches=selectors.compile_selectors(params.get('labelSelector'), field_selector),
                           limit=self.watch_queue_limit)
        # Registration and the initial snapshot/replay happen without any await in between, so no
        # event can fall into a gap between them.
        self._watchers.setdefault(res, set()).add(watcher)
        try:
            watch_list = params.get('sendInitialEvents') == 'true'
            # A watch-list (kubectl >= 1.35 `wait`, client-go's WatchListClient) wants the current state as
            # ADDED events whatever resourceVersion it names, then a bookmark marking their end.
            since = None if watch_list else params.get('resourceVersion')
            initial, gone = self._initial_events(res, watcher, since)
            snapshot_rv = str(self._rv)
            as_table = self._wants_table(request)
            yield b''  # sends the headers: clients wait for them before reading events
            for event in initial:
                yield self._table_event(res, event, request) if as_table else event
            if watch_list:
                yield self._initial_events_end(res, snapshot_rv)
            if gone:
                yield self._gone_event(params.get('resourceVersion'))
                return
            timeout = float(params.get('timeoutSeconds') or 0) or None
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    live = await asyncio.wait_for(watcher.queue.get(), timeout=remaining)
                except TimeoutError:
                    return
                if live is None:
                    yield self._gone_event(None)
                    return
                yield self._table_event(res, live, request) if as_table else live
        finally:
            self._watchers.get(res, set()).discard(watcher)

    def _initial_events(self, res: kmock.resource, watcher: _Watcher, since: str | None,
                        ) -> tuple[list[dict[str, Any]], bool]:
        if not since or since == '0' or not since.isdigit():
            # No resourceVersion: synthetic ADDED events for the current state, as the real server does.
            objs = self._live(res, watcher.namespace)
            return [{'type': 'ADDED', 'object': obj} for obj in objs if watcher.matches(obj)], False
        since_rv = int(since)
        if since_rv < self._evicted_rv:
            return [], True  # too old: the events in between are no longer kept
        replay = []
        for rv, event_res, event in self._event_log:
            if rv > since_rv and event_res == res:
                obj = event['object']
                if watcher.namespace is not None and obj['metadata'].get('namespace') != watcher.namespace:
                    continue
                if watcher.matches(obj):
                    replay.append(event)
        return replay, False

    def _initial_events_end(self, res: kmock.resource, resource_version: str) -> dict[str, Any]:
        """The BOOKMARK that ends a watch-list's initial events (annotation k8s.io/initial-events-end)."""
        info = self.resources[res]
        return {'type': 'BOOKMARK', 'object': {
            'apiVersion': self._api_version(res), 'kind': info.kind or str(res.plural).capitalize(),
            'metadata': {'resourceVersion': resource_version,
                         'annotations': {'k8s.io/initial-events-end': 'true'}}}}

    @staticmethod
    def _gone_event(since: str | None) -> dict[str, Any]:
        message = f'too old resource version: {since}' if since else 'the watch fell too far behind'
        return {'type': 'ERROR', 'object': {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
                                            'status': 'Failure', 'message': message, 'reason': 'Expired',
                                            'code': 410}}

    @staticmethod
    def _wants_table(request: rendering.Request) -> bool:
        return 'as=Table' in KubeStandIn._header(request, 'Accept')

    def _table(self, res: kmock.resource, items: list[dict[str, Any]], request: rendering.Request,
               ) -> dict[str, Any]:
        if res in EVENT_RESOURCES:  # kube-apiserver's own event printer (LAST SEEN, TYPE, REASON, ...)
            return events.make_table(items, resource_version=str(self._rv),
                                     include_object=request.params.get('includeObject', 'Metadata'))
        served = self._served_versions.get(res)
        columns = served.printer_columns if served is not None else []
        return tables.make_table(items, columns, resource_version=str(self._rv),
                                 include_object=request.params.get('includeObject', 'Metadata'))

    def _table_event(self, res: kmock.resource, event: dict[str, Any], request: rendering.Request,
                     ) -> dict[str, Any]:
        return {'type': event['type'], 'object': self._table(res, [event['object']], request)}

    # ----------------------------------------------------------------------------------------------
    # Discovery and OpenAPI

    def _get_resources(self) -> list[kmock.resource]:
        # Only declared resources (and those of kmock DSL reactions), not every stored object's:
        # an unknown resource must answer 404 as in a real cluster.
        return kmock.KubernetesScaffold._get_resources(self)

    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        return {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0-standin', 'gitCommit': '', 'gitTreeState':
                'clean', 'buildDate': '2026-01-01T00:00:00Z', 'goVersion': 'go1.23', 'compiler': 'gc',
                'platform': 'linux/amd64'}

    def _group_versions(self) -> dict[str, list[str]]:
        """Versions per group, preferred first (the CRD storage version, else the most stable)."""
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for res in self._get_resources():
            if isinstance(res.group, str) and isinstance(res.version, str) and res.plural:
                groups[res.group].add(res.version)
        storage = {sv.resource.group: sv.version['name'] for sv in self._served_versions.values()
                   if sv.version.get('storage')}

        def rank(group: str, version: str) -> tuple[int, int, int]:
            match = re.match(r'^v(\d+)(?:(alpha|beta)(\d+))?$', version)
            if match is None:
                return (1 if storage.get(group) == version else 0, -1, 0)
            major, stage, minor = match.groups()
            stage_rank = {'alpha': 0, 'beta': 1, None: 2}[stage]
            return (1 if storage.get(group) == version else 0, stage_rank * 1000 + int(major), int(minor or 0))

        return {g: sorted(vs, key=functools.partial(rank, g), reverse=True) for g, vs in groups.items()}

    def _group_entry(self, group: str, versions: list[str]) -> dict[str, Any]:
        gvs = [{'groupVersion': f'{group}/{v}', 'version': v} for v in versions]
        return {'name': group, 'versions': gvs, 'preferredVersion': gvs[0]}

    async def _serve_apis(self, request: rendering.Request) -> rendering.Payload:
        groups = self._group_versions()
        return {'kind': 'APIGroupList', 'apiVersion': 'v1',
                'groups': [self._group_entry(g, vs) for g, vs in sorted(groups.items()) if g]}

    async def _serve_group(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None
        group = str(request.resource.group)
        versions = self._group_versions().get(group)
        if not versions or not group:
            raise api_error(404, 'NotFound', 'the server could not find the requested resource')
        return {'kind': 'APIGroup', 'apiVersion': 'v1', **self._group_entry(group, versions)}

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None
        group, version = request.resource.group, request.resource.version
        found = [r for r in self._get_resources() if r.group == group and r.version == version and r.plural]
        if not found and group != '':
            raise api_error(404, 'NotFound', 'the server could not find the requested resource')
        entries: list[dict[str, Any]] = []
        for res in sorted(found, key=lambda r: str(r.plural)):
            info = self.resources[res]
            kind = info.kind or str(res.plural).capitalize()
            entries.append({'name': res.plural, 'singularName': info.singular or kind.lower(), 'kind': kind,
                            'namespaced': bool(info.namespaced), 'verbs': sorted(info.verbs),
                            'shortNames': sorted(info.shortnames), 'categories': sorted(info.categories)})
            for sub in sorted(info.subresources):
                # Subresources carry no short names or categories, else kubectl warns about ambiguity.
                entries.append({'name': f'{res.plural}/{sub}', 'singularName': '', 'namespaced': bool(info.namespaced),
                                'kind': 'Scale' if sub == 'scale' else kind, 'verbs': ['get', 'patch', 'update']})
        return {'kind': 'APIResourceList', 'apiVersion': 'v1',
                'groupVersion': version if group == '' else f'{group}/{version}', 'resources': entries}

    def _openapi_document(self, key: str) -> dict[str, Any] | None:
        if key not in self._openapi_cache:
            parts = key.split('/')
            if parts[0] == 'api' and len(parts) == 2:
                group, version = '', parts[1]
            elif parts[0] == 'apis' and len(parts) == 3:
                group, version = parts[1], parts[2]
            else:
                return None
            kinds = [(res, self.resources[res], sv.schema if (sv := self._served_versions.get(res)) else None)
                     for res in self._get_resources()
                     if res.group == group and res.version == version and res.plural]
            if not kinds:
                return None
            self._openapi_cache[key] = openapi.document(group, version, kinds)
        return self._openapi_cache[key]

    async def _serve_openapi_index(self, request: rendering.Request) -> rendering.Payload:
        result: dict[str, Any] = {}
        for group, versions in self._group_versions().items():
            for version in versions:
                key = openapi.gv_key(group, version)
                doc = self._openapi_document(key)
                if doc is not None:
                    result[key] = {'serverRelativeURL': f'/openapi/v3/{key}?hash={openapi.digest(doc)}'}
        return {'paths': result}

    async def _serve_openapi_document(self, request: rendering.Request) -> rendering.Payload:
        key = request.url.path.removeprefix('/openapi/v3/').strip('/')
        doc = self._openapi_document(key)
        if doc is None:
            raise api_error(404, 'NotFound', f'no OpenAPI v3 document for {key}')
        return doc

    # ----------------------------------------------------------------------------------------------
    # Small helpers

    def _info(self, res: kmock.resource) -> kmock.ResourceInfo:
        if res.plural is None or res not in self.resources:
            raise api_error(404, 'NotFound', 'the server could not find the requested resource',
                            {'group': res.group, 'kind': res.plural})
        return self.resources[res]

    @staticmethod
    def _key(res: kmock.resource, info: kmock.ResourceInfo, namespace: str | None, name: str) -> ObjectKey:
        return (res, namespace if info.namespaced else None, name)

    @staticmethod
    def _api_version(res: kmock.resource) -> str:
        return str(res.version) if not res.group else f'{res.group}/{res.version}'

    def _list_kind(self, res: kmock.resource, info: kmock.ResourceInfo) -> str:
        served = self._served_versions.get(res)
        if served is not None:
            return served.list_kind
        return f'{info.kind or str(res.plural).capitalize()}List'

    @staticmethod
    def _qualified(res: kmock.resource) -> str:
        return f'{res.plural}.{res.group}' if res.group else str(res.plural)

    @staticmethod
    def _header(request: rendering.Request, name: str) -> str:
        if request._raw_request is not None:
            return str(request._raw_request.headers.get(name, ''))
        lowered = name.lower()
        return next((str(v) for k, v in request.headers.items() if k.lower() == lowered), '')


def iter_crd_docs(paths_: Iterable[pathlib.Path]) -> Iterable[dict[str, Any]]:
    """CustomResourceDefinition documents in the given YAML/JSON files."""
    for path in paths_:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get('kind') == 'CustomResourceDefinition':
                yield doc
