"""Credentials never leave the operator in what it shows: status, conditions, Events, metric
labels, admission warnings and logs.

The CRD and the spec model refuse credentials in URLs (USER[:PASSWORD]@, SPEC "Credentials never
live in URLs"), so a valid spec has none. These functions are the second line: an object stored
under an older CRD, a redirect's Location, or text that quotes a URL still shows `***@` where the
credentials were.

Tenants write much of the text that passes through here (annotations quoted in warnings, build
logs, env values), so the scan is linear in the text's length: it visits each "://" once and reads
the authority after it with an anchored pattern that stops at the first "/" (so no read passes the
next "://"). A search pattern for `scheme://userinfo@` restarts at every letter of a long word
(quadratic), and Python's `re` holds the GIL while it runs, which stalls every thread of the
operator. Whatever precedes "://" is kept as it is: the userinfo is masked whether or not it
follows a well-formed scheme.
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import urlsplit

#: What stands in for the credentials of a URL.
MASK: Final = "***"

#: A URL's authority, from just after "://" to the first "/", "?", "#", whitespace or quote.
_AUTHORITY: Final = re.compile(r"[^/?#\s'\"<>]*")
_SCHEME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


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
    if "@" not in text:
        return text
    out: list[str] = []
    copied = 0
    for userinfo_start, at in _userinfos(text):
        out += (text[copied:userinfo_start], MASK)
        copied = at
    if not out:
        return text
    out.append(text[copied:])
    return "".join(out)


def has_userinfo(url: str) -> bool:
    """Whether the URL carries credentials (USER[:PASSWORD]@ before its host)."""
    colon = url.find("://")
    if colon < 1 or not (url[0].isascii() and url[0].isalpha()):
        return False
    if any(char not in _SCHEME_CHARS for char in url[:colon]):
        return False
    end = _AUTHORITY.match(url, colon + 3)
    return end is not None and "@" in url[colon + 3 : end.end()]


def contains_userinfo(text: str) -> bool:
    """Whether any URL in `text` (a GOPROXY list, a log line) carries credentials."""
    return "@" in text and bool(_userinfos(text))


def _userinfos(text: str) -> list[tuple[int, int]]:
    """(start, end) of the userinfo of each URL in `text`: from after "://" to the authority's last "@"."""
    found: list[tuple[int, int]] = []
    separator = text.find("://")
    while separator != -1:
        start = separator + 3
        authority = _AUTHORITY.match(text, start)
        end = authority.end() if authority is not None else start
        at = text.rfind("@", start, end)
        if at != -1:
            found.append((start, at))
        separator = text.find("://", start)
    return found


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
