"""Masking of secrets in text that might reach logs, errors or status."""

from __future__ import annotations

import logging
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
    # Every secret, however short: a 3-character password left readable is a leaked password
    # (masking its every occurrence makes the text harder to read, never less safe). Longest first,
    # so a secret that contains another is masked whole.
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def trim(text: str, limit: int = STDERR_LIMIT) -> str:
    """Redact, strip and cut ``text`` to at most ``limit`` characters (keeps the tail:
    the last lines of stderr usually say what went wrong)."""
    text = redact(text).strip()
    if len(text) <= limit:
        return text
    return "..." + text[-(limit - 3) :]


class RedactingFilter(logging.Filter):
    """Logging filter that masks private key blocks in a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; let logging report it
            return True
        masked = redact(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


_FILTER = RedactingFilter()
# asyncssh logs the full remote command line at INFO ("Command: ..."); node/ owns asyncssh, so
# it owns the redaction of asyncssh's loggers too.
_REDACTED_LOGGERS = ("asyncssh", "asyncssh.sftp", "jobcenter_operator.node")


def install_log_redaction() -> None:
    """Attach the redacting filter to asyncssh's loggers and ours (idempotent)."""
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
