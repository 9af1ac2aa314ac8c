"""The operator's own image, built from the top-level Dockerfile as users and release pipelines do.

BuildKit (buildkit.py) builds it; the Dockerfile's `FROM python:3.11-slim-bookworm` is given the
locally made equivalent (images.py) as a named context, since no registry is reachable. The pip
steps reach PyPI like this machine's pip does, with this machine's CA bundle passed as the
Dockerfile's optional `gobuild-ca` build secret (a TLS-intercepting egress proxy is in the way
here; it never becomes a build argument or a layer). The result is tagged with the chart's default
image reference, so `helm install` with default values uses it, and cached by the content of
everything the build reads.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import yaml

from localcluster.binaries import BUILDKIT, REPO_ROOT, LogFn, _stderr
from localcluster.images import ImageArchive, cache_dir, ensure_images, write_oci_layout

CHART = REPO_ROOT / "helm" / "gobuild-operator"
DOCKERFILE = REPO_ROOT / "Dockerfile"
#: What the Dockerfile copies (its .dockerignore admits exactly these) plus the build files.
BUILD_INPUTS = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "operator",
    "devtools/localcluster",
)
BASE_IMAGE = "python:3.11-slim-bookworm"
#: This machine's trust store, which includes whatever CA its egress proxy presents.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def image_ref() -> str:
    """The chart's default image: values.yaml image.repository and Chart.yaml appVersion."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return f"{values['image']['repository']}:{values['image']['tag'] or chart['appVersion']}"


def ensure_operator_image(*, log: LogFn = _stderr) -> ImageArchive:
    """The operator image as a docker-archive, built when anything it is built from changed."""
    from localcluster import buildkit

    base = ensure_images(["python-3.11"], log=log)["python-3.11"]
    ref = image_ref()
    key = buildkit.tree_digest(REPO_ROOT, BUILD_INPUTS)
    key = f"{key}-{base.digest.removeprefix('sha256:')[:16]}-{BUILDKIT.version}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", ref.rsplit("/", 1)[-1])
    archive = cache_dir() / "archives" / f"operator-{name}-{key[:16]}-{key[-24:]}.tar"
    if archive.exists():
        return ImageArchive(ref=ref, path=archive, digest="", refs=(ref,))
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, buildkit.running(log=log) as kit:
        layout = Path(tmp) / "base"
        digest = write_oci_layout(base, layout)
        kit.build(
            context=REPO_ROOT,
            dockerfile=DOCKERFILE,
            output=archive,
            ref=ref,
            named_contexts={BASE_IMAGE: (layout, digest)},
            secrets={"gobuild-ca": HOST_CA_BUNDLE} if HOST_CA_BUNDLE.exists() else {},
        )
    return ImageArchive(ref=ref, path=archive, digest="", refs=(ref,))
