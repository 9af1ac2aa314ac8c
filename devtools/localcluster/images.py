"""Container images for the local node, built from Debian packages and real Go toolchains.

There is no registry and no Docker engine on the machines this project runs on, and the network
reaches only the Debian archive, PyPI, npm and the Go module proxy. So the images the node and the
tests need are built here, as docker-archive tars that `ctr -n k8s.io images import FILE` loads
(their tags are never `latest`, so the kubelet's default pull policy IfNotPresent uses them).

Why they are built the way they are:

- Debian root filesystems come from `mmdebstrap --variant=minbase`, not debootstrap: it resolves
  dependencies with apt, takes several mirrors (bookworm, -updates, -security, like the official
  images), is reproducible with SOURCE_DATE_EPOCH, cleans apt lists and caches itself, and writes
  dpkg `path-exclude` rules into the image (no docs, man pages or locales: what makes the official
  `-slim` images slim, and what keeps later `apt-get install`s in a container slim too). minbase is
  what `debian:*-slim` is: Essential and Priority: required packages plus apt. The `merged-usr`
  hook sets up /usr the way debootstrap does; without it bookworm pulls in the usrmerge package and
  with it full perl (50 MB). The host's /etc/resolv.conf and /etc/hostname, which mmdebstrap copies
  in, are removed: the runtime provides both, and the host's must not leak into an image. It runs as
  root in its own mount namespace, so the /proc, /sys and /dev/pts it mounts into the target vanish
  with it even if it is killed.
- Go gets in as a real release: the `golang.org/toolchain` module of that version (what
  `GOTOOLCHAIN=goX.Y.Z` downloads), fetched with `go mod download`, so the go command verifies it
  against the checksum database and every version, the host's own included, comes the same way.
  It is unpacked as the go command unpacks a toolchain it switches to: module zips keep no file
  modes and may hold no nested go.mod, so bin/, pkg/tool/ and lib's go_*_exec become executable
  and the zip's _go.mod files become src/go.mod, src/cmd/go.mod, ... again. `*_test.go` and
  `testdata/` under src/ are left out (about a fifth of the toolchain; `go build`, `go vet`,
  `go test` of user code and `go mod download` never read them), except a testdata directory that a
  non-test file embeds (`go list std` must still resolve every //go:embed). No gcc: without a C
  compiler on PATH the go command defaults CGO_ENABLED to 0, which is what module downloads and
  pure-Go builds want, and gcc with libc6-dev would add well over 100 MB to every builder image.
- The golang images mirror the official `golang:X-bookworm` ones where a build can tell: Go in
  /usr/local/go, GOPATH=/go with /go, /go/bin and /go/src mode 1777 (any runAsUser can download
  modules), GOTOOLCHAIN=local, WORKDIR /go, root. Packages: ca-certificates (TLS to proxies),
  git (direct VCS fetches, with its https helper), openssh-client (private modules over SSH) and
  netbase (/etc/services, /etc/protocols: tiny, in the official images, read by service lookups;
  without it a `host:https` address does not resolve in C programs). The non-root variant adds
  user and group `gopher` 1000:1000 with a home directory, owns /go, and sets `USER 1000:1000`;
  HOME is not set in the image: runc sets it from the image's /etc/passwd for whatever uid runs.
- Layers are deterministic tars: entries in sorted walk order, one fixed mtime (2000-01-01, after
  1980 so zip tools accept the files), numeric uid/gid as in the root filesystem, hard links and
  symlinks kept, device nodes, sockets and xattrs dropped (the runtime mounts /dev). Each image is
  a few layers (root filesystem, toolchain, user), so no whiteouts are ever needed, and the same
  Debian layer is shared by every image with the same package set.
- Everything is cached by content under ~/.cache/gobuild-operator/images (GOBUILD_OPERATOR_CACHE
  overrides the base): a layer under the hash of its recipe (suite, sources, packages, Go version,
  files, user) and RECIPE_VERSION, an image under the hash of its layers' keys, tags and config.
  A second call hashes recipes and finds the archives; builds hold a per-key flock, so concurrent
  callers wait for one build and reuse it. Cached recipes do not follow the Debian archive's later
  security updates on their own; bump RECIPE_VERSION (or delete the cache) to rebuild.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import functools
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal, Protocol

LogFn = Callable[[str], None]

RECIPE_VERSION = "2"  # bump when a change to this module changes what an image contains
REPO_ROOT = Path(__file__).resolve().parents[2]
PAUSE_SOURCE = REPO_ROOT / "devtools" / "images" / "pause"

SUITE = "bookworm"
DEBIAN_SOURCES = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
# What debuerreotype's "slimify" leaves out of the official -slim images.
SLIM_DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)
MERGED_USR_HOOK = "/usr/share/mmdebstrap/hooks/merged-usr"
GO_PACKAGES = ("ca-certificates", "git", "netbase", "openssh-client")

GO_VERSIONS = {"1.26": "1.26.8", "1.27": "1.27.3"}  # image name suffix -> the release it carries
NONROOT_UID = 1000
NONROOT_USER = "gopher"

MTIME = 946684800  # 2000-01-01T00:00:00Z
CREATED = "2000-01-01T00:00:00Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PAX = tarfile.PAX_FORMAT
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
IMAGE_NAME = "io.containerd.image.name"  # the annotation containerd and BuildKit name images by


@dataclass(frozen=True)
class ImageArchive:
    """A docker-archive tar in the cache and what it holds."""

    ref: str  # full reference, e.g. "docker.io/library/golang:1.26"
    path: Path  # docker-archive tar, importable by `ctr -n k8s.io images import`
    digest: str  # the image config digest ("sha256:..."), what `crictl images` shows as IMAGE ID
    refs: tuple[str, ...] = ()  # every tag the archive carries, `ref` first


# ---------------------------------------------------------------------------------------------
# Cache layout


def cache_dir() -> Path:
    override = os.environ.get("GOBUILD_OPERATOR_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "gobuild-operator"
    return base / "images"


def _blob_path(digest: str) -> Path:
    return cache_dir() / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _hash_json(value: object) -> str:
    return hashlib.sha256(_canonical_json(value)).hexdigest()


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@contextlib.contextmanager
def _locked(key: str) -> Iterator[None]:
    """Hold the build lock of one key: a concurrent caller waits, then finds the result."""
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# ---------------------------------------------------------------------------------------------
# Deterministic layer tars


@dataclass(frozen=True)
class Entry:
    """One member of a layer; `path` is relative to the image root."""

    path: str
    kind: Literal["dir", "file", "symlink", "hardlink", "fifo"]
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    data: bytes | None = None  # file content held in memory
    source: Path | None = None  # or read from here
    target: str = ""  # symlink target, or the path a hard link points at


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)


def _tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = MTIME
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
    elif entry.kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, entry.target
    elif entry.kind == "fifo":
        info.type = tarfile.FIFOTYPE
    return info


def write_layer(entries: Iterable[Entry], tmp: Path) -> tuple[str, int]:
    """Write `entries` as an uncompressed tar (via `tmp`, on the cache's filesystem) into the blob
    store; return (digest, size)."""
    blobs = cache_dir() / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as raw:
            writer = _HashingWriter(raw)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for entry in entries:
                    info = _tarinfo(entry)
                    if entry.kind != "file":
                        tar.addfile(info)
                    elif entry.data is not None:
                        info.size = len(entry.data)
                        tar.addfile(info, io.BytesIO(entry.data))
                    else:
                        assert entry.source is not None
                        with open(entry.source, "rb") as content:
                            info.size = os.fstat(content.fileno()).st_size
                            tar.addfile(info, content)
        digest = f"sha256:{writer.sha.hexdigest()}"
        os.replace(tmp, _blob_path(digest))
        return digest, writer.size
    finally:
        tmp.unlink(missing_ok=True)


def walk_tree(
    root: Path,
    *,
    prefix: str = "",
    skip: Callable[[str, os.DirEntry[str]], bool] = lambda rel, e: False,
    normalize: Callable[[str, Entry], Entry] | None = None,
) -> Iterator[Entry]:
    """Entries for everything under `root` in sorted order (parents first), named `prefix/rel`.

    Ownership and modes come from the tree unless `normalize` rewrites them; a file seen again under
    another name (same inode) becomes a hard link to the first name; device nodes and sockets are
    dropped.
    """
    seen: dict[tuple[int, int], str] = {}

    def walk(directory: Path, rel_dir: str) -> Iterator[Entry]:
        with os.scandir(directory) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            if skip(rel, child):
                continue
            st = child.stat(follow_symlinks=False)
            name = f"{prefix}/{rel}" if prefix else rel
            entry = Entry(name, "dir", mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
            if stat.S_ISDIR(st.st_mode):
                pass
            elif stat.S_ISLNK(st.st_mode):
                entry = replace(entry, kind="symlink", target=os.readlink(child.path))
            elif stat.S_ISREG(st.st_mode):
                inode = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and inode in seen:
                    entry = replace(entry, kind="hardlink", target=seen[inode])
                else:
                    seen[inode] = name
                    entry = replace(entry, kind="file", source=Path(child.path))
            elif stat.S_ISFIFO(st.st_mode):
                entry = replace(entry, kind="fifo")
            else:
                continue  # character/block devices, sockets: the runtime provides /dev
            yield normalize(rel, entry) if normalize else entry
            if entry.kind == "dir":
                yield from walk(Path(child.path), rel)

    yield from walk(root, "")


def _parents(path: str) -> list[Entry]:
    """Directory entries (0755 root) for every parent of `path`, outermost first."""
    parts = path.strip("/").split("/")[:-1]
    return [Entry("/".join(parts[: i + 1]), "dir") for i in range(len(parts))]


def read_layer_files(
    layers: Sequence[Path], paths: Iterable[str]
) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """The topmost regular file at each of `paths` in a stack of layer tars (lowest first)."""
    wanted = set(paths)
    found: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    for layer in reversed(layers):
        with tarfile.open(layer) as tar:
            for info in tar:
                if info.name in wanted and info.name not in found and info.isreg():
                    handle = tar.extractfile(info)
                    assert handle is not None
                    found[info.name] = (info, handle.read())
        if len(found) == len(wanted):
            break
    return found


# ---------------------------------------------------------------------------------------------
# Layer recipes


@dataclass(frozen=True)
class BuiltLayer:
    digest: str  # the uncompressed tar's digest: the image's diff_id
    size: int
    created_by: str


class Layer(Protocol):
    def recipe(self) -> dict[str, object]: ...  # everything the layer's content depends on
    def describe(self) -> str: ...  # one line for logs and the image history
    def entries(self, lower: Sequence[Path], work: Path, log: LogFn) -> Iterator[Entry]:
        """The layer's members; `lower` are the layer tars below it, `work` an empty scratch dir."""
        ...


def layer_key(layer: Layer, lower_keys: Sequence[str]) -> str:
    recipe = layer.recipe()
    if recipe.get("reads_lower"):
        recipe = {**recipe, "lower": list(lower_keys)}
    return _hash_json({"recipe_version": RECIPE_VERSION, **recipe})


@dataclass(frozen=True)
class DebianLayer:
    """A Debian root filesystem: mmdebstrap minbase plus `include`."""

    include: tuple[str, ...] = ()
    suite: str = SUITE
    #: Shell commands run on the finished root filesystem ("$1" is its path).
    customize: tuple[str, ...] = ()

    def recipe(self) -> dict[str, object]:
        return {
            "kind": "debian",
            "suite": self.suite,
            "variant": "minbase",
            "include": sorted(self.include),
            **({"customize": list(self.customize)} if self.customize else {}),
            "sources": list(DEBIAN_SOURCES),
            "dpkg": list(SLIM_DPKG_OPTIONS),
            "hooks": [MERGED_USR_HOOK],
        }

    def describe(self) -> str:
        extra = f" --include={','.join(sorted(self.include))}" if self.include else ""
        return f"mmdebstrap --variant=minbase{extra} {self.suite}"

    def entries(self, lower: Sequence[Path], work: Path, log: LogFn) -> Iterator[Entry]:
        if shutil.which("mmdebstrap") is None:
            raise RuntimeError("mmdebstrap is missing: apt-get install mmdebstrap (see .ci/run)")
        target = work / "root"
        cmd = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "mmdebstrap",
            "--mode=root",
            "--format=directory",
            "--variant=minbase",
            f"--hook-dir={MERGED_USR_HOOK}",
            *(f"--dpkgopt={option}" for option in SLIM_DPKG_OPTIONS),
            '--customize-hook=rm -f "$1/etc/resolv.conf" "$1/etc/hostname"',
            *(f"--customize-hook={command}" for command in self.customize),
        ]
        if self.include:
            cmd.append(f"--include={','.join(sorted(self.include))}")
        cmd += [self.suite, str(target), *DEBIAN_SOURCES]
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(MTIME), "TMPDIR": str(work)}
        _run_logged(cmd, env=env, log=log, prefix="    mmdebstrap: ")
        _give_apt_its_partial_dirs(target)
        yield from walk_tree(target, skip=_skip_rootfs)


