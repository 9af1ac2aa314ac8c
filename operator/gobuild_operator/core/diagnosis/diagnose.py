"""Turn the log of a failed Go build into one reason a platform team can act on.

Build logs are long and noisy (shell traces, git progress, buildkit/kaniko step wrappers, CI
timestamps), and a failed download often prints several errors: a TLS handshake times out, the
script retries offline, and the last line says "module lookup disabled". The last line is the
wrong answer. So the classifier ranks what it finds, by the reasons, tiers and rules of the registry
(core/diagnosis/reasons.py): the lowest tier first, within a tier the earliest line, on one line the rule the
registry lists first.

Text a module proxy returns ("server response:" and the indented lines under it) is the proxy's own
story about its upstream: it is only used to tell an unknown revision from an unknown module, never
read as this build's credential or network failure.

Inside an image build, go runs with whatever the Dockerfile's RUN step gives it, which is not the
builder container's environment: a Dockerfile without `ARG GOPROXY` makes go ask proxy.golang.org
however the cluster is configured. So when the caller knows the Go settings the build was given
(`GoSettings`: the operator reads the failed container's injected environment, the CLI a
GoBuildConfig), the classifier also compares the servers go asked with them: a module proxy or
checksum database URL the settings do not name, or a proxy asked for a module GOPRIVATE covers, is
BuildSettingsNotPassed, ranked before the network failure that request then ran into.

The module is pure (no I/O): the operator runs it on a Pod's termination message and
`python -m gobuild_operator diagnose` runs it on a saved log. Tested against logs recorded from real
go/git/ssh runs and real BuildKit builds (tests/fixtures/gofailures, scripts/record_go_failures.py,
scripts/record_builder_failures.py).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from gobuild_operator.api.reasons import NAMES, UNKNOWN
from gobuild_operator.core.diagnosis import reasons

__all__ = [
    "MAX_EVIDENCE",
    "REASONS",
    "SETTINGS_NOT_PASSED",
    "UNKNOWN",
    "Diagnosis",
    "GoSettings",
    "diagnose",
    "explain",
    "strip_ci_prefix",
]

#: Every reason `diagnose` can return, in the registry's order (core/diagnosis/reasons.py).
REASONS: Final[tuple[str, ...]] = NAMES

#: Longest evidence line kept (a pathological log line must not bloat a status field).
MAX_EVIDENCE: Final = 500

#: The reason found by comparing the servers go asked with the build's Go settings (no log rule).
SETTINGS_NOT_PASSED: Final = "BuildSettingsNotPassed"


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, how to fix it, and the log line that shows it ("" when Unknown)."""

    reason: str
    summary: str
    remedy: str
    evidence: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "reason": self.reason,
            "summary": self.summary,
            "remedy": self.remedy,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class GoSettings:
    """The Go settings a build was given, as its environment holds them ("" = not set).

    What the classifier compares the servers go asked with: the module proxies of `goproxy`, the
    checksum database of `gosumdb` (not compared when unset: go's default), and the private
    patterns (`gonoproxy`, else `goprivate`) no proxy may be asked about.
    """

    goproxy: str
    gosumdb: str = ""
    goprivate: str = ""
    gonoproxy: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GoSettings | None:
        """From a container's (or a plan's) environment; None without a GOPROXY to compare with."""
        goproxy = env.get("GOPROXY", "").strip()
        if not goproxy:
            return None
        return cls(
            goproxy=goproxy,
            gosumdb=env.get("GOSUMDB", "").strip(),
            goprivate=env.get("GOPRIVATE", "").strip(),
            gonoproxy=env.get("GONOPROXY", "").strip(),
        )


@dataclass(frozen=True)
class _Rule:
    reason: str
    order: int
    anchors: tuple[str, ...]
    pattern: re.Pattern[str] | None
    in_proxy_detail: bool


