"""Which request paths exist, and the one file name each of them may touch.

A request path is untrusted text that ends up as a file name under the cache directory. It is
therefore parsed into a module path and version exactly as go's golang.org/x/mod/module and
semver packages define them (ported below, same rules and same `!` case escaping), and the file
name is rebuilt from the parsed parts, never copied from the request: `..`, `//`, upper case on a
case-insensitive disk, NUL or percent-encoded slashes have no way through. An encoding that is
valid but not the one go sends (upper case instead of `!x`) is refused too, so one module has one
name. Every loop below is a single pass over the input.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

#: Longer request paths are refused before any parsing (go's own paths are far shorter).
MAX_PATH = 4096

_BAD_WINDOWS_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
_DIGITS = frozenset("0123456789")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALNUM = _DIGITS | _LOWER | _UPPER
_FIRST_ELEM_OK = _DIGITS | _LOWER | frozenset("-.")
_MOD_PATH_OK = _ALNUM | frozenset("-._~")
_FILE_NAME_OK = _ALNUM | frozenset("!#$%&()+,-.=@[]^_{}~ ")
_IDENT_OK = _ALNUM | frozenset("-")


class Kind(enum.StrEnum):
    """What a request asks for; the value is the metrics label."""

    INFO = "info"  # @v/<canonical version>.info
    MOD = "mod"
    ZIP = "zip"
    LIST = "list"  # @v/list
    LATEST = "latest"  # @latest
    QUERY = "query"  # @v/<branch, tag prefix, commit, ...>.info
    SUMDB_SUPPORTED = "sumdb-supported"
    SUMDB_LATEST = "sumdb-latest"
    SUMDB_LOOKUP = "sumdb-lookup"
    SUMDB_TILE = "sumdb-tile"


IMMUTABLE_KINDS = frozenset({Kind.INFO, Kind.MOD, Kind.ZIP, Kind.SUMDB_LOOKUP, Kind.SUMDB_TILE})
SUMDB_KINDS = frozenset({Kind.SUMDB_SUPPORTED, Kind.SUMDB_LATEST, Kind.SUMDB_LOOKUP, Kind.SUMDB_TILE})


@dataclass(frozen=True)
class Target:
    """A valid request: what it asks for, where upstream has it, where the cache keeps it."""

    kind: Kind
    module: str = ""  # unescaped; empty for sumdb tiles and `supported`/`latest`
    version: str = ""  # unescaped
    upstream_path: str = ""  # relative to a GOPROXY base URL, or to the checksum database's base
    storage_path: str = ""  # relative to the cache directory; "" for what is never stored

    @property
    def immutable(self) -> bool:
        return self.kind in IMMUTABLE_KINDS


@dataclass(frozen=True)
class Refusal:
    """Not a path this cache serves; `reason` is safe to show (it quotes nothing unbounded)."""

    reason: str


# --- semver (golang.org/x/mod/semver) -----------------------------------------------------------


@dataclass(frozen=True)
class _Semver:
    major: str
    short: str
    prerelease: str
    build: str


def _parse_int(v: str, i: int) -> int:
    """End of the decimal number starting at v[i], or -1 (no leading zeros but `0` itself)."""
    j = i
    while j < len(v) and v[j] in _DIGITS:
        j += 1
    if j == i or (v[i] == "0" and j != i + 1):
        return -1
    return j


def _is_bad_num(ident: str) -> bool:
    return len(ident) > 1 and ident[0] == "0" and all(c in _DIGITS for c in ident)


def _parse_semver(v: str) -> _Semver | None:
    if not v or v[0] != "v":
        return None
    end = _parse_int(v, 1)
    if end < 0:
        return None
    major = v[1:end]
    short = ""
    parts = 1
    i = end
    while parts < 3:
        if i == len(v):
            short = ".0" * (3 - parts)
            return _Semver(major, short, "", "")
        if v[i] != ".":
            return None
        end = _parse_int(v, i + 1)
        if end < 0:
            return None
        i, parts = end, parts + 1
    prerelease = build = ""
    if i < len(v) and v[i] == "-":
        start = i
        i = _scan_dotted(v, i + 1, stop="+", numeric_check=True)
        if i < 0:
            return None
        prerelease = v[start:i]
    if i < len(v) and v[i] == "+":
        start = i
        i = _scan_dotted(v, i + 1, stop="", numeric_check=False)
        if i < 0:
            return None
        build = v[start:i]
    if i != len(v):
        return None
    return _Semver(major, short, prerelease, build)


def _scan_dotted(v: str, i: int, *, stop: str, numeric_check: bool) -> int:
    """End of a dot-separated identifier list starting at v[i] (up to `stop`), or -1."""
    start = i
    while i < len(v) and v[i] != stop:
        c = v[i]
        if c == ".":
            if start == i or (numeric_check and _is_bad_num(v[start:i])):
                return -1
            start = i + 1
        elif c not in _IDENT_OK:
            return -1
        i += 1
    if start == i or (numeric_check and _is_bad_num(v[start:i])):
        return -1
    return i


def semver_is_valid(v: str) -> bool:
    return _parse_semver(v) is not None


def semver_major(v: str) -> str:
    p = _parse_semver(v)
    return "" if p is None else "v" + p.major


def semver_build(v: str) -> str:
    p = _parse_semver(v)
    return "" if p is None else p.build


def canonical_version(v: str) -> str:
    """module.CanonicalVersion: semver.Canonical, keeping a `+incompatible` build suffix."""
    p = _parse_semver(v)
    if p is None:
        return ""
    canon = v[: len(v) - len(p.build)] if p.build else v + p.short
    if p.build == "+incompatible":
        canon += "+incompatible"
    return canon


# --- module paths (golang.org/x/mod/module) -----------------------------------------------------


class _ElemKind(enum.Enum):
    MODULE = 0
    FILE = 2


def _check_elem(elem: str, kind: _ElemKind) -> str:
    """'' when the path element is valid, else why not."""
    if not elem:
        return "empty path element"
    if elem.count(".") == len(elem):
        return "invalid path element"
    if elem[0] == "." and kind is _ElemKind.MODULE:
        return "leading dot in path element"
    if elem[-1] == ".":
        return "trailing dot in path element"
    allowed = _MOD_PATH_OK if kind is _ElemKind.MODULE else _FILE_NAME_OK
    for c in elem:
        if c not in allowed and not (kind is _ElemKind.FILE and ord(c) >= 0x80 and c.isalpha()):
            return "invalid char in path element"
    short = elem.split(".", 1)[0]
    if short.upper() in _BAD_WINDOWS_NAMES:
        return "disallowed as path element component on Windows"
    if kind is _ElemKind.FILE:
        return ""
    tilde = short.rfind("~")
    if 0 <= tilde < len(short) - 1 and all(c in _DIGITS for c in short[tilde + 1 :]):
        return "trailing tilde and digits in path element"
    return ""


def split_path_version(path: str) -> tuple[str, str, bool]:
    """module.SplitPathVersion: (prefix, path major suffix such as `/v2`, ok)."""
    if path.startswith("gopkg.in/"):
        return _split_gopkg_in(path)
    i = len(path)
    dot = False
    while i > 0 and (path[i - 1] in _DIGITS or path[i - 1] == "."):
        dot = dot or path[i - 1] == "."
        i -= 1
    if i <= 1 or i == len(path) or path[i - 1] != "v" or path[i - 2] != "/":
        return path, "", True
    prefix, major = path[: i - 2], path[i - 2 :]
    if dot or len(major) <= 2 or major[2] == "0" or major == "/v1":
        return path, "", False
    return prefix, major, True


def _split_gopkg_in(path: str) -> tuple[str, str, bool]:
    i = len(path)
    if path.endswith("-unstable"):
        i -= len("-unstable")
    while i > 0 and path[i - 1] in _DIGITS:
        i -= 1
    if i <= 1 or path[i - 1] != "v" or path[i - 2] != ".":
        return path, "", False
    prefix, major = path[: i - 2], path[i - 2 :]
    if len(major) <= 2 or (major[2] == "0" and major != ".v0"):
        return path, "", False
    return prefix, major, True


def check_path(path: str) -> str:
    """module.CheckPath: '' when `path` is a valid module path, else why not."""
    if not path:
        return "empty string"
    if path[0] == "-":
        return "leading dash"
    if "//" in path:
        return "double slash"
    if path[-1] == "/":
        return "trailing slash"
    for elem in path.split("/"):
        if why := _check_elem(elem, _ElemKind.MODULE):
            return why
    first = path.split("/", 1)[0]
    if not first:
        return "leading slash"
    if "." not in first:
        return "missing dot in first path element"
    if any(c not in _FIRST_ELEM_OK for c in first):
        return "invalid char in first path element"
    if not split_path_version(path)[2]:
        return "invalid version"
    return ""


def check_path_major(version: str, path_major: str) -> str:
    """module.CheckPathMajor: '' when `version` may be a version of a path ending in `path_major`."""
    if path_major.startswith(".v") and path_major.endswith("-unstable"):
        path_major = path_major.removesuffix("-unstable")
    if version.startswith("v0.0.0-") and path_major == ".v1":
        return ""
    major = semver_major(version)
    if not path_major:
        if major in ("v0", "v1") or semver_build(version) == "+incompatible":
            return ""
        return f"should be v0 or v1, not {major}"
    if major == path_major[1:]:
        return ""
    return f"should be {path_major[1:]}, not {major}"


def check_module_version(path: str, version: str) -> str:
    """module.Check plus canonical form: '' when go could ask for this module's .mod or .zip."""
    if why := check_path(path):
        return why
    if not semver_is_valid(version):
        return "not a semantic version"
    if canonical_version(version) != version:
        return "not a canonical version"
    return check_path_major(version, split_path_version(path)[1])


