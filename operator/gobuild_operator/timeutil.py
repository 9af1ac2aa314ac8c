"""Timestamps in the one format Kubernetes status fields use."""

from __future__ import annotations

import datetime


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime.datetime:
    """RFC 3339 as the API server writes it ("...Z") or as Python clients render it ("+00:00");
    the distant past when absent or unreadable."""
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