def _give_apt_its_partial_dirs(target: Path) -> None:
    """Own apt's download dirs by _apt, as they are when apt can drop privileges to it.

    apt leaves them root's when _apt cannot reach the target (a cache below /root, mode 0700), so
    without this the layer would depend on where the cache lives.
    """
    users = (line.split(":") for line in (target / "etc/passwd").read_text().splitlines())
    apt_uid = next((int(fields[2]) for fields in users if fields[0] == "_apt"), None)
    if apt_uid is None:
        return
    for partial in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
        if (target / partial).is_dir():
            os.chown(target / partial, apt_uid, 0)


def _skip_rootfs(rel: str, entry: os.DirEntry[str]) -> bool:
    # /dev is the runtime's; aux-cache is a non-reproducible ldconfig cache (mmdebstrap removes it
    # too when SOURCE_DATE_EPOCH is set; this is belt and braces).
    return rel.startswith("dev/") or rel == "var/cache/ldconfig/aux-cache"


def _remove_tree(path: Path) -> None:
    """rmtree, unless something is still mounted below `path` (then removing would reach into it)."""
    resolved = str(path.resolve())
    with open("/proc/self/mountinfo") as mountinfo:
        mounted = [line.split()[4] for line in mountinfo]
    if any(point == resolved or point.startswith(resolved + "/") for point in mounted):
        raise RuntimeError(f"refusing to remove {path}: something is still mounted below it")
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class GoLayer:
    """A Go release at /usr/local/go, and GOPATH /go as the official images make it."""

    version: str  # e.g. "1.26.8"

    def recipe(self) -> dict[str, object]:
        return {
            "kind": "go",
            "version": self.version,
            "module": self.module,
            "strip": ["src/**/*_test.go", "src/**/testdata (unless embedded)"],
            "unpack": ["_go.mod -> go.mod", "0755: bin/**, pkg/tool/**, lib/**/go_?*_?*_exec"],
        }

    @property
    def module(self) -> str:
        return f"golang.org/toolchain@v0.0.1-go{self.version}.linux-amd64"

    def describe(self) -> str:
        return f"Go {self.version} from {self.module} at /usr/local/go; GOPATH /go"

    def entries(self, lower: Sequence[Path], work: Path, log: LogFn) -> Iterator[Entry]:
        """GOROOT as the go command leaves a toolchain it switches to (toolchain/select.go).

        A module zip may hold no go.mod below its root, so the toolchain module stores src/go.mod,
        src/cmd/go.mod, ... as _go.mod, and zips keep no modes; the go command copies each _go.mod
        to go.mod and sets the executable bits below. Doing the same here from the zip's contents
        alone makes the layer the same whether the module cache copy was ever run or not.
        """
        goroot = download_toolchain(self.version, log=log)
        embedded = _embedded_testdata(goroot / "src")
        yield from _parents("usr/local/go")
        yield Entry("usr/local/go", "dir")

        def skip(rel: str, entry: os.DirEntry[str]) -> bool:
            if entry.name == "go.mod" and os.path.exists(
                os.path.join(os.path.dirname(entry.path), "_go.mod")
            ):
                return True  # a copy the go command made; the _go.mod it came from is emitted as go.mod
            if not rel.startswith("src/"):
                return False
            if entry.name.endswith("_test.go"):
                return True
            return entry.name == "testdata" and rel not in embedded

        def normalize(rel: str, entry: Entry) -> Entry:
            name = rel.rsplit("/", 1)[-1]
            executable = rel.startswith(("bin/", "pkg/tool/")) or (
                rel.startswith("lib/") and fnmatch.fnmatchcase(name, "go_?*_?*_exec")
            )
            mode = 0o755 if entry.kind == "dir" or executable else 0o644
            path = entry.path[: -len("_go.mod")] + "go.mod" if name == "_go.mod" else entry.path
            return replace(entry, path=path, mode=mode, uid=0, gid=0)

        yield from walk_tree(goroot, prefix="usr/local/go", skip=skip, normalize=normalize)
        for gopath in ("go", "go/bin", "go/src"):
            yield Entry(gopath, "dir", mode=0o1777)


