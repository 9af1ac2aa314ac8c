"""Turn the log of a failed Go build into one reason a platform team can act on.

Build logs are long and noisy (shell traces, git progress, buildkit/kaniko step wrappers, CI
timestamps), and a failed download often prints several errors: a TLS handshake times out, the
script retries offline, and the last line says "module lookup disabled". The last line is the
wrong answer. So the classifier ranks what it finds, by the reasons, tiers and rules of the registry
(core/diagnosis/reasons/): the lowest tier first, within a tier the earliest line, on one line the rule the
registry lists first.

A rule's match counts only where routes.py says it does: a network error on a line that belongs to a
module download, text a module proxy sent back only for rules that read it (it tells an unknown
revision from an unknown module, and a proxy that could not read a private origin from a module it
lacks). With the build's Go settings known, the failure is placed on go's route through GOPROXY,
and for an image build go asking servers the settings do not name is BuildSettingsNotPassed, ranked
before the network failure that request then ran into.

The input is streamed (`Classifier.feed`): the log is read in blocks of whole lines, a line longer
than a block in overlapping pieces, so memory stays bounded whatever the log's size, and the work is
linear in it. The evidence is the line that matched, or the part of a very long line around the
match (lines.py). The remedy is computed from the reason, the settings, the workload and the evidence
(core/diagnosis/remedies.py), so the operator's status and `diagnose` say the same.

Pure (no I/O): the operator runs it on a Pod's termination message and `python -m gobuild_operator
diagnose` feeds it a saved log. Tested against logs recorded from real go/git/ssh runs of several Go
versions and real BuildKit and buildah builds (tests/fixtures/gofailures,
scripts/record_go_failures.py, scripts/record_builder_failures.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from gobuild_operator.api.status.reasons import NAMES, UNKNOWN, ReasonName
from gobuild_operator.core.diagnosis.lines import (
    CONTEXT_LINES,
    WINDOW,
    end_of_line,
    evidence_at,
    in_proxy_detail,
    last_lines,
    start_of_line,
    strip_ansi,
)
from gobuild_operator.core.diagnosis.reasons import registry
from gobuild_operator.core.diagnosis.remedies import remedy_for
from gobuild_operator.core.diagnosis.routes import (
    ROUTED,
    Facts,
    GoSettings,
    Workload,
    attributed,
    facts_at,
    proxy_bases,
    routed,
    settings_mismatch,
)

__all__ = [
    "REASONS",
    "SETTINGS_NOT_PASSED",
    "UNKNOWN",
    "Classifier",
    "Diagnosis",
    "diagnose",
    "explain",
]

#: Every reason `diagnose` can return, in the registry's order (core/diagnosis/reasons/).
REASONS: Final[tuple[str, ...]] = NAMES

#: The reason found by comparing the servers go asked with the build's Go settings (no log rule).
SETTINGS_NOT_PASSED: Final = ReasonName.BuildSettingsNotPassed.value

#: The log is classified in blocks of whole lines of about this many characters.
BLOCK: Final = 1 << 20
#: A line longer than this is classified in pieces of this size...
MAX_LINE: Final = 1 << 20
#: ...that overlap by this much, so a match across the cut is still found.
OVERLAP: Final = 8192


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong, how to fix it, and the log line that shows it ("" when Unknown)."""

    reason: str
    summary: str
    remedy: str
    evidence: str = ""
    module: str = ""
    host: str = ""
    route: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "reason": self.reason,
            "summary": self.summary,
            "remedy": self.remedy,
            "evidence": self.evidence,
            "module": self.module,
            "host": self.host,
            "route": self.route,
        }


# --- the rules, compiled ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    reason: str
    tier: int
    #: The lowest tier this rule's matches can end up in once routes are read (see `routed`).
    min_tier: int
    order: int
    anchors: tuple[str, ...]
    pattern: re.Pattern[str] | None
    in_proxy_detail: bool
    request: bool


_NOT_FOUND_TIER: Final = registry.reason(ReasonName.ModuleNotFound).tier


