"""Builder-aware injection: builder container in, expected command line out (Kyverno-style tables).

Every row runs the whole mutation (env first, then the builder's arguments) on a Pod with one
container, so what is asserted is what the API server would store. Flag syntax follows the builders'
own parsers: buildctl `--opt build-arg:NAME=VALUE`, `--ssh ID=PATH`, `--secret id=ID,src=PATH`
(cmd/buildctl/build/{opt,ssh,secret}.go); kaniko, buildah and docker/buildx `--build-arg NAME` read
NAME from their environment (kaniko resolveEnvironmentBuildArgs, buildah readBuildArg, buildx
listToMap), buildah and docker/buildx take `--secret id=,src=` and `--ssh default=KEY`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.imagebuilds.arguments import builder_args, image_build_plan
from gobuild_operator.core.imagebuilds.recognition import recognise
from gobuild_operator.core.injection.mutate import Mutation, mutate
from gobuild_operator.core.plan import build_plan

CN: dict[str, Any] = {"goproxy": ["https://goproxy.cn", "direct"], "gosumdb": "sum.golang.google.cn"}
PRIVATE: dict[str, Any] = {
    **CN,
    "privateModules": {
        "ssh": {"secretName": "git-key", "hosts": ["git.corp.example"]},
        "netrc": {"secretName": "netrc"},
    },
    "caBundle": {"configMapName": "corp-ca"},
}
KEY = "/etc/gobuild/ssh/identity"
KNOWN_HOSTS = "/etc/gobuild/ssh/known_hosts"
NETRC = "/etc/gobuild/netrc/.netrc"
CA = "/etc/gobuild/ca/ca.crt"
GO_VALUELESS = ["--build-arg", "GOPROXY", "--build-arg", "GOSUMDB", "--build-arg", "GOPRIVATE"]
CREDENTIAL_FLAGS = [
    "--ssh",
    f"default={KEY}",
    "--secret",
    f"id=known_hosts,src={KNOWN_HOSTS}",
    "--secret",
    f"id=netrc,src={NETRC}",
    "--secret",
    f"id=gobuild-ca,src={CA}",
]
BUILDCTL_CN = [
    "--opt",
    "build-arg:GOPROXY=https://goproxy.cn,direct",
    "--opt",
    "build-arg:GOSUMDB=sum.golang.google.cn",
]
BUILDCTL_PRIVATE = [*BUILDCTL_CN, "--opt", "build-arg:GOPRIVATE=git.corp.example"]
KANIKO = "gcr.io/kaniko-project/executor:v1.23.2"
KANIKO_ARGS = ["--dockerfile=Dockerfile", "--context=dir:///workspace", "--destination=registry.local/app:1"]
BUILDCTL_BUILD = [
    "build",
    "--frontend",
    "dockerfile.v0",
    "--local",
    "context=.",
    "--local",
    "dockerfile=.",
    "--output",
    "type=image,name=registry.local/app:1,push=true",
]


def run(container: dict[str, Any], spec: dict[str, Any], **pod_spec: Any) -> Mutation:
    parsed = parse_spec(spec)
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "b"},
        "spec": {"containers": [container], **pod_spec},
    }
    return mutate(
        obj,
        kind="Pod",
        plan=build_plan(config_name="cfg", spec=parsed),
        override_env=parsed.override_env,
        containers=list(parsed.containers),
    )


def command_line(result: Mutation) -> dict[str, Any]:
    container = result.obj["spec"]["containers"][0]
    return {key: container[key] for key in ("command", "args") if key in container}


def annotation(result: Mutation) -> dict[str, list[str]] | None:
    value = result.obj["metadata"]["annotations"].get("gobuild.dev/build-args")
    return None if value is None else json.loads(value)


# (id, container in, spec, expected command/args out)
TABLE: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "kaniko-entrypoint-args-only",
        {"name": "kaniko", "image": KANIKO, "args": KANIKO_ARGS},
        CN,
        {"args": ["--build-arg", "GOPROXY", "--build-arg", "GOSUMDB", *KANIKO_ARGS]},
    ),
    (
        "kaniko-explicit-command-args-stay-in-args",
        {"name": "kaniko", "image": KANIKO, "command": ["/kaniko/executor"], "args": KANIKO_ARGS},
        CN,
        {
            "command": ["/kaniko/executor"],
            "args": ["--build-arg", "GOPROXY", "--build-arg", "GOSUMDB", *KANIKO_ARGS],
        },
    ),
    (
        "kaniko-everything-in-command",
        {
            "name": "kaniko",
            "image": "registry.local/tools/kaniko:debug",
            "command": ["executor", *KANIKO_ARGS],
        },
        CN,
        {"command": ["executor", "--build-arg", "GOPROXY", "--build-arg", "GOSUMDB", *KANIKO_ARGS]},
    ),
    (
        "kaniko-gets-cache-and-ca-variables-but-no-credentials",
        {"name": "kaniko", "image": KANIKO, "args": KANIKO_ARGS},
        {**PRIVATE, "cache": {"enabled": True, "mode": "SharedVolume", "buildCache": True}},
        {
            "args": [
                *GO_VALUELESS,
                *["--build-arg", "GOMODCACHE", "--build-arg", "GOCACHE"],
                *[
                    "--build-arg",
                    "SSL_CERT_DIR",
                    "--build-arg",
                    "GIT_SSL_CAINFO",
                    "--build-arg",
                    "GIT_SSL_CAPATH",
                ],
                *KANIKO_ARGS,
            ]
        },
    ),
    (
        "buildctl-after-global-flags",
        {
            "name": "build",
            "image": "moby/buildkit:v0.34.2",
            "command": ["buildctl"],
            "args": ["--addr", "tcp://buildkitd:1234", "--debug", *BUILDCTL_BUILD],
        },
        CN,
        {
            "command": ["buildctl"],
            "args": ["--addr", "tcp://buildkitd:1234", "--debug", "build", *BUILDCTL_CN, *BUILDCTL_BUILD[1:]],
        },
    ),
    (
        "buildctl-daemonless-private-modules",
        {
            "name": "build",
            "image": "moby/buildkit:v0.34.2-rootless",
            "command": ["buildctl-daemonless.sh"],
            "args": BUILDCTL_BUILD,
        },
        PRIVATE,
        {
            "command": ["buildctl-daemonless.sh"],
            "args": ["build", *BUILDCTL_PRIVATE, *CREDENTIAL_FLAGS, *BUILDCTL_BUILD[1:]],
        },
    ),
    (
        "buildctl-alias-b-in-command",
        {
            "name": "build",
            "image": "tools:1",
            "command": ["/usr/bin/buildctl", "b", "--frontend=dockerfile.v0"],
        },
        CN,
        {"command": ["/usr/bin/buildctl", "b", *BUILDCTL_CN, "--frontend=dockerfile.v0"]},
    ),
    (
        "buildctl-workload-opts-win",
        {
            "name": "build",
            "image": "moby/buildkit",
            "command": ["buildctl", "build", "--opt", "build-arg:GOPROXY=https://mine.example,direct"],
            "args": [
                "--opt=build-arg:GOSUMDB=off",
                "--secret",
                "id=netrc,src=/mine/.netrc",
                "--ssh",
                "default",
            ],
        },
        PRIVATE,
        {
            "command": [
                "buildctl",
                "build",
                "--opt",
                "build-arg:GOPRIVATE=git.corp.example",
                "--secret",
                f"id=known_hosts,src={KNOWN_HOSTS}",
                "--secret",
                f"id=gobuild-ca,src={CA}",
                "--opt",
                "build-arg:GOPROXY=https://mine.example,direct",
            ],
            "args": [
                "--opt=build-arg:GOSUMDB=off",
                "--secret",
                "id=netrc,src=/mine/.netrc",
                "--ssh",
                "default",
            ],
        },
    ),
    (
        "buildah-bud-after-storage-flags",
        {
            "name": "build",
            "image": "quay.io/buildah/stable:v1.28",
            "command": [
                "buildah",
                "--storage-driver",
                "vfs",
                "bud",
                "--isolation",
                "chroot",
                "-t",
                "app",
                ".",
            ],
        },
        PRIVATE,
        {
            "command": [
                "buildah",
                "--storage-driver",
                "vfs",
                "bud",
                *GO_VALUELESS,
                *CREDENTIAL_FLAGS,
                *["--isolation", "chroot", "-t", "app", "."],
            ]
        },
    ),
    (
        "buildah-build-in-args-of-an-image-without-entrypoint",
        {
            "name": "build",
            "image": "quay.io/buildah/stable",
            "args": ["buildah", "build", "-f", "Containerfile", "."],
        },
        CN,
        {
            "args": [
                "buildah",
                "build",
                "--build-arg",
                "GOPROXY",
                "--build-arg",
                "GOSUMDB",
                "-f",
                "Containerfile",
                ".",
            ]
        },
    ),
    (
        "buildah-build-arg-file-stops-build-args-not-secrets",
        {
            "name": "build",
            "image": "quay.io/buildah/stable",
            "command": ["buildah", "build", "--build-arg-file", "argfile.conf", "."],
        },
        PRIVATE,
        {"command": ["buildah", "build", *CREDENTIAL_FLAGS, "--build-arg-file", "argfile.conf", "."]},
    ),
    (
        "docker-build",
        {"name": "build", "image": "docker:28-cli", "command": ["docker", "build", "-t", "app", "."]},
        CN,
        {
            "command": [
                "docker",
                "build",
                "--build-arg",
                "GOPROXY",
                "--build-arg",
                "GOSUMDB",
                "-t",
                "app",
                ".",
            ]
        },
    ),
    (
        "docker-host-flag-then-buildx-builder-then-build",
        {
            "name": "build",
            "image": "docker:28-cli",
            "command": [
                "docker",
                "-H",
                "tcp://dind:2375",
                "buildx",
                "--builder",
                "k8s",
                "build",
                "--push",
                ".",
            ],
        },
        PRIVATE,
        {
            "command": [
                *["docker", "-H", "tcp://dind:2375", "buildx", "--builder", "k8s", "build"],
                *GO_VALUELESS,
                *CREDENTIAL_FLAGS,
                *["--push", "."],
            ]
        },
    ),
    (
        "docker-image-build",
        {"name": "build", "image": "docker:cli", "command": ["docker", "image", "build", "."]},
        CN,
        {"command": ["docker", "image", "build", "--build-arg", "GOPROXY", "--build-arg", "GOSUMDB", "."]},
    ),
    (
        "docker-workload-build-args-and-secrets-win",
        {
            "name": "build",
            "image": "docker:cli",
            "command": ["docker", "buildx", "build"],
            "args": [
                "--build-arg",
                "GOPROXY=https://mine.example",
                "--build-arg=GOSUMDB",
                "--ssh=default=/mine/key",
                ".",
            ],
        },
        PRIVATE,
        {
            "command": ["docker", "buildx", "build"],
            "args": [
                "--build-arg",
                "GOPRIVATE",
                "--secret",
                f"id=known_hosts,src={KNOWN_HOSTS}",
                "--secret",
                f"id=netrc,src={NETRC}",
                "--secret",
                f"id=gobuild-ca,src={CA}",
                "--build-arg",
                "GOPROXY=https://mine.example",
                "--build-arg=GOSUMDB",
                "--ssh=default=/mine/key",
                ".",
            ],
        },
    ),
    (
        "custom-ids",
        {"name": "build", "image": "docker:cli", "command": ["docker", "build", "."]},
        {
            **PRIVATE,
            "imageBuilds": {
                "sshId": "git",
                "knownHostsSecretId": "hosts",
                "netrcSecretId": "n",
                "caSecretId": "ca",
            },
        },
        {
            "command": [
                "docker",
                "build",
                *GO_VALUELESS,
                *["--ssh", f"git={KEY}", "--secret", f"id=hosts,src={KNOWN_HOSTS}"],
                *["--secret", f"id=n,src={NETRC}", "--secret", f"id=ca,src={CA}"],
                ".",
            ]
        },
    ),
    (
        "proxy-variables-valueless",
        {"name": "build", "image": "docker:cli", "command": ["docker", "build", "."]},
        {"corporateProxy": {"httpsProxy": "http://proxy.corp:3128"}},
        {
            "command": [
                "docker",
                "build",
                *["--build-arg", "GOPROXY", "--build-arg", "HTTPS_PROXY", "--build-arg", "https_proxy"],
                *["--build-arg", "NO_PROXY", "--build-arg", "no_proxy"],
                ".",
            ]
        },
    ),
    (
        "extra-go-env-passes-other-env-does-not",
        {"name": "build", "image": "docker:cli", "command": ["docker", "build", "."]},
        {
            "env": [
                {"name": "CGO_ENABLED", "value": "0"},
                {"name": "GOTOOLCHAIN", "value": "local"},
                {"name": "TZ", "value": "UTC"},
            ]
        },
        {
            "command": [
                "docker",
                "build",
                *["--build-arg", "GOPROXY", "--build-arg", "CGO_ENABLED", "--build-arg", "GOTOOLCHAIN"],
                ".",
            ]
        },
    ),
]


@pytest.mark.parametrize(
    ("container", "spec", "expected"), [pytest.param(*row[1:], id=row[0]) for row in TABLE]
)
def test_builder_table(container: dict[str, Any], spec: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(container)
    result = run(container, spec)
    assert command_line(result) == expected
    assert container == before, "the input must not be modified"
    [(name, added)] = result.build_args
    assert name == container["name"]
    assert annotation(result) == {name: list(added)}
    argv = [*expected.get("command", []), *expected.get("args", [])]
    assert any(argv[i : i + len(added)] == list(added) for i in range(len(argv))), "added as one block"
    assert f"container {name!r} (" in next(w for w in result.warnings if ": added " in w)


@pytest.mark.parametrize(
    ("container", "spec", "expected"), [pytest.param(*row[1:], id=row[0]) for row in TABLE]
)
def test_reinvocation_adds_nothing(
    container: dict[str, Any], spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Run again on the result (marker removed, as when a template is re-created): the same object."""
    first = run(container, spec).obj["spec"]["containers"][0]
    second = run(copy.deepcopy(first), spec)
    assert second.obj["spec"]["containers"][0] == first
    assert annotation(second) is None


