"""The local node's images, checked the way a user meets them, without a container runtime.

Each image's layers are unpacked in order into a directory and its programs run there in a chroot
with private mount and PID namespaces (the host's /dev bound in, a fresh /proc), with the image's
Env and WorkingDir and, like runc, HOME from the image's /etc/passwd. Building needs root
(mmdebstrap) and the Debian archive and Go module proxy; the first run takes a minute or two, later
runs find everything in the cache (~/.cache/gobuild-operator/images).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcluster import images
from localcluster.images import ImageArchive

pytestmark = [
    pytest.mark.timeout(1800),  # a cold cache builds every image in the first test's setup
    pytest.mark.skipif(os.geteuid() != 0, reason="building and chrooting into root filesystems needs root"),
    pytest.mark.skipif(
        shutil.which("mmdebstrap") is None,
        reason="mmdebstrap is missing (apt-get install mmdebstrap; .ci/run does)",
    ),
]

GOLANG = {"golang-1.26": "go1.26.8", "golang-1.27": "go1.27.3", "golang-1.26-nonroot": "go1.26.8"}


@pytest.fixture(scope="module")
def built() -> dict[str, ImageArchive]:
    return images.ensure_images()


@pytest.fixture(scope="module")
def rootfs(
    built: dict[str, ImageArchive], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Path]]:
    roots: dict[str, Path] = {}
    for name, archive in built.items():
        roots[name] = tmp_path_factory.mktemp(name) / "root"
        images.unpack_rootfs(archive, roots[name])
    yield roots
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)


def _config(image: ImageArchive) -> dict[str, Any]:
    config: dict[str, Any] = images.image_config(image)["config"]
    return config


def _home(root: Path, uid: int) -> str:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if int(fields[2]) == uid:
            return fields[5]
    return "/"


def run_in(
    image: ImageArchive, root: Path, *argv: str, uid: int | None = None, cwd: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in the unpacked image as its USER (or `uid`), with its Env and WorkingDir."""
    config = _config(image)
    user = str(config.get("User", "0")) if uid is None else f"{uid}:{uid}"
    run_uid, _, run_gid = user.partition(":")
    env = [*config.get("Env", []), f"HOME={_home(root, int(run_uid))}"]
    as_user = ["setpriv", f"--reuid={run_uid}", f"--regid={run_gid or run_uid}", "--clear-groups", "--"]
    workdir = cwd or str(config.get("WorkingDir", "/"))
    inner = [*as_user, "env", "-i", "-C", workdir, *env, *argv]
    script = 'mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && exec chroot "$@"'
    command = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private"]
    return subprocess.run(
        [*command, "sh", "-c", script, "sh", str(root), *inner],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


# --- golang images ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GOLANG))
def test_go_reports_the_release_the_image_is_tagged_with(
    name: str, built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    out = ok(run_in(built[name], rootfs[name], "go", "version"))
    assert out.startswith(f"go version {GOLANG[name]} linux/amd64")


@pytest.mark.parametrize("name", list(GOLANG))
def test_go_env_is_the_official_images(
    name: str, built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    out = ok(run_in(built[name], rootfs[name], "go", "env", "GOPATH", "GOROOT", "GOTOOLCHAIN", "CGO_ENABLED"))
    # CGO_ENABLED=0: the images carry no C compiler, so go builds pure Go (as module downloads need)
    assert out.split() == ["/go", "/usr/local/go", "local", "0"]
    assert ok(run_in(built[name], rootfs[name], "pwd")).strip() == "/go"


@pytest.mark.parametrize("name", list(GOLANG))
def test_git_ssh_and_system_trust_are_there(
    name: str, built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    assert ok(run_in(built[name], rootfs[name], "git", "--version")).startswith("git version 2.")
    assert "OpenSSH_9" in ok(run_in(built[name], rootfs[name], "ssh", "-V"))
    # git over HTTPS needs its curl helper, and both need the CA bundle
    ok(run_in(built[name], rootfs[name], "test", "-x", "/usr/lib/git-core/git-remote-https"))
    ok(run_in(built[name], rootfs[name], "test", "-s", "/etc/ssl/certs/ca-certificates.crt"))


def _module_proxy(directory: Path) -> None:
    """A file:// GOPROXY serving example.com/greet v1.0.0 (no network in these tests)."""
    at_v = directory / "example.com" / "greet" / "@v"
    at_v.mkdir(parents=True)
    mod = "module example.com/greet\n\ngo 1.21\n"
    (at_v / "list").write_text("v1.0.0\n")
    (at_v / "v1.0.0.info").write_text(json.dumps({"Version": "v1.0.0", "Time": "2000-01-01T00:00:00Z"}))
    (at_v / "v1.0.0.mod").write_text(mod)
    code = 'package greet\n\n// Hello greets.\nfunc Hello() string { return "hello from a module" }\n'
    with zipfile.ZipFile(at_v / "v1.0.0.zip", "w") as archive:
        archive.writestr("example.com/greet@v1.0.0/go.mod", mod)
        archive.writestr("example.com/greet@v1.0.0/greet.go", code)


def _app(directory: Path, uid: int) -> None:
    directory.mkdir(parents=True)
    (directory / "go.mod").write_text("module app\n\ngo 1.26\n\nrequire example.com/greet v1.0.0\n")
    (directory / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet"\n)\n\n'
        "func main() { fmt.Println(greet.Hello()) }\n"
    )
    (directory / "main_test.go").write_text(
        'package main\n\nimport "testing"\n\nfunc TestMain(t *testing.T) {}\n'
    )
    for path in [directory, *directory.iterdir()]:
        os.chown(path, uid, uid)


# One image per Go release and per user (compiling std for a build takes most of a minute per image).
@pytest.mark.parametrize("name", ["golang-1.27", "golang-1.26-nonroot"])
def test_a_module_downloads_builds_vets_and_tests(
    name: str, built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    root, image = rootfs[name], built[name]
    uid = int(str(_config(image).get("User", "0")).partition(":")[0])
    if not (root / "tmp" / "proxy").exists():
        _module_proxy(root / "tmp" / "proxy")
    shutil.rmtree(root / "tmp" / "app", ignore_errors=True)
    _app(root / "tmp" / "app", uid)
    env = ["env", "GOPROXY=file:///tmp/proxy", "GONOSUMDB=example.com", "GOFLAGS=-mod=mod"]
    script = "go mod download -x && go vet ./... && go test ./... && go build -o app . && ./app"
    out = ok(run_in(image, root, *env, "sh", "-c", script, cwd="/tmp/app"))
    assert "hello from a module" in out
    # the module landed in GOPATH's module cache, owned by whoever ran the build
    cached = root / "go" / "pkg" / "mod" / "example.com" / "greet@v1.0.0" / "greet.go"
    assert cached.is_file()
    assert cached.stat().st_uid == uid


def test_the_stripped_toolchain_still_resolves_all_of_std(
    built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    # *_test.go and testdata/ are left out of GOROOT; a testdata dir a package embeds must stay
    # (encoding/json/internal/jsontest embeds its testdata; it builds under GOEXPERIMENT=jsonv2)
    argv = ("env", "GOEXPERIMENT=jsonv2", "go", "list", "std")
    out = ok(run_in(built["golang-1.26"], rootfs["golang-1.26"], *argv))
    assert "encoding/json/internal/jsontest" in out.split()
    assert not list((rootfs["golang-1.26"] / "usr/local/go/src/strings").glob("*_test.go"))


@pytest.mark.parametrize("name", ["golang-1.26", "golang-1.27"])
def test_goroot_is_unpacked_as_the_go_command_unpacks_a_toolchain(
    name: str, built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    # the toolchain module stores src/go.mod as _go.mod; without the rename GOROOT/src is no module
    for directory, module in (("/usr/local/go/src", "std"), ("/usr/local/go/src/cmd", "cmd")):
        assert ok(run_in(built[name], rootfs[name], "go", "list", "-m", cwd=directory)).strip() == module
    assert not list((rootfs[name] / "usr/local/go/src").glob("_go.mod"))
    wasm_exec = rootfs[name] / "usr/local/go/lib/wasm/go_js_wasm_exec"
    assert wasm_exec.stat().st_mode & 0o111  # as the go command leaves it; go test -exec uses it


def test_nonroot_runs_as_gopher_with_a_writable_home_and_gopath(
    built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    image, root = built["golang-1.26-nonroot"], rootfs["golang-1.26-nonroot"]
    assert _config(image)["User"] == "1000:1000"
    out = ok(run_in(image, root, "sh", "-c", 'id -u; id -g; id -un; echo "$HOME"'))
    assert out.split() == ["1000", "1000", "gopher", "/home/gopher"]
    ok(
        run_in(
            image, root, "sh", "-c", 'touch "$HOME/probe" && mkdir -p /go/bin/probe && rm -r /go/bin/probe'
        )
    )
    assert (root / "home/gopher/probe").stat().st_uid == 1000
    # ssh refuses to start for a uid without a passwd entry; here it knows who it is
    assert "user gopher" in ok(run_in(image, root, "ssh", "-G", "git.example"))


def test_the_root_golang_image_lets_any_uid_use_gopath(
    built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    # like the official image: /go is 1777, so a Pod's runAsUser can download modules
    image, root = built["golang-1.26"], rootfs["golang-1.26"]
    assert ok(run_in(image, root, "id", "-u")).strip() == "0"
    shutil.rmtree(root / "go" / "pkg", ignore_errors=True)  # as in a fresh container
    ok(run_in(image, root, "mkdir", "-p", "/go/pkg/mod/cache", uid=4242))


# --- debian and pause ---------------------------------------------------------------------------


def test_debian_is_a_slim_bookworm(built: dict[str, ImageArchive], rootfs: dict[str, Path]) -> None:
    image, root = built["debian"], rootfs["debian"]
    assert image.ref == "docker.io/library/debian:bookworm-slim"
    assert ok(run_in(image, root, "cat", "/etc/debian_version")).startswith("12.")
    ok(run_in(image, root, "apt-get", "--version"))
    assert not [p for p in (root / "var/lib/apt/lists").iterdir() if p.name not in ("lock", "partial")]
    assert not list((root / "usr/share/man").iterdir())
    assert not (root / "etc/resolv.conf").exists()  # the host's resolver stays on the host
    # merged /usr as debootstrap makes it, not by the usrmerge package that drags in full perl
    assert (root / "bin").readlink() == Path("usr/bin")
    dpkg_info = root / "var/lib/dpkg/info"
    assert (dpkg_info / "usr-is-merged.list").exists()
    assert not (dpkg_info / "usrmerge.list").exists()
    assert not (dpkg_info / "perl.list").exists()
    assert (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert image.path.stat().st_size < 100e6


def test_pause_is_static_and_stops_cleanly_on_sigterm(
    built: dict[str, ImageArchive], rootfs: dict[str, Path]
) -> None:
    image, root = built["pause"], rootfs["pause"]
    assert image.ref == "registry.k8s.io/pause:3.10.1"
    assert _config(image)["Entrypoint"] == ["/pause"]
    assert sorted(p.name for p in root.iterdir()) == ["pause"]  # scratch: nothing but the program
    # Go only handles SIGTERM once main has subscribed, so give it a moment, more on each attempt;
    # a pause that ignores or dies on SIGTERM fails every attempt.
    codes = []
    for delay in (0.2, 1.0, 3.0):
        proc = subprocess.Popen(["chroot", str(root), "/pause"], stderr=subprocess.PIPE)
        time.sleep(delay)
        assert proc.poll() is None, "pause exited on its own"
        proc.send_signal(signal.SIGTERM)
        codes.append(proc.wait(timeout=10))
        if codes[-1] == 0:
            break
    assert codes[-1] == 0, codes


# --- archives, layouts, cache -------------------------------------------------------------------


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_docker_archives_carry_every_tag_and_a_config_with_that_digest(
    built: dict[str, ImageArchive],
) -> None:
    golang = built["golang-1.26"]
    assert golang.ref == "docker.io/library/golang:1.26"
    assert golang.refs == ("docker.io/library/golang:1.26", "docker.io/library/golang:1.26.8-bookworm")
    assert built["golang-1.27"].refs == (
        "docker.io/library/golang:1.27",
        "docker.io/library/golang:1.27.3-bookworm",
    )
    assert built["golang-1.26-nonroot"].refs == ("docker.io/gobuild/golang:1.26-nonroot",)
    members = _members(golang.path)
    (manifest,) = json.loads(members["manifest.json"])
    assert manifest["RepoTags"] == list(golang.refs)
    config_bytes = members[manifest["Config"]]
    assert golang.digest == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    config = json.loads(config_bytes)
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(members[layer]).hexdigest() for layer in manifest["Layers"]
    ]
    assert len(config["history"]) == len(manifest["Layers"])
    assert "GOPATH=/go" in config["config"]["Env"]
    # the golang images share one Debian layer; nonroot adds a small layer on golang-1.26's
    assert (
        images.image_config(built["golang-1.27"])["rootfs"]["diff_ids"][0] == config["rootfs"]["diff_ids"][0]
    )
    nonroot_ids = images.image_config(built["golang-1.26-nonroot"])["rootfs"]["diff_ids"]
    assert nonroot_ids[:2] == config["rootfs"]["diff_ids"]
    assert not any(":latest" in ref for archive in built.values() for ref in archive.refs)


def test_layers_keep_ownership_links_and_fixed_times(built: dict[str, ImageArchive]) -> None:
    members = _layer_files(built["golang-1.26-nonroot"], 0)
    user_members = _layer_files(built["golang-1.26-nonroot"], 2)
    assert {m.mtime for m in members.values()} == {images.MTIME}
    assert members["bin"].issym()
    assert members["bin"].linkname == "usr/bin"
    assert members["tmp"].mode == 0o1777
    assert not any(m.ischr() or m.isblk() for m in members.values())
    assert any(m.islnk() for m in members.values())  # hard links stay links
    shadow = members["etc/shadow"]
    assert (shadow.uid, shadow.gid, shadow.mode) == (0, 42, 0o640)  # root:shadow, as Debian has it
    assert (user_members["etc/shadow"].gid, user_members["etc/shadow"].mode) == (42, 0o640)
    assert (user_members["home/gopher"].uid, user_members["go"].uid) == (1000, 1000)


def test_a_second_call_builds_nothing(built: dict[str, ImageArchive]) -> None:
    mtimes = {name: archive.path.stat().st_mtime_ns for name, archive in built.items()}
    lines: list[str] = []
    started = time.monotonic()
    again = images.ensure_images(log=lines.append)
    assert time.monotonic() - started < 2
    assert again == built
    assert lines == []
    assert {name: archive.path.stat().st_mtime_ns for name, archive in again.items()} == mtimes


def test_oci_layout_names_the_image_by_manifest_digest(
    built: dict[str, ImageArchive], tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    digest = images.write_oci_layout(built["golang-1.26"], layout)
    assert images.write_oci_layout(built["golang-1.26"], layout) == digest  # idempotent
    images.write_oci_layout(built["debian"], layout)  # several images share a layout
    manifest_bytes = (layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes()
    assert digest == "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    manifest = json.loads(manifest_bytes)
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = layout / "blobs/sha256" / descriptor["digest"].removeprefix("sha256:")
        assert blob.stat().st_size == descriptor["size"]
    assert manifest["config"]["digest"] == built["golang-1.26"].digest
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    names = {m["annotations"]["io.containerd.image.name"]: m["digest"] for m in index["manifests"]}
    assert names["docker.io/library/golang:1.26"] == digest
    assert set(names) == {*built["golang-1.26"].refs, *built["debian"].refs}


# --- image_from_files ---------------------------------------------------------------------------


def _layer_files(image: ImageArchive, index: int = -1) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(image.path) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        with tarfile.open(fileobj=outer.extractfile(manifest["Layers"][index])) as layer:
            return {m.name: m for m in layer}


def test_image_from_files_wraps_binaries_in_scratch(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    binary.write_bytes(b"\x7fELF pretend")
    binary.chmod(0o755)
    files: dict[str, Path | bytes] = {"/coredns": binary, "/etc/coredns/Corefile": b".:53 { whoami }\n"}
    image = images.image_from_files("example.local/coredns:v1.15.0", files=files, entrypoint=["/coredns"])
    assert (
        images.image_from_files("example.local/coredns:v1.15.0", files=files, entrypoint=["/coredns"])
        == image
    )
    members = _layer_files(image)
    assert sorted(members) == ["coredns", "etc", "etc/coredns", "etc/coredns/Corefile"]
    assert (members["coredns"].mode, members["etc/coredns/Corefile"].mode) == (0o755, 0o644)
    assert _config(image) == {"Entrypoint": ["/coredns"]}
    changed = images.image_from_files("example.local/coredns:v1.15.0", files={**files, "/coredns": b"other"})
    assert changed.digest != image.digest


def test_image_from_files_on_a_base_keeps_its_layers_and_config(built: dict[str, ImageArchive]) -> None:
    image = images.image_from_files(
        "example.local/tool:v1",
        base="docker.io/library/debian:bookworm-slim",
        files={"/usr/local/bin/tool": b"#!/bin/sh\necho tool\n"},
        modes={"/usr/local/bin/tool": 0o755},
        env={"TOOL": "1"},
        user="1000",
    )
    base_ids = images.image_config(built["debian"])["rootfs"]["diff_ids"]
    ids = images.image_config(image)["rootfs"]["diff_ids"]
    assert ids[:-1] == base_ids
    assert len(ids) == len(base_ids) + 1
    config = _config(image)
    assert config["User"] == "1000"
    assert config["Cmd"] == ["bash"]
    assert config["Env"] == [f"PATH={images.DEFAULT_PATH}", "TOOL=1"]
    assert _layer_files(image)["usr/local/bin/tool"].mode == 0o755


def test_concurrent_callers_build_once_and_share_the_result(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from localcluster import images
        files = {"/data": b"x" * 50_000_000}
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # all callers start together
        archive = images.image_from_files("example.local/shared:v1", files=files, log=print)
        print("DIGEST", archive.digest, archive.path)
        """
    )
    env = {
        **os.environ,
        "GOBUILD_OPERATOR_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    start_at = str(time.time() + 3)
    callers = [
        subprocess.Popen([sys.executable, "-c", script, start_at], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [caller.communicate(timeout=120)[0] for caller in callers]
    assert all(caller.returncode == 0 for caller in callers), outputs
    assert sum(out.count("building layer") for out in outputs) == 1, outputs
    assert len({line for out in outputs for line in out.splitlines() if line.startswith("DIGEST")}) == 1


def test_unknown_names_say_what_is_known() -> None:
    with pytest.raises(KeyError, match=r"golang-1\.26-nonroot"):
        images.ensure_images(["golang-1.99"])


# --- BuildKit on the node: the builder image and the base-image layouts -----------------------------


def test_the_buildkit_image_runs_buildkit_and_runc_as_built_from_their_modules(tmp_path: Path) -> None:
    """What the e2e build Pods run: BuildKit's versions, runc with its libseccomp from Debian, and
    BuildKit's own buildctl-daemonless.sh (which the webhook recognises by name)."""
    image = images.buildkit_image()
    assert image.ref == "docker.io/gobuild/buildkit:v0.34.2"
    root = tmp_path / "root"
    images.unpack_rootfs(image, root)
    assert "v0.34.2" in ok(run_in(image, root, "buildkitd", "--version"))
    assert "v0.34.2" in ok(run_in(image, root, "buildctl", "--version"))
    assert "runc version 1.5.3" in ok(run_in(image, root, "runc", "--version"))
    script = root / "usr/local/bin/buildctl-daemonless.sh"
    assert script.stat().st_mode & 0o777 == 0o755
    assert "spawns ephemeral buildkitd for executing buildctl" in script.read_text()


def test_the_layout_image_carries_golang_as_an_oci_layout_with_its_digest(
    built: dict[str, ImageArchive], tmp_path: Path
) -> None:
    layouts = images.layout_image(["golang-1.26"])
    root = tmp_path / "root"
    images.unpack_rootfs(layouts.archive, root)
    layout = root / "oci" / "golang-1.26"
    index = json.loads((layout / "index.json").read_text())
    digests = {m["annotations"]["io.containerd.image.name"]: m["digest"] for m in index["manifests"]}
    assert digests["docker.io/library/golang:1.26"] == layouts.digests["golang-1.26"]
    manifest = json.loads((layout / "blobs/sha256" / layouts.digests["golang-1.26"][7:]).read_bytes())
    assert manifest["config"]["digest"] == built["golang-1.26"].digest
    for layer in manifest["layers"]:
        blob = layout / "blobs/sha256" / layer["digest"][7:]
        assert blob.stat().st_size == layer["size"]
    assert ok(run_in(layouts.archive, root, "cp", "--version"))  # what the initContainer runs
