"""What the cache keeps, for how long, and what it does with each upstream answer.

The rules follow from how go uses a proxy. A module version's .info/.mod/.zip never change once
published (go.sum and the checksum database pin them), so they are kept until evicted; `@v/list`,
`@latest` and version queries move with every release, so they are fresh for a short TTL and then
asked again, and a stale copy is better than a failed build when the upstream is down. 404 and 410
are answers, not failures: they are passed on so go's `,` fallback to the next proxy works, and
remembered only briefly. An upstream 5xx is never content: it is not stored and never replaces a
stale copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gobuild_operator.core.modcache.paths import IMMUTABLE_KINDS, Kind
from gobuild_operator.core.modcache.patterns import match_prefix_patterns
from gobuild_operator.core.modcache.sumdb import SumDB

# The go command's own limits (golang.org/x/mod/zip MaxZipFile, modfetch's go.mod limit) and
# generous bounds for the small JSON and text answers.
_MAX_SIZE = {
    Kind.ZIP: 500 << 20,
    Kind.MOD: 16 << 20,
    Kind.LIST: 16 << 20,
    Kind.INFO: 1 << 20,
    Kind.QUERY: 1 << 20,
    Kind.LATEST: 1 << 20,
    Kind.SUMDB_LATEST: 1 << 20,
    Kind.SUMDB_LOOKUP: 1 << 20,
    Kind.SUMDB_TILE: 4 << 20,
}
#: The most an upstream's 404/410 text is read and passed on.
MAX_NOT_FOUND_BODY = 16 << 10


def max_size(kind: Kind) -> int:
    return _MAX_SIZE.get(kind, 1 << 20)


class Freshness(enum.Enum):
    FRESH = "fresh"  # serve it
    STALE = "stale"  # ask upstream; serve it if upstream fails
    MISSING = "missing"  # ask upstream


def freshness(kind: Kind, *, fetched_at: float | None, now: float, ttl: float) -> Freshness:
    if fetched_at is None:
        return Freshness.MISSING
    if kind in IMMUTABLE_KINDS or now - fetched_at < ttl:
        return Freshness.FRESH
    return Freshness.STALE


class Answer(enum.Enum):
    OK = "ok"
    NOT_FOUND = "not_found"  # 404 or 410: passed on, and go's `,` falls through
    ERROR = "error"


@dataclass(frozen=True)
class Classified:
    answer: Answer
    error_class: str  # metrics label: ok, not_found, http_4xx, http_5xx, and transport classes


def classify_status(status: int) -> Classified:
    if status == 200:
        return Classified(Answer.OK, "ok")
    if status in (404, 410):
        return Classified(Answer.NOT_FOUND, "not_found")
    if status >= 500:
        return Classified(Answer.ERROR, "http_5xx")
    return Classified(Answer.ERROR, "http_4xx" if status >= 400 else "http_other")


def falls_through(answer: Answer, *, fall_back_on_error: bool) -> bool:
    """Does go try the next proxy after this answer? (`,`: only after 404/410; `|`: after any.)"""
    if answer is Answer.OK:
        return False
    return answer is Answer.NOT_FOUND or fall_back_on_error


def needs_verification(kind: Kind, module: str, *, sumdb: SumDB | None, nosumdb: str) -> bool:
    """Must this .mod/.zip match the checksum database before it is kept? (go's useSumDB)

    `nosumdb` is GONOSUMDB as go reads it (GOPRIVATE when GONOSUMDB is unset). go always checks
    its own toolchain modules, whatever GONOSUMDB says.
    """
    if kind not in (Kind.MOD, Kind.ZIP) or sumdb is None:
        return False
    if module == "golang.org/toolchain":
        return True
    return not match_prefix_patterns(nosumdb, module)