def download_toolchain(version: str, *, log: LogFn) -> Path:
    """GOROOT of Go `version`, from the module proxy into the module cache (checksum-verified)."""
    module = f"golang.org/toolchain@v0.0.1-go{version}.linux-amd64"
    log(f"    go mod download {module}")
    with tempfile.TemporaryDirectory() as outside_any_module:
        result = subprocess.run(
            ["go", "mod", "download", "-json", module],
            cwd=outside_any_module,
            env={**os.environ, "GOFLAGS": "", "GOWORK": "off", "GOTOOLCHAIN": "local"},
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"go mod download {module} failed:\n{result.stdout}{result.stderr}")
    goroot = Path(json.loads(result.stdout)["Dir"])
    if (goroot / "VERSION").read_text().splitlines()[0] != f"go{version}":
        raise RuntimeError(f"{goroot}/VERSION does not say go{version}")
    return goroot


def _embedded_testdata(src: Path) -> set[str]:
    """src-relative testdata directories that a non-test .go file next to them embeds."""
    keep: set[str] = set()
    for testdata in src.rglob("testdata"):
        package = testdata.parent
        for go_file in package.glob("*.go"):
            if go_file.name.endswith("_test.go"):
                continue
            text = go_file.read_text(errors="replace")
            if re.search(r"^//go:embed\s.*\btestdata\b", text, re.MULTILINE):
                keep.add(f"src/{testdata.relative_to(src)}")
                break
    return keep


