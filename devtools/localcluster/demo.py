"""A module mirror inside the local cluster, so the quick start builds without any public name.

The example (examples/quickstart.yaml) is a Go project with real public modules, and its
GoBuildConfig points at `goproxy.gobuild-demo.svc`: a small static GOPROXY (devtools/images/goproxy,
logging each request with the asking Pod's address) whose image carries exactly the modules the
example's go.sum pins. They are downloaded once from the Go module proxy (a package registry, like
every build dependency here) and cached by the go.sum's content.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from localcluster.binaries import REPO_ROOT, LogFn, _stderr
from localcluster.images import ImageArchive, cache_dir, image_from_files

EXAMPLE = REPO_ROOT / "examples" / "quickstart.yaml"
GOPROXY_SOURCE = REPO_ROOT / "devtools" / "images" / "goproxy"
NAMESPACE = "gobuild-demo"
IMAGE = "gobuild.dev/local/goproxy:v1"


def example_project() -> dict[str, str]:
    """The files of the example's `project` ConfigMap (go.mod, go.sum, main.go)."""
    for document in yaml.safe_load_all(EXAMPLE.read_text()):
        if document and document.get("kind") == "ConfigMap" and document["metadata"]["name"] == "project":
            data: dict[str, str] = document["data"]
            return data
    raise RuntimeError(f"{EXAMPLE} has no ConfigMap named project")


def record_modules(project: dict[str, str], *, log: LogFn = _stderr) -> Path:
    """A GOPROXY-layout tree of every module the project's go.sum pins (downloaded once)."""
    key = hashlib.sha256((project["go.mod"] + project["go.sum"]).encode()).hexdigest()[:16]
    target = cache_dir().parent / "demo-modules" / key
    if target.is_dir():
        return target
    log("downloading the quick start's modules from the Go module proxy (once)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("go.mod", "go.sum", "main.go"):
            (work / name).write_text(project[name])
        env = {
            **os.environ,
            "GOMODCACHE": str(work / "modcache"),
            "GOFLAGS": "-mod=mod",
            "GOTOOLCHAIN": "local",
            "GONOSUMDB": "",
            "GOPRIVATE": "",
        }
        result = subprocess.run(
            ["go", "mod", "download", "all"], cwd=work, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"go mod download failed:\n{result.stderr}")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(
            work / "modcache" / "cache" / "download", staging, ignore=shutil.ignore_patterns("*.lock")
        )
        subprocess.run(["chmod", "-R", "u+w", str(work / "modcache")], check=False)
        staging.rename(target)
    return target


def goproxy_image(*, log: LogFn = _stderr) -> ImageArchive:
    """The quick start's mirror: the static GOPROXY with the example's modules."""
    return mirror_image(IMAGE, record_modules(example_project(), log=log), log=log)


def mirror_image(ref: str, modules: Path, *, log: LogFn = _stderr) -> ImageArchive:
    """An image `ref` of the static GOPROXY serving `modules` (a GOPROXY-layout tree) from /modules."""
    binary = cache_dir().parent / "demo-goproxy" / "goproxy"
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
        cwd=GOPROXY_SOURCE,
        env=env,
        check=True,
        capture_output=True,
    )
    files: dict[str, Path | bytes] = {"/goproxy": binary}
    for path in sorted(modules.rglob("*")):
        if path.is_file():
            files[f"/modules/{path.relative_to(modules)}"] = path
    return image_from_files(ref, files=files, entrypoint=["/goproxy"], user="65532:65532", log=log)


def manifests() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        *mirror_manifests(NAMESPACE),
    ]


def mirror_manifests(
    namespace: str,
    *,
    name: str = "goproxy",
    image: str = IMAGE,
    node: str | None = None,
    latency: str = "",
) -> list[dict[str, Any]]:
    """A Deployment (one replica, on `node` if given) and a Service `name` on port 80 for a mirror
    image; `latency` (a Go duration) delays each answer, as an upstream across a WAN would."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "gobuild-demo"}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "goproxy",
                "image": image,
                "args": ["-root=/modules", "-addr=:8080", *([f"-latency={latency}"] if latency else [])],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ]
    }
    if node is not None:
        pod_spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    ]