def _compile() -> tuple[_Rule, ...]:
    compiled: list[_Rule] = []
    for entry in registry.REGISTRY:
        if entry.tier is None:
            continue
        for rule in entry.rules:
            routed = entry.name in ROUTED and _NOT_FOUND_TIER is not None
            compiled.append(
                _Rule(
                    reason=entry.name,
                    tier=entry.tier,
                    min_tier=min(entry.tier, _NOT_FOUND_TIER)
                    if routed and _NOT_FOUND_TIER is not None
                    else entry.tier,
                    order=len(compiled),
                    anchors=rule.anchors,
                    pattern=None if rule.pattern is None else re.compile(rule.pattern, re.MULTILINE),
                    in_proxy_detail=rule.in_proxy_detail,
                    request=rule.request,
                )
            )
    return tuple(sorted(compiled, key=lambda r: (r.min_tier, r.order)))


_RULES: Final = _compile()
_TIER: Final[Mapping[str, int | None]] = {entry.name.value: entry.tier for entry in registry.REGISTRY}
#: The tier in which a settings mismatch competes; it wins every rule on the same line.
_SETTINGS_TIER: Final = registry.reason(SETTINGS_NOT_PASSED).tier or 0

#: Lines an image builder prints around a RUN step (BuildKit, buildx, buildah/podman, docker, kaniko).
_BUILDER_LINE: Final = re.compile(
    r"^(?:#\d+ \[|#\d+ ERROR: |ERROR: failed to solve|STEP \d+/\d+: |Step \d+/\d+ : |INFO\[\d+\] Running: |"
    r"Error: building at STEP )",
    re.MULTILINE,
)


def explain(reason: str, evidence: str = "") -> Diagnosis:
    """The Diagnosis for a known reason (summary and remedy from the registry)."""
    entry = registry.reason(reason)
    return Diagnosis(reason=entry.name, summary=entry.summary, remedy=entry.remedy, evidence=evidence)


def diagnose(
    log: str | Iterable[str], *, settings: GoSettings | None = None, workload: Workload | None = None
) -> Diagnosis:
    """Classify a build log (the text, or its text in pieces): the first root cause of a Go module
    download failure, or Unknown.

    `settings` are the Go settings the build ran with (the container's, or the config's), when known:
    they place the failure on go's route through GOPROXY. `workload` says whether go ran in an image
    build's RUN step (None: decided from the log's builder lines); there, go asking a server the
    settings do not name is BuildSettingsNotPassed.
    """
    classifier = Classifier(settings=settings, workload=workload)
    if isinstance(log, str):
        classifier.feed(log)
    else:
        for piece in log:
            classifier.feed(piece)
    return classifier.result()


@dataclass(order=True)
class _Found:
    tier: int
    line: int  # the line's start in the whole log
    order: int
    reason: str = field(compare=False)
    evidence: str = field(compare=False)
    facts: Facts = field(compare=False)


