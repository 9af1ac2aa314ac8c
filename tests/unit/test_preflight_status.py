"""status.lastPreflight: the preflight Job's script writes a summary as its termination message
(core/preflight/job.py), the operator reads it from the finished Pod (core/downloads/preflight.py)
and the one writer keeps the latest run (core/status/compose.py). The script runs here with sh and
awk on this machine, with a `go` and a `git` that answer what real go and git printed in the
recorded Jobs (tests/fixtures/preflight), so the reasons on the status are checked against the ones
`preflight` itself printed for the same run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.api.status.model import GoBuildConfigStatus, LastPreflight, PreflightFailure
from gobuild_operator.core.downloads.observe import observe
from gobuild_operator.core.downloads.preflight import MAX_FAILING, is_preflight, read_preflight
from gobuild_operator.core.preflight import job as jobs
from gobuild_operator.core.preflight.gomod import parse_go_mod, parse_go_sum
from gobuild_operator.core.preflight.output import parse_output
from gobuild_operator.core.preflight.report import FAILED, downloads, merge
from gobuild_operator.core.preflight.routes import Credentials, GoEnv
from gobuild_operator.core.status.compose import with_preflight

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "job.log").is_file())

FAKE_GO = """#!/bin/sh
case "$1" in
  version) s=version ;;
  env) s=env ;;
  mod) if [ $# -gt 3 ]; then s=download; else s=build; fi ;;
  ls-remote) s=git ;;
esac
[ -f "$FAKE/$s.status" ] || exit 0
cat "$FAKE/$s.out"; cat "$FAKE/$s.err" >&2; exit "$(cat "$FAKE/$s.status")"
"""


def run_script(case: str, tmp_path: Path, fixtures: Path = FIXTURES) -> str:
    """The summary the Job's script writes for the recorded run of `case`."""
    folder = fixtures / case
    log = parse_output((folder / "job.log").read_text())
    answers = tmp_path / "answers"
    answers.mkdir()
    repos = []
    for name, section in log.sections.items():
        file = "git" if name.startswith("git:") else name
        if name.startswith("git:"):
            repos.append(f"{name.removeprefix('git:')} ssh://git.example/repo.git\n")
        (answers / f"{file}.out").write_text(section.out)
        (answers / f"{file}.err").write_text(section.err)
        (answers / f"{file}.status").write_text(str(section.status))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("go", "git"):
        (bin_dir / tool).write_text(FAKE_GO)
        (bin_dir / tool).chmod(0o755)
    mount = tmp_path / "mount"
    mount.mkdir()
    go_mod = (folder / "go.mod").read_text()
    (mount / "go.mod").write_text(go_mod)
    (mount / "go.sum").write_text((folder / "go.sum").read_text() if (folder / "go.sum").is_file() else "")
    (mount / "modules").write_text("\n".join(downloads(parse_go_mod(go_mod))) + "\n")
    (mount / "repos").write_text("".join(repos))
    summary = tmp_path / "termination-log"
    done = subprocess.run(
        ["sh", "-c", jobs.script(str(mount), summary_path=str(summary))],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(answers), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return summary.read_text()


def finished_pod(
    message: str, env: dict[str, str], *, name: str = "gobuild-preflight-x-abcde"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "builds",
            "uid": "u-" + name,
            "labels": {"gobuild.dev/preflight": "true", "gobuild.dev/config": "corp"},
            "annotations": {"gobuild.dev/injected": "corp"},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "preflight", "env": [{"name": k, "value": v} for k, v in env.items()]}],
        },
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": "preflight",
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "message": message,
                            "finishedAt": "2026-12-07T11:00:00Z",
                        }
                    },
                }
            ],
        },
    }


def printed(case: str) -> list[tuple[str, str]]:
    """(module, reason) of what `preflight` printed as failing for the recorded run."""
    folder = FIXTURES / case
    gomod = parse_go_mod((folder / "go.mod").read_text())
    gosum = parse_go_sum((folder / "go.sum").read_text() if (folder / "go.sum").is_file() else "")
    report = merge(
        gomod, gosum, parse_output((folder / "job.log").read_text()), env=GoEnv(), credentials=Credentials()
    )
    rows = [(r.route.path, r.outcome.reason) for r in report.rows if r.outcome.status == FAILED]
    if not rows:
        rows = [(gomod.module, c.outcome.reason) for c in report.checks if c.outcome.status == FAILED]
    return rows[:MAX_FAILING]


@pytest.mark.parametrize("case", CASES)
def test_the_status_names_what_preflight_printed(case: str, tmp_path: Path) -> None:
    message = run_script(case, tmp_path)
    env = json.loads((FIXTURES / case / "env.json").read_text())

    record = read_preflight(finished_pod(message, env), now="2026-12-07T11:00:05Z")

    assert record is not None
    assert len(message.encode()) <= jobs.SUMMARY_BYTES
    expected = printed(case)
    assert [(f.module, f.reason) for f in record.failing] == expected, message
    assert record.outcome == ("Failed" if expected else "Passed")
    assert (record.pod, record.time) == ("gobuild-preflight-x-abcde", "2026-12-07T11:00:00Z")
    assert record.modules == len(downloads(parse_go_mod((FIXTURES / case / "go.mod").read_text())))


@pytest.mark.parametrize(
    ("case", "failing"),
    [
        ("ok", []),
        ("absent_module", [("example.com/absent", "ModuleNotFound")]),
        ("go_newer_than_image", [("e2e.example/consumer", "ToolchainNotAvailable")]),
        ("go_sum_wrong_hash", [("rsc.io/sampler", "ChecksumMismatch")]),
        ("ssh_unknown_host_key", [("127.0.0.1/srv/git/team/secretlib.git", "HostKeyVerificationFailed")]),
    ],
)
def test_the_reasons_a_user_reads_on_the_status(
    case: str, failing: list[tuple[str, str]], tmp_path: Path
) -> None:
    env = json.loads((FIXTURES / case / "env.json").read_text())
    record = read_preflight(finished_pod(run_script(case, tmp_path), env), now="now")
    assert record is not None
    assert [(f.module, f.reason) for f in record.failing] == failing


