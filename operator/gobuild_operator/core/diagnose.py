"""Turn the log of a failed Go build into one reason a platform team can act on.

Build logs are long and noisy (shell traces, git progress, buildkit/kaniko step wrappers, CI
timestamps), and a failed download often prints several errors: a TLS handshake times out, the
script retries offline, and the last line says "module lookup disabled". The last line is the
wrong answer. So the classifier ranks what it finds, by the reasons, tiers and rules of the registry
(core/reasons.py): the lowest tier first, within a tier the earliest line, on one line the rule the
registry lists first.

Text a module proxy returns ("server response:" and the indented lines under it) is the proxy's own
story about its upstream: it is only used to tell an unknown revision from an unknown module, never
read as this build's credential or network failure.

The module is pure (no I/O): the operator runs it on a Pod's termination message and
`python -m gobuild_operator diagnose` runs it on a saved log. Tested against logs recorded from real
go/git/ssh runs (tests/fixtures/gofailures, scripts/record_go_failures.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gobuild_operator.core import reasons
from gobuild_operator.core.reasons import UNKNOWN

__all__ = ["MAX_EVIDENCE", "REASONS", "UNKNOWN", "Diagnosis", "diagnose", "explain", "strip_ci_prefix"]

#: Every reason `diagnose` can return, in the registry's order (core/reasons.py).
REASONS: Final[tuple[str, ...]] = reasons.NAMES

#: Longest evidence line kept (a pathological log line must not bloat a status field).
MAX_EVIDENCE: Final = 500


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
class _Rule:
    reason: str
    order: int
    anchors: tuple[str, ...]
    pattern: re.Pattern[str] | None
    in_proxy_detail: bool


def _compile() -> tuple[tuple[_Rule, ...], ...]:
    """The registry's rules grouped by tier, lowest first; `order` is the registry's order."""
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
        for wanted in sorted({tier for tier, _, _ in rules})
    )


_TIERS: Final = _compile()

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


def diagnose(text: str) -> Diagnosis:
    """Classify a build log: the first root cause of a Go module download failure, or Unknown."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    for tier in _TIERS:
        best: tuple[int, int, int] | None = None  # (line start, rule order, match position)
        best_reason = UNKNOWN
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