def _compile() -> tuple[tuple[_Rule, ...], ...]:
    """The registry's rules grouped by tier (every tier a reason has), lowest first; `order` is the
    registry's order."""
    rules = [
        (entry.tier, entry.name, rule)
        for entry in reasons.REGISTRY
        if entry.tier is not None
        for rule in entry.rules
    ]
    return tuple(
        tuple(
            _Rule(
                name,
                order,
                rule.anchors,
                None if rule.pattern is None else re.compile(rule.pattern, re.MULTILINE),
                rule.in_proxy_detail,
            )
            for order, (tier, name, rule) in enumerate(rules)
            if tier == wanted
        )
        for wanted in _TIER_NUMBERS
    )


_TIER_NUMBERS: Final = tuple(sorted({entry.tier for entry in reasons.REGISTRY if entry.tier is not None}))
_TIERS: Final = _compile()
#: The tier in which a settings mismatch competes; it wins every rule on the same line.
_SETTINGS_TIER: Final = reasons.reason(SETTINGS_NOT_PASSED).tier

# Terminal escapes (colours, GitLab's `\e[0K` section markers, OSC titles).
_ANSI: Final = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

# What CI systems and image builders put in front of a tool's output line. Each alternative ends
# with exactly the separator it owns, so the tool's own indentation (a tab) survives.
_PREFIX: Final = re.compile(
    r"""
    (?:
        \d{4}-\d{2}-\d{2}[T\ ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?[ ]  # ISO 8601
      | \[\d{4}-\d{2}-\d{2}[T\ ][^\]\n]*\][ ]?                                     # [2024-05-01 12:34:56]
      | \[?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\]?[ ]                                      # 12:34:56 / [12:34:56]
      | (?:stdout|stderr)[ ][FP][ ]                                                # CRI container log
      | \#\d+[ ]\d+(?:\.\d+)?[ ]                                                   # buildkit "#8 12.34 "
      | \#\d+[ ]                                                                   # buildkit "#8 "
      | \d+\.\d+[ ]                                                                # buildx error summary
      | (?:STEP|Step)[ ]\d+/\d+[ ]?:[ ]                                            # podman/buildah, docker
      | (?:INFO|WARN|ERRO|DEBU|FATA)\[\d+\][ ]*                                     # kaniko (logrus)
      | \++[ ]                                                                     # sh -x trace
      | \#\#\[[a-z]+\][ ]?                                                         # GitHub Actions
      | \[(?:step-[\w.-]+|Pipeline|pod/[^\]\n]+|[\w.-]+/[\w.-]+)\][ ]?               # tekton, jenkins
      | \[[\w.-]+[ ]:[ ][\w.-]+\][ ]?                                              # tkn "[task : step]"
      | [\w.-]+-\d+[ ]+\|[ ]                                                       # compose "build-1  | "
    )
    """,
    re.VERBOSE,
)

_PROXY_DETAIL_MARK: Final = "server response:"
_MAX_DETAIL_WALK: Final = 24  # go keeps at most 8 lines of a proxy's text; be generous


def strip_ci_prefix(line: str) -> str:
    """The line without CI/builder prefixes (timestamps, `#8 1.23`, `STEP 3/7:`, `+ `), indentation kept."""
    for _ in range(8):
        m = _PREFIX.match(line)
        if m is None or m.end() == 0:
            break
        line = line[m.end() :]
    return line


def explain(reason: str, evidence: str = "") -> Diagnosis:
    """The Diagnosis for a known reason (summary and remedy from the registry)."""
    entry = reasons.reason(reason)
    return Diagnosis(reason=entry.name, summary=entry.summary, remedy=entry.remedy, evidence=evidence)