def check_query(version: str) -> str:
    """'' when `version` is something go may put before `.info` (module.EscapeVersion's rule)."""
    if "!" in version:
        return "disallowed version string"
    return _check_elem(version, _ElemKind.FILE)


def escape(s: str) -> str:
    """go's `!` case encoding: each upper-case letter becomes `!` and its lower-case form."""
    return "".join("!" + c.lower() if c in _UPPER else c for c in s)


def unescape(escaped: str) -> str | None:
    """The inverse of `escape`; None for anything go would never have produced."""
    out: list[str] = []
    bang = False
    for c in escaped:
        if ord(c) >= 0x80 or c in _UPPER:
            return None
        if bang:
            if c not in _LOWER:
                return None
            out.append(c.upper())
            bang = False
        elif c == "!":
            bang = True
        else:
            out.append(c)
    return None if bang else "".join(out)


# --- request paths ------------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")


def _percent_decode(segment: str) -> str | None:
    """A URL path segment, percent-decoded to ASCII; None if it hides a slash, NUL or non-ASCII."""
    if "%" not in segment:
        return segment
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "%":
            if i + 2 >= len(segment):
                return None
            hi, lo = segment[i + 1], segment[i + 2]
            if hi not in _HEX or lo not in _HEX:
                return None
            code = int(hi + lo, 16)
            if code in (0, ord("/"), ord("\\")) or code >= 0x80:
                return None
            out.append(chr(code))
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def query_storage_name(version: str) -> str:
    """The file name of a version query's answer: a digest, so no query text becomes a file name."""
    return hashlib.sha256(version.encode()).hexdigest()[:40] + ".query"


