"""Image builds: go's errors through BuildKit and buildah output, and builds that ran with other settings.

The logs are recorded from real builds (scripts/record_builder_failures.py: buildctl with buildkitd,
buildah bud) into tests/fixtures/gofailures with the Go settings each build was given. The settings
are what tells "go asked proxy.golang.org because the Dockerfile has no ARG GOPROXY" from "the
cluster's proxy is unreachable": the same log without them is classified by the network failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.core.diagnosis.diagnose import SETTINGS_NOT_PASSED, diagnose
from gobuild_operator.core.diagnosis.routes import IMAGE_BUILD, GoSettings
from gobuild_operator.core.downloads import observe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gofailures"
MANIFEST: dict[str, dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text())["cases"]
BUILDER_CASES = sorted(case for case, entry in MANIFEST.items() if "builder" in entry)
NOW = "2026-01-02T03:04:05Z"


def recorded(case: str) -> str:
    return (FIXTURES / f"{case}.txt").read_text(encoding="utf-8")


def injected(case: str) -> GoSettings:
    settings = GoSettings.from_env(MANIFEST[case]["injected"])
    assert settings is not None
    return settings


def test_builds_of_every_recorded_builder_are_there() -> None:
    builders = {case.split("_", 1)[0] for case in BUILDER_CASES}
    assert builders == {"buildkit", "buildah"}
    reasons = {MANIFEST[case]["reason"] for case in BUILDER_CASES}
    assert {SETTINGS_NOT_PASSED, "ProxyUnreachable", "ModuleNotFound"} <= reasons


@pytest.mark.parametrize("case", BUILDER_CASES)
def test_a_recorded_build_failure_names_go_s_own_line(case: str) -> None:
    got = diagnose(recorded(case), settings=injected(case))
    assert got.reason == MANIFEST[case]["reason"], got.evidence
    assert got.evidence.startswith("go: "), "the builder's step prefix is not part of the evidence"


@pytest.mark.parametrize(
    ("case", "without_settings"),
    [
        pytest.param("buildkit_goproxy_not_passed", "DNSResolutionFailed", id="buildkit-goproxy"),
        pytest.param("buildah_goproxy_not_passed", "DNSResolutionFailed", id="buildah-goproxy"),
        pytest.param("buildkit_goprivate_not_passed", "ModuleNotFound", id="buildkit-goprivate"),
        pytest.param("buildah_goprivate_not_passed", "ModuleNotFound", id="buildah-goprivate"),
    ],
)
def test_without_the_injected_settings_the_consequence_is_all_a_log_shows(
    case: str, without_settings: str
) -> None:
    assert diagnose(recorded(case)).reason == without_settings
    assert diagnose(recorded(case), settings=injected(case)).reason == SETTINGS_NOT_PASSED


def test_the_remedy_says_which_args_the_dockerfile_must_declare() -> None:
    remedy = diagnose(
        recorded("buildkit_goproxy_not_passed"), settings=injected("buildkit_goproxy_not_passed")
    )
    assert remedy.remedy.startswith("Build change:")
    assert "`ARG GOPROXY GOSUMDB GOFLAGS`" in remedy.remedy, "exactly the settings the build was given"
    assert "python -m gobuild_operator check" in remedy.remedy


def test_settings_that_name_go_s_default_proxy_see_no_mismatch() -> None:
    """A config that injects proxy.golang.org cannot tell a missing ARG from a working one."""
    log = recorded("buildkit_goproxy_not_passed")
    settings = GoSettings(goproxy="https://proxy.golang.org,direct")
    assert diagnose(log, settings=settings).reason == "DNSResolutionFailed"


GET = 'go: example.com/x@v1.0.0: Get "{url}": dial tcp: lookup {host} on 10.96.0.10:53: no such host'


def get(url: str) -> str:
    from urllib.parse import urlsplit

    return GET.format(url=url, host=urlsplit(url).hostname)


@pytest.mark.parametrize(
    ("log", "settings", "reason"),
    [
        pytest.param(
            get("https://proxy.golang.org/example.com/x/@v/v1.0.0.mod"),
            GoSettings(goproxy="https://goproxy.corp.example|direct"),
            SETTINGS_NOT_PASSED,
            id="default-proxy-instead-of-the-configured-one",
        ),
        pytest.param(
            get("https://proxy.golang.org/example.com/x/@v/v1.0.0.mod"),
            GoSettings(goproxy="direct"),
            SETTINGS_NOT_PASSED,
            id="any-proxy-when-the-config-says-direct",
        ),
        pytest.param(
            get("https://goproxy.corp.example:443/example.com/x/@v/list"),
            GoSettings(goproxy="goproxy.corp.example"),
            "DNSResolutionFailed",
            id="scheme-less-entry-and-default-port-are-the-same-proxy",
        ),
        pytest.param(
            get("https://goproxy.corp.example/example.com/x/@latest"),
            GoSettings(goproxy="https://user:token@goproxy.corp.example,direct"),
            "DNSResolutionFailed",
            id="userinfo-is-not-part-of-the-host",
        ),
        pytest.param(
            get("https://mirror.corp.example/go/github.com/!azure/sdk/@v/v1.0.0.info"),
            GoSettings(goproxy="https://mirror.corp.example/go", goprivate="github.com/Azure"),
            SETTINGS_NOT_PASSED,
            id="private-module-asked-of-the-proxy-case-decoded",
        ),
        pytest.param(
            get("https://mirror.corp.example/go/github.com/azure-public/x/@v/v1.0.0.info"),
            GoSettings(goproxy="https://mirror.corp.example/go", goprivate="github.com/Azure"),
            "DNSResolutionFailed",
            id="pattern-matches-whole-path-elements",
        ),
        pytest.param(
            get("https://mirror.corp.example/git.corp.example/team/lib/@v/v1.0.0.info"),
            GoSettings(goproxy="https://mirror.corp.example", goprivate="*.corp.example", gonoproxy="none"),
            "DNSResolutionFailed",
            id="gonoproxy-overrides-goprivate-for-proxies",
        ),
        pytest.param(
            "go: verifying example.com/x@v1.0.0: example.com/x@v1.0.0: reading "
            "https://sum.golang.org/lookup/example.com/x@v1.0.0: 404 Not Found",
            GoSettings(goproxy="https://goproxy.corp.example", gosumdb="off"),
            SETTINGS_NOT_PASSED,
            id="checksum-database-asked-although-off",
        ),
        pytest.param(
            "go: verifying example.com/x@v1.0.0: example.com/x@v1.0.0: reading "
            "https://sum.golang.org/lookup/example.com/x@v1.0.0: 404 Not Found",
            GoSettings(goproxy="https://goproxy.corp.example"),
            "SumDBModuleNotFound",
            id="checksum-database-unset-is-go-s-default",
        ),
        pytest.param(
            "go: verifying example.com/x@v1.0.0: example.com/x@v1.0.0: reading "
            "https://goproxy.cn/sumdb/sum.golang.org/lookup/example.com/x@v1.0.0: 404 Not Found",
            GoSettings(
                goproxy="https://goproxy.cn", gosumdb="sum.golang.org https://goproxy.cn/sumdb/sum.golang.org"
            ),
            "SumDBModuleNotFound",
            id="checksum-database-through-the-configured-proxy",
        ),
        pytest.param(
            "go: example.com/x@v1.0.0: reading https://athens.corp.example/example.com/x/@v/v1.0.0.info: 500 "
            "Internal Server Error\n\tserver response: "
            'Get "https://proxy.golang.org/example.com/x/@v/v1.0.0.info": '
            "dial tcp 142.250.74.113:443: i/o timeout",
            GoSettings(goproxy="https://athens.corp.example"),
            "ProxyServerError",
            id="the-proxy-s-own-upstream-is-not-this-build-s",
        ),
        pytest.param(
            "go: writing /go/pkg/mod/cache/download/x.zip: no space left on device\n"
            + get("https://proxy.golang.org/example.com/x/@v/v1.0.0.mod"),
            GoSettings(goproxy="https://goproxy.corp.example"),
            "DiskFull",
            id="a-full-disk-still-comes-first",
        ),
        pytest.param(
            "Cloning into 'app'...\nfatal: unable to access 'https://git.corp.example/lookup/app.git/': "
            "Could not resolve host: git.corp.example",
            GoSettings(goproxy="https://goproxy.corp.example"),
            "DNSResolutionFailed",
            id="a-git-url-is-not-a-proxy-request",
        ),
    ],
)
def test_settings_comparison(log: str, settings: GoSettings, reason: str) -> None:
    assert diagnose(log, settings=settings, workload=IMAGE_BUILD).reason == reason


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"GOPROXY": "https://a|direct", "GOSUMDB": "off"}, GoSettings("https://a|direct", "off"), id="set"
        ),
        pytest.param({"GOSUMDB": "off"}, None, id="no-goproxy-nothing-to-compare"),
        pytest.param({"GOPROXY": "  "}, None, id="blank"),
    ],
)
def test_settings_from_an_environment(env: dict[str, str], expected: GoSettings | None) -> None:
    assert GoSettings.from_env(env) == expected


# --- the operator: a failed build Pod is compared with what its container was given ----------------


def failed_pod(message: str, env: list[dict[str, Any]], args: list[str] | None = None) -> dict[str, Any]:
    build: dict[str, Any] = {"name": "build", "image": "moby/buildkit", "env": env}
    if args is not None:
        builder = "buildah" if args[:1] == ["bud"] else "buildctl-daemonless.sh"
        build |= {"command": [builder], "args": args}
    return {
        "metadata": {"name": "image-build", "uid": "u1", "annotations": {"gobuild.dev/injected": "corp"}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "base-images", "image": "layouts"}],
            "containers": [build],
        },
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "build", "state": {"terminated": {"exitCode": 1, "message": message}}}
            ],
        },
    }


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        pytest.param(
            [{"name": "GOPROXY", "value": "http://goproxy.corp.invalid:8080"}],
            SETTINGS_NOT_PASSED,
            id="injected-goproxy",
        ),
        pytest.param(
            [{"name": "GOPROXY", "valueFrom": {"configMapKeyRef": {"name": "go", "key": "proxy"}}}],
            "DNSResolutionFailed",
            id="value-from-cannot-be-compared",
        ),
        pytest.param([], "DNSResolutionFailed", id="no-settings"),
    ],
)
def test_a_failed_build_pod_is_compared_with_its_container_s_settings(
    env: list[dict[str, Any]], reason: str
) -> None:
    build = ["build", "--frontend=dockerfile.v0"]
    obs = observe.observe(failed_pod(recorded("buildkit_goproxy_not_passed"), env, build), known=0, now=NOW)
    assert obs is not None
    assert obs.failure is not None
    assert (obs.failure.container, obs.failure.reason) == ("build", reason)
    assert obs.failure.host == "proxy.golang.org", "the host go asked is named"
    assert "lookup proxy.golang.org" not in str(obs.failure.model_dump()), (
        "the evidence line stays out of status"
    )


def test_a_container_that_runs_go_itself_is_not_told_to_declare_args() -> None:
    # go reads the injected env directly; naming another proxy means the workload chose it.
    env = [{"name": "GOPROXY", "value": "http://goproxy.corp.invalid:8080"}]
    obs = observe.observe(failed_pod(recorded("buildkit_goproxy_not_passed"), env), known=0, now=NOW)
    assert obs is not None
    assert obs.failure is not None
    assert obs.failure.reason != SETTINGS_NOT_PASSED


INJECTED_ENV = [{"name": "GOPROXY", "value": "http://goproxy.corp.invalid:8080"}]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            [
                "build",
                "--opt",
                "build-arg:GOPROXY=http://goproxy.corp.invalid:8080",
                "--frontend=dockerfile.v0",
            ],
            "http://goproxy.corp.invalid:8080",
            id="buildctl-injected-value",
        ),
        pytest.param(
            ["build", "--opt=build-arg:GOPROXY=https://proxy.golang.org,direct", "--frontend=dockerfile.v0"],
            "https://proxy.golang.org,direct",
            id="the-workload-s-own-build-arg-wins-as-in-the-build",
        ),
        pytest.param(
            ["bud", "--build-arg", "GOPROXY=https://mirror.corp.example", "--build-arg", "GOFLAGS", "."],
            "https://mirror.corp.example",
            id="buildah-with-a-value",
        ),
        pytest.param(
            ["bud", "--build-arg=GOPROXY", "--opt", "other:x=y", "."],
            "http://goproxy.corp.invalid:8080",
            id="valueless-reads-the-environment",
        ),
    ],
)
def test_the_settings_a_build_got_include_its_build_arguments(args: list[str], expected: str) -> None:
    pod = failed_pod("", INJECTED_ENV, args)
    settings = observe.container_settings(pod, "build")
    assert settings is not None
    assert settings.goproxy == expected


def test_a_workload_that_passes_go_s_default_itself_is_not_blamed_on_its_dockerfile() -> None:
    args = ["build", "--opt=build-arg:GOPROXY=https://proxy.golang.org,direct", "--frontend=dockerfile.v0"]
    obs = observe.observe(
        failed_pod(recorded("buildkit_goproxy_not_passed"), INJECTED_ENV, args), known=0, now=NOW
    )
    assert obs is not None
    assert obs.failure is not None
    assert obs.failure.reason == "DNSResolutionFailed"
