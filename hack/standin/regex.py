"""Regular expressions with Go's RE2 semantics, as kube-apiserver evaluates them.

CRD ``pattern``s and CEL ``matches()`` run on Go's ``regexp`` (RE2). Python's ``re`` differs where
users notice: ``$`` also matches before a trailing newline (so ``^failover-jc$`` would accept
``"failover-jc\\n"``), ``\\d``/``\\w``/``\\s`` are Unicode-aware, POSIX classes (``[[:alpha:]]``) are
missing, and lookarounds/backreferences compile although RE2 refuses them. ``google-re2`` is the
same engine Go's syntax follows, so patterns are compiled with it, never translated by hand.
"""

from __future__ import annotations

import functools
from typing import Any

import re2


class PatternError(ValueError):
    """A pattern RE2 refuses (the API server refuses such a CRD)."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to the client, not logged to stderr
    return options


_OPTIONS = _options()


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f'error parsing regexp: {detail}') from exc


def search(pattern: str, value: str) -> bool:
    """Go's ``regexp.MatchString``: unanchored, ``$`` only at the very end of the text."""
    return compile_pattern(pattern).search(value) is not None