def parse(raw_path: str, *, sumdb_name: str = "", sumdb_dir: str = "") -> Target | Refusal:
    """The Target of a raw (still percent-encoded) request path, or why there is none.

    `sumdb_name` is the one checksum database this cache serves under /sumdb/<name>/ (empty: none),
    `sumdb_dir` the directory its files are kept under.
    """
    if len(raw_path) > MAX_PATH:
        return Refusal("path too long")
    if not raw_path.startswith("/") or "?" in raw_path or "#" in raw_path:
        return Refusal("not a module proxy path")
    segments: list[str] = []
    for raw in raw_path[1:].split("/"):
        seg = _percent_decode(raw)
        if seg is None:
            return Refusal("invalid percent-encoding")
        segments.append(seg)
    if segments[0] == "sumdb":
        return _parse_sumdb(segments[1:], sumdb_name=sumdb_name, sumdb_dir=sumdb_dir)
    return _parse_module(segments)


def _parse_module(segments: list[str]) -> Target | Refusal:
    at = next((i for i, s in enumerate(segments) if s.startswith("@")), -1)
    if at <= 0:
        return Refusal("not a module proxy path")
    escaped_module = "/".join(segments[:at])
    module = unescape(escaped_module)
    if module is None:
        return Refusal("invalid escaped module path")
    if why := check_path(module):
        return Refusal(f"malformed module path: {why}")
    rest = segments[at:]
    base = f"{escaped_module}/"
    stored = f"mod/{escaped_module}/"
    if rest == ["@latest"]:
        return Target(Kind.LATEST, module, "", base + "@latest", stored + "@latest")
    if len(rest) != 2 or rest[0] != "@v":
        return Refusal("not a module proxy path")
    name = rest[1]
    if name == "list":
        return Target(Kind.LIST, module, "", base + "@v/list", stored + "@v/list")
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in ("info", "mod", "zip"):
        return Refusal("not a module proxy path")
    version = unescape(stem)
    if version is None:
        return Refusal("invalid escaped version")
    upstream = f"{base}@v/{name}"
    if ext == "info" and canonical_version(version) != version:
        if why := check_query(version):
            return Refusal(f"invalid version query: {why}")
        return Target(Kind.QUERY, module, version, upstream, stored + "@v/" + query_storage_name(version))
    if why := check_module_version(module, version):
        return Refusal(f"invalid version: {why}")
    return Target(Kind(ext), module, version, upstream, stored + "@v/" + name)