def test_no_url_credentials_reach_the_summary(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    # a go error naming a proxy URL with userinfo: the summary keeps the URL without it
    folder = FIXTURES / "wrong_proxy"
    log = (folder / "job.log").read_text().replace("http://", "http://user:s3cret@")
    fixture = tmp_path / "fixtures" / "wrong_proxy"
    fixture.mkdir(parents=True)
    for name in ("go.mod", "go.sum", "env.json"):
        (fixture / name).write_text((folder / name).read_text())
    (fixture / "job.log").write_text(log)
    message = run_script("wrong_proxy", case, tmp_path / "fixtures")
    assert "s3cret" not in message
    assert "user:" not in message
    assert "http://" in message


def test_a_pod_without_a_summary_failed_and_names_nothing() -> None:
    pod = finished_pod("", {})
    pod["status"]["phase"] = "Failed"
    pod["status"]["containerStatuses"][0]["state"]["terminated"] = {
        "exitCode": 137,
        "reason": "DeadlineExceeded",
    }
    record = read_preflight(pod, now="2026-12-07T11:00:05Z")
    assert record == LastPreflight(
        time="2026-12-07T11:00:05Z", pod="gobuild-preflight-x-abcde", outcome="Failed", modules=0, failing=[]
    )


def test_a_running_preflight_pod_is_not_read_and_never_counted_as_a_build() -> None:
    pod = finished_pod("gobuild-preflight/v1 modules=1 download=0 build=0\nend\n", {})
    assert is_preflight(pod)
    running = {**pod, "status": {"phase": "Running"}}
    assert read_preflight(running, now="now") is None
    # the download counting itself still sees an injected Pod; the reporter keeps preflight Pods
    # away from it (reporting/downloads.py), tested in test_download_reporter_preflight
    assert observe(pod, known=0, now="now") is not None
    assert not is_preflight({"metadata": {"labels": {"gobuild.dev/config": "corp"}}})


def record(pod: str, time: str, outcome: str = "Passed") -> LastPreflight:
    return LastPreflight(time=time, pod=pod, outcome=outcome, modules=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("held", "given", "kept"),
    [
        pytest.param(None, record("a", "2026-12-07T11:00:00Z"), "a", id="the-first"),
        pytest.param(
            record("a", "2026-12-07T11:00:00Z"), record("b", "2026-12-07T11:01:00Z"), "b", id="newer"
        ),
        pytest.param(
            record("b", "2026-12-07T11:01:00Z"), record("a", "2026-12-07T11:00:00Z"), "b", id="older-stale"
        ),
    ],
)
def test_the_latest_run_is_kept(held: LastPreflight | None, given: LastPreflight, kept: str) -> None:
    status = GoBuildConfigStatus(last_preflight=held)
    assert with_preflight(status, given).last_preflight.pod == kept  # type: ignore[union-attr]


def test_failing_is_bounded_in_the_schema() -> None:
    many = [PreflightFailure(module=f"m{i}", reason="ModuleNotFound") for i in range(MAX_FAILING + 1)]
    with pytest.raises(ValueError, match="at most 5"):
        LastPreflight(time="t", pod="p", outcome="Failed", modules=6, failing=many)
    assert os.path.basename(jobs.TERMINATION_LOG) == "termination-log"


class FakeWriter:
    """The status writer, keeping the batches it was handed."""

    def __init__(self) -> None:
        self.batches: list[tuple[tuple[str, str], Any]] = []

    async def write(self, key: tuple[str, str], *, batch: Any = None, **_: Any) -> Any:
        from gobuild_operator.reconciler.status import Written

        self.batches.append((key, batch))
        return Written(uid=None)


def test_download_reporter_preflight(tmp_path: Path) -> None:
    """The reporter hands a finished preflight Pod to the writer as lastPreflight (once, also from
    its DELETED event) and never as an observation to count; a build Pod beside it is counted."""
    import asyncio

    from gobuild_operator.metrics import Metrics
    from gobuild_operator.reporting.downloads import DownloadReporter

    writer = FakeWriter()
    reporter = DownloadReporter(api=None, metrics=Metrics(), writer=writer, flush_interval=0.01)  # type: ignore[arg-type]
    env = json.loads((FIXTURES / "absent_module" / "env.json").read_text())
    pod = finished_pod(run_script("absent_module", tmp_path), env)
    running = {**pod, "status": {"phase": "Running"}}
    build = finished_pod("", env, name="build-1")
    del build["metadata"]["labels"]["gobuild.dev/preflight"]

    reporter.on_pod("ADDED", running)
    reporter.on_pod("MODIFIED", pod)
    reporter.on_pod("DELETED", pod)  # the same run: not handed over twice
    reporter.on_pod("MODIFIED", build)
    key = ("builds", "corp")
    queue = reporter._queues[key]
    asyncio.run(reporter._flush_once(key, queue, settle=False))

    [(written_key, batch)] = writer.batches
    assert written_key == key
    assert [(obs.pod, obs.stage) for obs in batch.observations] == [("build-1", "succeeded")]
    [record] = batch.preflights
    assert (record.pod, record.outcome, record.modules) == ("gobuild-preflight-x-abcde", "Failed", 6)
    assert [(f.module, f.reason) for f in record.failing] == [("example.com/absent", "ModuleNotFound")]
