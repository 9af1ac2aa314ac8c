"""`check` as a CI gate: stable codes, severities, inline ignores as hadolint has them, and the
Dockerfile shapes that real projects use (absolute COPY --from paths, go.work workspaces)."""

from __future__ import annotations

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.dockercheck.check import check
from gobuild_operator.core.dockercheck.findings import REASONS, RULES, Context, settings_from_spec

CONTEXT = Context(files=frozenset({"go.mod", "go.sum", "main.go"}))
NO_CACHE = (
    "FROM golang:1.26\nARG GOPROXY\nWORKDIR /src\nCOPY go.mod go.sum ./\n{comment}RUN go mod download\n"
)


def test_every_reason_has_a_stable_code_and_a_severity() -> None:
    assert set(RULES) == set(REASONS)
    codes = [rule.code for rule in RULES.values()]
    assert len(set(codes)) == len(codes)
    assert all(code.startswith("GB") and code[2:].isdigit() for code in codes)
    assert RULES["NoModuleCacheMount"].severity == "info", "advice never fails a CI gate by default"


@pytest.mark.parametrize(
    ("comment", "found"),
    [
        pytest.param("", ["NoModuleCacheMount"], id="none"),
        pytest.param("# gobuild ignore=GB401\n", [], id="by-code"),
        pytest.param("# gobuild ignore=NoModuleCacheMount\n", [], id="by-reason"),
        pytest.param("# gobuild ignore=GB101, GB401\n", [], id="a-list"),
        pytest.param("# gobuild ignore=GB101\n", ["NoModuleCacheMount"], id="another-code"),
        pytest.param("# why: a throwaway image\n# gobuild ignore=GB401\n", [], id="among-comments"),
        pytest.param("# gobuild ignore=GB401\n\n", ["NoModuleCacheMount"], id="not-right-above"),
    ],
)
def test_inline_ignores_on_the_lines_above_an_instruction(comment: str, found: list[str]) -> None:
    text = NO_CACHE.format(comment=comment)
    assert [f.reason for f in check(text, context=CONTEXT)] == found


def test_a_global_ignore_silences_a_code_everywhere() -> None:
    text = "# gobuild global ignore=GB401\n" + NO_CACHE.format(comment="") + "RUN go build ./...\n"
    assert check(text, context=CONTEXT) == []
    assert [f.code for f in check(NO_CACHE.format(comment=""), context=CONTEXT)] == ["GB401"]


STAGES = (
    "FROM golang:1.26 AS deps\nARG GOPROXY\nWORKDIR /src\nCOPY go.mod go.sum ./\n"
    "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    "FROM golang:1.26 AS build\nARG GOPROXY\nWORKDIR /app\n{copy}\n"
    "RUN --mount=type=cache,target=/go/pkg/mod go build ./...\n"
)


@pytest.mark.parametrize(
    ("copy", "found"),
    [
        pytest.param("COPY --from=deps /src/go.mod /src/go.sum ./", [], id="absolute-right"),
        pytest.param("COPY --from=deps /src ./", [], id="the-directory"),
        pytest.param("COPY --from=deps / /", [], id="a-parent-directory"),
        pytest.param(
            "COPY --from=deps /app/go.mod /app/go.sum ./",
            [("WorkdirMismatch", "reads /app/go.mod, but stage 'deps' has go.mod in /src")],
            id="absolute-outside-the-workdir",
        ),
        pytest.param(
            "COPY --from=deps go.mod go.sum ./",
            [("WorkdirMismatch", "paths in COPY --from start at the stage's root")],
            id="relative",
        ),
    ],
)
def test_copy_from_paths_are_read_from_the_source_stage(copy: str, found: list[tuple[str, str]]) -> None:
    got = check(STAGES.format(copy=copy), context=CONTEXT)
    assert [f.reason for f in got][: len(found)] == [reason for reason, _ in found]
    for finding, (_, words) in zip(got, found, strict=False):
        assert words in finding.message


WORKSPACE = Context(
    files=frozenset({"go.work", "go.work.sum", "a/go.mod", "a/go.sum", "b/go.mod", "b/go.sum"})
)


def test_a_go_work_workspace_copied_whole_is_not_a_workdir_mismatch() -> None:
    text = (
        "FROM golang:1.26\nARG GOPROXY\nWORKDIR /src\nCOPY go.work go.work.sum ./\n"
        "COPY a/go.mod a/go.sum ./a/\nCOPY b/go.mod b/go.sum ./b/\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    )
    assert check(text, context=WORKSPACE) == []


def test_a_workspace_without_its_go_work_is_told_to_copy_the_workspace() -> None:
    text = (
        "FROM golang:1.26\nARG GOPROXY\nWORKDIR /src\nCOPY a/go.mod a/go.sum ./a/\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    )
    [finding] = check(text, context=WORKSPACE)
    assert finding.reason == "WorkdirMismatch"
    assert "go.work workspace" in finding.message
    assert "COPY go.work go.work.sum ./" in finding.fix
    assert "WORKDIR /src/a" not in finding.fix


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        pytest.param({}, "go asks its default proxy.golang.org", id="goproxy"),
        pytest.param(
            {"goprivate": ["git.corp.example"]},
            "private modules are sent to the proxy, which cannot see them",
            id="goprivate",
        ),
    ],
)
def test_a_missing_arg_says_what_go_does_without_that_setting(spec: dict[str, object], words: str) -> None:
    declared = "ARG GOPROXY\n" if spec else ""
    text = (
        f"FROM golang:1.26\n{declared}WORKDIR /src\nCOPY go.mod go.sum ./\n"
        "RUN --mount=type=cache,target=/go/pkg/mod go mod download\n"
    )
    settings = settings_from_spec(parse_spec({"goproxy": ["https://goproxy.corp"], **spec}))
    found = [f for f in check(text, context=CONTEXT, settings=settings) if f.reason == "GoSettingNotDeclared"]
    assert found
    assert words in found[0].message
    if spec:
        assert "falls back to proxy.golang.org" not in found[0].message