def _parse_sumdb(segments: list[str], *, sumdb_name: str, sumdb_dir: str) -> Target | Refusal:
    name_parts = sumdb_name.split("/") if sumdb_name else []
    if not name_parts or segments[: len(name_parts)] != name_parts:
        return Refusal("unknown checksum database")
    rest = segments[len(name_parts) :]
    stored = f"sumdb/{sumdb_dir}/"
    if rest == ["supported"]:
        return Target(Kind.SUMDB_SUPPORTED)
    if rest == ["latest"]:
        return Target(Kind.SUMDB_LATEST, upstream_path="latest", storage_path=stored + "latest")
    if len(rest) >= 2 and rest[0] == "lookup":
        escaped_module, at, escaped_version = "/".join(rest[1:]).partition("@")
        module, version = unescape(escaped_module), unescape(escaped_version)
        if not at or module is None or version is None:
            return Refusal("invalid lookup path")
        if why := check_module_version(module, version):
            return Refusal(f"invalid lookup: {why}")
        tail = "/".join(rest)
        return Target(Kind.SUMDB_LOOKUP, module, version, tail, stored + tail)
    if rest and rest[0] == "tile" and parse_tile_path("/".join(rest)) is not None:
        tail = "/".join(rest)
        return Target(Kind.SUMDB_TILE, upstream_path=tail, storage_path=stored + tail)
    return Refusal("not a checksum database path")


# --- checksum database tile paths (golang.org/x/mod/sumdb/tlog) ---------------------------------


@dataclass(frozen=True)
class Tile:
    """A tile of the checksum database's tree: height, level (-1: record data), number, width."""

    h: int
    level: int
    n: int
    w: int

    def path(self) -> str:
        n = self.n
        name = f"{n % 1000:03d}"
        while n >= 1000:
            n //= 1000
            name = f"x{n % 1000:03d}/{name}"
        partial = f".p/{self.w}" if self.w != 1 << self.h else ""
        level = "data" if self.level == -1 else str(self.level)
        return f"tile/{self.h}/{level}/{name}{partial}"


def _small_int(s: str, *, limit: int) -> int | None:
    if not s or len(s) > 10 or any(c not in _DIGITS for c in s):
        return None
    value = int(s)
    return value if value <= limit else None


def parse_tile_path(path: str) -> Tile | None:
    """tlog.ParseTilePath: the tile a `tile/H/L/NNN[.p/W]` path names, only in its canonical form."""
    f = path.split("/")
    if len(f) < 4 or f[0] != "tile" or len(f) > 16:
        return None
    h = _small_int(f[1], limit=30)
    level = -1 if f[2] == "data" else _small_int(f[2], limit=63)
    if h is None or h < 1 or level is None:
        return None
    w = 1 << h
    if f[-2].endswith(".p"):
        ww = _small_int(f[-1], limit=w - 1)
        if ww is None or ww <= 0:
            return None
        w = ww
        f = [*f[:-2], f[-2].removesuffix(".p")]
    n = 0
    for s in f[3:]:
        nn = _small_int(s.removeprefix("x"), limit=999)
        if nn is None:
            return None
        n = n * 1000 + nn
    tile = Tile(h, level, n, w)
    return tile if tile.path() == path else None
