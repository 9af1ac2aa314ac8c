"""`check --preflight`: which image the Dockerfile's go stage runs (core/dockercheck `go_stage`),
and the command that runs the static check and then preflight with that image and the go.mod the
stage copies. The cluster is a stand-in answering with the log real go printed
(tests/fixtures/preflight); the real cluster run is tests/e2e/test_preflight.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.cli.check import main
from gobuild_operator.core.dockercheck.check import GoStage, NoGoStage, go_stage
from gobuild_operator.core.dockercheck.findings import Context

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
CONFIG = {"goproxy": ["http://mirror.builds.svc:8080", "off"], "gosumdb": "off"}

BUILD = """\
# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
ARG GOPROXY GOSUMDB
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=0 go build -o /app .
FROM gcr.io/distroless/static
COPY --from=build /app /app
"""


@pytest.mark.parametrize(
    ("dockerfile", "files", "expected"),
    [
        pytest.param(BUILD, {"go.mod"}, GoStage("golang:1.26", 2, 6, "go.mod"), id="the-build-stage"),
        pytest.param(
            "ARG GO_VERSION=1.25\nFROM golang:${GO_VERSION}-alpine AS base\nWORKDIR /w\n"
            "FROM base AS deps\nCOPY svc/go.mod svc/go.sum ./\nRUN --mount=type=cache,target=/go/pkg/mod "
            "go mod download\nFROM alpine\n",
            {"svc/go.mod"},
            GoStage("golang:1.25-alpine", 2, 6, "svc/go.mod"),
            id="through-a-global-arg-and-a-stage-name",
        ),
        pytest.param(
            "FROM golang:1.26@sha256:" + "a" * 64 + "\nRUN go install example.com/tool@v1.0.0\n",
            set(),
            GoStage("golang:1.26@sha256:" + "a" * 64, 1, 2, "go.mod"),
            id="a-digest-and-no-go-mod-copied",
        ),
        pytest.param(
            "FROM golang:1.26 AS a\nCOPY go.mod ./\nRUN go mod download\nFROM a AS b\nRUN go build ./...\n",
            {"go.mod"},
            GoStage("golang:1.26", 1, 3, "go.mod"),
            id="two-stages-of-one-image",
        ),
    ],
)
def test_the_go_stage_image_is_the_from_of_the_stage_that_runs_go(
    dockerfile: str, files: set[str], expected: GoStage
) -> None:
    assert go_stage(dockerfile, context=Context(files=frozenset(files))) == expected


@pytest.mark.parametrize(
    ("dockerfile", "refusal"),
    [
        pytest.param("FROM golang:1.26\nRUN echo hi\n", "no RUN of the Dockerfile runs go", id="no-go"),
        pytest.param(
            "ARG IMAGE\nFROM $IMAGE\nRUN go build ./...\n",
            "the FROM on line 2 names $IMAGE: an ARG without a default",
            id="an-arg-without-default",
        ),
        pytest.param(
            "FROM golang:1.25 AS a\nRUN go build ./...\nFROM golang:1.26 AS b\nRUN go mod download\n",
            "go runs in stages built from different images: golang:1.25 (FROM on line 1), "
            "golang:1.26 (FROM on line 3)",
            id="two-images",
        ),
        pytest.param("FROM scratch\nRUN go build\n", "built FROM scratch (line 1)", id="scratch"),
    ],
)
def test_the_go_stage_is_refused_when_the_dockerfile_does_not_say(dockerfile: str, refusal: str) -> None:
    with pytest.raises(NoGoStage, match=refusal.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")):
        go_stage(dockerfile)


class FakeCluster:
    """Reads the config, and answers the Job with a recorded log; keeps what it was given."""

    def __init__(self, case: str) -> None:
        self.log = (FIXTURES / case / "job.log").read_text()
        self.jobs: list[dict[str, Any]] = []
        self.config_maps: list[dict[str, Any]] = []

    def read_config(self, name: str, namespace: str | None) -> Mapping[str, Any]:
        if name != "corp":
            raise LookupError(f"GoBuildConfig {namespace}/{name} not found")
        return CONFIG

    def run_job(
        self, job: dict[str, Any], config_map: dict[str, Any], timeout: float
    ) -> tuple[str, str, str, str]:
        self.jobs.append(job)
        self.config_maps.append(config_map)
        return self.log, "corp", "gobuild-preflight-x-abcde", ""


def context(tmp_path: Path, case: str, dockerfile: str = BUILD, sub: str = "") -> Path:
    folder = tmp_path / "context"
    (folder / sub).mkdir(parents=True)
    for name in ("go.mod", "go.sum"):
        shutil.copy(FIXTURES / case / name, folder / sub / name)
    (folder / "Dockerfile").write_text(dockerfile)
    return folder


def check(cluster: FakeCluster, *argv: str) -> int:
    return main(list(argv), read_cluster_config=cluster.read_config, run_job=cluster.run_job)


def image_of(job: dict[str, Any]) -> str:
    return str(job["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_go_line_newer_than_the_stage_image_fails_with_toolchain_not_available(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("go_newer_than_image")
    folder = context(tmp_path, "go_newer_than_image")

    code = check(cluster, str(folder / "Dockerfile"), "--config", "corp", "-n", "builds", "--preflight")

    out, err = capsys.readouterr()
    assert code == 1, out + err
    # the static check says it too (GoVersionTooOld), then preflight runs the stage's image
    assert "GoVersionTooOld: go.mod requires go 1.99.0 but golang:1.26 has Go 1.26" in out
    assert "preflight: go.mod with golang:1.26 (the go stage: FROM on line 2, RUN on line 6)" in out
    assert "project: failed: ToolchainNotAvailable" in out
    assert out.rstrip().endswith("preflight: the build would fail")
    [job] = cluster.jobs
    assert image_of(job) == "golang:1.26"
    assert job["metadata"]["namespace"] == "builds"
    assert cluster.config_maps[0]["data"]["go.mod"] == (folder / "go.mod").read_text()
    assert cluster.config_maps[0]["data"]["go.sum"] == (folder / "go.sum").read_text()


def test_a_clean_dockerfile_and_a_passing_preflight_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("ok")
    dockerfile = BUILD.replace("FROM golang:1.26 AS build", "ARG GO=1.26\nFROM golang:${GO} AS build")
    folder = context(
        tmp_path, "ok", dockerfile.replace("go.mod go.sum ./", "app/go.mod app/go.sum ./"), "app"
    )

    code = check(cluster, str(folder / "Dockerfile"), "--config", "corp", "-n", "builds", "--preflight")

    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.startswith(
        "preflight: app/go.mod with golang:1.26 (the go stage: FROM on line 3, RUN on line 7)"
    )
    assert out.rstrip().endswith("preflight: every module downloads")
    assert cluster.config_maps[0]["data"]["go.mod"] == (folder / "app" / "go.mod").read_text()


def test_static_findings_alone_still_fail_when_preflight_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("ok")
    folder = context(tmp_path, "ok", BUILD.replace("WORKDIR /src", "WORKDIR /src\nENV GOPROXY=direct"))

    code = check(
        cluster,
        str(folder / "Dockerfile"),
        "--config",
        "corp",
        "-n",
        "b",
        "--preflight",
        "--fail-on",
        "warning",
    )

    out, _ = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[0].startswith(f"{folder / 'Dockerfile'}:5: warning GB202 HardcodedGoEnv:")
    assert out.rstrip().endswith("preflight: every module downloads")


def test_json_holds_the_findings_and_the_preflight_in_one_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("go_newer_than_image")
    folder = context(tmp_path, "go_newer_than_image")

    code = check(
        cluster, str(folder / "Dockerfile"), "--config", "corp", "-n", "b", "--preflight", "-o", "json"
    )

    out, _ = capsys.readouterr()
    assert code == 1
    answer = json.loads(out)
    assert [f["reason"] for f in answer["findings"]] == ["GoVersionTooOld"]
    preflight = answer["preflight"]
    assert (preflight["image"], preflight["goMod"], preflight["ok"]) == ("golang:1.26", "go.mod", False)
    [project] = [c for c in preflight["checks"] if c["check"] == "project"]
    assert project["reason"] == "ToolchainNotAvailable"


@pytest.mark.parametrize(
    ("argv", "dockerfile", "message"),
    [
        pytest.param(["--preflight"], BUILD, "give --config NAME of a GoBuildConfig", id="no-config"),
        pytest.param(
            ["--preflight", "--config", "./corp.yaml"], BUILD, "give --config NAME", id="a-config-file"
        ),
        pytest.param(
            ["--preflight", "--config", "corp", "-o", "sarif"], BUILD, "text or json, not sarif", id="sarif"
        ),
        pytest.param(
            ["--preflight", "--config", "corp", "--timeout", "5"], BUILD, "at least 10 seconds", id="timeout"
        ),
        pytest.param(
            ["--preflight", "--config", "corp"],
            "ARG IMAGE\nFROM ${IMAGE}\nCOPY go.mod .\nRUN go mod download\n",
            "cannot tell which image runs go: the FROM on line 2 names ${IMAGE}",
            id="an-image-only-the-build-knows",
        ),
        pytest.param(
            ["--preflight", "--config", "corp"],
            BUILD.replace("COPY go.mod go.sum ./", "COPY mod/go.mod mod/go.sum ./"),
            "reads mod/go.mod, which the context",
            id="a-go-mod-the-context-lacks",
        ),
    ],
)
def test_preflight_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], dockerfile: str, message: str
) -> None:
    cluster = FakeCluster("ok")
    folder = context(tmp_path, "ok", dockerfile)

    code = check(cluster, str(folder / "Dockerfile"), "-n", "b", *argv)

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert message in err
    assert cluster.jobs == []