@dataclass(frozen=True)
class UserLayer:
    """A non-root user: passwd/group/shadow lines, a home with /etc/skel, ownership of `owns`."""

    name: str = NONROOT_USER
    uid: int = NONROOT_UID
    owns: tuple[str, ...] = ("go", "go/bin", "go/src")

    def recipe(self) -> dict[str, object]:
        owns = list(self.owns)
        return {"kind": "user", "name": self.name, "uid": self.uid, "owns": owns, "reads_lower": True}

    @property
    def home(self) -> str:
        return f"home/{self.name}"

    def describe(self) -> str:
        owns = ", ".join("/" + path for path in self.owns)
        return f"user {self.name} {self.uid}:{self.uid}, HOME /{self.home}, owns {owns}"

    def entries(self, lower: Sequence[Path], work: Path, log: LogFn) -> Iterator[Entry]:
        days = MTIME // 86400
        lines = {
            "etc/passwd": f"{self.name}:x:{self.uid}:{self.uid}:{self.name}:/{self.home}:/bin/bash\n",
            "etc/group": f"{self.name}:x:{self.uid}:\n",
            "etc/shadow": f"{self.name}:*:{days}:0:99999:7:::\n",
            "etc/gshadow": f"{self.name}:!::\n",
        }
        skel = [f"etc/skel/{name}" for name in (".bash_logout", ".bashrc", ".profile")]
        found = read_layer_files(lower, [*lines, *skel])
        yield Entry("etc", "dir")
        for path, line in lines.items():
            if path not in found:
                raise RuntimeError(f"the base image has no /{path}")
            info, content = found[path]
            if any(existing.split(":")[0] == self.name for existing in content.decode().splitlines()):
                raise RuntimeError(f"/{path} already has {self.name}")
            yield Entry(path, "file", info.mode, info.uid, info.gid, data=content + line.encode())
        yield Entry("home", "dir")
        yield Entry(self.home, "dir", mode=0o755, uid=self.uid, gid=self.uid)
        for path in skel:
            if path in found:
                name = f"{self.home}/{path.rsplit('/', 1)[1]}"
                yield Entry(name, "file", 0o644, self.uid, self.uid, data=found[path][1])
        for path in self.owns:
            yield Entry(path, "dir", mode=0o1777, uid=self.uid, gid=self.uid)


#: How many of a files layer's paths its description names.
SHOWN_FILES = 5


@dataclass(frozen=True)
class FilesLayer:
    """Given files (content hashed into the key), with their parent directories."""

    files: tuple[tuple[str, str, int], ...]  # (path in image, sha256 of content, mode)
    contents: Mapping[str, Path | bytes] = field(compare=False, hash=False)

    @classmethod
    def of(cls, files: Mapping[str, Path | bytes], modes: Mapping[str, int]) -> FilesLayer:
        described = []
        contents: dict[str, Path | bytes] = {}
        for raw_path, content in sorted(files.items()):
            path = raw_path.strip("/")
            if isinstance(content, Path):
                digest = _file_sha256(content)
                default = 0o755 if os.stat(content).st_mode & 0o111 else 0o644
            else:
                digest, default = hashlib.sha256(content).hexdigest(), 0o644
            described.append((path, digest, modes.get(raw_path, modes.get("/" + path, default))))
            contents[path] = content
        return cls(files=tuple(described), contents=contents)

    def recipe(self) -> dict[str, object]:
        return {"kind": "files", "files": [list(f) for f in self.files]}

    def describe(self) -> str:
        """The files' paths; past a few, the first ones and how many (a mirror image has hundreds)."""
        shown = " ".join("/" + path for path, _, _ in self.files[:SHOWN_FILES])
        more = len(self.files) - SHOWN_FILES
        return f"files {shown}" + (f" and {more} more" if more > 0 else "")

    def entries(self, lower: Sequence[Path], work: Path, log: LogFn) -> Iterator[Entry]:
        dirs: dict[str, Entry] = {}
        for path, _, _ in self.files:
            for parent in _parents(path):
                dirs.setdefault(parent.path, parent)
        items: list[Entry] = list(dirs.values())
        for path, digest, mode in self.files:
            content = self.contents[path]
            data = content.read_bytes() if isinstance(content, Path) else content
            if hashlib.sha256(data).hexdigest() != digest:
                raise RuntimeError(f"{path} changed while the image was being built")
            items.append(Entry(path, "file", mode, data=data))
        yield from sorted(items, key=lambda e: e.path.split("/"))


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