def diagnose(text: str, *, settings: GoSettings | None = None) -> Diagnosis:
    """Classify a build log: the first root cause of a Go module download failure, or Unknown.

    `settings` are the Go settings the build was given (the injected ones), when known: then go
    asking a server they do not name is BuildSettingsNotPassed (see the module docstring).
    """
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    mismatch = _settings_mismatch(text, settings) if settings is not None else None
    for number, tier in zip(_TIER_NUMBERS, _TIERS, strict=True):
        best: tuple[int, int, int] | None = None  # (line start, rule order, match position)
        best_reason = UNKNOWN
        if mismatch is not None and number == _SETTINGS_TIER:
            best, best_reason = (mismatch[0], -1, mismatch[1]), SETTINGS_NOT_PASSED
        for rule in tier:
            found = _first_match(text, rule, len(text) if best is None else _line_end(text, best[0]))
            if found is not None and (best is None or (found[0], rule.order) < best[:2]):
                best, best_reason = (found[0], rule.order, found[1]), rule.reason
        if best is not None:
            return explain(best_reason, _evidence(text, best[2]))
    return explain(UNKNOWN)


def _first_match(text: str, rule: _Rule, endpos: int) -> tuple[int, int] | None:
    """(line start, match position) of the rule's earliest valid match that starts before endpos."""
    best: tuple[int, int] | None = None
    for anchor in rule.anchors:
        limit = endpos if best is None else best[0]
        pos = text.find(anchor, 0, limit)
        while pos >= 0:
            start, end = _line_start(text, pos), _line_end(text, pos)
            hit: int | None = pos
            if rule.pattern is not None:
                m = rule.pattern.search(text, start, end)
                hit = None if m is None else m.start()
            if hit is not None and (rule.in_proxy_detail or not _in_proxy_detail(text, start, hit)):
                best = (start, hit)
                break
            pos = text.find(anchor, end, limit)
    return best


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _evidence(text: str, pos: int) -> str:
    """The matched line, cut to its carriage-return segment, CI prefixes and surrounding space removed."""
    start, end = _line_start(text, pos), _line_end(text, pos)
    cr = text.rfind("\r", start, pos)
    if cr >= 0:
        start = cr + 1
    cr = text.find("\r", pos, end)
    if cr >= 0:
        end = cr
    line = strip_ci_prefix(text[start:end]).strip()
    if len(line) > MAX_EVIDENCE:
        line = line[: MAX_EVIDENCE - 1] + "…"
    return line


def _visible(line: str) -> str:
    """What a terminal shows of a line: its last carriage-return segment, without CI prefixes."""
    return strip_ci_prefix(line.rstrip("\r").rsplit("\r", 1)[-1])


def _is_indented(line: str) -> bool:
    return line[:1] in (" ", "\t")


def _in_proxy_detail(text: str, line_start: int, pos: int) -> bool:
    """Whether pos lies in text a module proxy sent back (after `server response:`, or indented under it)."""
    if _PROXY_DETAIL_MARK in text[line_start:pos]:
        return True
    line = _visible(text[line_start : _line_end(text, line_start)])
    if not _is_indented(line):
        return False
    end = line_start - 1
    for _ in range(_MAX_DETAIL_WALK):
        if end < 0:
            return False
        start = text.rfind("\n", 0, end) + 1
        previous = _visible(text[start:end])
        if _PROXY_DETAIL_MARK in previous:
            return True
        if not _is_indented(previous):
            return False
        end = start - 1
    return False


# --- comparing what go asked with the settings the build was given ------------------------------

#: Anchors of go's module proxy and checksum database requests (candidate lines, found fast).
_REQUEST_ANCHORS: Final = ("/@v/", "/@latest", "/lookup/", "/tile/", "/sumdb/")
_URL: Final = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
#: A checksum database request path (also below a proxy's /sumdb/<name>/).
_SUMDB_PATH: Final = re.compile(r"/(?:lookup/\S+@v[^/\s]*|tile/\d+/\S+|latest|supported)$")
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}


