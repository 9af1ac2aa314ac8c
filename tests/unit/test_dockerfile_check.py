"""`check` finds each cause on a small project made for it, and nothing on correct ones.

The projects live in tests/fixtures/dockerfiles/<case>/ (Dockerfile, go.mod, go.sum, main.go, and
a .dockerignore or a gobuildconfig.yaml where the case needs one); the table says what a user must
see: file, line and reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.cli.check import read_context
from gobuild_operator.core.dockercheck.check import check
from gobuild_operator.core.dockercheck.findings import (
    DEFAULT_SETTINGS,
    REASONS,
    CheckSettings,
    Context,
    Finding,
    settings_from_spec,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dockerfiles"

# (case, [(source, line, reason), ...])
CASES: list[tuple[str, list[tuple[str, int, str]]]] = [
    ("correct", []),
    ("syntax-forms", []),
    ("dockerignore-exceptions", []),
    ("private-with-mounts", []),
    ("download-before-copy", [("dockerfile", 4, "GoModNotCopied")]),
    ("heredoc-download-before-copy", [("dockerfile", 5, "GoModNotCopied")]),
    ("gosum-not-copied", [("dockerfile", 5, "GoModNotCopied")]),
    ("dockerignore-excludes-gosum", [("dockerignore", 3, "GoModIgnored")]),
    ("dockerignore-excludes-gomod", [("dockerignore", 1, "GoModIgnored")]),
    ("workdir-missing", [("dockerfile", 4, "WorkdirMissing")]),
    ("workdir-mismatch", [("dockerfile", 10, "WorkdirMismatch"), ("dockerfile", 13, "WorkdirMismatch")]),
    ("arg-not-declared", [("dockerfile", 4, "GoSettingNotDeclared")]),
    ("arg-only-before-from", [("dockerfile", 6, "GoSettingNotDeclared")]),
    ("hardcoded-goproxy", [("dockerfile", 2, "HardcodedGoEnv")]),
    ("credentials", [("dockerfile", 3, "CredentialInArgOrEnv"), ("dockerfile", 4, "CredentialInArgOrEnv")]),
    ("private-without-mount", [("dockerfile", 8, "PrivateModulesWithoutMount")]),
    ("no-cache-mount", [("dockerfile", 5, "NoModuleCacheMount")]),
    ("cache-mount-not-shared", [("dockerfile", 7, "NoModuleCacheMount")]),
    ("go-too-new", [("dockerfile", 2, "GoVersionTooOld")]),
]


def fixture_settings(case: Path) -> CheckSettings:
    config = case / "gobuildconfig.yaml"
    if not config.is_file():
        return DEFAULT_SETTINGS
    return settings_from_spec(parse_spec(yaml.safe_load(config.read_text())["spec"]))


def run_case(name: str) -> list[Finding]:
    case = FIXTURES / name
    ignore = case / ".dockerignore"
    context = read_context(case, ignore if ignore.is_file() else None)
    return check((case / "Dockerfile").read_text(), context=context, settings=fixture_settings(case))


@pytest.mark.parametrize(("case", "expected"), [pytest.param(name, found, id=name) for name, found in CASES])
def test_fixture(case: str, expected: list[tuple[str, int, str]]) -> None:
    findings = run_case(case)
    assert [(f.source, f.line, f.reason) for f in findings] == expected
    for finding in findings:
        assert finding.message
        assert finding.fix


def test_every_reason_has_a_fixture_and_every_fixture_is_in_the_table() -> None:
    covered = {reason for _, found in CASES for _, _, reason in found}
    assert covered == set(REASONS)
    assert {name for name, _ in CASES} == {path.name for path in FIXTURES.iterdir() if path.is_dir()}


def test_messages_name_what_to_change() -> None:
    [finding] = run_case("arg-only-before-from")
    assert "an ARG before the first FROM is only visible to FROM lines" in finding.message
    assert finding.fix == "`ARG GOPROXY` (without a value) after the FROM on line 3"
    [finding] = run_case("go-too-new")
    assert "go.mod requires go 1.25.1 but golang:1.24-alpine has Go 1.24" in finding.message
    assert "`FROM golang:1.25.1-alpine`" in finding.fix, "the image variant stays"
    [finding] = run_case("workdir-mismatch")[1:]
    assert finding.fix == "write the absolute path: COPY --from=build /app/app /usr/local/bin/app"
    [finding] = run_case("dockerignore-excludes-gosum")
    assert finding.fix == "add `!go.sum` after this line (or remove the pattern)"


# --- smaller cases, written inline -------------------------------------------------------------

GOOD_HEAD = "FROM golang:1.26 AS build\nARG GOPROXY\nWORKDIR /src\nCOPY go.mod go.sum ./\n"
CACHE = "--mount=type=cache,target=/go/pkg/mod"


def reasons(text: str, settings: CheckSettings = DEFAULT_SETTINGS, **context: Any) -> list[tuple[int, str]]:
    return [(f.line, f.reason) for f in check(text, context=Context(**context), settings=settings)]


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        pytest.param(GOOD_HEAD + f"RUN {CACHE} go mod download\n", [], id="good"),
        pytest.param(
            GOOD_HEAD + 'RUN ["/bin/sh", "-c", "go mod download"]\n',
            [(5, "NoModuleCacheMount")],
            id="exec-sh-c",
        ),
        pytest.param(
            GOOD_HEAD + f"RUN {CACHE} sh -c 'cd /src && go mod download'\n", [], id="shell-in-shell"
        ),
        pytest.param(
            "FROM golang:1.26\nARG GOPROXY\nWORKDIR /src\n"
            + f"RUN {CACHE} go install golang.org/x/tools/cmd/goimports@latest\n",
            [],
            id="install-at-version-needs-no-go-mod",
        ),
        pytest.param(
            "FROM golang:1.26\nWORKDIR /src\n" + f"RUN {CACHE} go mod init example.com/x && go mod tidy\n",
            [(3, "GoSettingNotDeclared")],
            id="mod-init-creates-go-mod",
        ),
        pytest.param(
            "FROM golang:1.26\nARG GOPROXY\nWORKDIR /\nCOPY go.mod go.sum /src/\n"
            + f"RUN {CACHE} cd /src && go mod download\n",
            [],
            id="cd-makes-the-directory-unknown",
        ),
        pytest.param(
            "FROM golang:1.26\nARG GOPROXY\nWORKDIR /src\n"
            + f"RUN {CACHE} --mount=type=bind,source=go.mod,target=go.mod "
            "--mount=type=bind,source=go.sum,target=go.sum go mod download\n"
            + f"RUN {CACHE} go build ./...\n",
            [(5, "GoModNotCopied")],
            id="bind-mounts-count-for-their-run-only",
        ),
        pytest.param(
            GOOD_HEAD + f"RUN {CACHE} GOPROXY=https://proxy.golang.org go mod download\n",
            [(5, "HardcodedGoEnv")],
            id="inline-assignment",
        ),
        pytest.param(
            GOOD_HEAD + f"RUN {CACHE} env GOFLAGS=-mod=mod GOPROXY=$GOPROXY go mod download\n",
            [],
            id="env-wrapper-passing-the-arg-through",
        ),
        pytest.param(
            "FROM golang:1.26\nENV GOPROXY=${GOPROXY:-direct}\nWORKDIR /src\nCOPY . .\n"
            + f"RUN {CACHE} go build .\n",
            [],
            id="env-from-variable-is-not-hard-coded",
        ),
        pytest.param(
            "FROM golang:1.26\nARG GOPROXY\nENV GOPRIVATE=git.corp.example/*\nWORKDIR /src\nCOPY . .\n"
            + f"RUN {CACHE} go build .\n",
            [(6, "PrivateModulesWithoutMount")],
            id="goprivate-in-the-dockerfile-without-config",
        ),
        pytest.param(
            "FROM golang:1.26 AS deps\nARG GOPROXY\nWORKDIR /src\nCOPY go.mod go.sum ./\n"
            "RUN go mod download\nFROM deps\nCOPY . .\nRUN go build -o /app .\n",
            [(5, "NoModuleCacheMount")],
            id="modules-in-the-parent-image-are-not-fetched-again",
        ),
        pytest.param(
            "FROM golang:1.26\nARG API_KEY\nARG SSH_KEY_PATH\nARG NPM_TOKEN_FILE\nENV GOFLAGS=-mod=mod\n",
            [(2, "CredentialInArgOrEnv")],
            id="credential-names",
        ),
        pytest.param(
            "FROM golang:1.26\nENV GOPRIVATE_REPO=ssh://git@git.corp.example/team\nENV MIRROR=https://token@mirror.example/\n",
            [(3, "CredentialInArgOrEnv")],
            id="ssh-user-is-not-a-credential-https-userinfo-is",
        ),
        pytest.param(
            "FROM golang:1.22\nARG GOPROXY\nWORKDIR /src\nCOPY go.mod go.sum ./\n"
            + f"RUN {CACHE} go mod download\n",
            [],
            id="unknown-go-mod-text-no-version-finding",
        ),
        pytest.param(
            "FROM alpine\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN echo go build is not run here\n",
            [],
            id="echo-is-not-go",
        ),
    ],
)
def test_inline(dockerfile: str, expected: list[tuple[int, str]]) -> None:
    assert reasons(dockerfile, files=frozenset({"go.mod", "go.sum", "main.go"})) == expected


@pytest.mark.parametrize(
    ("image", "go_directive", "too_old"),
    [
        pytest.param("golang:1.22", "go 1.22.7", False, id="minor-tag-is-the-newest-patch"),
        pytest.param("golang:1.22.1", "go 1.22.7", True, id="older-patch"),
        pytest.param("golang:1.23rc1", "go 1.23", True, id="release-candidate-before-the-release"),
        pytest.param("golang:1.23rc1", "go 1.23rc1", False, id="same-release-candidate"),
        pytest.param(
            "golang:1.24-alpine3.21@sha256:" + "0" * 64, "go 1.23 // comment", False, id="digest-and-comment"
        ),
        pytest.param("docker.io/library/golang:1.21", "go 1.22", True, id="full-reference"),
        pytest.param("golang:latest", "go 1.99", False, id="no-version-in-tag"),
        pytest.param("debian:12", "go 1.99", False, id="not-a-golang-image"),
    ],
)
def test_go_version(image: str, go_directive: str, too_old: bool) -> None:
    text = f"FROM {image}\nARG GOPROXY\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN {CACHE} go mod download\n"
    found = reasons(
        text, files=frozenset({"go.mod", "go.sum"}), go_mods={"go.mod": f"module x\n\n{go_directive}\n"}
    )
    assert ((1, "GoVersionTooOld") in found) is too_old


@pytest.mark.parametrize(
    ("run", "files", "fetches"),
    [
        pytest.param("go build -mod=vendor .", {"go.mod", "go.sum"}, False, id="mod-vendor-flag"),
        pytest.param("GOFLAGS=-mod=vendor go build .", {"go.mod", "go.sum"}, False, id="goflags-vendor"),
        pytest.param(
            "go build .", {"go.mod", "go.sum", "vendor/modules.txt"}, False, id="vendor-dir-in-context"
        ),
        pytest.param(
            "go build -mod=mod .", {"go.mod", "go.sum", "vendor/modules.txt"}, True, id="mod-mod-overrides"
        ),
        pytest.param(
            "go mod download", {"go.mod", "go.sum", "vendor/modules.txt"}, True, id="mod-download-fetches"
        ),
    ],
)
def test_vendored_builds_fetch_nothing(run: str, files: set[str], fetches: bool) -> None:
    text = "FROM golang:1.26\nWORKDIR /src\nCOPY . .\nRUN " + run + "\n"
    found = reasons(text, files=frozenset(files))
    assert (found == [(4, "GoSettingNotDeclared"), (4, "NoModuleCacheMount")]) is fetches
    assert (found == []) is not fetches


def test_with_a_config_every_injected_go_setting_must_be_declared() -> None:
    spec = parse_spec(
        {
            "goproxy": ["https://goproxy.cn", "direct"],
            "gosumdb": "sum.golang.google.cn",
            "goflags": ["-mod=mod"],
        }
    )
    settings = settings_from_spec(spec)
    assert settings.go_settings == (
        ("GOPROXY", "https://goproxy.cn,direct"),
        ("GOSUMDB", "sum.golang.google.cn"),
        ("GOFLAGS", "-mod=mod"),
    )
    [finding] = check(GOOD_HEAD + f"RUN {CACHE} go mod download\n", settings=settings)
    assert finding.reason == "GoSettingNotDeclared"
    assert finding.message.startswith("GOSUMDB, GOFLAGS: the GoBuildConfig injects them as build arguments")
    assert finding.fix == "`ARG GOSUMDB` and `ARG GOFLAGS` (without a value) after the FROM on line 1"


def test_with_a_config_the_same_value_hard_coded_is_not_reported() -> None:
    settings = settings_from_spec(parse_spec({"goproxy": ["https://goproxy.cn", "direct"]}))
    text = (
        "FROM golang:1.26\nENV GOPROXY=https://goproxy.cn,direct\nWORKDIR /src\nCOPY . .\n"
        + f"RUN {CACHE} go build .\n"
    )
    assert reasons(text, settings, files=frozenset({"go.mod", "go.sum"})) == []
    assert reasons(
        text.replace("goproxy.cn", "proxy.golang.org"), settings, files=frozenset({"go.mod", "go.sum"})
    ) == [(2, "HardcodedGoEnv")]


def test_netrc_config_needs_the_netrc_secret_mount_with_its_id() -> None:
    settings = settings_from_spec(
        parse_spec(
            {"privateModules": {"netrc": {"secretName": "n"}}, "imageBuilds": {"netrcSecretId": "gitcreds"}}
        )
    )
    head = "FROM golang:1.26\nARG GOPROXY GOPRIVATE\nWORKDIR /src\nCOPY . .\n"
    missing = check(
        head + f"RUN {CACHE} --mount=type=secret,id=netrc,target=/root/.netrc go build .\n", settings=settings
    )
    assert [f.reason for f in missing] == ["PrivateModulesWithoutMount"]
    assert "--mount=type=secret,id=gitcreds,target=/root/.netrc" in missing[0].fix
    assert (
        check(
            head + f"RUN {CACHE} --mount=type=secret,id=gitcreds,target=/root/.netrc go build .\n",
            settings=settings,
        )
        == []
    )


def test_findings_are_ordered_by_severity_then_dockerfile_first_then_by_line() -> None:
    text = "FROM golang:1.26\nARG TOKEN\nWORKDIR /src\nCOPY . .\nRUN go build .\n"
    found = check(text, context=Context(files=frozenset({"go.mod", "go.sum"}), dockerignore="go.sum\n"))
    assert [(f.severity, f.source, f.line, f.code, f.reason) for f in found] == [
        ("error", "dockerfile", 2, "GB301", "CredentialInArgOrEnv"),
        ("error", "dockerfile", 5, "GB201", "GoSettingNotDeclared"),
        ("error", "dockerignore", 1, "GB102", "GoModIgnored"),
        ("info", "dockerfile", 5, "GB401", "NoModuleCacheMount"),
    ]