@dataclass(frozen=True)
class GoProgramLayer:
    """A static Go program built from a directory of this repository, at `path` in the image."""

    source: Path
    path: str

    def recipe(self) -> dict[str, object]:
        sources = sorted(p for p in self.source.rglob("*") if p.is_file())
        files = {str(p.relative_to(self.source)): _file_sha256(p) for p in sources}
        return {"kind": "go-program", "files": files, "path": self.path, "go": _host_go_version()}

    def describe(self) -> str:
        build = "CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'"
        return f"/{self.path}: {build} ({self.source.name}, {_host_go_version()})"

    def entries(self, lower: Sequence[Path], work: Path, log: LogFn) -> Iterator[Entry]:
        binary = work / "program"
        env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
        cmd = ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."]
        result = subprocess.run(cmd, cwd=self.source, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"go build in {self.source} failed:\n{result.stderr}")
        yield from _parents(self.path)
        yield Entry(self.path, "file", 0o755, source=binary)


_go_version_lock = threading.Lock()
_go_version: list[str] = []


def _host_go_version() -> str:
    with _go_version_lock:
        if not _go_version:
            env = {**os.environ, "GOTOOLCHAIN": "local"}
            cmd = ["go", "env", "GOVERSION"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            _go_version.append(out.stdout.strip())
        return _go_version[0]


def _run_logged(cmd: list[str], *, env: Mapping[str, str], log: LogFn, prefix: str) -> None:
    proc = subprocess.Popen(
        cmd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-40:], line]
        if line.startswith(("I: ", "E: ", "W: ")):
            log(prefix + line)
    if proc.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode}):\n" + "\n".join(tail))


def ensure_layer(
    layer: Layer, lower: Sequence[tuple[str, BuiltLayer]], *, log: LogFn
) -> tuple[str, BuiltLayer]:
    """Build `layer` on top of `lower` ((key, built) pairs) unless the cache has it; return its key too."""
    key = layer_key(layer, [k for k, _ in lower])
    record = cache_dir() / "layers" / f"{key}.json"
    found = _read_layer_record(record)
    if found is not None:
        return key, found
    with _locked(key):
        found = _read_layer_record(record)
        if found is not None:
            return key, found
        started = time.monotonic()
        log(f"building layer: {layer.describe()} (first time only; cached in {cache_dir()})")
        lower_paths = [_blob_path(built.digest) for _, built in lower]
        work = cache_dir() / "tmp" / key
        _remove_tree(work)  # what a killed build of this key left (we hold its lock)
        work.mkdir(parents=True)
        try:
            digest, size = write_layer(layer.entries(lower_paths, work, log), work / "layer.tar")
        finally:
            _remove_tree(work)
        built = BuiltLayer(digest=digest, size=size, created_by=layer.describe())
        record.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(record, _canonical_json(built.__dict__))
        log(f"  layer built in {time.monotonic() - started:.0f}s: {size / 1e6:.0f} MB, {digest[:19]}")
        return key, built


