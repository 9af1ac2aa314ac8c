"""A Go module proxy (the GOPROXY protocol) over recorded real modules, with a request log.

It serves ``<module>/@v/list``, ``<module>/@v/<version>.info|.mod|.zip`` and ``<module>/@latest``
from GOPROXY-layout trees (a GOMODCACHE's ``cache/download``, see ``e2e.modules``). Anything else is
404, which go reads as "not here" and falls through to the next GOPROXY entry after a ",".

Fault switches let tests produce the failures the operator must diagnose: ``fail_status`` answers
every request with that status (ProxyServerError), ``corrupt`` serves altered zips for the named
modules (go.sum then reports a checksum mismatch).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path, PurePosixPath

from .http import RecordingHTTPServer, Request, Response, text

_CONTENT_TYPES = {".info": "application/json", ".mod": "text/plain; charset=utf-8", ".zip": "application/zip"}
_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def escape_module_path(path: str) -> str:
    """Go's case-encoding of module paths in proxy URLs and caches (``!`` + lower-case letter)."""
    return re.sub(r"[A-Z]", lambda m: "!" + m[0].lower(), path)


def unescape_module_path(escaped: str) -> str:
    return re.sub(r"!([a-z])", lambda m: m[1].upper(), escaped)


def semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """Sort key in semver precedence (a release sorts after its pre-releases); invalid sorts first."""
    match = _SEMVER.match(version)
    if not match:
        return (-1, -1, -1, -1, ())
    pre = match[4]
    pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")) if pre else ()
    return (int(match[1]), int(match[2]), int(match[3]), 0 if pre else 1, pre_key)


class ModuleStore:
    """Read-only GOPROXY-layout trees; the first root that has a file wins."""

    def __init__(self, *roots: Path) -> None:
        self.roots = tuple(roots)

    def read(self, relative: str) -> bytes | None:
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts:
            return None
        for root in self.roots:
            file = root / pure
            if file.is_file():
                return file.read_bytes()
        return None

    def versions(self, escaped_module: str) -> list[str]:
        listing = self.read(f"{escaped_module}/@v/list")
        return [] if listing is None else listing.decode().split()

    def latest(self, escaped_module: str) -> bytes | None:
        """The .info of the highest release in the list (else of the highest pre-release)."""
        versions = self.versions(escaped_module)
        if not versions:
            return None
        releases = [v for v in versions if "-" not in v] or versions
        return self.read(f"{escaped_module}/@v/{max(releases, key=semver_key)}.info")


class GoProxy:
    """The GOPROXY protocol over a ModuleStore, as an App for RecordingHTTPServer, under `prefix`."""

    def __init__(self, store: ModuleStore, *, prefix: str = "") -> None:
        self.store = store
        self.prefix = prefix.rstrip("/")
        #: When set, every request is answered with this status (e.g. 500, 503).
        self.fail_status: int | None = None
        #: Module paths whose .zip is served altered, so go's go.sum check fails.
        self.corrupt: set[str] = set()

    def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return text(405, "method not allowed\n")
        if self.fail_status is not None:
            return text(self.fail_status, f"e2e proxy told to fail with {self.fail_status}\n")
        if not request.path.startswith(self.prefix + "/"):
            return text(404, "not found\n")
        relative = request.path[len(self.prefix) + 1 :]
        if relative.endswith("/@latest"):
            module = relative.removesuffix("/@latest")
            info = self.store.latest(module)
            if info is None:
                return text(404, f"not found: module {unescape_module_path(module)}: no matching versions\n")
            return Response(200, info, {"Content-Type": _CONTENT_TYPES[".info"]})
        module, sep, file = relative.partition("/@v/")
        if not sep or "/" in file:
            return text(404, "not found\n")
        body = self.store.read(relative)
        if body is None:
            return text(404, f"not found: {unescape_module_path(module)}@{file}: unknown revision\n")
        if file.endswith(".zip") and unescape_module_path(module) in self.corrupt:
            body = _tamper(body)
        suffix = PurePosixPath(file).suffix
        return Response(200, body, {"Content-Type": _CONTENT_TYPES.get(suffix, "text/plain; charset=utf-8")})


def _tamper(zip_bytes: bytes) -> bytes:
    """The same module zip with one .go file changed: a valid zip whose hash no longer matches."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(zip_bytes)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        tampered = False
        for info in src.infolist():
            data = src.read(info)
            if not tampered and info.filename.endswith(".go"):
                data += b"\n// altered by the e2e proxy\n"
                tampered = True
            dst.writestr(info, data)
    return out.getvalue()


class GoProxyServer(RecordingHTTPServer):
    """A plain-HTTP GOPROXY on `host`; ``url`` is what GOPROXY takes, ``requests`` the log."""

    def __init__(self, store: ModuleStore, *, host: str) -> None:
        self.proxy = GoProxy(store)
        super().__init__(self.proxy, host=host)

    def module_requests(self, module: str) -> list[str]:
        """Paths requested for `module` (e.g. to assert which files a download fetched)."""
        prefix = "/" + escape_module_path(module) + "/@"
        return [r.path for r in self.requests if r.path.startswith(prefix)]