class Classifier:
    """The classifier, fed a log in pieces of any size (`feed`), answering once (`result`)."""

    def __init__(self, *, settings: GoSettings | None = None, workload: Workload | None = None) -> None:
        self._settings = settings
        self._workload = workload
        self._builder_seen = False
        self._pieces: list[str] = []
        self._pending = 0  # characters in _pieces
        self._offset = 0  # where _pieces start in the log
        self._line_origin: int | None = None  # a long line's start, while its pieces are read
        self._context = ""  # the last lines read, for looking back
        self._best: _Found | None = None
        self._mismatch: _Found | None = None
        self._proxies = proxy_bases(settings.goproxy) if settings is not None else {}

    # --- reading -----------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Read the next piece of the log."""
        if not text:
            return
        self._pieces.append(text)
        self._pending += len(text)
        if self._pending >= BLOCK:
            self._drain(final=False)

    def result(self) -> Diagnosis:
        """The diagnosis of everything fed."""
        self._drain(final=True)
        found = self._best
        image_build = self._workload.image_build if self._workload is not None else self._builder_seen
        if image_build and self._mismatch is not None and (found is None or self._mismatch < found):
            found = self._mismatch
        if found is None:
            return explain(UNKNOWN)
        entry = registry.reason(found.reason)
        workload = self._workload or Workload(image_build=image_build)
        return Diagnosis(
            reason=entry.name,
            summary=entry.summary,
            remedy=remedy_for(found.reason, found.facts, settings=self._settings, workload=workload),
            evidence=found.evidence,
            module=found.facts.module,
            host=found.facts.host,
            route=found.facts.route,
        )

    def _drain(self, *, final: bool) -> None:
        """Classify the whole blocks read so far (and, `final`, the rest)."""
        text = "".join(self._pieces)
        pos = 0
        while len(text) - pos >= BLOCK or (final and pos < len(text)):
            cut = text.rfind("\n", pos, pos + BLOCK)
            if cut >= 0 and (final or len(text) - pos >= BLOCK):
                self._block(text[pos : cut + 1], continues=False)
                pos = cut + 1
            elif len(text) - pos > MAX_LINE:  # one line longer than a block: classify it in pieces
                self._block(text[pos : pos + MAX_LINE], continues=True)
                pos += MAX_LINE - OVERLAP
                self._offset -= OVERLAP
            else:
                self._block(text[pos:], continues=False)
                pos = len(text)
        rest = text[pos:]
        self._pieces, self._pending = ([rest], len(rest)) if rest else ([], 0)

    def _block(self, raw: str, *, continues: bool) -> None:
        """Classify one block of whole lines (or, `continues`, a piece of one long line)."""
        origin = self._offset if self._line_origin is None else self._line_origin
        self._offset += len(raw)
        text = strip_ansi(raw)
        if not self._builder_seen and self._workload is None and _BUILDER_LINE.search(text) is not None:
            self._builder_seen = True
        prefix = self._context if self._line_origin is None else ""
        block = prefix + text
        start = len(prefix)
        self._scan(block, start, origin - start)
        if continues:
            self._line_origin = origin
            self._context = ""
        else:
            self._line_origin = None
            self._context = last_lines(block, CONTEXT_LINES)

    # --- one block ---------------------------------------------------------------------------

    def _scan(self, text: str, start: int, shift: int) -> None:
        """Find the best candidates in text[start:] (text[:start] is context); `shift` maps a position
        in `text` to the log's."""
        prior = best = self._best  # prior: from earlier blocks, whose lines come first
        for rule in _RULES:
            if prior is not None and rule.min_tier >= prior.tier:
                continue
            for anchor in rule.anchors:
                pos = text.find(anchor, start)
                while pos >= 0:
                    line_start, line_end = start_of_line(text, pos), end_of_line(text, pos)
                    if best is not None and best.tier <= rule.min_tier and line_start + shift >= best.line:
                        break
                    found = self._match(text, rule, line_start, line_end, pos, shift)
                    if found is not None:
                        if best is None or found < best:
                            best = found
                        if found.tier == rule.min_tier:
                            break
                    pos = text.find(anchor, line_end, len(text))
        self._best = best
        if self._settings is not None and self._mismatch is None:
            hit = settings_mismatch(text, start, self._settings, self._proxies)
            if hit is not None:
                line_start, url = hit
                self._mismatch = _Found(
                    _SETTINGS_TIER,
                    line_start + shift,
                    -1,
                    SETTINGS_NOT_PASSED,
                    evidence_at(text, line_start, url, url + 1),
                    facts_at(text, line_start, url, in_detail=False),
                )

    def _match(
        self, text: str, rule: _Rule, line_start: int, line_end: int, pos: int, shift: int
    ) -> _Found | None:
        end = pos + 1
        if rule.pattern is not None:
            lo, hi = max(line_start, pos - WINDOW), min(line_end, pos + WINDOW)
            m = rule.pattern.search(text, lo, hi)
            if m is None:
                return None
            pos, end = m.start(), m.end()
        in_detail = in_proxy_detail(text, line_start, pos)
        if in_detail and not rule.in_proxy_detail:
            return None
        if rule.request and not in_detail and not attributed(text, line_start, line_end, pos):
            return None
        facts = facts_at(text, line_start, pos, in_detail=in_detail)
        reason, facts = routed(rule.reason, facts, self._settings)
        tier = _TIER[reason]
        assert tier is not None
        return _Found(
            tier, line_start + shift, rule.order, reason, evidence_at(text, line_start, pos, end), facts
        )