def _settings_mismatch(text: str, settings: GoSettings) -> tuple[int, int] | None:
    """(line start, URL position) of the first request go made that `settings` would not have made."""
    proxies = _proxy_bases(settings.goproxy)
    private = _patterns(settings.gonoproxy or settings.goprivate)
    sumdb = _sumdb_host(settings.gosumdb)
    best: tuple[int, int] | None = None
    for anchor in _REQUEST_ANCHORS:
        limit = len(text) if best is None else best[0]
        pos = text.find(anchor, 0, limit)
        while pos >= 0:
            start, end = _line_start(text, pos), _line_end(text, pos)
            for m in _URL.finditer(text, start, end):
                if _in_proxy_detail(text, start, m.start()):
                    continue
                if _not_from(m.group(0), proxies=proxies, private=private, sumdb=sumdb):
                    best = (start, m.start())
                    break
            if best is not None and best[0] == start:
                break
            pos = text.find(anchor, end, limit)
    return best


def _netloc(scheme: str, netloc: str) -> str:
    """host[:port] in lower case, without userinfo or the scheme's default port."""
    host = netloc.rsplit("@", 1)[-1].lower()
    default = _DEFAULT_PORTS.get(scheme.lower())
    if default and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return host


def _proxy_bases(goproxy: str) -> dict[str, tuple[str, ...]]:
    """host[:port] -> base paths of the GOPROXY entries that are URLs (direct and off are not)."""
    bases: dict[str, tuple[str, ...]] = {}
    for entry in re.split(r"[,|]", goproxy):
        entry = entry.strip()
        if not entry or entry in ("direct", "off") or entry.startswith("file:"):
            continue
        if "://" not in entry:
            entry = "https://" + entry  # go's rule for a proxy given without a scheme
        parts = urlsplit(entry)
        key = _netloc(parts.scheme, parts.netloc)
        bases[key] = (*bases.get(key, ()), parts.path.rstrip("/"))
    return bases


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(pattern.strip().rstrip("/") for pattern in value.split(",") if pattern.strip())


def _sumdb_host(gosumdb: str) -> str | None:
    """The checksum database's host[:port]; "" for "off"; None when unset (go's default)."""
    if not gosumdb:
        return None
    if gosumdb == "off":
        return ""
    fields = gosumdb.split()
    url = next((f for f in fields[1:] if "://" in f), None)
    if url is None:
        name = fields[0].split("+", 1)[0]
        return _netloc("https", name)
    parts = urlsplit(url)
    return _netloc(parts.scheme, parts.netloc)


def _not_from(
    url: str, *, proxies: Mapping[str, tuple[str, ...]], private: tuple[str, ...], sumdb: str | None
) -> bool:
    """Whether go asking `url` shows that it ran with other settings than these."""
    parts = urlsplit(url.rstrip(".,;:)]"))
    host = _netloc(parts.scheme, parts.netloc)
    path = parts.path
    at = path.find("/@v/")
    if at < 0 and path.endswith("/@latest"):
        at = len(path) - len("/@latest")
    if at >= 0:  # a module proxy request
        if host not in proxies:
            return True
        module = _module_path(path[:at], proxies[host])
        return module is not None and _is_private(module, private)
    if not _SUMDB_PATH.search(path):
        return False
    if "/sumdb/" in path:  # the checksum database through a proxy
        return host not in proxies
    return sumdb is not None and host != sumdb


def _module_path(prefix: str, bases: tuple[str, ...]) -> str | None:
    """The module a proxy request is about: the path below the proxy's base, case-decoded (`!x` = X)."""
    for base in sorted(bases, key=len, reverse=True):
        if prefix.startswith(base + "/"):
            escaped = prefix[len(base) + 1 :]
            return re.sub(r"!([a-z])", lambda m: m.group(1).upper(), escaped)
    return None


def _is_private(module: str, patterns: tuple[str, ...]) -> bool:
    """go's GOPRIVATE matching: a pattern matches the module path's first as many elements."""
    elements = module.split("/")
    for pattern in patterns:
        wanted = pattern.split("/")
        if len(elements) >= len(wanted) and all(
            fnmatch.fnmatchcase(have, glob) for have, glob in zip(elements, wanted, strict=False)
        ):
            return True
    return False
