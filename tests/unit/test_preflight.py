"""core/preflight on real go: go.mod parsing, go's own pattern matching, routes, and the preflight
Job's output as real go printed it (tests/fixtures/preflight, recorded by
scripts/record_preflight.py: the Job's script run with go 1.26.8 against the e2e module proxy on
loopback, in a network namespace of its own)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.preflight import job as jobs
from gobuild_operator.core.preflight.gomod import GoModError, parse_go_mod, parse_go_sum
from gobuild_operator.core.preflight.output import parse_output
from gobuild_operator.core.preflight.patterns import matching_pattern, path_match
from gobuild_operator.core.preflight.report import (
    FAILED,
    LOCAL,
    OK,
    Report,
    downloads,
    from_spec,
    git_probes,
    merge,
    not_started,
    plan,
    repository,
)
from gobuild_operator.core.preflight.routes import Credentials, GoEnv, route_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"
PATTERNS = json.loads((FIXTURES / "patterns.json").read_text())["cases"]


def merged(case: str, *, credentials: Credentials | None = None) -> Report:
    folder = FIXTURES / case
    return merge(
        parse_go_mod((folder / "go.mod").read_text()),
        parse_go_sum((folder / "go.sum").read_text()),
        parse_output((folder / "job.log").read_text()),
        env=GoEnv(),
        credentials=credentials or Credentials(),
    )


def outcomes(report: Report) -> dict[str, str]:
    return {row.route.path: row.outcome.reason or row.outcome.status for row in report.rows}


# --- go's pattern matching -------------------------------------------------------------------


@pytest.mark.parametrize("case", PATTERNS, ids=[f"{c['globs']!r}~{c['path']}" for c in PATTERNS])
def test_patterns_match_as_x_mod_match_prefix_patterns_does(case: dict[str, Any]) -> None:
    assert (matching_pattern(case["globs"], case["path"]) is not None) is case["match"]


def test_the_pattern_that_matched_is_named() -> None:
    assert matching_pattern("a.example,git.corp.example/", "git.corp.example/team/x") == "git.corp.example/"
    assert matching_pattern("a.example", "git.corp.example/team/x") is None


def test_matching_stays_fast_on_hostile_globs() -> None:
    # a backtracking matcher takes exponential time on this; the table is quadratic at worst
    glob = "*a" * 200 + "b"
    assert not path_match(glob, "a" * 400)


# --- go.mod ------------------------------------------------------------------------------------


def test_go_mod_is_read_with_its_go_line_requirements_and_replacements() -> None:
    gomod = parse_go_mod(
        "// a comment\n"
        "module example.com/app // trailing\n\n"
        "go 1.24.0\n"
        "toolchain go1.26.8\n"
        "require example.com/one v1.2.3\n"
        "require (\n"
        '\t"example.com/two" v0.1.0 // indirect\n'
        "\texample.com/local v1.0.0\n"
        ")\n"
        "replace example.com/one => example.com/fork v1.2.4\n"
        "replace (\n\texample.com/local => ../local\n)\n"
        "exclude example.com/bad v0.0.1\n"
    )
    assert (gomod.module, gomod.go, gomod.toolchain) == ("example.com/app", "1.24.0", "go1.26.8")
    assert [(r.path, r.version, r.indirect) for r in gomod.requires] == [
        ("example.com/one", "v1.2.3", False),
        ("example.com/two", "v0.1.0", True),
        ("example.com/local", "v1.0.0", False),
    ]
    # a directory replacement downloads nothing; a module replacement downloads the new module
    assert downloads(gomod) == ["example.com/fork@v1.2.4", "example.com/two@v0.1.0"]
    rows = plan(gomod, parse_go_sum(""), env=GoEnv(), credentials=Credentials()).rows
    assert [(r.route.path, r.route.replaced_by, r.outcome.status) for r in rows] == [
        ("example.com/fork", "example.com/fork@v1.2.4", "not checked"),
        ("example.com/two", "", "not checked"),
        ("example.com/local", "../local", LOCAL),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("go 1.22\n", "no module line"),
        ("module x\nrequire example.com/a\n", "line 2: not a module path and version"),
        ("module x\nrequire example.com/a$(reboot) v1.0.0\n", "line 2: not a module path"),
        ("module x\nrequire example.com/a v1;rm\n", "line 2: not a module path"),
        ("module x\nrequire -x v1.0.0\n", "line 2"),
        ('module "x\n', "line 1: unterminated string"),
        ("module x\n" + "a" * 5000 + "\n", "line 2 is longer"),
        ("module x\n" + " " * (2 << 20), "larger than"),
        ("module x\nreplace a v1.0.0 b\n", "without =>"),
    ],
    ids=[
        "no-module",
        "no-version",
        "shell-in-path",
        "shell-in-version",
        "flag",
        "quote",
        "long-line",
        "big",
        "replace",
    ],
)
def test_go_mod_that_is_not_a_module_file_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(GoModError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        parse_go_mod(text)


def test_go_sum_keeps_module_and_go_mod_hashes_apart() -> None:
    gosum = parse_go_sum((FIXTURES / "ok" / "go.sum").read_text() + "junk line\n")
    assert gosum.has("rsc.io/sampler", "v1.3.0")
    assert ("rsc.io/sampler", "v1.3.0") in gosum.mods
    assert len(gosum.zips) == len(gosum.mods) == 5


# --- routes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "path", "expected"),
    [
        (
            GoEnv(goproxy="http://mirror:8080,direct"),
            "rsc.io/quote",
            ("proxy", "http://mirror:8080,direct", "", "", "consulted (sum.golang.org)", "none"),
        ),
        (
            GoEnv(goproxy="http://cache|http://mirror,off", gosumdb="off"),
            "rsc.io/quote",
            ("proxy", "http://cache|http://mirror,off", "", "", "off", "none"),
        ),
        (
            GoEnv(goproxy="http://mirror", goprivate="git.corp.example"),
            "git.corp.example/team/lib",
            (
                "direct",
                "direct",
                "GOPRIVATE=git.corp.example",
                "GOPRIVATE=git.corp.example",
                "skipped",
                "ssh git.corp.example:2222",
            ),
        ),
        (
            # GONOPROXY overrides GOPRIVATE for the route, not for the checksum database
            GoEnv(goproxy="http://mirror", goprivate="*.corp.example", gonoproxy="none.example"),
            "git.corp.example/team/lib",
            ("proxy", "http://mirror", "", "GOPRIVATE=*.corp.example", "skipped", "netrc mirror"),
        ),
        (
            GoEnv(goproxy="off", gosumdb="sum.corp.example+key https://sum.corp.example"),
            "example.com/x",
            ("off", "off", "", "", "consulted (sum.corp.example+key)", "none"),
        ),
        (
            GoEnv(goproxy="direct", gonosumdb="example.com"),
            "other.example/x",
            ("direct", "direct", "", "", "consulted (sum.golang.org)", "netrc other.example"),
        ),
    ],
    ids=["proxy-then-direct", "cache-pipe-mirror", "private-ssh", "gonoproxy-wins", "off", "direct-netrc"],
)
def test_the_route_follows_go(env: GoEnv, path: str, expected: tuple[str, ...]) -> None:
    ssh = ("git.corp.example:2222",) if expected[5].startswith("ssh") else ()
    netrc = "tokens" if expected[5].startswith("netrc") else ""
    route = route_for(
        path, "v1.0.0", env=env, credentials=Credentials(ssh_hosts=ssh, netrc_secret=netrc), in_go_sum=False
    )
    assert (route.kind, route.via, route.noproxy, route.nosumdb, route.sumdb, route.credential) == expected


def test_a_module_in_go_sum_is_not_looked_up_in_the_checksum_database() -> None:
    route = route_for("rsc.io/quote", "v1.0.0", env=GoEnv(), credentials=Credentials(), in_go_sum=True)
    assert route.sumdb == "in go.sum"


def test_routes_from_a_config_are_what_the_webhook_injects() -> None:
    spec = parse_spec(
        {
            "goproxy": ["http://mirror.corp:8080", "off"],
            "proxyFallback": "OnAnyError",
            "gosumdb": "off",
            "goprivate": ["*.corp.example"],
            "privateModules": {
                "ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example:2222"]},
                "netrc": {"secretName": "tokens"},
            },
        }
    )
    env, credentials = from_spec("corp", spec, namespace="builds")
    assert env.goproxy == "http://mirror.corp:8080|off"
    assert env.goprivate == "*.corp.example,git.corp.example"  # the plan drops the port
    private = route_for(
        "git.corp.example/team/lib", "v1.0.0", env=env, credentials=credentials, in_go_sum=True
    )
    assert (private.kind, private.noproxy, private.credential) == (
        "direct",
        "GOPRIVATE=*.corp.example",
        "ssh git.corp.example:2222",
    )
    public = route_for("rsc.io/quote", "v1.0.0", env=env, credentials=credentials, in_go_sum=True)
    assert (public.kind, public.via, public.credential) == (
        "proxy",
        "http://mirror.corp:8080|off",
        "netrc mirror.corp",
    )


# --- the Job's output, from real go -----------------------------------------------------------


def test_everything_right_downloads_every_module() -> None:
    report = merged("ok")
    assert not report.failed
    assert report.to_dict()["ok"] is True
    assert set(outcomes(report).values()) == {OK}
    assert report.go_version == "go1.26.8"
    # the routes come from the Job's own `go env`, not from the defaults given
    assert all(row.route.via.endswith(",off") and row.route.sumdb == "off" for row in report.rows)


def test_a_module_absent_from_the_proxy_is_named_with_route_and_remedy() -> None:
    report = merged("absent_module")
    assert report.failed
    assert outcomes(report) == {
        "github.com/google/uuid": OK,
        "golang.org/x/mod": OK,
        "rsc.io/quote/v3": OK,
        "example.com/absent": "ModuleNotFound",
        "golang.org/x/text": OK,
        "rsc.io/sampler": OK,
    }
    row = next(r for r in report.rows if r.route.path == "example.com/absent")
    assert row.route.kind == "proxy"
    assert row.route.via.endswith(",off")
    assert "example.com/absent" in row.outcome.remedy
    assert "spec.goproxy" in row.outcome.remedy
    assert "module lookup disabled by GOPROXY=off" in row.outcome.evidence
    project = next(c for c in report.checks if c.name == "project")
    assert project.outcome.reason == "ModuleNotFound"


@pytest.mark.parametrize("case", ["go_sum_lacks_zip_hash", "go_sum_lacks_go_mod_hash"])
def test_an_incomplete_go_sum_names_the_module_and_the_missing_line(case: str) -> None:
    report = merged(case)
    assert report.failed
    failed = [row for row in report.rows if row.outcome.status == FAILED]
    assert [row.route.path for row in failed] == ["rsc.io/sampler"]
    outcome = failed[0].outcome
    assert outcome.reason == "MissingGoSum"
    assert "go mod tidy" in outcome.remedy
    kind = "/go.mod" if "go_mod" in case else ""
    assert outcome.evidence.startswith(f"go.sum lacks: rsc.io/sampler v1.3.0{kind} h1:")


def test_an_unreachable_proxy_fails_every_module_with_its_address() -> None:
    report = merged("wrong_proxy")
    assert set(outcomes(report).values()) == {"ProxyUnreachable"}
    assert all("connection refused" in row.outcome.evidence for row in report.rows)
    assert all(row.outcome.remedy.startswith("The proxy 127.0.0.1:") for row in report.rows)


@pytest.mark.parametrize("case", ["go_newer_than_image", "go_newer_than_image_local"])
def test_a_go_line_newer_than_the_image_fails_the_project(case: str) -> None:
    report = merged(case)
    assert set(outcomes(report).values()) == {OK}  # every module downloads ...
    project = next(c for c in report.checks if c.name == "project")
    assert project.outcome.reason == "ToolchainNotAvailable"  # ... but go refuses the project
    assert "go 1.99.0" in project.detail
    assert "go1.26.8" in project.detail
    assert report.failed


def test_a_module_private_by_pattern_goes_direct_and_its_failure_says_so() -> None:
    report = merged("private_pattern_goes_direct")
    direct = {row.route.path: row for row in report.rows if row.route.kind == "direct"}
    assert set(direct) == {"golang.org/x/mod", "rsc.io/quote/v3", "golang.org/x/text"}
    assert direct["rsc.io/quote/v3"].route.noproxy == "GOPRIVATE=rsc.io/quote"
    assert direct["golang.org/x/mod"].outcome.reason == "DNSResolutionFailed"
    assert "GOPRIVATE covers it" in direct["golang.org/x/mod"].outcome.remedy


def test_a_log_cut_short_is_a_failure_of_the_job_not_a_success() -> None:
    log = (FIXTURES / "ok" / "job.log").read_text()
    cut = log[: log.index("@@gobuild-preflight build ")]
    folder = FIXTURES / "ok"
    report = merge(
        parse_go_mod((folder / "go.mod").read_text()),
        parse_go_sum((folder / "go.sum").read_text()),
        parse_output(cut),
        env=GoEnv(),
        credentials=Credentials(),
    )
    assert report.failed
    assert [(c.name, c.outcome.status) for c in report.checks] == [
        ("job", FAILED),
        ("project", "not checked"),
    ]


def test_userinfo_in_a_proxy_url_never_reaches_the_report() -> None:
    log = (
        (FIXTURES / "wrong_proxy" / "job.log")
        .read_text()
        .replace("http://127.0.0.1", "http://user:s3cret@127.0.0.1")
    )
    folder = FIXTURES / "wrong_proxy"
    report = merge(
        parse_go_mod((folder / "go.mod").read_text()),
        parse_go_sum((folder / "go.sum").read_text()),
        parse_output(log),
        env=GoEnv(),
        credentials=Credentials(),
    )
    assert "s3cret" in log
    assert "s3cret" not in json.dumps(report.to_dict())


# --- the Job --------------------------------------------------------------------------------------


def test_the_job_opts_into_the_config_and_owns_its_config_map() -> None:
    job, config_map = jobs.objects(
        name="gobuild-preflight-abc",
        namespace="builds",
        config="corp",
        image="golang:1.26",
        go_mod="module x\n",
        go_sum="",
        modules=["rsc.io/quote@v1.5.2"],
        timeout_seconds=120,
    )
    assert job["metadata"]["annotations"] == {"gobuild.dev/config": "corp"}
    assert job["spec"]["template"]["metadata"]["annotations"] == {"gobuild.dev/config": "corp"}
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "golang:1.26"
    assert not any("env" in c for c in pod["containers"])  # the webhook's settings only
    assert config_map["data"]["modules"] == "rsc.io/quote@v1.5.2\n"
    owned = jobs.owned_by(config_map, {**job, "metadata": {**job["metadata"], "uid": "u-1"}})
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "gobuild-preflight-abc", "uid": "u-1"}
    ]


def test_a_go_sum_lacking_both_hashes_of_a_module_names_both_lines() -> None:
    report = merged("go_sum_lacks_both_hashes")
    [row] = [row for row in report.rows if row.outcome.status == FAILED]
    assert row.route.path == "rsc.io/sampler"
    assert row.outcome.reason == "MissingGoSum"
    lines = row.outcome.evidence.removeprefix("go.sum lacks: ").split("; ")
    assert [line.split()[:2] for line in lines] == [
        ["rsc.io/sampler", "v1.3.0"],
        ["rsc.io/sampler", "v1.3.0/go.mod"],
    ]


def test_a_wrong_hash_in_go_sum_is_a_checksum_mismatch_of_that_module_and_of_the_project() -> None:
    report = merged("go_sum_wrong_hash")
    [row] = [row for row in report.rows if row.outcome.status == FAILED]
    assert (row.route.path, row.outcome.reason) == ("rsc.io/sampler", "ChecksumMismatch")
    assert row.outcome.evidence.startswith("go.sum has h1:AAAA")
    project = next(c for c in report.checks if c.name == "project")
    assert project.outcome.reason == "ChecksumMismatch"  # what go itself says in the project


#: What the kubelet said (FailedMount) for the preflight Pod of a config whose netrc Secret does not
#: exist, as tests/e2e/test_preflight.py saw it on the node.
FAILED_MOUNT = 'MountVolume.SetUp failed for volume "gobuild-netrc" : secret "absent-tokens" not found'


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (FAILED_MOUNT, "spec.privateModules.netrc.secretName"),
        (FAILED_MOUNT.replace("gobuild-netrc", "gobuild-ssh"), "spec.privateModules.ssh.secretName"),
        ("ErrImagePull: rpc error: code = NotFound", "--image"),
    ],
    ids=["netrc", "ssh", "image"],
)
def test_a_pod_that_never_starts_names_what_in_the_config_to_fix(message: str, field: str) -> None:
    folder = FIXTURES / "ok"
    planned = plan(
        parse_go_mod((folder / "go.mod").read_text()),
        parse_go_sum((folder / "go.sum").read_text()),
        env=GoEnv(),
        credentials=Credentials(),
    )
    report = not_started(planned, message)
    assert report.failed
    [check] = report.checks
    assert (check.name, check.outcome.evidence) == ("pod", message)
    assert field in check.outcome.remedy
    assert {row.outcome.status for row in report.rows} == {"not checked"}


SECRETLIB = "127.0.0.1/srv/git/team/secretlib.git"


def test_a_private_module_over_ssh_downloads_on_the_direct_route_with_the_ssh_credential() -> None:
    report = merged("ssh_ok", credentials=Credentials(ssh_hosts=("127.0.0.1:2222",), ssh_secret="git-ssh"))
    assert not report.failed
    row = next(row for row in report.rows if row.route.path == SECRETLIB)
    assert (row.route.kind, row.route.noproxy, row.route.credential, row.outcome.status) == (
        "direct",
        "GOPRIVATE=127.0.0.1",
        "ssh 127.0.0.1:2222",
        OK,
    )


def test_an_unknown_host_key_is_read_from_git_where_go_says_only_no_secure_protocol() -> None:
    report = merged("ssh_unknown_host_key")
    [row] = [row for row in report.rows if row.outcome.status == FAILED]
    assert row.route.path == SECRETLIB
    assert row.outcome.reason == "HostKeyVerificationFailed"
    assert "knownHostsKey" in row.outcome.remedy
    # the project stops at that module; go's own words there say less, so it says the same
    project = next(c for c in report.checks if c.name == "project")
    assert project.outcome == row.outcome


@pytest.mark.parametrize(
    ("path", "url"),
    [
        (SECRETLIB, f"https://{SECRETLIB}"),
        ("git.corp.example/team/lib.git/v2", "https://git.corp.example/team/lib.git"),
        ("github.com/team/lib", None),
        (".git/x", None),
        ("host.example/.git", None),
    ],
)
def test_the_repository_git_is_asked_is_the_path_up_to_its_vcs_qualifier(path: str, url: str | None) -> None:
    assert repository(path) == url


def test_only_modules_on_the_direct_route_with_a_qualifier_are_probed_with_git() -> None:
    gomod = parse_go_mod((FIXTURES / "ssh_ok" / "go.mod").read_text())
    planned = plan(gomod, parse_go_sum(""), env=GoEnv(goprivate="127.0.0.1"), credentials=Credentials())
    assert git_probes(planned) == [(f"{SECRETLIB}@v1.0.0", f"https://{SECRETLIB}")]