def _read_layer_record(record: Path) -> BuiltLayer | None:
    try:
        built = BuiltLayer(**json.loads(record.read_text()))
    except FileNotFoundError:
        return None
    return built if _blob_path(built.digest).is_file() else None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class ImageConfig:
    env: tuple[tuple[str, str], ...] = (("PATH", DEFAULT_PATH),)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""

    def to_json(self) -> dict[str, object]:
        config: dict[str, object] = {"Env": [f"{k}={v}" for k, v in self.env]} if self.env else {}
        if self.entrypoint:
            config["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            config["Cmd"] = list(self.cmd)
        if self.workdir:
            config["WorkingDir"] = self.workdir
        if self.user:
            config["User"] = self.user
        return config


@dataclass(frozen=True)
class ImageSpec:
    name: str  # short name; also names the archive file
    refs: tuple[str, ...]
    layers: tuple[Layer, ...]
    config: ImageConfig


def _golang_spec(minor: str, *, nonroot: bool = False) -> ImageSpec:
    version = GO_VERSIONS[minor]
    env = (
        ("PATH", f"/go/bin:/usr/local/go/bin:{DEFAULT_PATH}"),
        ("GOLANG_VERSION", version),
        ("GOTOOLCHAIN", "local"),
        ("GOPATH", "/go"),
    )
    layers: tuple[Layer, ...] = (DebianLayer(include=GO_PACKAGES), GoLayer(version))
    if nonroot:
        return ImageSpec(
            name=f"golang-{minor}-nonroot",
            refs=(f"docker.io/gobuild/golang:{minor}-nonroot",),
            layers=(*layers, UserLayer()),
            config=ImageConfig(env=env, cmd=("bash",), workdir="/go", user=f"{NONROOT_UID}:{NONROOT_UID}"),
        )
    return ImageSpec(
        name=f"golang-{minor}",
        refs=(f"docker.io/library/golang:{minor}", f"docker.io/library/golang:{version}-{SUITE}"),
        layers=layers,
        config=ImageConfig(env=env, cmd=("bash",), workdir="/go"),
    )


def _python_spec() -> ImageSpec:
    """python:3.11-slim-bookworm for the operator's Dockerfile: Debian's Python 3.11 and pip, set up
    the way the official image behaves (`python` on PATH, pip installs system-wide without the
    externally-managed guard, which the official image does not have either)."""
    return ImageSpec(
        name="python-3.11",
        refs=(f"docker.io/library/python:3.11-slim-{SUITE}",),
        layers=(
            DebianLayer(
                include=("ca-certificates", "python3", "python3-pip", "python-is-python3"),
                customize=('rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED',),
            ),
        ),
        config=ImageConfig(env=(("PATH", DEFAULT_PATH), ("LANG", "C.UTF-8")), cmd=("python3",)),
    )


def _catalog() -> dict[str, Callable[[], ImageSpec]]:
    specs: dict[str, Callable[[], ImageSpec]] = {
        "pause": lambda: ImageSpec(
            name="pause",
            refs=("registry.k8s.io/pause:3.10.1",),
            layers=(GoProgramLayer(PAUSE_SOURCE, "pause"),),
            config=ImageConfig(env=(), entrypoint=("/pause",)),
        ),
        "debian": lambda: ImageSpec(
            name="debian",
            refs=(f"docker.io/library/debian:{SUITE}-slim",),
            layers=(DebianLayer(),),
            config=ImageConfig(cmd=("bash",)),
        ),
    }
    specs["python-3.11"] = _python_spec
    for minor in GO_VERSIONS:
        specs[f"golang-{minor}"] = functools.partial(_golang_spec, minor)
    specs["golang-1.26-nonroot"] = lambda: _golang_spec("1.26", nonroot=True)
    return specs


IMAGE_NAMES: tuple[str, ...] = tuple(_catalog())


def image_spec(name: str) -> ImageSpec:
    catalog = _catalog()
    if name not in catalog:
        raise KeyError(f"unknown image {name!r}; known: {', '.join(catalog)}")
    return catalog[name]()


def ensure_images(names: Iterable[str] | None = None, *, log: LogFn | None = None) -> dict[str, ImageArchive]:
    """name -> archive for each of `names` (default: all of IMAGE_NAMES), building what is missing.

    Layers shared between the images (a Debian root filesystem, a Go toolchain) are built once, the
    independent ones in parallel.
    """
    out = log or _stderr
    specs = [image_spec(name) for name in (IMAGE_NAMES if names is None else names)]
    pending = [spec for spec in specs if _cached_archive(spec) is None]
    if pending:
        # Warm the layers that read nothing below them concurrently; the rest build during assembly.
        independent: dict[str, Layer] = {}
        for spec in pending:
            for layer in spec.layers:
                if not layer.recipe().get("reads_lower"):
                    independent.setdefault(layer_key(layer, []), layer)
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(ensure_layer, layer, [], log=out) for layer in independent.values()]:
                future.result()
    return {spec.name: build_image(spec, log=out) for spec in specs}


def image_key(spec: ImageSpec, layer_keys: Sequence[str]) -> str:
    recipe = {"refs": list(spec.refs), "layers": list(layer_keys), **spec.config.to_json()}
    return _hash_json({"recipe_version": RECIPE_VERSION, **recipe})


def _layer_keys(layers: Sequence[Layer]) -> list[str]:
    keys: list[str] = []
    for layer in layers:
        keys.append(layer_key(layer, keys))
    return keys


def _archive_paths(spec: ImageSpec, key: str) -> tuple[Path, Path]:
    stem = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', spec.name)}-{key[:16]}"
    return cache_dir() / "archives" / f"{stem}.tar", cache_dir() / "archives" / f"{stem}.json"


def _cached_archive(spec: ImageSpec) -> ImageArchive | None:
    tar_path, record = _archive_paths(spec, image_key(spec, _layer_keys(spec.layers)))
    try:
        meta = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    if not tar_path.is_file():
        return None
    refs = tuple(meta["refs"])
    return ImageArchive(ref=refs[0], path=tar_path, digest=meta["digest"], refs=refs)


def build_image(spec: ImageSpec, *, log: LogFn | None = None) -> ImageArchive:
    """The docker-archive of `spec`, from the cache or built now (its layers too)."""
    out = log or _stderr
    cached = _cached_archive(spec)
    if cached is not None:
        return cached
    key = image_key(spec, _layer_keys(spec.layers))
    with _locked(key):
        cached = _cached_archive(spec)
        if cached is not None:
            return cached
        started = time.monotonic()
        built: list[tuple[str, BuiltLayer]] = []
        for layer in spec.layers:
            built.append(ensure_layer(layer, built, log=out))
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": spec.config.to_json(),
            "rootfs": {"type": "layers", "diff_ids": [b.digest for _, b in built]},
            "history": [
                {"created": CREATED, "created_by": b.created_by, "comment": "gobuild-operator devtools"}
                for _, b in built
            ],
        }
        config_bytes = _canonical_json(config)
        digest = f"sha256:{hashlib.sha256(config_bytes).hexdigest()}"
        tar_path, record = _archive_paths(spec, key)
        tar_path.parent.mkdir(parents=True, exist_ok=True)
        _write_docker_archive(tar_path, config_bytes, digest, [b for _, b in built], spec.refs)
        _atomic_write(record, _canonical_json({"refs": list(spec.refs), "digest": digest}))
        size = tar_path.stat().st_size
        out(f"image {spec.name} ({spec.refs[0]}): {size / 1e6:.0f} MB in {time.monotonic() - started:.0f}s")
        return ImageArchive(ref=spec.refs[0], path=tar_path, digest=digest, refs=spec.refs)


