"""Credentials never leave the operator in what it shows: status, conditions, Events, metric
labels, admission warnings and logs.

The CRD and the spec model refuse credentials in URLs (USER[:PASSWORD]@, SPEC "Credentials never
live in URLs"), so a valid spec has none. These functions are the second line: an object stored
under an older CRD, a redirect's Location, or text that quotes a URL still shows `***@` where the
credentials were.
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import urlsplit

#: What stands in for the credentials of a URL.
MASK: Final = "***"

#: The userinfo of a URL anywhere in a text: scheme://USERINFO@, up to the last "@" of the authority
#: (which ends at "/", "?", "#", whitespace or a quote).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][-A-Za-z0-9+.]*://)[^/?#\s'\"<>]*@")


def redact_url(url: str) -> str:
    """The URL with its userinfo (a token as user name, or user and password) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        return redact_text(url)
    host = parts.netloc.rsplit("@", 1)[1]
    return redact_text(parts._replace(netloc=f"{MASK}@{host}").geturl())


def redact_text(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by ***."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def has_userinfo(url: str) -> bool:
    """Whether the URL carries credentials (USER[:PASSWORD]@ before its host)."""
    return _USERINFO.match(url) is not None


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URL credentials from every record's message (kopf's own log
    lines included: at --verbose it prints patches and bodies)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set: format the traceback here, redacted.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


_TRACEBACKS = logging.Formatter()
