"""`python -m gobuild_operator check [Dockerfile] [--context DIR] [--config FILE|NAME] [-o json|text]`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.cli.check import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "dockerfiles"


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str], **kwargs: Any) -> tuple[int, str, str]:
    code = main(argv, **kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_dockerfile_reports_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main([str(FIXTURES / "correct" / "Dockerfile")], capsys)
    assert (code, out, err) == (0, "", "")


def test_text_reads_like_a_compiler(capsys: pytest.CaptureFixture[str]) -> None:
    dockerfile = FIXTURES / "download-before-copy" / "Dockerfile"
    code, out, err = run_main([str(dockerfile)], capsys)
    assert code == 1
    assert err == ""
    [line] = out.splitlines()
    assert line.startswith(f"{dockerfile}:4: GoModNotCopied: `go mod download` runs before go.mod and go.sum")
    assert ". Fix: add `COPY go.mod go.sum ./` (after WORKDIR) before line 4" in line


def test_json_for_ci(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "dockerignore-excludes-gosum"
    code, out, _ = run_main([str(case / "Dockerfile"), "--output", "json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["dockerfile"] == str(case / "Dockerfile")
    assert report["context"] == str(case)
    assert report["config"] is None
    [finding] = report["findings"]
    assert set(finding) == {"file", "line", "reason", "message", "fix"}
    assert (finding["file"], finding["line"], finding["reason"]) == (
        str(case / ".dockerignore"),
        3,
        "GoModIgnored",
    )


def test_clean_json_has_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main([str(FIXTURES / "correct" / "Dockerfile"), "-o", "json"], capsys)
    assert code == 0
    assert json.loads(out)["findings"] == []


def test_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "private-without-mount"
    argv = [str(case / "Dockerfile"), "--config", str(case / "gobuildconfig.yaml"), "-o", "json"]
    code, out, _ = run_main(argv, capsys)
    assert code == 1
    report = json.loads(out)
    assert report["config"] == "corp"
    assert [f["reason"] for f in report["findings"]] == ["PrivateModulesWithoutMount"]
    # the same Dockerfile without the config: nothing private is known
    assert run_main([str(case / "Dockerfile")], capsys)[0] == 0


def test_config_name_is_read_from_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[tuple[str, str | None]] = []

    def reader(name: str, namespace: str | None) -> Mapping[str, Any]:
        asked.append((name, namespace))
        return {"goproxy": ["https://goproxy.cn", "direct"], "goflags": ["-mod=mod"]}

    argv = [str(FIXTURES / "correct" / "Dockerfile"), "--config", "cn", "-n", "ci", "-o", "json"]
    code, out, _ = run_main(argv, capsys, read_cluster_config=reader)
    assert asked == [("cn", "ci")]
    assert code == 1
    [finding] = json.loads(out)["findings"]
    assert finding["reason"] == "GoSettingNotDeclared"
    assert finding["message"].startswith("GOFLAGS: the GoBuildConfig injects it")


def test_a_file_named_like_the_config_in_the_repository_does_not_stand_in_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository could ship a file `cn` that injects nothing missing and so hides the findings."""
    (tmp_path / "cn").write_text(
        "apiVersion: gobuild.dev/v1alpha1\nkind: GoBuildConfig\nmetadata: {name: cn}\nspec: {}\n"
    )
    monkeypatch.chdir(tmp_path)

    def reader(name: str, namespace: str | None) -> Mapping[str, Any]:
        return {"goproxy": ["https://goproxy.cn", "direct"], "goflags": ["-mod=mod"]}

    argv = [str(FIXTURES / "correct" / "Dockerfile"), "--config", "cn", "-o", "json"]
    code, out, _ = run_main(argv, capsys, read_cluster_config=reader)
    assert code == 1, "the cluster's config was read, and its GOFLAGS is not declared"
    assert [f["reason"] for f in json.loads(out)["findings"]] == ["GoSettingNotDeclared"]
    code, _, _ = run_main([str(FIXTURES / "correct" / "Dockerfile"), "--config", "./cn"], capsys)
    assert code == 0, "spelled as a path, the file is read"


