"""GONOSUMDB/GOPRIVATE patterns, matched as the go command matches them.

Which modules the cache verifies against the checksum database must be exactly the set go
verifies, or the cache would refuse a private module go accepts (or store a public one unchecked).
So this is a port of go's path.Match and module.MatchPrefixPatterns, with its odd corners (a
pattern with N slashes matches the first N+1 elements of a path; a trailing `/` is ignored; a bad
pattern matches nothing). Like go's, matching is one greedy pass per `*`-separated chunk: time
grows with the path times the pattern, and patterns come from the cache's own configuration.
"""

from __future__ import annotations


class _BadPattern(Exception):
    pass


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern and pattern[0] == "*":
        pattern, star = pattern[1:], True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            return star, pattern[:i], pattern[i:]
        i += 1
    return star, pattern, ""


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise _BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise _BadPattern
    return r, rest


def _match_chunk(chunk: str, s: str, at: int) -> int:
    """Where `s` continues after `chunk` matched it from index `at`, or -1; _BadPattern on bad syntax.

    Indices, not slices: the name is walked once per chunk, never copied.
    """
    failed = False
    while chunk:
        failed = failed or at >= len(s)
        c = chunk[0]
        if c == "[":
            r = "\0"
            if not failed:
                r, at = s[at], at + 1
            chunk = chunk[1:]
            negated = bool(chunk) and chunk[0] == "^"
            if negated:
                chunk = chunk[1:]
            match = False
            ranges = 0
            while True:
                if chunk and chunk[0] == "]" and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                match = match or lo <= r <= hi
                ranges += 1
            failed = failed or match == negated
        elif c == "?":
            if not failed:
                failed = s[at] == "/"
                at += 1
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if not failed:
                failed = chunk[0] != s[at]
                at += 1
            chunk = chunk[1:]
    return -1 if failed else at


def path_match(pattern: str, name: str) -> bool:
    """go's path.Match; a malformed pattern matches nothing."""
    try:
        return _path_match(pattern, name)
    except _BadPattern:
        return False


def _path_match(pattern: str, name: str) -> bool:
    at = 0
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return name.find("/", at) < 0
        rest = _match_chunk(chunk, name, at)
        if rest >= 0 and (rest == len(name) or pattern):
            at = rest
            continue
        matched = False
        if star:
            i = at
            while i < len(name) and name[i] != "/":
                rest = _match_chunk(chunk, name, i + 1)
                i += 1
                if rest >= 0:
                    if not pattern and rest < len(name):
                        continue
                    at, matched = rest, True
                    break
        if matched:
            continue
        while pattern:  # go reports a syntax error in the rest of the pattern as an error
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "", 0)
        return False
    return at == len(name)


def match_prefix_patterns(globs: str, target: str) -> bool:
    """module.MatchPrefixPatterns: does any comma-separated glob match a leading part of `target`?"""
    for raw in globs.split(","):
        glob = raw.removesuffix("/")
        if not glob:
            continue
        n = glob.count("/")
        prefix = target
        for i, c in enumerate(target):
            if c == "/":
                if n == 0:
                    prefix = target[:i]
                    break
                n -= 1
        if n > 0:
            continue
        if path_match(glob, prefix):
            return True
    return False
