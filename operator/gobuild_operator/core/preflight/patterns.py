"""go's GOPRIVATE/GONOPROXY/GONOSUMDB matching: golang.org/x/mod/module.MatchPrefixPatterns.

Each comma-separated glob (a trailing "/" dropped) is matched with path.Match against as many
leading elements of the module path as the glob has: `git.corp.example` covers
`git.corp.example/team/lib`, `*.corp.example/team` covers `git.corp.example/team/lib`, and
`corp.example` does not cover `corp.example.com/x`. path.Match's `*` and `?` never match "/";
a malformed glob (an unclosed "[") matches nothing, as go's error is ignored there.

Matching is a table over (glob position, text position): quadratic in the worst case, on strings
bounded by MAX_PATTERN and MAX_PATH, never exponential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Longer globs and paths are not matched (go's module paths are far shorter).
MAX_PATTERN: Final = 512
MAX_PATH: Final = 1024


@dataclass(frozen=True)
class _Class:
    negated: bool
    ranges: tuple[tuple[str, str], ...]

    def matches(self, ch: str) -> bool:
        inside = any(low <= ch <= high for low, high in self.ranges)
        return inside != self.negated


#: A glob compiled: a literal character, "?" (one non-slash), "*" (any non-slashes), or a class.
_Token = str | _Class | None


def _compile(glob: str) -> list[tuple[str, _Token]] | None:
    """("lit", ch) | ("one", None) | ("star", None) | ("class", _Class); None for a bad pattern."""
    tokens: list[tuple[str, _Token]] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        if ch == "*":
            tokens.append(("star", None))
            i += 1
        elif ch == "?":
            tokens.append(("one", None))
            i += 1
        elif ch == "\\":
            if i + 1 >= n:
                return None
            tokens.append(("lit", glob[i + 1]))
            i += 2
        elif ch == "[":
            i += 1
            negated = i < n and glob[i] == "^"
            if negated:
                i += 1
            ranges: list[tuple[str, str]] = []
            first = True
            while True:
                if i >= n:
                    return None
                if glob[i] == "]" and not first:
                    i += 1
                    break
                first = False
                low, i = _class_char(glob, i)
                if low is None:
                    return None
                high: str | None = low
                if i < n and glob[i] == "-":
                    high, i = _class_char(glob, i + 1)
                    if high is None:
                        return None
                ranges.append((low, high or low))
            tokens.append(("class", _Class(negated, tuple(ranges))))
        else:
            tokens.append(("lit", ch))
            i += 1
    return tokens


def _class_char(glob: str, i: int) -> tuple[str | None, int]:
    """One character of a class (path.Match's getEsc): "-" and "]" need an escape; None when bad."""
    if i >= len(glob) or glob[i] in "-]":
        return None, i
    if glob[i] == "\\":
        if i + 1 >= len(glob):
            return None, i
        return glob[i + 1], i + 2
    return glob[i], i + 1


def path_match(glob: str, text: str) -> bool:
    """path.Match(glob, text), its error read as no match."""
    tokens = _compile(glob)
    if tokens is None:
        return False
    # reachable[j]: the tokens read so far can match text[:j]
    reachable = [False] * (len(text) + 1)
    reachable[0] = True
    for kind, token in tokens:
        nxt = [False] * (len(text) + 1)
        if kind == "star":
            run = False
            for j in range(len(text) + 1):
                if reachable[j]:
                    run = True
                elif j > 0 and text[j - 1] == "/":
                    run = False
                nxt[j] = run
        else:
            for j in range(len(text)):
                if not reachable[j]:
                    continue
                ch = text[j]
                if kind == "lit":
                    ok = ch == token
                elif kind == "one":
                    ok = ch != "/"
                else:
                    assert isinstance(token, _Class)
                    ok = token.matches(ch)
                if ok:
                    nxt[j + 1] = True
        reachable = nxt
        if not any(reachable):
            return False
    return reachable[len(text)]


def matching_pattern(globs: str, target: str) -> str | None:
    """The first glob of the comma-separated `globs` that covers module path `target`, else None
    (MatchPrefixPatterns, telling which glob matched)."""
    if len(target) > MAX_PATH:
        return None
    for raw in globs.split(","):
        glob = raw.removesuffix("/")
        if not glob or len(glob) > MAX_PATTERN:
            continue
        wanted = glob.count("/")
        prefix = target
        seen = 0
        for i, ch in enumerate(target):
            if ch == "/":
                if seen == wanted:
                    prefix = target[:i]
                    break
                seen += 1
        else:
            if seen < wanted:
                continue  # not enough path elements
        if path_match(glob, prefix):
            return raw
    return None
