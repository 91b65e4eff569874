"""Masking of secrets in text that might reach logs, errors or status."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"
STDERR_LIMIT = 300

# A PEM / OpenSSH private key block; an unterminated block is masked to the end of the text.
_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# PuTTY private key files
_PUTTY = re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC:[^\n]*|\Z)", re.DOTALL)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask anything that looks like a private key block, and each given secret string."""
    text = _KEY_BLOCK.sub(REDACTED, text)
    text = _PUTTY.sub(REDACTED, text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def trim(text: str, limit: int = STDERR_LIMIT) -> str:
    """Redact, strip and cut ``text`` to at most ``limit`` characters (keeps the tail:
    the last lines of stderr usually say what went wrong)."""
    text = redact(text).strip()
    if len(text) <= limit:
        return text
    return "..." + text[-(limit - 3) :]
