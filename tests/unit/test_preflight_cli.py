"""`preflight` as a user runs it: the Job it asks for, what it prints, its exit status. The cluster is
a stand-in that answers with the log real go printed (tests/fixtures/preflight); the real cluster
run is tests/e2e/test_preflight.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.__main__ import kubectl_plugin
from gobuild_operator.__main__ import main as module_main
from gobuild_operator.cli.preflight import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
CONFIG = {"goproxy": ["http://mirror.builds.svc:8080", "off"], "gosumdb": "off"}


class FakeCluster:
    """Reads the config, and answers the Job with a recorded log; keeps what it was given."""

    def __init__(self, case: str, *, injected: str = "corp", stuck: str = "") -> None:
        self.log = "" if stuck else (FIXTURES / case / "job.log").read_text()
        self.stuck = stuck
        self.injected = injected
        self.jobs: list[tuple[dict[str, Any], dict[str, Any], float]] = []
        self.asked: list[tuple[str, str | None]] = []

    def read_config(self, name: str, namespace: str | None) -> Mapping[str, Any]:
        self.asked.append((name, namespace))
        if name != "corp":
            raise LookupError(f"GoBuildConfig {namespace}/{name} not found")
        return CONFIG

    def run_job(
        self, job: dict[str, Any], config_map: dict[str, Any], timeout: float
    ) -> tuple[str, str, str, str]:
        self.jobs.append((job, config_map, timeout))
        return self.log, self.injected, "gobuild-preflight-x-abcde", self.stuck


def project(tmp_path: Path, case: str) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copy(FIXTURES / case / name, folder / name)
    return folder


def preflight(cluster: FakeCluster, *argv: str) -> int:
    return main(list(argv), read_config=cluster.read_config, run_job=cluster.run_job)


def test_everything_right_exits_zero_after_one_job_opted_into_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("ok")
    folder = project(tmp_path, "ok")

    code = preflight(cluster, "--config", "corp", "-n", "builds", str(folder), "--timeout", "120")

    out = capsys.readouterr().out
    assert code == 0, out
    assert cluster.asked == [("corp", "builds")]
    [(job, config_map, timeout)] = cluster.jobs
    assert job["metadata"]["namespace"] == config_map["metadata"]["namespace"] == "builds"
    assert job["spec"]["template"]["metadata"]["annotations"]["gobuild.dev/config"] == "corp"
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert timeout > 120
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "golang:1.26"
    assert config_map["data"]["go.mod"] == (folder / "go.mod").read_text()
    assert config_map["data"]["go.sum"] == (folder / "go.sum").read_text()
    assert config_map["data"]["modules"].split() == [
        "github.com/google/uuid@v1.6.0",
        "golang.org/x/mod@v0.22.0",
        "rsc.io/quote/v3@v3.1.0",
        "golang.org/x/text@v0.0.0-20170915032832-14c0d48ead0c",
        "rsc.io/sampler@v1.3.0",
    ]
    assert out.splitlines()[0].split() == [
        "MODULE",
        "VERSION",
        "ROUTE",
        "PATTERN",
        "SUMDB",
        "CREDENTIAL",
        "OUTCOME",
    ]
    assert out.rstrip().endswith("preflight: every module downloads")


def test_a_missing_module_exits_one_naming_module_route_and_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("absent_module")
    code = preflight(
        cluster, "--config", "corp", "-n", "builds", str(project(tmp_path, "absent_module") / "go.mod")
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "ModuleNotFound: example.com/absent@v1.0.0 (route proxy)" in out
    assert "remedy: " in out
    assert "spec.goproxy" in out
    assert "the build would fail" in out


def test_json_output_has_a_row_per_module_and_the_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("go_sum_lacks_zip_hash")
    code = preflight(
        cluster, "--config", "corp", "-n", "b", "-o", "json", str(project(tmp_path, "go_sum_lacks_zip_hash"))
    )
    answer = json.loads(capsys.readouterr().out)
    assert code == 1
    assert answer["ok"] is False
    failed = [m for m in answer["modules"] if m["outcome"] == "failed"]
    assert [(m["module"], m["route"], m["reason"]) for m in failed] == [
        ("rsc.io/sampler", "proxy", "MissingGoSum")
    ]
    assert failed[0]["remedy"]
    assert failed[0]["evidence"].startswith("go.sum lacks: rsc.io/sampler v1.3.0 h1:")
    assert [c["check"] for c in answer["checks"]] == ["project"]


def test_a_pod_the_webhook_did_not_inject_fails_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("ok", injected="")
    code = preflight(cluster, "--config", "corp", "-n", "b", str(project(tmp_path, "ok")))
    out = capsys.readouterr().out
    assert code == 1
    assert "the preflight Pod got no GoBuildConfig, not corp" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--config", "./corp.yaml"], "give --config NAME of a GoBuildConfig, not a file"),
        (["--config", "missing", "GOOD"], "GoBuildConfig b/missing not found"),
        (["--config", "corp", "NOWHERE"], "cannot read NOWHERE: No such file"),
        (["--config", "corp", "--timeout", "1"], "--timeout must be at least 10 seconds"),
        (["--config", "corp", "BADMOD"], "go.mod line 3: not a module path and version"),
    ],
    ids=["config-file", "no-such-config", "no-go-mod", "timeout", "bad-go-mod"],
)
def test_usage_errors_exit_two_before_anything_runs(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "BADMOD"
    bad.mkdir()
    (bad / "go.mod").write_text("module x\n\nrequire example.com/a $(id)\n")
    shutil.copytree(FIXTURES / "ok", tmp_path / "GOOD")
    monkeypatch.chdir(tmp_path)
    cluster = FakeCluster("ok")
    code = preflight(cluster, "-n", "b", *argv)
    assert code == 2
    assert message in capsys.readouterr().err
    assert cluster.jobs == []


def test_the_module_entry_point_and_the_kubectl_plugin_offer_preflight(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert kubectl_plugin(["--help"]) == 0
    assert "preflight" in capsys.readouterr().out
    assert kubectl_plugin(["preflight", "--help"]) == 0
    assert "usage: kubectl gobuild preflight" in capsys.readouterr().out
    assert module_main(["preflight", "--help"]) == 0
    assert "usage: python -m gobuild_operator preflight" in capsys.readouterr().out


def test_a_pattern_that_sends_a_module_direct_and_skips_the_checksum_database_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster("ssh_unknown_host_key")
    code = preflight(cluster, "--config", "corp", "-n", "b", str(project(tmp_path, "ssh_unknown_host_key")))
    out = capsys.readouterr().out
    assert code == 1
    [row] = [line for line in out.splitlines() if line.startswith("127.0.0.1/srv/git/team/secretlib.git ")]
    assert row.split()[2:5] == ["direct", "GOPRIVATE=127.0.0.1", "off"]
    assert "HostKeyVerificationFailed: 127.0.0.1/srv/git/team/secretlib.git@v1.0.0 (route direct)" in out
