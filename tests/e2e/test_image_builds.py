"""Image builds on the real node: BuildKit in an opted-in Pod builds a Go project through the injection.

The build Pod is what docs/image-builds.md tells users to write: BuildKit's own
``buildctl-daemonless.sh`` (buildkitd and buildctl in one container, from the image
devtools/localcluster/images.py makes of BuildKit's Go module and the node's runc), privileged,
with the project as the build context. The webhook adds ``--opt build-arg:NAME=VALUE`` for the Go
settings and ``--ssh default=KEY``/``--secret id=known_hosts,src=FILE`` for the private module; the
Dockerfile decides whether they reach ``RUN go mod download``.

Without a registry, ``FROM golang:1.26`` comes from an OCI layout of the locally made golang image:
an image that carries the layout is the first initContainer, which copies it into an emptyDir, and
the build passes ``--oci-layout golang=DIR --opt context:golang:1.26=oci-layout://golang@DIGEST``.
A second initContainer copies the project from a ConfigMap (where a real Pod would clone it). RUN
steps use the Pod's network (``--oci-worker-net=host``): the proxy's and the sshd's logs show the
Pod's IP. ``git.corp.example`` is mapped with the frontend's ``add-hosts``, never a resolver.

The image is exported as an OCI tar onto this machine (a hostPath volume: the one thing here a user
would not do; they push to a registry), so the test reads its layers, config and history itself.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster
from support.operator_process import OperatorProcess

from .modules import ModuleSet
from .servers import GoProxyServer, ModuleStore, SshGitServer
from .stored import Finished, Namespace, fresh_namespace

pytestmark = pytest.mark.usefixtures("operator")

CORP_HOST = "git.corp.example"
CONFIG = "corp"
BUILD_TIMEOUT = 420  # a cold BuildKit: load the base image, download, compile (about 70 s alone)
#: Lines of the Dockerfile; {declare} is the ARG line the "missing ARG" variant leaves out.
DOCKERFILE = """\
FROM golang:1.26 AS build
{declare}WORKDIR /src
RUN git config --global url."ssh://git@{host}:{port}/srv/git/".insteadOf "https://{host}/"
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=ssh \\
    --mount=type=secret,id=known_hosts,target=/root/.ssh/known_hosts \\
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod CGO_ENABLED=0 go build -o /usr/local/bin/app .
"""
DECLARE = "ARG GOPROXY GOSUMDB GOPRIVATE GOFLAGS\n"


@dataclass(frozen=True)
class BuilderImages:
    buildkit: str  # buildkitd, buildctl, buildctl-daemonless.sh, runc
    layouts: str  # /oci/golang-1.26: an OCI layout of golang:1.26
    golang_digest: str  # its manifest digest, which the named context needs


@pytest.fixture(scope="module")
def builder_images(cluster: Cluster) -> BuilderImages:
    if cluster.local is None or cluster.local.node is None:
        pytest.skip("the BuildKit and layout images are imported into the local cluster's nodes only")
    from localcluster.images import buildkit_image, layout_image

    buildkit = buildkit_image()
    layouts = layout_image(["golang-1.26"])
    cluster.local.import_images([buildkit.path, layouts.archive.path])
    return BuilderImages(buildkit.ref, layouts.archive.ref, layouts.digests["golang-1.26"])


@pytest.fixture(scope="module")
def build_proxy(go_modules: ModuleSet, server_address: str) -> Iterator[GoProxyServer]:
    with GoProxyServer(ModuleStore(go_modules.download), host=server_address) as server:
        yield server


@pytest.fixture(scope="module")
def dead_sumdb(server_address: str) -> str:
    """A checksum database nobody answers: a lookup would fail the build (go.sum is complete for the
    public modules; the private one is GOPRIVATE)."""
    import socket

    with socket.socket() as sock:
        sock.bind((server_address, 0))
        return f"sum.golang.org http://{server_address}:{sock.getsockname()[1]}"


def project(go_modules: ModuleSet, sshd: SshGitServer, dest: Path, *, declare: str) -> dict[str, str]:
    """The consumer program (real public modules) plus the private secretlib over ssh."""
    consumer = go_modules.copy_consumer(dest)
    secretlib = sshd.repos.modules["secretlib"]
    go_mod = (consumer / "go.mod").read_text() + f"\nrequire {secretlib.path} {secretlib.version}\n"
    main_go = (
        'package main\n\nimport (\n\t"fmt"\n\n\t"github.com/google/uuid"\n\t"golang.org/x/mod/semver"\n'
        f'\tquote "rsc.io/quote/v3"\n\n\t"{secretlib.path}"\n)\n\n'
        'func main() {\n\tfmt.Println(quote.HelloV3())\n\tfmt.Println(semver.Max("v1.0.0", "v1.2.0"))\n'
        '\tfmt.Println(uuid.NewSHA1(uuid.NameSpaceURL, []byte("gobuild.dev")))\n'
        f"\tfmt.Println({secretlib.package}.Message())\n}}\n"
    )
    return {
        "Dockerfile": DOCKERFILE.format(declare=declare, host=CORP_HOST, port=sshd.port),
        "go.mod": go_mod,
        "go.sum": (consumer / "go.sum").read_text(),
        "main.go": main_go,
    }


def buildkit_pod(
    name: str, *, images: BuilderImages, project: str, out: Path, host_ip: str
) -> dict[str, Any]:
    """The build Pod of docs/image-builds.md, opted in to CONFIG; the OCI tar goes to `out`."""
    copy = {"image": images.layouts, "command": ["sh", "-c"]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": CONFIG}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [
                {
                    **copy,
                    "name": "base-images",
                    "args": ["cp -a /oci/. /layouts/"],
                    "volumeMounts": [{"name": "layouts", "mountPath": "/layouts"}],
                },
                {
                    **copy,
                    "name": "source",
                    "args": ["cp -L /project/* /workspace/"],
                    "volumeMounts": [
                        {"name": "project", "mountPath": "/project", "readOnly": True},
                        {"name": "workspace", "mountPath": "/workspace"},
                    ],
                },
            ],
            "containers": [
                {
                    "name": "build",
                    "image": images.buildkit,
                    "command": ["buildctl-daemonless.sh"],
                    "args": [
                        "build",
                        "--progress=plain",
                        "--frontend=dockerfile.v0",
                        "--local=context=/workspace",
                        "--local=dockerfile=/workspace",
                        "--oci-layout=golang=/layouts/golang-1.26",
                        f"--opt=context:golang:1.26=oci-layout://golang@{images.golang_digest}",
                        f"--opt=add-hosts={CORP_HOST}={host_ip}",
                        "--output=type=oci,dest=/out/image.tar",
                    ],
                    "env": [{"name": "BUILDKITD_FLAGS", "value": "--oci-worker-net=host"}],
                    # buildkitd mounts layers and runs each RUN step with runc in namespaces of its own
                    "securityContext": {"privileged": True},
                    "volumeMounts": [
                        {"name": "layouts", "mountPath": "/layouts"},
                        {"name": "workspace", "mountPath": "/workspace"},
                        {"name": "buildkit", "mountPath": "/var/lib/buildkit"},
                        {"name": "out", "mountPath": "/out"},
                    ],
                }
            ],
            "volumes": [
                {"name": "layouts", "emptyDir": {}},
                {"name": "project", "configMap": {"name": project}},
                {"name": "workspace", "emptyDir": {}},
                # buildkitd's state: on a real node's disk its overlayfs snapshotter works; here the
                # kubelet's directory is itself an overlay, where buildkitd falls back to copying
                # every layer for every step (minutes), so the state lives in memory (tmpfs).
                {"name": "buildkit", "emptyDir": {"medium": "Memory", "sizeLimit": "3Gi"}},
                {"name": "out", "hostPath": {"path": str(out), "type": "Directory"}},
            ],
        },
    }


@dataclass(frozen=True)
class Build:
    name: str
    files: dict[str, str]  # the project, Dockerfile included
    out: Path  # where the image tar lands
    stored: dict[str, Any]  # the Pod as the webhook left it


@dataclass(frozen=True)
class Builds:
    ns: Namespace
    with_arg: Build
    without_arg: Build
    check_without_arg: subprocess.CompletedProcess[str]
    check_with_arg: subprocess.CompletedProcess[str]


def run_check(cluster: Cluster, namespace: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """`python -m gobuild_operator check Dockerfile --config corp -n NS` as a user runs it before a build."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gobuild_operator",
            "check",
            "Dockerfile",
            "--config",
            CONFIG,
            "-n",
            namespace,
        ],
        cwd=directory,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def builds(
    cluster: Cluster,
    operator: OperatorProcess,
    builder_images: BuilderImages,
    build_proxy: GoProxyServer,
    sshd: SshGitServer,
    go_modules: ModuleSet,
    dead_sumdb: str,
    server_address: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Builds]:
    """Both builds at once (the node runs them side by side), after `check` has read each Dockerfile."""
    with fresh_namespace(cluster.kubectl, "e2e-buildkit") as ns:
        known_hosts = f"[{CORP_HOST}]:{sshd.port} {sshd.host_public_key}\n"
        ns.create_secret(
            "corp-git-ssh",
            {"ssh-privatekey": sshd.client_private_key, "known_hosts": known_hosts.encode()},
            type="kubernetes.io/ssh-auth",
        )
        ns.apply_config(
            CONFIG,
            {
                "goproxy": [build_proxy.url],
                "gosumdb": dead_sumdb,
                "goflags": ["-mod=mod"],  # go writes the private module's go.sum line
                "privateModules": {
                    "ssh": {"secretName": "corp-git-ssh", "hosts": [f"{CORP_HOST}:{sshd.port}"]}
                },
            },
        )
        made: dict[str, Build] = {}
        checks: dict[str, subprocess.CompletedProcess[str]] = {}
        for variant, declare in (("with-arg", DECLARE), ("without-arg", "")):
            files = project(go_modules, sshd, tmp_path_factory.mktemp(f"consumer-{variant}"), declare=declare)
            source = tmp_path_factory.mktemp(f"context-{variant}")
            for file, text in files.items():
                (source / file).write_text(text)
            checks[variant] = run_check(cluster, ns.name, source)
            ns.create_config_map(f"project-{variant}", files)
            out = tmp_path_factory.mktemp(f"image-{variant}")
            pod = buildkit_pod(
                f"image-{variant}",
                images=builder_images,
                project=f"project-{variant}",
                out=out,
                host_ip=server_address,
            )
            stored, _ = ns.create_pod(pod)
            made[variant] = Build(f"image-{variant}", files, out, stored)
        yield Builds(ns, made["with-arg"], made["without-arg"], checks["without-arg"], checks["with-arg"])


