"""Turn the log of a failed Go build into one reason a platform team can act on.

Build logs are long and noisy (shell traces, git progress, buildkit/kaniko step wrappers, CI
timestamps), and a failed download often prints several errors: a TLS handshake times out, the
script retries offline, and the last line says "module lookup disabled". The last line is the
wrong answer. So the classifier ranks what it finds, by the reasons, tiers and rules of the registry
(core/diagnosis/reasons.py): the lowest tier first, within a tier the earliest line, on one line the rule the
registry lists first.

Attribution: a network error is a download failure only on a line that belongs to a module download
(go's module proxy, checksum database or go-get request, git or ssh reaching a repository). A test
that cannot reach its database on 127.0.0.1:5432 is the build's own business, not the proxy's.

Text a module proxy returns ("server response:" and the indented lines under it) is the proxy's own
story about its upstream: it tells an unknown revision from an unknown module, and a proxy that could
not read a private origin (credentials) from a module it lacks; it is never read as this build's own
network failure.

Routes: when the caller knows the Go settings the build ran with (`GoSettings`: the operator reads
the failed container's environment, the CLI a GoBuildConfig), the failed request is placed on go's
route through GOPROXY. With entries joined by "," go moves on only after a 404/410, so an error from
`direct` or "lookup disabled by GOPROXY=off" for a module outside GOPRIVATE means every proxy before
it lacks the module: ModuleNotFound at those proxies, however the direct fetch failed (no egress, no
credentials). The diagnosis names the module, the host and the route.

Inside an image build, go runs with whatever the Dockerfile's RUN step gives it, which is not the
builder container's environment: a Dockerfile without `ARG GOPROXY` makes go ask proxy.golang.org
however the cluster is configured. So for an image build (`Workload`) whose settings are known, the
classifier also compares the servers go asked with them: a module proxy or checksum database URL the
settings do not name, or a proxy asked for a module GOPRIVATE covers, is BuildSettingsNotPassed,
ranked before the network failure that request then ran into.

The input is streamed (`Classifier.feed`): the log is read in blocks of whole lines, a line longer
than a block in overlapping pieces, so memory stays bounded whatever the log's size, and the work is
linear in it. The evidence is the line that matched, or the part of a very long line around the
match. The remedy is computed from the reason, the settings, the workload and the evidence
(core/diagnosis/remedies.py), so the operator's status and `diagnose` say the same.

Pure (no I/O): the operator runs it on a Pod's termination message and `python -m gobuild_operator
diagnose` feeds it a saved log. Tested against logs recorded from real go/git/ssh runs of several Go
versions and real BuildKit and buildah builds (tests/fixtures/gofailures,
scripts/record_go_failures.py, scripts/record_builder_failures.py).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

from gobuild_operator.api.reasons import NAMES, UNKNOWN, ReasonName
from gobuild_operator.core.diagnosis import reasons
from gobuild_operator.core.diagnosis.remedies import remedy_for

__all__ = [
    "IMAGE_BUILD",
    "MAX_EVIDENCE",
    "POD",
    "REASONS",
    "SETTINGS_NOT_PASSED",
    "UNKNOWN",
    "Classifier",
    "Diagnosis",
    "Facts",
    "GoSettings",
    "Workload",
    "diagnose",
    "explain",
    "strip_ansi",
    "strip_ci_prefix",
]

#: Every reason `diagnose` can return, in the registry's order (core/diagnosis/reasons.py).
REASONS: Final[tuple[str, ...]] = NAMES

#: Longest evidence kept (a pathological log line must not bloat a status field).
MAX_EVIDENCE: Final = 500

#: The reason found by comparing the servers go asked with the build's Go settings (no log rule).
SETTINGS_NOT_PASSED: Final = ReasonName.BuildSettingsNotPassed.value

#: The log is classified in blocks of whole lines of about this many characters.
BLOCK: Final = 1 << 20
#: A line longer than this is classified in pieces of this size...
MAX_LINE: Final = 1 << 20
#: ...that overlap by this much, so a match across the cut is still found.
OVERLAP: Final = 8192
#: Lines of the previous block kept for looking back (a proxy's response, the go line above git's).
CONTEXT_LINES: Final = 24
#: How much of one line is looked at around a match (attribution, module, host).
WINDOW: Final = 4096

#: The Go settings a GoBuildConfig injects, in the order they are named (remedies, ARG lines).
SETTING_NAMES: Final = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOFLAGS")


@dataclass(frozen=True)
class Facts:
    """Where a failure happened, as far as the log and the settings tell."""

    #: proxy (a GOPROXY entry), sumdb, direct (go's own fetch from the origin), vcs (git or ssh),
    #: off (GOPROXY=off), or "" when the line names no request.
    route: str = ""
    #: The module (path) the failed request was about.
    module: str = ""
    #: The server: host[:port] of the proxy, checksum database or repository.
    host: str = ""
    #: With a route read from the settings: the proxies go had tried before (they lack the module).
    proxies: tuple[str, ...] = ()
    #: The reason the log line itself shows, when the route changed it.
    shown: str = ""
    #: The GOPROXY entry go reached after the proxies (direct, off), when the route changed it.
    reached: str = ""


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


@dataclass(frozen=True)
class GoSettings:
    """The Go settings a build was given, as its environment holds them ("" = not set).

    What routes are read from (GOPROXY's entries and separators, GONOPROXY/GOPRIVATE), and, for image
    builds, what the servers go asked are compared with: the module proxies of `goproxy`, the
    checksum database of `gosumdb` (not compared when unset: go's default), and the private
    patterns (`gonoproxy`, else `goprivate`) no proxy may be asked about.
    """

    goproxy: str
    gosumdb: str = ""
    goprivate: str = ""
    gonoproxy: str = ""
    gonosumdb: str = ""
    goflags: str = ""

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
            gonosumdb=env.get("GONOSUMDB", "").strip(),
            goflags=env.get("GOFLAGS", "").strip(),
        )

    @property
    def declared(self) -> tuple[str, ...]:
        """The names of the settings that are set, in SETTING_NAMES order."""
        values = dict(
            zip(
                SETTING_NAMES,
                (self.goproxy, self.gosumdb, self.goprivate, self.gonoproxy, self.gonosumdb, self.goflags),
                strict=True,
            )
        )
        return tuple(name for name in SETTING_NAMES if values[name])

    def entries(self) -> list[tuple[str, str]]:
        """(entry, separator before it) of GOPROXY, in order ("" before the first)."""
        found: list[tuple[str, str]] = []
        separator = ""
        current: list[str] = []
        for ch in self.goproxy:
            if ch in ",|":
                found.append(("".join(current).strip(), separator))
                separator, current = ch, []
            else:
                current.append(ch)
        found.append(("".join(current).strip(), separator))
        return [(entry, sep) for entry, sep in found if entry]

    def private(self, module: str) -> bool:
        """Whether go fetches `module` directly (GONOPROXY, else GOPRIVATE, covers it)."""
        return bool(module) and _is_private(module, _patterns(self.gonoproxy or self.goprivate))


@dataclass(frozen=True)
class Workload:
    """What ran go: a Pod's own container, or an image builder whose RUN steps run it."""

    image_build: bool = False
    #: The build secret id that carries spec.caBundle into RUN steps (spec.imageBuilds.caSecretId).
    ca_secret_id: str = "gobuild-ca"  # noqa: S105 - an id, not a secret


POD: Final = Workload()
IMAGE_BUILD: Final = Workload(image_build=True)


# --- the rules, compiled ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    reason: str
    tier: int
    #: The lowest tier this rule's matches can end up in once routes are read (see `_routed`).
    min_tier: int
    order: int
    anchors: tuple[str, ...]
    pattern: re.Pattern[str] | None
    in_proxy_detail: bool
    request: bool


#: Reasons a route can turn into ModuleNotFound at the proxies (see `_routed`).
_ROUTED: Final = frozenset(
    {
        ReasonName.DNSResolutionFailed,
        ReasonName.ProxyUnreachable,
        ReasonName.TLSHandshakeTimeout,
        ReasonName.CertificateUntrusted,
        ReasonName.HTTPProxyError,
        ReasonName.AuthenticationFailed,
        ReasonName.HostKeyVerificationFailed,
        ReasonName.VCSCommandMissing,
        ReasonName.LookupDisabled,
    }
)
_NOT_FOUND_TIER: Final = reasons.reason(ReasonName.ModuleNotFound).tier


def _compile() -> tuple[_Rule, ...]:
    compiled: list[_Rule] = []
    for entry in reasons.REGISTRY:
        if entry.tier is None:
            continue
        for rule in entry.rules:
            routed = entry.name in _ROUTED and _NOT_FOUND_TIER is not None
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
_TIER: Final[Mapping[str, int | None]] = {entry.name.value: entry.tier for entry in reasons.REGISTRY}
#: The tier in which a settings mismatch competes; it wins every rule on the same line.
_SETTINGS_TIER: Final = reasons.reason(SETTINGS_NOT_PASSED).tier or 0

# Terminal escapes: CSI (colours, GitLab's `\e[0K`), OSC (titles), nF (`ESC ( B`, charset
# designation, as `tput sgr0` prints it) and the single-character ones.
_ANSI: Final = re.compile(
    r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[ -/]+[0-~]|\x1b[0-Z\\-~]"
)

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
      | \#\#\[[a-z]+\][ ]?                                                         # GitHub Actions, Azure
      | \[(?:step-[\w.-]+|Pipeline|pod/[^\]\n]+|[\w.-]+/[\w.-]+)\][ ]?               # tekton, jenkins
      | \[[\w.-]+[ ]:[ ][\w.-]+\][ ]?                                              # tkn "[task : step]"
      | [\w.-]+-\d+[ ]+\|[ ]                                                       # compose "build-1  | "
    )
    """,
    re.VERBOSE,
)

#: Lines an image builder prints around a RUN step (BuildKit, buildx, buildah/podman, docker, kaniko).
_BUILDER_LINE: Final = re.compile(
    r"^(?:#\d+ \[|#\d+ ERROR: |ERROR: failed to solve|STEP \d+/\d+: |Step \d+/\d+ : |INFO\[\d+\] Running: |"
    r"Error: building at STEP )",
    re.MULTILINE,
)

_PROXY_DETAIL_MARK: Final = "server response:"

#: What shows that a line belongs to a module download (see `_attributed`).
_REQUEST_MARKS: Final = (
    "/@v/",
    "/@latest",
    "?go-get=1",
    "/lookup/",
    "/sumdb/",
    "/tile/",
    "unrecognized import path",
    "https fetch:",
    "git ls-remote",
    "git fetch",
    "unable to access '",
    "ssh: ",
    "fatal: ",
    "remote: ",
    "golang.org/toolchain",
    "verifying ",
)
#: go's prefix of a module's error: "go: example.com/x@v1.0.0: ..." (also after "main.go:4:2: ").
_MODULE_AT: Final = re.compile(
    r"(?:^|[\s\"'(])((?:[A-Za-z0-9][\w.~-]*)(?:/[\w.~!+-]+)*)@(v\d[\w.+-]*|latest|upgrade|patch|none|master|main)"
    r"(?=[:/\s\"')]|$)"
)
_IMPORT_PATH: Final = re.compile(r'unrecognized import path "([^"\s]+)"|reading (\S+)/go\.mod at revision ')
_URL: Final = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
_HOST_WORDS: Final = re.compile(
    r"connect to host (\S+) port (\d+)|Could not resolve host(?:name)?:? ([\w.-]+)|lookup ([\w.-]+) on "
    r"|Failed to connect to ([\w.-]+) port (\d+)|Host key for ([\w.-]+) has changed|host key is known for "
    r"([\w.-]+)|@([\w.-]+): Permission denied"
)
_GIT_URL: Final = re.compile(r"(?:ssh://)?[\w.-]+@([\w.-]+)[:/]")


def strip_ci_prefix(line: str) -> str:
    """The line without CI/builder prefixes (timestamps, `#8 1.23`, `STEP 3/7:`, `+ `), indentation kept."""
    for _ in range(8):
        m = _PREFIX.match(line)
        if m is None or m.end() == 0:
            break
        line = line[m.end() :]
    return line


def strip_ansi(text: str) -> str:
    """The text without terminal escapes (colours, cursor moves, charset designations)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def explain(reason: str, evidence: str = "") -> Diagnosis:
    """The Diagnosis for a known reason (summary and remedy from the registry)."""
    entry = reasons.reason(reason)
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
        self._proxies = _proxy_bases(settings.goproxy) if settings is not None else {}

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
        entry = reasons.reason(found.reason)
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
            self._context = _last_lines(block, CONTEXT_LINES)

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
                    line_start, line_end = _line_start(text, pos), _line_end(text, pos)
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
            hit = _settings_mismatch(text, start, self._settings, self._proxies)
            if hit is not None:
                line_start, url = hit
                self._mismatch = _Found(
                    _SETTINGS_TIER,
                    line_start + shift,
                    -1,
                    SETTINGS_NOT_PASSED,
                    _evidence(text, line_start, url, url + 1),
                    _facts(text, line_start, url, in_detail=False),
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
        in_detail = _in_proxy_detail(text, line_start, pos)
        if in_detail and not rule.in_proxy_detail:
            return None
        if rule.request and not in_detail and not _attributed(text, line_start, line_end, pos):
            return None
        facts = _facts(text, line_start, pos, in_detail=in_detail)
        reason, facts = _routed(rule.reason, facts, self._settings)
        tier = _TIER[reason]
        assert tier is not None
        return _Found(
            tier, line_start + shift, rule.order, reason, _evidence(text, line_start, pos, end), facts
        )


# --- lines ---------------------------------------------------------------------------------------


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _last_lines(text: str, count: int) -> str:
    """The last `count` lines of text (each cut to WINDOW characters), for looking back."""
    start = len(text)
    for _ in range(count + 1):  # one more: the text ends with a newline
        start = text.rfind("\n", 0, start)
        if start < 0:
            break
    return "\n".join(line[:WINDOW] for line in text[start + 1 :].split("\n"))


def _segment(text: str, line_start: int, pos: int, line_end: int) -> tuple[int, int]:
    """The carriage-return segment of the line around pos (what a terminal shows of it)."""
    lo, hi = max(line_start, pos - WINDOW), min(line_end, pos + WINDOW)
    cr = text.rfind("\r", lo, pos)
    start = cr + 1 if cr >= 0 else lo
    cr = text.find("\r", pos, hi)
    return start, (cr if cr >= 0 else hi)


def _evidence(text: str, line_start: int, pos: int, end: int) -> str:
    """The matched line without CI prefixes; of a long line, the part around the match."""
    line_end = _line_end(text, pos)
    start, stop = _segment(text, line_start, pos, line_end)
    if start == line_start or text.rfind("\r", line_start, pos) >= 0:
        head = text[start:pos]
        stripped = strip_ci_prefix(head)
        start += len(head) - len(stripped)
    line = text[start:stop]
    lead = len(line) - len(line.lstrip())
    line = line.strip()
    if len(line) <= MAX_EVIDENCE:
        return line
    at = max(0, pos - start - lead)
    span = max(1, min(end - pos, MAX_EVIDENCE - 2))
    first = max(0, min(at - (MAX_EVIDENCE - 2 - span) // 2, len(line) - (MAX_EVIDENCE - 2)))
    piece = line[first : first + MAX_EVIDENCE - 2]
    return ("…" if first > 0 else "") + piece + ("…" if first + len(piece) < len(line) else "")


def _visible(text: str, line_start: int) -> str:
    """What a terminal shows of the line at line_start (its last CR segment, without CI prefixes),
    bounded to WINDOW characters."""
    line = text[line_start : min(_line_end(text, line_start), line_start + WINDOW)]
    return strip_ci_prefix(line.rstrip("\r").rsplit("\r", 1)[-1])


def _is_indented(line: str) -> bool:
    return line[:1] in (" ", "\t")


def _previous_lines(text: str, line_start: int) -> Iterable[tuple[int, str]]:
    """(start, visible text) of the lines before line_start, nearest first, at most CONTEXT_LINES."""
    end = line_start - 1
    for _ in range(CONTEXT_LINES):
        if end < 0:
            return
        start = text.rfind("\n", 0, end) + 1
        yield start, _visible(text, start)
        end = start - 1


def _in_proxy_detail(text: str, line_start: int, pos: int) -> bool:
    """Whether pos lies in text a module proxy sent back (after `server response:`, or indented under it)."""
    if text.find(_PROXY_DETAIL_MARK, line_start, pos) >= 0:
        return True
    if not _is_indented(_visible(text, line_start)):
        return False
    for _, previous in _previous_lines(text, line_start):
        if _PROXY_DETAIL_MARK in previous:
            return True
        if not _is_indented(previous):
            return False
    return False


def _attributed(text: str, line_start: int, line_end: int, pos: int) -> bool:
    """Whether the line at pos belongs to a module download: a module proxy, checksum database or
    go-get request, git or ssh, or go's own error about a module; or is indented under such a line."""
    lo, hi = _segment(text, line_start, pos, line_end)
    line = strip_ci_prefix(text[lo:hi]) if lo == line_start else text[lo:hi]
    if any(mark in line for mark in _REQUEST_MARKS) or _MODULE_AT.search(line) is not None:
        return True
    if not _is_indented(line):
        return False
    for _, previous in _previous_lines(text, line_start):
        if not _is_indented(previous):
            return any(mark in previous for mark in _REQUEST_MARKS) or _MODULE_AT.search(previous) is not None
    return False


def _facts(text: str, line_start: int, pos: int, *, in_detail: bool) -> Facts:
    """The route, module and host of the request the line at pos is about."""
    lo, hi = _segment(text, line_start, pos, _line_end(text, pos))
    line = text[lo:hi]
    parent = ""
    if in_detail or _is_indented(_visible(text, line_start)) or _MODULE_AT.search(line) is None:
        for _, previous in _previous_lines(text, line_start):
            if not _is_indented(previous):
                parent = previous
                break
    if in_detail:
        # The proxy's account of its origin: the request is the proxy's (on the line it answered).
        source = text[lo:pos] if text.find(_PROXY_DETAIL_MARK, lo, pos) >= 0 else parent
        url = _URL.search(source)
        return Facts(
            route="proxy",
            module=_module(source) or _module(parent),
            host=_host_of_url(url.group(0)) if url else "",
        )
    module = _module(line) or _module(parent)
    route, host = _route(line)
    if not route and parent:
        route, host = _route(parent)
    return Facts(route=route, module=module, host=host)


def _module(line: str) -> str:
    m = _MODULE_AT.search(line)
    if m is not None:
        return m.group(1)
    m = _IMPORT_PATH.search(line)
    return (m.group(1) or m.group(2)) if m is not None else ""


def _host_of_url(url: str) -> str:
    parts = urlsplit(url.rstrip(".,;:)]'\""))
    return _netloc(parts.scheme, parts.netloc)


def _route(line: str) -> tuple[str, str]:
    """(route, host) of a request line: which server go (or git, or ssh) asked."""
    url = _URL.search(line)
    host = _host_of_url(url.group(0)) if url else ""
    if "lookup disabled by GOPROXY=off" in line:
        return "off", ""
    if url is not None:
        path = urlsplit(url.group(0)).path
        if "/sumdb/" in path or (("/lookup/" in path or "/tile/" in path) and "verifying" in line):
            return "sumdb", host
        if "/@v/" in path or path.endswith("/@latest"):
            return "proxy", host
        if "?go-get=1" in url.group(0) or "unrecognized import path" in line:
            return "direct", host
    words = _HOST_WORDS.search(line)
    if words is not None:
        name = next((g for g in words.groups()[::1] if g and not g.isdigit()), "")
        port = words.group(2) or words.group(6)
        host = host or (f"{name}:{port}" if port and port not in ("22", "443") else name)
    if not host:
        git = _GIT_URL.search(line)
        host = git.group(1) if git and ("ssh" in line or "git" in line) else ""
    if "unrecognized import path" in line:
        return "direct", host
    if any(mark in line for mark in ("git ", "ssh", "fatal: ", "remote: ", "Permission denied", "host key")):
        return "vcs", host
    return ("vcs" if url is not None and "unable to access" in line else ""), host


def _routed(reason: str, facts: Facts, settings: GoSettings | None) -> tuple[str, Facts]:
    """The reason on go's route: an error from `direct` or `off` for a module outside GOPRIVATE, reached
    through proxies joined with "," (go moves on only after a 404/410), is the proxies' not having it."""
    if settings is None or reason not in _ROUTED or facts.route not in ("direct", "vcs", "off"):
        return reason, facts
    if not facts.module or settings.private(facts.module):
        return reason, facts
    reached = "off" if facts.route == "off" else "direct"
    entries = settings.entries()
    index = next((i for i, (entry, _) in enumerate(entries) if entry == reached), None)
    if index is None:
        return reason, facts
    before = entries[:index]
    urls = [entry for entry, _ in before if entry not in ("direct", "off")]
    if not urls or any(sep == "|" for _, sep in entries[1 : index + 1]):
        return reason, replace(facts, proxies=tuple(_entry_host(u) for u in urls))
    hosts = tuple(_entry_host(url) for url in urls)
    return ReasonName.ModuleNotFound.value, Facts(
        route="proxy",
        module=facts.module,
        host=hosts[-1],
        proxies=hosts,
        shown=reason,
        reached=reached,
    )


def _entry_host(entry: str) -> str:
    if "://" not in entry:
        entry = "https://" + entry
    return _host_of_url(entry) or entry


# --- comparing what go asked with the settings the build was given ------------------------------

#: Anchors of go's module proxy and checksum database requests (candidate lines, found fast).
_REQUEST_ANCHORS: Final = ("/@v/", "/@latest", "/lookup/", "/tile/", "/sumdb/")
#: A checksum database request path (also below a proxy's /sumdb/<name>/).
_SUMDB_PATH: Final = re.compile(r"/(?:lookup/\S+@v[^/\s]*|tile/\d+/\S+|latest|supported)$")
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}


def _settings_mismatch(
    text: str, start: int, settings: GoSettings, proxies: Mapping[str, tuple[str, ...]]
) -> tuple[int, int] | None:
    """(line start, URL position) of the first request go made that `settings` would not have made."""
    private = _patterns(settings.gonoproxy or settings.goprivate)
    sumdb = _sumdb_host(settings.gosumdb)
    best: tuple[int, int] | None = None
    for anchor in _REQUEST_ANCHORS:
        limit = len(text) if best is None else best[0]
        pos = text.find(anchor, start, limit)
        while pos >= 0:
            line_start, line_end = _line_start(text, pos), _line_end(text, pos)
            lo, hi = max(line_start, pos - WINDOW), min(line_end, pos + WINDOW)
            for m in _URL.finditer(text, lo, hi):
                if _in_proxy_detail(text, line_start, m.start()):
                    continue
                if _not_from(m.group(0), proxies=proxies, private=private, sumdb=sumdb):
                    best = (line_start, m.start())
                    break
            if best is not None and best[0] == line_start:
                break
            pos = text.find(anchor, line_end, limit)
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