def _write_docker_archive(
    path: Path, config: bytes, digest: str, layers: Sequence[BuiltLayer], refs: Sequence[str]
) -> None:
    """manifest.json + config + layer tars, named blobs/sha256/HEX (what `docker save` >= 25 names them)."""
    manifest = [
        {
            "Config": f"blobs/sha256/{digest.removeprefix('sha256:')}",
            "RepoTags": list(refs),
            "Layers": [f"blobs/sha256/{layer.digest.removeprefix('sha256:')}" for layer in layers],
        }
    ]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=PAX) as tar:
            written: set[str] = set()
            for name in ("blobs", "blobs/sha256"):
                tar.addfile(_tarinfo(Entry(name, "dir")))
            tar.addfile(_member(manifest[0]["Config"], len(config)), io.BytesIO(config))  # type: ignore[arg-type]
            for layer in layers:
                name = f"blobs/sha256/{layer.digest.removeprefix('sha256:')}"
                if name in written:
                    continue
                written.add(name)
                with open(_blob_path(layer.digest), "rb") as blob:
                    tar.addfile(_member(name, layer.size), blob)
            data = _canonical_json(manifest)
            tar.addfile(_member("manifest.json", len(data)), io.BytesIO(data))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = _tarinfo(Entry(name, "file", 0o644))
    info.size = size
    return info


def image_from_files(
    ref: str,
    *,
    files: Mapping[str, Path | bytes],
    base: str | None = None,
    entrypoint: Sequence[str] = (),
    cmd: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    user: str = "",
    workdir: str = "",
    modes: Mapping[str, int] | None = None,
    log: LogFn | None = None,
) -> ImageArchive:
    """An image of `files` (path in image -> host file or bytes), on scratch or on `base`.

    `base` is an image name (see IMAGE_NAMES) or one of its refs; the new image keeps its
    configuration except what is given here (Docker's rules: a new entrypoint drops the base's
    cmd; env entries replace same-named ones). A host file keeps its executable bit (0755, else
    0644); bytes are 0644 unless `modes` says otherwise. Cached by content like the named images.
    """
    layers: tuple[Layer, ...] = ()
    config = ImageConfig(env=())
    if base is not None:
        base_spec = _resolve_base(base)
        layers, config = base_spec.layers, base_spec.config
    merged_env = dict(config.env)
    merged_env.update(env or {})
    new_cmd = tuple(cmd) if cmd else (() if entrypoint else config.cmd)
    config = ImageConfig(
        env=tuple(merged_env.items()),
        entrypoint=tuple(entrypoint) or config.entrypoint,
        cmd=new_cmd,
        workdir=workdir or config.workdir,
        user=user or config.user,
    )
    name = ref.rsplit("/", 1)[-1]
    layers = (*layers, FilesLayer.of(files, modes or {}))
    spec = ImageSpec(name=name, refs=(ref,), layers=layers, config=config)
    return build_image(spec, log=log)


def _resolve_base(base: str) -> ImageSpec:
    catalog = _catalog()
    if base in catalog:
        return catalog[base]()
    for make in catalog.values():
        spec = make()
        if base in spec.refs:
            return spec
    raise KeyError(f"unknown base image {base!r}; known: {', '.join(catalog)} (or their refs)")


# ---------------------------------------------------------------------------------------------
# Reading archives back: OCI layouts for BuildKit, root filesystems for smoke tests


def _archive_manifest(tar: tarfile.TarFile) -> dict[str, object]:
    handle = tar.extractfile("manifest.json")
    if handle is None:
        raise RuntimeError("not a docker-archive: no manifest.json")
    manifests = json.loads(handle.read())
    if len(manifests) != 1:
        raise RuntimeError(f"expected one image in the archive, found {len(manifests)}")
    manifest: dict[str, object] = manifests[0]
    return manifest


def write_oci_layout(image: ImageArchive, directory: Path) -> str:
    """Add `image` to the OCI image layout at `directory`; return its manifest digest.

    BuildKit takes it as a named context: `--oci-layout NAME=DIRECTORY` with
    `--opt context:golang:1.26=oci-layout://NAME@DIGEST`. Several images may share a layout.
    """
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    with tarfile.open(image.path) as tar:
        manifest = _archive_manifest(tar)
        config_name = str(manifest["Config"])
        layer_names = [str(name) for name in manifest["Layers"]]  # type: ignore[attr-defined]
        descriptors: dict[str, dict[str, object]] = {}
        for name in [config_name, *layer_names]:
            info = tar.getmember(name)
            hexdigest = Path(name).name
            target = blobs / hexdigest
            if not (target.is_file() and target.stat().st_size == info.size):
                source = tar.extractfile(info)
                assert source is not None
                with open(target.with_suffix(".tmp"), "wb") as dest:
                    shutil.copyfileobj(source, dest, 1 << 20)
                target.with_suffix(".tmp").replace(target)
            descriptors[name] = {"digest": f"sha256:{hexdigest}", "size": info.size}
    oci_manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **descriptors[config_name]},
        "layers": [{"mediaType": OCI_LAYER, **descriptors[name]} for name in layer_names],
    }
    data = _canonical_json(oci_manifest)
    manifest_digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    (blobs / manifest_digest.removeprefix("sha256:")).write_bytes(data)
    index_path = directory / "index.json"
    index: dict[str, Any] = {"schemaVersion": 2, "manifests": []}
    if index_path.exists():
        index = json.loads(index_path.read_text())
    index["mediaType"] = OCI_INDEX
    refs = image.refs or (image.ref,)
    kept = [m for m in index["manifests"] if m.get("annotations", {}).get(IMAGE_NAME) not in refs]
    for ref in refs:
        kept.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(data),
                "annotations": {IMAGE_NAME: ref, "org.opencontainers.image.ref.name": ref},
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        )
    index["manifests"] = kept
    index_path.write_bytes(_canonical_json(index))
    (directory / "oci-layout").write_bytes(_canonical_json({"imageLayoutVersion": "1.0.0"}))
    return manifest_digest


