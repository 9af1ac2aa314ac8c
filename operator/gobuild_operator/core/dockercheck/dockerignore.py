""".dockerignore matching as Docker and BuildKit do it (moby/patternmatcher and its ignorefile reader).

`check` must know whether go.mod and go.sum reach the build context, and "looks ignored" is not good
enough: a guess that differs from Docker's answer sends users after the wrong fix. So this follows
the reference implementation rule for rule:

* Lines starting with `#` are comments (only at the very start of the line); blank lines are skipped;
  surrounding whitespace is trimmed; a leading `!` makes an exception (re-includes).
* Patterns are cleaned like Go's filepath.Clean and a leading `/` is dropped: `/go.mod`, `./go.mod`
  and `go.mod` are the same pattern, always relative to the context root (unlike .gitignore, a bare
  name does not match in subdirectories; `**/go.mod` does).
* `*` and `?` never cross `/`; `**` matches any number of directories (also none); `[...]` classes and
  `\\` escapes as in Go's filepath.Match; `**`-leading and `**`-trailing patterns use the same suffix
  and prefix shortcuts as patternmatcher (so `**go.mod` also matches `xgo.mod`).
* A pattern that matches a parent directory excludes everything below it.
* The last pattern that matches decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

_ESCAPE = frozenset(".+()|{}$")


@dataclass(frozen=True)
class Pattern:
    """One pattern of a .dockerignore, with the (1-based) line it came from."""

    line: int
    text: str
    exclusion: bool
    kind: Literal["exact", "prefix", "suffix", "regexp"]
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regexp is not None and self.regexp.match(path) is not None


@dataclass(frozen=True)
class Decision:
    """Whether a path is excluded from the context, and the pattern that decided (None: no pattern)."""

    excluded: bool
    pattern: Pattern | None


def parse(text: str) -> tuple[Pattern, ...]:
    """The patterns of a .dockerignore file, in order; invalid patterns are dropped."""
    patterns: list[Pattern] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if raw.startswith("#"):
            continue
        pattern = raw.strip()
        if not pattern:
            continue
        exclusion = pattern.startswith("!")
        if exclusion:
            pattern = pattern[1:].strip()
            if not pattern:
                continue
        pattern = _clean(pattern)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
        compiled = _compile(pattern, line=number, exclusion=exclusion)
        if compiled is not None:
            patterns.append(compiled)
    return tuple(patterns)


def decide(patterns: tuple[Pattern, ...], path: str) -> Decision:
    """Whether `path` (relative to the context root, `/`-separated) is left out of the context."""
    path = _clean(path)
    if path in (".", ""):
        return Decision(False, None)
    parents = posixpath.dirname(path).split("/") if "/" in path else []
    excluded = False
    decided: Pattern | None = None
    for pattern in patterns:
        if pattern.exclusion != excluded:
            continue  # an exception only matters once excluded, an exclusion only while included
        match = pattern.match(path)
        if not match:
            for depth in range(1, len(parents) + 1):
                if pattern.match("/".join(parents[:depth])):
                    match = True
                    break
        if match:
            excluded = not pattern.exclusion
            decided = pattern
    return Decision(excluded, decided)


def _clean(path: str) -> str:
    """Go's filepath.Clean: posixpath.normpath, but "//x" becomes "/x" and "" becomes "."."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _compile(pattern: str, *, line: int, exclusion: bool) -> Pattern | None:
    regexp = "^"
    kind: Literal["exact", "prefix", "suffix", "regexp"] = "exact"
    index = 0
    first = True
    while index < len(pattern):
        ch = pattern[index]
        index += 1
        if ch == "*":
            if index < len(pattern) and pattern[index] == "*":
                index += 1
                if index < len(pattern) and pattern[index] == "/":
                    index += 1
                if index >= len(pattern):
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        regexp += ".*"
                        kind = "regexp"
                else:
                    regexp += "(.*/)?"
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                regexp += "[^/]*"
                kind = "regexp"
        elif ch == "?":
            regexp += "[^/]"
            kind = "regexp"
        elif ch in _ESCAPE:
            regexp += "\\" + ch
        elif ch == "\\":
            if index < len(pattern):
                regexp += "\\" + pattern[index]
                index += 1
                kind = "regexp"
            else:
                regexp += "\\\\"
        elif ch in "[]":
            regexp += ch
            kind = "regexp"
        else:
            regexp += ch
        first = False
    compiled: re.Pattern[str] | None = None
    if kind == "regexp":
        try:
            compiled = re.compile(regexp + "$")
        except re.error:
            return None
    return Pattern(line, pattern, exclusion, kind, compiled)
