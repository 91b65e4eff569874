"""The audit trail: one JSON line per command sent to a node (node and argv, never stdin, which is
where file contents travel), with the cluster it was sent for, when, and by which replica.

Bounded on purpose: the Deployment writes it to an emptyDir, and a pod whose emptyDir outgrows its
``sizeLimit`` is evicted by the kubelet. So the file is rotated at ``max_bytes``: the full file becomes
``<file>.1`` (replacing the previous one) and a new file starts. The two together never exceed twice
``max_bytes``; the manifests size the emptyDir for that (a test holds them to it)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

# 100 MiB a file: at the steady rate of 100 sites (two probes per site per 5 minutes, ~200 bytes a
# line) that is months of history, and the two files fit the manifests' 1 GiB emptyDir with room.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class AuditLog:
    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, replica: str | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError(f"the audit log's size limit must be positive, not {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes
        self._replica = replica
        self._file: IO[str] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], replica: str | None) -> AuditLog | None:
        """JCOP_AUDIT_LOG=FILE turns it on; JCOP_AUDIT_LOG_MAX_BYTES sets the rotation size."""
        path = environ.get("JCOP_AUDIT_LOG")
        if not path:
            return None
        raw = environ.get("JCOP_AUDIT_LOG_MAX_BYTES", "")
        try:
            max_bytes = int(raw) if raw else DEFAULT_MAX_BYTES
        except ValueError:
            raise ValueError(f"JCOP_AUDIT_LOG_MAX_BYTES must be a number of bytes, not {raw!r}") from None
        return cls(Path(path), max_bytes=max_bytes, replica=replica)

    def observer(self, acting_on: Callable[[], str | None]) -> Callable[[str, tuple[str, ...]], None]:
        """The node pool's observer: ``acting_on`` names the cluster the current run is for."""

        def record(node: str, argv: tuple[str, ...]) -> None:
            self.record(node, argv, acting_on())

        return record

    def record(self, node: str, argv: tuple[str, ...], cluster: str | None) -> None:
        line: dict[str, object] = {"node": node, "argv": list(argv), "cluster": cluster, "at": time.time()}
        if self._replica is not None:
            line["replica"] = self._replica
        text = json.dumps(line) + "\n"
        f = self._open()
        if f.tell() > 0 and f.tell() + len(text.encode()) > self.max_bytes:
            f = self._rotate()
        f.write(text)  # line-buffered: a reader (a person, a test) sees every whole line at once

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> IO[str]:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)
        return self._file

    def _rotate(self) -> IO[str]:
        self.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        return self._open()
