"""go.mod and go.sum as preflight reads them: a tenant's text, parsed in one pass, bounded.

Only what decides downloads is kept: the module path, the `go` and `toolchain` lines, the required
modules (each once, as written), the replacements (a module version for another, or a local
directory: nothing to download) and, from go.sum, which hashes it has. Tokens are split by hand
(no regular expression sees the text); module paths and versions are checked against go's
characters, so a value that reaches the preflight Job's command line is never more than a word.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

MAX_GO_MOD: Final = 1 << 20
MAX_GO_SUM: Final = 8 << 20
MAX_LINE: Final = 4096
MAX_REQUIRES: Final = 5000

#: Characters go allows in a module path (module.CheckPath's set) and in a version.
_PATH_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/+")
_VERSION_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.+")


class GoModError(ValueError):
    """go.mod or go.sum cannot be read; the message names the line."""


@dataclass(frozen=True)
class Requirement:
    path: str
    version: str
    indirect: bool = False


@dataclass(frozen=True)
class Replacement:
    """`replace old [version] => new [version]`; new_version "" means a local directory."""

    old: str
    old_version: str
    new: str
    new_version: str

    @property
    def local(self) -> bool:
        return not self.new_version


@dataclass(frozen=True)
class GoMod:
    module: str
    go: str = ""
    toolchain: str = ""
    requires: tuple[Requirement, ...] = ()
    replaces: tuple[Replacement, ...] = ()

    def replacement(self, path: str, version: str) -> Replacement | None:
        """The replacement go applies to path@version (a versioned one wins over a blanket one)."""
        found = None
        for item in self.replaces:
            if item.old == path and item.old_version in ("", version) and (item.old_version or found is None):
                found = item
        return found


@dataclass(frozen=True)
class GoSum:
    """The (path, version) pairs go.sum holds a hash for: the module's zip, and its go.mod."""

    zips: dict[tuple[str, str], str] = field(default_factory=dict)
    mods: dict[tuple[str, str], str] = field(default_factory=dict)

    def has(self, path: str, version: str) -> bool:
        return (path, version) in self.zips


def valid_path(path: str) -> bool:
    return 0 < len(path) <= 500 and not path.startswith(("-", "/")) and set(path) <= _PATH_CHARS


def valid_version(version: str) -> bool:
    return 1 < len(version) <= 200 and version[0] == "v" and set(version) <= _VERSION_CHARS


def _tokens(line: str) -> list[str]:
    """The words of a line, a // comment dropped, "quoted" and `raw` strings as one word."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t\r":
            i += 1
        elif line.startswith("//", i):
            words.append("//" + line[i + 2 :].strip())  # the comment, kept for // indirect
            break
        elif ch in '"`':
            end = line.find(ch, i + 1)
            if end < 0:
                raise GoModError("unterminated string")
            words.append(line[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and line[j] not in ' \t\r"`' and not line.startswith("//", j):
                j += 1
            words.append(line[i:j])
            i = j
    return words


def _lines(text: str, *, limit: int, what: str) -> Iterator[tuple[int, str]]:
    if len(text) > limit:
        raise GoModError(f"{what} is larger than {limit} bytes")
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > MAX_LINE:
            raise GoModError(f"{what} line {number} is longer than {MAX_LINE} characters")
        yield number, line


def parse_go_mod(text: str) -> GoMod:
    """The go.mod `text`; GoModError names the line go would refuse (as far as preflight reads it)."""
    module = go = toolchain = ""
    requires: dict[str, Requirement] = {}
    replaces: list[Replacement] = []
    block = ""
    for number, line in _lines(text, limit=MAX_GO_MOD, what="go.mod"):
        try:
            words = _tokens(line)
        except GoModError as exc:
            raise GoModError(f"go.mod line {number}: {exc}") from None
        comment = words.pop() if words and words[-1].startswith("//") else ""
        if not words:
            continue
        if block:
            if words == [")"]:
                block = ""
                continue
            verb, args = block, words
        elif len(words) == 2 and words[1] == "(":
            block = words[0]
            continue
        else:
            verb, args = words[0], words[1:]
        where = f"go.mod line {number}"
        if verb == "module" and args:
            module = args[0]
        elif verb == "go" and args:
            go = args[0]
        elif verb == "toolchain" and args:
            toolchain = args[0]
        elif verb == "require":
            if len(args) != 2 or not valid_path(args[0]) or not valid_version(args[1]):
                raise GoModError(f"{where}: not a module path and version: {line.strip()[:200]}")
            if len(requires) >= MAX_REQUIRES:
                raise GoModError(f"go.mod requires more than {MAX_REQUIRES} modules")
            requires[args[0]] = Requirement(args[0], args[1], indirect=comment == "//indirect")
        elif verb == "replace":
            replaces.append(_replacement(args, where=where, line=line))
    if not module:
        raise GoModError("go.mod has no module line")
    return GoMod(module, go, toolchain, tuple(requires.values()), tuple(replaces))


def _replacement(args: list[str], *, where: str, line: str) -> Replacement:
    if "=>" not in args:
        raise GoModError(f"{where}: a replace without =>: {line.strip()[:200]}")
    arrow = args.index("=>")
    old, new = args[:arrow], args[arrow + 1 :]
    if len(old) not in (1, 2) or len(new) not in (1, 2):
        raise GoModError(f"{where}: not a replacement: {line.strip()[:200]}")
    new_version = new[1] if len(new) == 2 else ""
    if new_version and (not valid_path(new[0]) or not valid_version(new_version)):
        raise GoModError(f"{where}: not a module path and version: {line.strip()[:200]}")
    return Replacement(old[0], old[1] if len(old) == 2 else "", new[0], new_version)


def parse_go_sum(text: str) -> GoSum:
    """go.sum's hashes; a line that is not `path version hash` is skipped, as go reports it."""
    zips: dict[tuple[str, str], str] = {}
    mods: dict[tuple[str, str], str] = {}
    for _, line in _lines(text, limit=MAX_GO_SUM, what="go.sum"):
        words = line.split()
        if len(words) != 3:
            continue
        path, version, digest = words
        if version.endswith("/go.mod"):
            mods[(path, version.removesuffix("/go.mod"))] = digest
        else:
            zips[(path, version)] = digest
    return GoSum(zips, mods)