# --------------------------------------------------------------------------------- reading the image


@dataclass(frozen=True)
class OciImage:
    """An OCI image tar as buildctl wrote it: every blob, the config, the uncompressed layers."""

    blobs: dict[str, bytes]  # path in the tar -> content (index, manifest, config, layers)
    config: dict[str, Any]
    layers: list[bytes]  # uncompressed layer tars, lowest first

    def file(self, path: str) -> bytes:
        """The topmost regular file at `path` (no leading slash)."""
        for layer in reversed(self.layers):
            with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
                for member in tar:
                    if member.name.lstrip("./") == path and member.isreg():
                        handle = tar.extractfile(member)
                        assert handle is not None
                        return handle.read()
        raise AssertionError(f"/{path} is in no layer")


def read_oci_image(path: Path) -> OciImage:
    with tarfile.open(path) as tar:
        blobs = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
    index = json.loads(blobs["index.json"])
    (descriptor,) = index["manifests"]

    def blob(digest: str) -> bytes:
        return blobs["blobs/sha256/" + digest.removeprefix("sha256:")]

    manifest = json.loads(blob(descriptor["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    layers = []
    for layer in manifest["layers"]:
        data = blob(layer["digest"])
        layers.append(gzip.decompress(data) if layer["mediaType"].endswith("gzip") else data)
    return OciImage(blobs=blobs, config=config, layers=layers)


def key_fragments(private_key: bytes) -> list[bytes]:
    """The key's base64 body lines: any one of them in an output means the key leaked."""
    return [line for line in private_key.splitlines() if len(line) >= 32 and b"PRIVATE KEY" not in line]


def pod_ip(finished: Finished) -> str:
    return str(finished.pod["status"]["podIP"])


def logins_from(server: SshGitServer, address: str) -> int:
    return server.log().count(f"Accepted publickey for git from {address} ")


# -------------------------------------------------------------------------------------------- tests


def test_the_webhook_passes_settings_as_build_args_and_the_key_only_as_ssh(
    builds: Builds, build_proxy: GoProxyServer, sshd: SshGitServer
) -> None:
    (build,) = (c for c in builds.with_arg.stored["spec"]["containers"] if c["name"] == "build")
    args = build["args"]
    assert args[0] == "build"
    assert f"build-arg:GOPROXY={build_proxy.url}" in args
    assert f"build-arg:GOPRIVATE={CORP_HOST}" in args
    assert args[args.index("--ssh") + 1] == "default=/etc/gobuild/ssh/identity"
    assert args[args.index("--secret") + 1] == "id=known_hosts,src=/etc/gobuild/ssh/known_hosts"
    spec_text = json.dumps(builds.with_arg.stored).encode()
    for fragment in key_fragments(sshd.client_private_key):
        assert fragment not in spec_text


def test_buildkit_build_downloads_through_the_config_s_proxy_and_ssh(
    builds: Builds, build_proxy: GoProxyServer, sshd: SshGitServer, go_modules: ModuleSet
) -> None:
    """The Done-when build: modules through spec.goproxy, the private module over ssh with the
    Secret's key, and the key in no build argument, layer, history entry or log."""
    done = builds.ns.wait_finished(builds.with_arg.name, timeout=BUILD_TIMEOUT)
    (builds.with_arg.out / "build.log").write_text(done.logs)  # beside the image, for whoever debugs
    assert done.phase == "Succeeded", str(done)[-6000:]

    # The proxy served the public modules to the Pod (its RUN steps share the Pod's network) ...
    asked = {r.path for r in build_proxy.requests_from(pod_ip(done))}
    for module in ("github.com/google/uuid", "golang.org/x/mod", "rsc.io/quote/v3", "rsc.io/sampler"):
        assert any(path.startswith(f"/{module}/@v/") and path.endswith(".zip") for path in asked), (
            module,
            asked,
        )
    # ... never the private one, which came over ssh with the Secret's key.
    assert not [path for path in asked if CORP_HOST in path]
    assert logins_from(sshd, pod_ip(done)) >= 1, sshd.log()[-2000:]

    image = read_oci_image(builds.with_arg.out / "image.tar")
    (builds.with_arg.out / "image.tar").unlink()  # 400 MB; everything below reads `image`
    # The program in the image was compiled with the private module's code.
    app = builds.with_arg.out / "app"
    app.write_bytes(image.file("usr/local/bin/app"))
    app.chmod(0o755)
    run = subprocess.run([str(app)], env={}, capture_output=True, text=True, timeout=30, check=True)
    assert sshd.repos.modules["secretlib"].message in run.stdout
    assert "Hello, world." in run.stdout

    # The settings were build arguments (kept in the history, as build arguments are) ...
    history = json.dumps(image.config["history"])
    assert f"GOPROXY={build_proxy.url}" in history
    # ... the key is nowhere: no layer, no config or history, no manifest, no log, no status.
    fragments = key_fragments(sshd.client_private_key)
    assert fragments
    for name, blob in [*image.blobs.items(), *((f"layer {i}", data) for i, data in enumerate(image.layers))]:
        assert not [f for f in fragments if f in blob], f"the private key is in {name}"
    logs = done.logs.encode() + json.dumps(done.pod).encode()
    assert not [f for f in fragments if f in logs]

    downloads = builds.ns.wait_downloads(
        CONFIG, lambda d: int(d.get("succeeded") or 0) >= 1, what="the image build's success"
    )
    assert downloads["injected"] >= 1


def test_check_names_the_missing_arg_before_the_build(builds: Builds) -> None:
    missing, correct = builds.check_without_arg, builds.check_with_arg
    assert correct.returncode == 0, correct.stdout + correct.stderr
    assert correct.stdout == ""
    assert missing.returncode == 1, missing.stderr
    dockerfile = builds.without_arg.files["Dockerfile"].splitlines()
    download = 1 + next(i for i, line in enumerate(dockerfile) if line.startswith("RUN --mount"))
    lines = [line for line in missing.stdout.splitlines() if "GoSettingNotDeclared: GOPROXY" in line]
    assert lines, missing.stdout
    assert lines[0].startswith(f"Dockerfile:{download}: error GB201 GoSettingNotDeclared: GOPROXY"), lines[0]
    assert "Fix: `ARG GOPROXY`" in lines[0]


def test_without_the_arg_the_build_fails_and_the_config_says_why(
    builds: Builds, build_proxy: GoProxyServer, cluster: Cluster
) -> None:
    done = builds.ns.wait_finished(builds.without_arg.name, timeout=BUILD_TIMEOUT)
    (builds.without_arg.out / "build.log").write_text(done.logs)
    assert done.phase == "Failed", str(done)[-6000:]
    # go used its default proxy, which does not resolve in the cluster; ours never heard of the Pod
    assert 'Get "https://proxy.golang.org/' in done.logs, done.logs[-4000:]
    assert 'failed to solve: process "/bin/sh -c go mod download" did not complete successfully' in done.logs
    assert build_proxy.requests_from(pod_ip(done)) == []
    assert "proxy.golang.org" in done.terminated["message"]  # the log tail reached the API

    downloads = builds.ns.wait_downloads(
        CONFIG,
        lambda d: builds.without_arg.name in {f["pod"] for f in d.get("recentFailures") or []},
        what="the failed image build",
    )
    (failure,) = (f for f in downloads["recentFailures"] if f["pod"] == builds.without_arg.name)
    assert failure["container"] == "build"
    assert failure["reason"] == "BuildSettingsNotPassed"
    assert "ARG GOPROXY" in failure["remedy"]
    assert downloads["byReason"]["BuildSettingsNotPassed"] >= 1

    # The same log, saved, gets the same answer from `diagnose --config` (and without it, only
    # the DNS failure that followed).
    def diagnose(*config: str) -> dict[str, str]:
        result = subprocess.run(
            [sys.executable, "-m", "gobuild_operator", "diagnose", "-", "-o", "json", *config],
            input=done.logs,
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return dict(json.loads(result.stdout))

    assert diagnose("--config", CONFIG, "-n", builds.ns.name)["reason"] == "BuildSettingsNotPassed"
    assert diagnose()["reason"] == "DNSResolutionFailed"


# ------------------------------------------------------------------- image builds through the cache

#: A public-only project whose Dockerfile downloads with no BuildKit cache mount: every build of it
#: downloads every module again, so only the module cache can spare the upstream.
CACHED_DOCKERFILE = """\
FROM golang:1.26
ARG GOPROXY GOSUMDB GOFLAGS
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /usr/local/bin/app .
"""


@pytest.mark.timeout(1500)  # the cache's first start and two cold BuildKit builds
def test_a_second_image_build_through_the_cache_asks_the_upstream_nothing(
    cluster: Cluster,
    builder_images: BuilderImages,
    go_modules: ModuleSet,
    server_address: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The GOPROXY build argument carries the config's module cache into `RUN go mod download`: the
    first image build's modules are fetched by the cache, and a second build of the same project
    (fresh BuildKit state, nothing cached in the builder) is served by the cache alone. The builder
    container gets no cache volume: it would not use it, and an untrusted Dockerfile could write it."""
    from localcluster.operator_image import ensure_operator_image

    from .test_module_cache import cache_pod_ip

    assert cluster.local is not None  # builder_images skips otherwise
    cluster.local.import_images([ensure_operator_image().path])  # the cache runs the operator's image
    consumer = go_modules.copy_consumer(tmp_path_factory.mktemp("cached-consumer"))
    files = {
        "Dockerfile": CACHED_DOCKERFILE,
        **{name: (consumer / name).read_text() for name in ("go.mod", "go.sum", "main.go")},
    }
    with (
        GoProxyServer(ModuleStore(go_modules.download), host=server_address) as upstream,
        fresh_namespace(cluster.kubectl, "e2e-buildkit-cache") as ns,
    ):
        ns.apply_config(CONFIG, {"goproxy": [upstream.url], "gosumdb": "off", "cache": {"enabled": True}})
        cache_ip = cache_pod_ip(ns, CONFIG)
        ns.create_config_map("project", files)

        def build(name: str) -> Finished:
            out = tmp_path_factory.mktemp(name)
            pod = buildkit_pod(
                name, images=builder_images, project="project", out=out, host_ip=server_address
            )
            stored, _ = ns.create_pod(pod)
            (builder,) = (c for c in stored["spec"]["containers"] if c["name"] == "build")
            cache_url = f"http://{CONFIG}-gomodcache.{ns.name}.svc.cluster.local:8080"
            assert f"build-arg:GOPROXY={cache_url}|{upstream.url}" in builder["args"]
            assert not [v for v in stored["spec"].get("volumes") or [] if "persistentVolumeClaim" in v]
            assert not {"GOMODCACHE", "GOCACHE"} & {e["name"] for e in builder.get("env") or []}
            done = ns.wait_finished(name, timeout=BUILD_TIMEOUT)
            (out / "build.log").write_text(done.logs)
            (out / "image.tar").unlink(missing_ok=True)
            assert done.phase == "Succeeded", str(done)[-6000:]
            return done

        first = build("through-cache-first")
        assert upstream.requests_from(pod_ip(first)) == []  # the build asked the cache only
        fetched = [r.path for r in upstream.requests_from(cache_ip)]
        assert sum(path.endswith(".zip") for path in fetched) == 5, fetched  # the consumer's five modules
        upstream.reset()

        second = build("through-cache-second")
        assert "go mod download" in second.logs  # it really ran the download step again
        assert upstream.requests_from(cache_ip) + upstream.requests_from(pod_ip(second)) == []
