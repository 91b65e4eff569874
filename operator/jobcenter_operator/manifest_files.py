"""Manifests for ``plan``: read from files, directories or stdin, then pick one site, its cluster
and its credentials Secret.

Reading (:func:`read_documents`) is the only I/O here; picking (:func:`select`) and validating
(:func:`validate`) are pure, and the live path (``cluster_reader``) feeds them the same dicts.
Every failure is a :class:`ManifestError` whose text is one line a user can act on: the CLI prints
it as it is, without a traceback.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import yaml
from pydantic import ValidationError

from .api import ClusterproCluster, JobCenterSite
from .api.common import ApiModel

# What `kubectl apply -f DIR` reads from a directory (not recursive).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

Model = TypeVar("Model", bound=ApiModel)


class ManifestError(Exception):
    """A manifest that cannot be read or used; the text is the whole message for the user."""


@dataclass(frozen=True)
class Document:
    where: str  # file name, or "stdin", for messages
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""


@dataclass(frozen=True)
class Selection:
    site: JobCenterSite
    cluster: ClusterproCluster
    secret: dict[str, bytes] | None  # the credentials Secret's data, when it was among the documents


def read_documents(sources: Sequence[str], stdin: TextIO) -> list[Document]:
    """Every object in the files, the directories' manifest files (sorted) and, for ``-``, stdin."""
    documents: list[Document] = []
    for source in sources:
        if source == "-":
            documents += parse_documents(stdin.read(), "stdin")
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            if not files:
                raise ManifestError(f"{source}: a directory without {', '.join(MANIFEST_SUFFIXES)} files")
        elif path.exists():
            files = [path]
        else:
            raise ManifestError(f"{source}: no such file or directory")
        for file in files:
            documents += parse_documents(_read_text(file), str(file))
    return documents


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, as kubectl does. PyYAML keeps the
    last value silently: two manifests concatenated without `---` would become one object."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (a missing `---` between two documents?)",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_documents(text: str, where: str) -> list[Document]:
    """The objects of a YAML (or JSON) stream; a ``kind: List`` is unpacked, empty documents skipped."""
    try:
        loaded = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{where}: not valid YAML: {_yaml_problem(exc)}") from None
    documents: list[Document] = []
    for index, body in enumerate(loaded, start=1):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ManifestError(f"{where}: document {index} is not a Kubernetes object (a {type(body).__name__})")
        if body.get("kind") == "List" and isinstance(body.get("items"), list):
            for item in body["items"]:
                if not isinstance(item, dict):
                    raise ManifestError(f"{where}: document {index} has a list item that is not an object")
                documents.append(Document(where, item))
        else:
            documents.append(Document(where, body))
    return documents


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem or exc.context or 'syntax error'} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc).replace("\n", " ")


def validate(model: type[Model], body: Mapping[str, Any], where: str) -> Model:
    """The object's desired state as a model, or one line naming every field that is wrong.

    ``status`` is left out: plan does not read it, and an object saved by `kubectl get -o yaml`
    may carry status fields of another operator version."""
    try:
        return model.model_validate({k: v for k, v in body.items() if k != "status"})
    except ValidationError as exc:
        name = body.get("metadata", {}).get("name", "?") if isinstance(body.get("metadata"), dict) else "?"
        raise ManifestError(f"invalid {model.__name__} {name!r} ({where}): {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    """pydantic's errors as `path: message` pairs on one line, paths in the API server's notation."""
    parts = []
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if error["type"] == "string_pattern_mismatch":
            # The pattern itself (up to a thousand characters for an address) helps nobody.
            message = f"invalid value {error['input']!r}"
        else:
            message = error["msg"].removeprefix("Value error, ").replace("\n", " ")
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)


def secret_data(body: Mapping[str, Any], where: str) -> dict[str, bytes]:
    """A Secret's keys as bytes: ``data`` (base64) overlaid with ``stringData``, as the API server does."""
    out: dict[str, bytes] = {}
    data = body.get("data") or {}
    string_data = body.get("stringData") or {}
    if not isinstance(data, dict) or not isinstance(string_data, dict):
        raise ManifestError(f"{where}: Secret data and stringData must be maps")
    for key, value in data.items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise ManifestError(f"{where}: Secret key {key!r} is not valid base64") from None
    for key, value in string_data.items():
        out[str(key)] = str(value).encode()
    return out


def select(documents: Iterable[Document], name: str | None = None) -> Selection:
    """The site (the one named, or the only one), the ClusterproCluster it refers to, and its
    credentials Secret if one of the documents is that Secret."""
    documents = list(documents)
    sites = [d for d in documents if d.kind == "JobCenterSite"]
    if name is not None:
        sites = [d for d in sites if d.name == name]
        if not sites:
            raise ManifestError(f"no JobCenterSite named {name!r} in the given manifests")
    if not sites:
        raise ManifestError("no JobCenterSite in the given manifests")
    if len(sites) > 1:
        names = ", ".join(sorted(d.name for d in sites))
        raise ManifestError(f"{len(sites)} JobCenterSites in the given manifests ({names}): name one")
    site = validate(JobCenterSite, sites[0].body, sites[0].where)
    wanted = site.spec.cluster_ref.name
    clusters = [d for d in documents if d.kind == "ClusterproCluster" and d.name == wanted]
    if not clusters:
        raise ManifestError(f"site {site.metadata.name!r} refers to ClusterproCluster {wanted!r}, "
                            "which is not in the given manifests")
    cluster = validate(ClusterproCluster, clusters[0].body, clusters[0].where)
    secret_name = cluster.spec.ssh.credentials_secret_ref.name
    secrets = [d for d in documents if d.kind == "Secret" and d.name == secret_name]
    secret = secret_data(secrets[0].body, secrets[0].where) if secrets else None
    return Selection(site=site, cluster=cluster, secret=secret)