def test_the_context_defaults_to_the_dockerfiles_directory_and_can_be_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Dockerfile kept apart from its context (docker build -f build/Dockerfile .)."""
    shutil.copytree(FIXTURES / "correct", tmp_path / "ctx")
    (tmp_path / "build").mkdir()
    (tmp_path / "ctx" / "Dockerfile").rename(tmp_path / "build" / "Dockerfile")
    (tmp_path / "ctx" / ".dockerignore").write_text("go.mod\n")
    dockerfile = str(tmp_path / "build" / "Dockerfile")
    assert run_main([dockerfile], capsys)[0] == 0  # build/ has no .dockerignore
    code, out, _ = run_main([dockerfile, "--context", str(tmp_path / "ctx"), "-o", "json"], capsys)
    assert code == 1
    [finding] = json.loads(out)["findings"]
    assert (finding["file"], finding["reason"]) == (str(tmp_path / "ctx" / ".dockerignore"), "GoModIgnored")


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(FIXTURES / "correct", tmp_path / "ctx")
    (tmp_path / "ctx" / "Dockerfile.dockerignore").write_text("go.mod\n")
    code, out, _ = run_main([str(tmp_path / "ctx" / "Dockerfile")], capsys)
    assert code == 1
    assert out.startswith(f"{tmp_path / 'ctx' / 'Dockerfile.dockerignore'}:1: GoModIgnored: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["nope/Dockerfile"],
            "cannot read Dockerfile nope/Dockerfile: No such file or directory",
            id="missing",
        ),
        pytest.param([str(FIXTURES)], "Is a directory", id="directory"),
        pytest.param(
            [str(FIXTURES / "correct" / "Dockerfile"), "--context", "/nonexistent"],
            "the context /nonexistent is not a directory",
            id="context",
        ),
        pytest.param(
            [str(FIXTURES / "correct" / "Dockerfile"), "--config", "missing.yaml"],
            "cannot read config missing.yaml",
            id="config-file",
        ),
        pytest.param(
            [str(FIXTURES / "correct" / "Dockerfile"), "--config", str(FIXTURES / "correct" / "go.mod")],
            "holds 0 GoBuildConfigs",
            id="not-a-config",
        ),
        pytest.param(
            [str(FIXTURES / "correct" / "Dockerfile"), "--output", "xml"],
            "invalid choice: 'xml'",
            id="output",
        ),
    ],
)
def test_usage_and_file_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert out == ""
    assert message in err


def test_an_invalid_config_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gbc.yaml"
    config.write_text(
        "apiVersion: gobuild.dev/v1alpha1\nkind: GoBuildConfig\nmetadata: {name: x}\nspec: {goproxy: [ftp://a]}\n"
    )
    code, _, err = run_main([str(FIXTURES / "correct" / "Dockerfile"), "--config", str(config)], capsys)
    assert code == 2
    assert "GoBuildConfig x is not valid: spec.goproxy[0]: " in err


def test_a_cluster_lookup_failure_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    def reader(name: str, namespace: str | None) -> Mapping[str, Any]:
        from gobuild_operator.cli.check import UsageError

        raise UsageError(f"GoBuildConfig default/{name}: not found")

    code, _, err = run_main(
        [str(FIXTURES / "correct" / "Dockerfile"), "--config", "gone"], capsys, read_cluster_config=reader
    )
    assert code == 2
    assert "GoBuildConfig default/gone: not found" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    assert "python -m gobuild_operator check" in out


def test_as_a_process_through_the_package_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gobuild_operator", "check", "Dockerfile", "-o", "json"],
        capture_output=True,
        cwd=FIXTURES / "workdir-missing",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    [finding] = json.loads(proc.stdout)["findings"]
    assert (finding["file"], finding["line"], finding["reason"]) == ("Dockerfile", 4, "WorkdirMissing")
