"""`python -m gobuild_operator diagnose [FILE|-] [--output json|text]` as a user runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gobuild_operator.cli.diagnose import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "gofailures"
WRONG_KEY = FIXTURES / "git_ssh_wrong_key.txt"


class FakeStdin(io.TextIOWrapper):
    """Standard input fed from bytes, reporting whether it is a terminal."""

    def __init__(self, data: bytes, *, tty: bool = False) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def run_main(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: bytes = b""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_file_as_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_main([str(WRONG_KEY), "--output", "json"], capsys, monkeypatch)
    assert code == 0
    assert err == ""
    result = json.loads(out)
    assert set(result) == {"reason", "summary", "remedy", "evidence", "module", "host", "route"}
    assert result["reason"] == "AuthenticationFailed"
    assert result["evidence"] == "root@git.corp.invalid: Permission denied (publickey)."
    assert "spec.privateModules.ssh.secretName" in result["remedy"]


def test_file_as_text_is_the_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main([str(FIXTURES / "proxy_tls_handshake_timeout.txt")], capsys, monkeypatch)
    assert code == 0
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert list(lines) == ["reason", "summary", "module", "host", "evidence", "remedy"]
    assert lines["reason"] == "   TLSHandshakeTimeout"
    assert lines["module"] == "   example.com/hello"
    assert lines["host"] == "     slow.corp.invalid:9443 (proxy)"
    assert lines["evidence"].endswith("net/http: TLS handshake timeout")
    assert "spec.corporateProxy.httpsProxy" in lines["remedy"]


@pytest.mark.parametrize("argv", [pytest.param(["-"], id="dash"), pytest.param([], id="no-argument")])
def test_standard_input(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = (FIXTURES / "checksum_mismatch.txt").read_bytes()
    code, out, _ = run_main([*argv, "-o", "json"], capsys, monkeypatch, stdin=log)
    assert code == 0
    assert json.loads(out)["reason"] == "ChecksumMismatch"


def test_undecodable_bytes_do_not_stop_the_diagnosis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = b"\xff\xfe binary junk \x80\n" + (FIXTURES / "disk_full.txt").read_bytes()
    code, out, _ = run_main(["-o", "json"], capsys, monkeypatch, stdin=log)
    assert code == 0
    assert json.loads(out)["reason"] == "DiskFull"


def test_unknown_exits_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_main(
        ["-", "--output", "json"], capsys, monkeypatch, stdin=b"ok  \texample.com/app\t0.01s\n"
    )
    result = json.loads(out)
    assert code == 1
    assert set(result) == {"reason", "summary", "remedy", "evidence", "module", "host", "route"}
    assert result["reason"] == "Unknown"
    assert result["evidence"] == ""


def test_unknown_as_text_has_no_evidence_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main([], capsys, monkeypatch, stdin=b"")
    assert code == 1
    assert out.startswith("reason:   Unknown\n")
    assert "evidence:" not in out


def test_missing_file_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.log"
    code, out, err = run_main([str(missing)], capsys, monkeypatch)
    assert code == 2
    assert out == ""
    assert f"cannot read {missing}: No such file or directory" in err


def test_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main([str(tmp_path)], capsys, monkeypatch)
    assert code == 2
    assert "Is a directory" in err


def test_bad_output_format_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_main([str(WRONG_KEY), "--output", "xml"], capsys, monkeypatch)
    assert code == 2
    assert out == ""
    assert "invalid choice: 'xml'" in err


def test_a_terminal_on_stdin_is_a_usage_error_not_a_hang(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"", tty=True))
    code = main([])
    _, err = capsys.readouterr()
    assert code == 2
    assert "no log given" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_main(["--help"], capsys, monkeypatch)
    assert code == 0
    assert "python -m gobuild_operator diagnose" in out


def test_as_a_process_reading_a_pipe() -> None:
    """The real process: stdin is a pipe, output and exit status as a script sees them."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from gobuild_operator.cli.diagnose import main; sys.exit(main())",
            "-",
        ],
        input=(FIXTURES / "git_ssh_unknown_host_key.txt").read_bytes(),
        capture_output=True,
        cwd=ROOT / "operator",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("reason:   HostKeyVerificationFailed\n")


# --- --config: the settings the build was injected with --------------------------------------------

BUILD_LOG = FIXTURES / "buildkit_goproxy_not_passed.txt"


def config_file(tmp_path: Path, goproxy: str) -> Path:
    path = tmp_path / "corp.yaml"
    path.write_text(
        "apiVersion: gobuild.dev/v1alpha1\nkind: GoBuildConfig\nmetadata: {name: corp}\n"
        f"spec:\n  goproxy: [{goproxy}]\n  gosumdb: 'off'\n"
    )
    return path


def test_a_build_that_ignored_the_config_s_proxy_is_named_with_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_file(tmp_path, "'http://goproxy.corp.invalid:8080'")
    code, out, err = run_main([str(BUILD_LOG), "--config", str(config), "-o", "json"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["reason"] == "BuildSettingsNotPassed"
    assert "proxy.golang.org" in result["evidence"]
    assert "ARG GOPROXY" in result["remedy"]


def test_without_config_the_same_log_is_its_network_failure(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main([str(BUILD_LOG), "-o", "json"], capsys, monkeypatch)
    assert code == 0
    assert json.loads(out)["reason"] == "DNSResolutionFailed"


def test_config_name_is_read_from_the_cluster(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str | None]] = []

    def reader(name: str, namespace: str | None) -> dict[str, object]:
        asked.append((name, namespace))
        return {"goproxy": ["http://goproxy.corp.invalid:8080"]}

    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    code = main([str(BUILD_LOG), "--config", "corp", "-n", "team", "-o", "json"], read_cluster_config=reader)
    out, _ = capsys.readouterr()
    assert code == 0
    assert asked == [("corp", "team")]
    assert json.loads(out)["reason"] == "BuildSettingsNotPassed"


def test_a_missing_config_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_main([str(BUILD_LOG), "--config", str(tmp_path / "nope.yaml")], capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert "cannot read config" in err