@pytest.mark.parametrize(
    ("container", "spec", "expected"), [pytest.param(*row[1:], id=row[0]) for row in TABLE]
)
def test_no_credential_path_or_value_in_a_build_argument(
    container: dict[str, Any], spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    argv = [*expected.get("command", []), *expected.get("args", [])]
    build_args = [
        argv[i + 1] if argv[i] in ("--build-arg", "--opt") else argv[i].split("=", 1)[1]
        for i in range(len(argv))
        if argv[i] in ("--build-arg", "--opt") or argv[i].startswith(("--build-arg=", "--opt="))
    ]
    for value in build_args:
        name = value.removeprefix("build-arg:").partition("=")[0]
        assert name not in {"NETRC", "GIT_SSH_COMMAND"}
        assert not name.startswith("GIT_CONFIG_")
        assert "/etc/gobuild/ssh" not in value
        assert "/etc/gobuild/netrc" not in value
    for index, token in enumerate(argv):
        if KEY in token or NETRC in token:
            assert argv[index - 1] in ("--ssh", "--secret"), token


# --- rows with warnings or without a change ---------------------------------------------------


def test_annotation_lists_exactly_what_was_added() -> None:
    result = run({"name": "build", "image": "docker:cli", "command": ["docker", "build", "."]}, CN)
    assert annotation(result) == {"build": ["--build-arg", "GOPROXY", "--build-arg", "GOSUMDB"]}
    assert (
        "container 'build' (docker build): added --build-arg GOPROXY, GOSUMDB "
        "(gobuild.dev/build-args has them)" in result.warnings
    )
    assert result.build_args == (("build", ("--build-arg", "GOPROXY", "--build-arg", "GOSUMDB")),)


@pytest.mark.parametrize(
    ("container", "kind", "must_add"),
    [
        pytest.param(
            {
                "name": "b",
                "image": "moby/buildkit",
                "command": ["sh", "-c", "buildctl-daemonless.sh build --frontend dockerfile.v0"],
            },
            "buildctl",
            "--opt build-arg:GOPROXY=https://goproxy.cn,direct --opt build-arg:GOSUMDB=sum.golang.google.cn",
            id="sh-c-buildctl",
        ),
        pytest.param(
            {
                "name": "b",
                "image": KANIKO.replace("v1.23.2", "debug"),
                "command": ["/busybox/sh", "-c", "/kaniko/executor --context=. --no-push"],
            },
            "kaniko",
            "--build-arg GOPROXY --build-arg GOSUMDB",
            id="kaniko-debug-shell",
        ),
        pytest.param(
            {
                "name": "b",
                "image": "docker:cli",
                "command": [
                    "/bin/bash",
                    "--noprofile",
                    "-euxc",
                    "docker login r && docker buildx build --build-arg GOPROXY=x .",
                ],
            },
            "docker",
            "--build-arg GOSUMDB",
            id="bash-flags-docker-existing-arg-respected",
        ),
        pytest.param(
            {"name": "b", "image": "quay.io/buildah/stable", "args": ["sh", "-c", "buildah bud -t app ."]},
            "buildah",
            "--build-arg GOPROXY --build-arg GOSUMDB",
            id="args-only-shell-buildah",
        ),
    ],
)
def test_shell_wrapped_builders_are_left_alone_with_what_to_add(
    container: dict[str, Any], kind: str, must_add: str
) -> None:
    result = run(container, CN)
    out = result.obj["spec"]["containers"][0]
    assert {k: out.get(k) for k in ("command", "args")} == {k: container.get(k) for k in ("command", "args")}
    assert annotation(result) is None
    [warning] = [w for w in result.warnings if "through a shell" in w]
    assert f"runs {kind} through a shell" in warning
    assert f"add {must_add} to its {kind} command line" in warning


@pytest.mark.parametrize(
    "container",
    [
        pytest.param(
            {"name": "b", "image": "moby/buildkit:v0.34.2"}, id="buildkitd-image-default-entrypoint"
        ),
        pytest.param(
            {"name": "b", "image": "moby/buildkit", "args": ["--addr", "tcp://0.0.0.0:1234"]},
            id="buildkitd-flags",
        ),
        pytest.param(
            {"name": "b", "image": "moby/buildkit", "command": ["buildctl", "du"]}, id="buildctl-du"
        ),
        pytest.param(
            {"name": "b", "image": "moby/buildkit", "command": ["buildctl", "--addr", "build"]},
            id="flag-value-named-build",
        ),
        pytest.param(
            {"name": "b", "image": "docker:cli", "command": ["docker", "run", "build"]}, id="docker-run"
        ),
        pytest.param(
            {"name": "b", "image": "docker:cli", "command": ["docker", "buildx", "ls"]}, id="buildx-ls"
        ),
        pytest.param(
            {"name": "b", "image": "golang:1.26", "command": ["go", "build", "./..."]}, id="go-build"
        ),
        pytest.param(
            {"name": "b", "image": "registry.local/runner", "command": ["executor", "--context=."]},
            id="executor-not-kaniko",
        ),
        pytest.param(
            {"name": "b", "image": "kaniko.registry.example/team/runner", "args": ["--context=."]},
            id="kaniko-is-only-the-registry",
        ),
        pytest.param({"name": "b", "image": KANIKO, "args": ["warmer"]}, id="kaniko-image-positional"),
        pytest.param(
            {"name": "b", "image": "alpine", "command": ["sh", "-c", "echo build"]},
            id="shell-without-builder",
        ),
        pytest.param(
            {"name": "b", "image": "alpine", "command": ["sh", "script.sh"]}, id="shell-script-file"
        ),
    ],
)
def test_containers_that_do_not_build_are_untouched(container: dict[str, Any]) -> None:
    result = run(container, PRIVATE)
    out = result.obj["spec"]["containers"][0]
    assert {k: out.get(k) for k in ("command", "args")} == {k: container.get(k) for k in ("command", "args")}
    assert annotation(result) is None
    assert not [w for w in result.warnings if "added" in w or "through a shell" in w]


def test_the_warning_names_every_addition_without_values() -> None:
    container = {"name": "b", "image": "moby/buildkit", "command": ["buildctl", "build"]}
    result = run(container, {**PRIVATE, "corporateProxy": {"httpsProxy": "http://proxy.corp:3128"}})
    [warning] = [w for w in result.warnings if ": added " in w]
    assert warning == (
        "container 'b' (buildctl build): added --opt build-arg:GOPROXY, GOSUMDB, GOPRIVATE, HTTPS_PROXY, "
        "https_proxy, NO_PROXY, no_proxy; --ssh default; --secret known_hosts, netrc, gobuild-ca "
        "(gobuild.dev/build-args has them)"
    )
    assert "proxy.corp" not in warning


def test_command_that_is_not_a_list_of_strings_is_never_touched() -> None:
    container = {"name": "b", "image": "docker:cli", "command": ["docker", "build", 3]}
    assert recognise(container) is None
    plan = image_build_plan(parse_spec(CN), env_names=["GOPROXY"])
    assert plan is not None
    assert builder_args(container, plan, mounted=set()).added == ()


def test_image_builds_disabled_injects_env_only() -> None:
    container = {"name": "build", "image": "docker:cli", "command": ["docker", "build", "."]}
    result = run(container, {**CN, "imageBuilds": {"enabled": False}})
    assert command_line(result) == {"command": ["docker", "build", "."]}
    assert annotation(result) is None
    assert {var["name"] for var in result.obj["spec"]["containers"][0]["env"]} == {"GOPROXY", "GOSUMDB"}


def test_buildctl_takes_the_workloads_own_value_when_it_kept_one() -> None:
    container = {
        "name": "b",
        "image": "moby/buildkit",
        "command": ["buildctl", "build"],
        "env": [{"name": "GOPROXY", "value": "off"}],
    }
    result = run(container, CN)
    assert command_line(result)["command"][2:4] == ["--opt", "build-arg:GOPROXY=off"]


def test_buildctl_never_copies_a_value_with_credentials_or_an_unknown_value() -> None:
    container = {
        "name": "b",
        "image": "moby/buildkit",
        "command": ["buildctl", "build"],
        "env": [
            {"name": "GOSUMDB", "valueFrom": {"configMapKeyRef": {"name": "go", "key": "sumdb"}}},
            # The CRD refuses credentials in the config's URLs; the workload's own value wins here.
            {"name": "HTTPS_PROXY", "value": "http://alice:s3cret@proxy.corp:3128"},
        ],
    }
    spec = {**CN, "corporateProxy": {"httpsProxy": "http://proxy.corp:3128"}}
    result = run(container, spec)
    line = " ".join(command_line(result)["command"])
    assert "s3cret" not in line
    assert "HTTPS_PROXY" not in line  # the workload's own value carries credentials
    assert "build-arg:https_proxy=http://proxy.corp:3128" in line  # the config's own has none
    assert "GOSUMDB" not in line
    assert "build-arg:GOPROXY=https://goproxy.cn,direct" in line
    assert "build-arg:NO_PROXY=" in line
    assert not any("s3cret" in warning for warning in result.warnings)
    assert any("HTTPS_PROXY not passed: its value contains credentials" in w for w in result.warnings)
    assert any("GOSUMDB not passed: its value comes from valueFrom" in w for w in result.warnings)


def test_valueless_builders_pass_a_valuefrom_variable_by_name() -> None:
    container = {
        "name": "b",
        "image": "docker:cli",
        "command": ["docker", "build", "."],
        "env": [{"name": "GOSUMDB", "valueFrom": {"configMapKeyRef": {"name": "go", "key": "sumdb"}}}],
    }
    assert command_line(run(container, CN))["command"] == ["docker", "build", *GO_VALUELESS[:4], "."]


@pytest.mark.parametrize(
    ("image", "command"),
    [
        pytest.param("docker:cli", ["docker", "build", "."], id="docker"),
        pytest.param("quay.io/buildah/stable", ["buildah", "bud", "."], id="buildah"),
        pytest.param(KANIKO, None, id="kaniko"),
        pytest.param("moby/buildkit", ["buildctl", "build"], id="buildctl"),
    ],
)
@pytest.mark.parametrize(
    "credentialed",
    [
        pytest.param({"valueFrom": {"secretKeyRef": {"name": "proxy", "key": "url"}}}, id="from-a-secret"),
        pytest.param({"value": "alice:s3cret@proxy.corp:3128"}, id="schemeless-userinfo"),
        pytest.param({"value": "http://alice:s3cret@proxy.corp:3128"}, id="url-userinfo"),
    ],
)
def test_no_builder_gets_a_workloads_credentialed_proxy_as_a_build_argument(
    image: str, command: list[str] | None, credentialed: dict[str, Any]
) -> None:
    """Valueless --build-arg HTTPS_PROXY once handed docker, buildah and kaniko the workload's own
    Secret-backed proxy with its password, kept in every RUN step and the image history."""
    container: dict[str, Any] = {
        "name": "b",
        "image": image,
        "env": [{"name": "HTTPS_PROXY", **credentialed}],
    }
    if command is None:
        container["args"] = KANIKO_ARGS
    else:
        container["command"] = command
    spec = {**CN, "corporateProxy": {"httpsProxy": "http://proxy.corp:3128"}}
    result = run(container, spec)
    words = [*(command_line(result).get("command") or []), *(command_line(result).get("args") or [])]
    assert not any(
        w in ("HTTPS_PROXY", "build-arg:HTTPS_PROXY") or w.startswith("build-arg:HTTPS_PROXY=") for w in words
    )
    assert "s3cret" not in " ".join(words) + json.dumps(annotation(result))
    assert any("HTTPS_PROXY not passed" in w for w in result.warnings)
    assert not any("s3cret" in w for w in result.warnings)


def test_kaniko_warns_that_private_modules_need_the_dockerfile() -> None:
    result = run({"name": "k", "image": KANIKO, "args": KANIKO_ARGS}, PRIVATE)
    assert any("kaniko has no ssh forwarding or build secrets" in w for w in result.warnings)
    assert "--ssh" not in command_line(result)["args"]


def test_legacy_docker_builder_gets_no_secrets() -> None:
    container = {
        "name": "b",
        "image": "docker:cli",
        "command": ["docker", "build", "."],
        "env": [{"name": "DOCKER_BUILDKIT", "value": "0"}],
    }
    result = run(container, PRIVATE)
    assert command_line(result)["command"] == ["docker", "build", *GO_VALUELESS, "."]
    assert any("DOCKER_BUILDKIT=0 selects the legacy builder" in w for w in result.warnings)


def test_credentials_only_where_the_mount_is_there() -> None:
    """The workload owns a volume named gobuild-ssh: no key mounted, so no --ssh either."""
    container = {"name": "b", "image": "docker:cli", "command": ["docker", "build", "."]}
    result = run(container, PRIVATE, volumes=[{"name": "gobuild-ssh", "emptyDir": {}}])
    line = command_line(result)["command"]
    assert "--ssh" not in line
    assert f"id=known_hosts,src={KNOWN_HOSTS}" not in line
    assert f"id=netrc,src={NETRC}" in line


def test_only_selected_containers_are_rewritten_and_the_job_is_annotated_too() -> None:
    builder = {"name": "build", "image": "docker:cli", "command": ["docker", "build", "."]}
    sidecar = {"name": "dind", "image": "docker:dind", "command": ["docker", "build", "."]}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"metadata": {}, "spec": {"containers": [builder, sidecar]}}},
    }
    parsed = parse_spec({**CN, "containers": ["build"]})
    result = mutate(
        job,
        kind="Job",
        plan=build_plan(config_name="cfg", spec=parsed),
        override_env=False,
        containers=["build"],
    )
    build, dind = result.obj["spec"]["template"]["spec"]["containers"]
    assert build["command"] == ["docker", "build", "--build-arg", "GOPROXY", "--build-arg", "GOSUMDB", "."]
    assert dind == sidecar
    expected = '{"build":["--build-arg","GOPROXY","--build-arg","GOSUMDB"]}'
    assert result.obj["metadata"]["annotations"]["gobuild.dev/build-args"] == expected
    assert result.obj["spec"]["template"]["metadata"]["annotations"]["gobuild.dev/build-args"] == expected


def test_the_buildkit_example_gets_what_its_comment_says() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    [config] = [
        doc
        for doc in yaml.safe_load_all((examples / "gobuildconfig-private-ssh.yaml").read_text())
        if doc["kind"] == "GoBuildConfig"
    ]
    job = yaml.safe_load((examples / "job-image-build-buildkit.yaml").read_text())
    spec = parse_spec(config["spec"])
    result = mutate(
        job,
        kind="Job",
        plan=build_plan(config_name="go-private", spec=spec),
        override_env=False,
        containers=[],
    )
    args = result.obj["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:9] == [
        "build",
        "--opt",
        "build-arg:GOPROXY=https://proxy.golang.org,direct",
        "--opt",
        "build-arg:GOPRIVATE=git.corp.example/*,git.corp.example,github.com",
        "--ssh",
        f"default={KEY}",
        "--secret",
        f"id=known_hosts,src={KNOWN_HOSTS}",
    ]
    assert args[9:] == job["spec"]["template"]["spec"]["containers"][0]["args"][1:]