def image_config(image: ImageArchive) -> dict[str, Any]:
    """The image configuration JSON (architecture, config.Env/Entrypoint/..., rootfs, history)."""
    with tarfile.open(image.path) as tar:
        handle = tar.extractfile(str(_archive_manifest(tar)["Config"]))
        assert handle is not None
        config: dict[str, Any] = json.loads(handle.read())
        return config


def unpack_rootfs(image: ImageArchive, directory: Path) -> None:
    """Extract the image's layers in order into `directory` (as root: ownership and modes kept).

    For smoke tests and debugging without a runtime, e.g. `chroot DIRECTORY /usr/local/go/bin/go version`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(image.path) as tar:
        for name in _archive_manifest(tar)["Layers"]:  # type: ignore[attr-defined]
            layer = tar.extractfile(str(name))
            assert layer is not None
            untar = subprocess.Popen(
                ["tar", "-x", "--numeric-owner", "--same-permissions", "-C", str(directory)],
                stdin=subprocess.PIPE,
            )
            assert untar.stdin is not None
            shutil.copyfileobj(layer, untar.stdin, 1 << 20)
            untar.stdin.close()
            if untar.wait() != 0:
                raise RuntimeError(f"tar failed to unpack layer {name} of {image.path}")


# ---------------------------------------------------------------------------------------------
# BuildKit on the node: the builder image, and base images as OCI layouts an image carries

#: Where the layout image keeps one OCI layout per base image (`/oci/<name>`).
LAYOUTS_DIR = "/oci"


@dataclass(frozen=True)
class LayoutImage:
    """An image whose files are OCI layouts of base images, for a cluster without a registry.

    An initContainer copies `LAYOUTS_DIR` into a volume; buildctl takes each layout as a named
    context: `--oci-layout NAME=DIR/NAME --opt context:REF=oci-layout://NAME@DIGEST`.
    """

    archive: ImageArchive
    #: image name (see IMAGE_NAMES) -> the layout's manifest digest ("sha256:...")
    digests: Mapping[str, str]


def buildkit_image(*, log: LogFn | None = None) -> ImageArchive:
    """BuildKit's buildkitd, buildctl and buildctl-daemonless.sh with the node's runc, on `debian`.

    The binaries are the ones binaries.py builds from BuildKit's and runc's Go modules (runc links
    libseccomp, which Debian's minbase has); buildctl-daemonless.sh is BuildKit's own script, taken
    from the same module. The tag carries BuildKit's version, so the webhook's recognition (by the
    program's name) and the docs' recipe see what users run from moby/buildkit.
    """
    from localcluster.binaries import BUILDKIT, RUNC, ensure_binaries, module_source

    binaries = ensure_binaries((BUILDKIT, RUNC), log=log)
    script = module_source(BUILDKIT) / "examples" / "buildctl-daemonless" / "buildctl-daemonless.sh"
    return image_from_files(
        f"docker.io/gobuild/buildkit:{BUILDKIT.version}",
        files={
            "/usr/local/bin/buildkitd": binaries["buildkitd"],
            "/usr/local/bin/buildctl": binaries["buildctl"],
            "/usr/local/bin/runc": binaries["runc"],
            "/usr/local/bin/buildctl-daemonless.sh": script,
        },
        modes={"/usr/local/bin/buildctl-daemonless.sh": 0o755},
        base="debian",
        log=log,
    )


def layout_image(names: Sequence[str], *, log: LogFn | None = None) -> LayoutImage:
    """An image holding an OCI layout of each named image at `/oci/<name>` (on `debian`, for `cp`)."""
    archives = ensure_images(names, log=log)
    files: dict[str, Path | bytes] = {}
    digests: dict[str, str] = {}
    for name, archive in sorted(archives.items()):
        directory = cache_dir() / "layouts" / f"{name}-{archive.digest.removeprefix('sha256:')[:16]}"
        with _locked(f"layout-{directory.name}"):
            if not (directory / "index.json").is_file():
                staging = directory.with_name(directory.name + ".tmp")
                _remove_tree(staging)
                write_oci_layout(archive, staging)
                staging.rename(directory)
        digests[name] = json.loads((directory / "index.json").read_text())["manifests"][0]["digest"]
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            files[f"{LAYOUTS_DIR}/{name}/{path.relative_to(directory)}"] = path
    tag = _hash_json(digests)[:16]
    archive = image_from_files(f"docker.io/gobuild/oci-layouts:{tag}", files=files, base="debian", log=log)
    return LayoutImage(archive=archive, digests=digests)
