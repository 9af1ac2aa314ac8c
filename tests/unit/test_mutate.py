"""Mutation tables in the Kyverno style: input object + GoBuildConfig -> expected object."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.injection.mutate import Mutation, mutate
from gobuild_operator.core.plan import build_plan
from support.kubelet import container_environment

GOPROXY = {"name": "GOPROXY", "value": "https://goproxy.cn,direct"}
MARKED = {"annotations": {"gobuild.dev/injected": "cn"}, "labels": {"gobuild.dev/config": "cn"}}
CN: dict[str, Any] = {"goproxy": ["https://goproxy.cn", "direct"]}
SSH: dict[str, Any] = {"privateModules": {"ssh": {"secretName": "key", "hosts": ["git.corp.example"]}}}
CACHE: dict[str, Any] = {"cache": {"enabled": True, "mode": "SharedVolume"}}


def run(
    obj: Any, spec: dict[str, Any], *, kind: str = "Pod", override: bool | None = None, name: str = "cn"
) -> Mutation:
    parsed = parse_spec(spec)
    return mutate(
        obj,
        kind=kind,
        plan=build_plan(config_name=name, spec=parsed),
        override_env=parsed.override_env if override is None else override,
        containers=list(parsed.containers),
    )


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": list(containers), **spec}
    if init is not None:
        pod_spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "build"}, "spec": pod_spec}


def injected(obj: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    expected = copy.deepcopy(obj)
    expected["metadata"].update(copy.deepcopy(MARKED))
    for key, values in metadata.items():
        expected["metadata"].setdefault(key, {}).update(values)
    return expected


def c(name: str = "build", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "golang:1.23", **fields}


FALLBACK = {"terminationMessagePolicy": "FallbackToLogsOnError"}

# (id, input, spec, override_env, expected object, skipped env)
TABLE: list[tuple[str, dict[str, Any], dict[str, Any], bool | None, dict[str, Any], tuple[str, ...]]] = [
    (
        "adds-env-marker-label-and-policy",
        pod(c()),
        CN,
        None,
        injected(pod(c(env=[GOPROXY], **FALLBACK))),
        (),
    ),
    (
        "workload-env-wins-and-is-reported",
        pod(c(env=[{"name": "GOPROXY", "value": "off"}, {"name": "A", "value": "1"}])),
        CN,
        None,
        injected(
            pod(c(env=[{"name": "GOPROXY", "value": "off"}, {"name": "A", "value": "1"}], **FALLBACK)),
            annotations={"gobuild.dev/skipped-env": "GOPROXY"},
        ),
        ("GOPROXY",),
    ),
    (
        "override-replaces-in-place",
        pod(
            c(
                env=[
                    {"name": "A", "value": "1"},
                    {"name": "GOPROXY", "valueFrom": {"configMapKeyRef": {"name": "x"}}},
                ]
            )
        ),
        CN,
        True,
        injected(pod(c(env=[{"name": "A", "value": "1"}, GOPROXY], **FALLBACK))),
        (),
    ),
    (
        "same-value-is-not-a-skip",
        pod(c(env=[GOPROXY])),
        CN,
        None,
        injected(pod(c(env=[GOPROXY], **FALLBACK))),
        (),
    ),
    (
        "api-server-default-file-policy-upgraded",
        pod(c(terminationMessagePolicy="File")),
        CN,
        None,
        injected(pod(c(env=[GOPROXY], **FALLBACK))),
        (),
    ),
    (
        "envfrom-untouched",
        pod(c(envFrom=[{"configMapRef": {"name": "build-env"}}])),
        CN,
        None,
        injected(pod(c(envFrom=[{"configMapRef": {"name": "build-env"}}], env=[GOPROXY], **FALLBACK))),
        (),
    ),
    (
        "init-containers-too",
        pod(c(), init=[c("fetch")]),
        CN,
        None,
        injected(pod(c(env=[GOPROXY], **FALLBACK), init=[c("fetch", env=[GOPROXY], **FALLBACK)])),
        (),
    ),
    (
        "only-named-containers",
        pod(c(), c("sidecar"), init=[c("fetch")]),
        {**CN, "containers": ["build"]},
        None,
        injected(pod(c(env=[GOPROXY], **FALLBACK), c("sidecar"), init=[c("fetch")])),
        (),
    ),
    (
        "null-metadata-maps",
        {"metadata": {"annotations": None, "labels": None}, "spec": {"containers": [c(env=None)]}},
        CN,
        None,
        {"metadata": MARKED, "spec": {"containers": [c(env=[GOPROXY], **FALLBACK)]}},
        (),
    ),
    (
        "no-metadata",
        {"spec": {"containers": [c()]}},
        CN,
        None,
        {"metadata": MARKED, "spec": {"containers": [c(env=[GOPROXY], **FALLBACK)]}},
        (),
    ),
]


@pytest.mark.parametrize(
    ("obj", "spec", "override", "expected", "skipped"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_pod_table(
    obj: dict[str, Any],
    spec: dict[str, Any],
    override: bool | None,
    expected: dict[str, Any],
    skipped: tuple[str, ...],
) -> None:
    before = copy.deepcopy(obj)
    result = run(obj, spec, override=override)
    assert result.obj == expected
    assert result.changed
    assert result.skipped_env == skipped
    assert obj == before, "the input must not be modified"


def test_job_template_is_injected_and_both_are_marked() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "build", "annotations": {"gobuild.dev/config": "cn"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [c()]}}},
    }
    expected = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "build",
            "annotations": {"gobuild.dev/config": "cn", "gobuild.dev/injected": "cn"},
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": MARKED,
                "spec": {"restartPolicy": "Never", "containers": [c(env=[GOPROXY], **FALLBACK)]},
            },
        },
    }
    assert run(job, CN, kind="Job").obj == expected


def test_cronjob_template_is_injected() -> None:
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {"metadata": {"labels": {"role": "build"}}, "spec": {"containers": [c()]}}
                }
            },
        },
    }
    result = run(cronjob, {**CN, "goflags": ["-mod=mod"]}, kind="CronJob")
    template = result.obj["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"] == {
        "labels": {"role": "build", "gobuild.dev/config": "cn"},
        "annotations": {"gobuild.dev/injected": "cn"},
    }
    assert result.obj["metadata"]["annotations"] == {"gobuild.dev/injected": "cn"}
    assert template["spec"]["containers"][0]["env"] == [GOPROXY, {"name": "GOFLAGS", "value": "-mod=mod"}]
    assert result.obj["spec"]["schedule"] == "0 3 * * *"


def test_skipped_env_is_annotated_on_job_and_template() -> None:
    job = {
        "metadata": {},
        "spec": {"template": {"spec": {"containers": [c(env=[{"name": "GOPROXY", "value": "x"}])]}}},
    }
    result = run(job, CN, kind="Job")
    assert result.obj["metadata"]["annotations"]["gobuild.dev/skipped-env"] == "GOPROXY"
    assert result.obj["spec"]["template"]["metadata"]["annotations"]["gobuild.dev/skipped-env"] == "GOPROXY"


def test_skipped_env_names_are_sorted_and_unique_across_containers() -> None:
    mine = [{"name": "GOFLAGS", "value": "-v"}, {"name": "GOPROXY", "value": "off"}]
    result = run(pod(c(env=mine), c("two", env=list(reversed(mine)))), {**CN, "goflags": ["-mod=mod"]})
    assert result.skipped_env == ("GOFLAGS", "GOPROXY")
    assert result.obj["metadata"]["annotations"]["gobuild.dev/skipped-env"] == "GOFLAGS,GOPROXY"


def test_already_injected_is_left_alone() -> None:
    obj = injected(pod(c(env=[GOPROXY], **FALLBACK)))
    result = run(obj, {**CN, "goflags": ["-x"]})
    assert result.obj == obj
    assert not result.changed
    assert result.reason == "already injected"


def test_missing_named_container_is_a_warning() -> None:
    result = run(pod(c()), {**CN, "containers": ["build", "compile"]})
    assert result.changed
    assert result.warnings == ("container 'compile' named in the GoBuildConfig is not in the Pod",)


def test_no_selected_container_leaves_the_object_unchanged() -> None:
    obj = pod(c())
    result = run(obj, {**CN, "containers": ["compile"]})
    assert result.obj == obj
    assert not result.changed
    assert "no selected container" in result.reason


def test_envfrom_is_warned_about() -> None:
    result = run(pod(c(envFrom=[{"secretRef": {"name": "s"}}])), CN)
    assert any("envFrom" in warning for warning in result.warnings)


# --- volumes, mounts and collisions ---------------------------------------------------------


def test_ssh_volume_mount_and_git_config() -> None:
    result = run(pod(c(volumeMounts=[{"name": "src", "mountPath": "/src"}]), volumes=[{"name": "src"}]), SSH)
    spec = result.obj["spec"]
    assert [volume["name"] for volume in spec["volumes"]] == ["src", "gobuild-ssh"]
    container = spec["containers"][0]
    assert container["volumeMounts"] == [
        {"name": "src", "mountPath": "/src"},
        {"name": "gobuild-ssh", "mountPath": "/etc/gobuild/ssh", "readOnly": True},
    ]
    env = {var["name"]: var["value"] for var in container["env"]}
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "url.ssh://git@git.corp.example/.insteadOf"
    assert env["GIT_CONFIG_VALUE_0"] == "https://git.corp.example/"
    assert "GIT_SSH_COMMAND" in env


def test_colliding_volume_name_skips_the_volume_its_mounts_and_its_settings() -> None:
    theirs = {"name": "gobuild-ssh", "emptyDir": {}}
    result = run(pod(c(), volumes=[theirs]), SSH)
    spec = result.obj["spec"]
    assert spec["volumes"] == [theirs]
    container = spec["containers"][0]
    assert "volumeMounts" not in container
    names = {var["name"] for var in container["env"]}
    assert not names & {"GIT_SSH_COMMAND", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0"}
    assert "GOPRIVATE" in names  # settings that need no file still apply
    assert any("volume 'gobuild-ssh' already exists" in warning for warning in result.warnings)


def test_colliding_mount_path_skips_our_mount_and_what_points_into_it() -> None:
    theirs = {"name": "modcache", "mountPath": "/go/pkg/mod/"}
    result = run(pod(c(volumeMounts=[theirs]), c("other")), CACHE)
    first, second = result.obj["spec"]["containers"]
    assert first["volumeMounts"] == [theirs]
    assert "GOMODCACHE" not in {var["name"] for var in first["env"]}
    assert second["volumeMounts"] == [
        {"name": "gobuild-cache", "mountPath": "/go/pkg/mod", "subPath": "gomodcache"}
    ]
    assert {"name": "GOMODCACHE", "value": "/go/pkg/mod"} in second["env"]
    assert any("already mounts /go/pkg/mod" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            [
                {"name": "GIT_CONFIG_COUNT", "value": "2"},
                {"name": "GIT_CONFIG_KEY_0", "value": "core.autocrlf"},
                {"name": "GIT_CONFIG_VALUE_0", "value": "false"},
                {"name": "GIT_CONFIG_KEY_1", "value": "user.name"},
                {"name": "GIT_CONFIG_VALUE_1", "value": "ci"},
            ],
            {
                "GIT_CONFIG_COUNT": "3",
                "GIT_CONFIG_KEY_0": "core.autocrlf",
                "GIT_CONFIG_KEY_1": "user.name",
                "GIT_CONFIG_KEY_2": "url.ssh://git@git.corp.example/.insteadOf",
                "GIT_CONFIG_VALUE_2": "https://git.corp.example/",
            },
            id="appended-after-the-workloads",
        ),
        pytest.param(
            [{"name": "GIT_CONFIG_COUNT", "valueFrom": {"configMapKeyRef": {"name": "git", "key": "count"}}}],
            {"GIT_CONFIG_KEY_0": None},
            id="count-from-elsewhere-cannot-be-extended",
        ),
        pytest.param(
            [{"name": "GIT_CONFIG_COUNT", "value": "many"}],
            {"GIT_CONFIG_KEY_0": None},
            id="count-not-a-number",
        ),
        pytest.param(
            [{"name": "GIT_CONFIG_KEY_0", "value": "a.b"}, {"name": "GIT_CONFIG_VALUE_0", "value": "c"}],
            {"GIT_CONFIG_KEY_0": "a.b", "GIT_CONFIG_COUNT": None},
            id="entries-beyond-count-are-not-overwritten",
        ),
    ],
)
def test_git_config_is_appended_never_overwritten(
    env: list[dict[str, Any]], expected: dict[str, str | None]
) -> None:
    result = run(pod(c(env=env)), SSH)
    container = result.obj["spec"]["containers"][0]
    values = {var["name"]: var.get("value") for var in container["env"]}
    assert {name: values.get(name) for name in expected} == expected
    assert container["env"][: len(env)][1:] == env[1:]
    if expected.get("GIT_CONFIG_KEY_0", "") is None or expected.get("GIT_CONFIG_COUNT", "") is None:
        assert "GIT_CONFIG_COUNT" in result.skipped_env
        assert any("cannot be extended" in warning for warning in result.warnings)


# --- objects that are not understood are admitted unchanged ---------------------------------


@pytest.mark.parametrize(
    ("obj", "kind", "reason"),
    [
        pytest.param([], "Pod", "not a mapping", id="not-a-mapping"),
        pytest.param({"metadata": {}}, "Pod", "no pod spec", id="no-spec"),
        pytest.param({"spec": {"containers": []}}, "Pod", "containers", id="no-containers"),
        pytest.param(
            {"spec": {"containers": {"build": {}}}}, "Pod", "containers", id="containers-not-a-list"
        ),
        pytest.param(
            {"spec": {"containers": [{"image": "x"}]}}, "Pod", "containers", id="container-without-name"
        ),
        pytest.param({"spec": {"containers": [c(env={"A": "1"})]}}, "Pod", "env", id="env-not-a-list"),
        pytest.param(
            {"spec": {"containers": [c(env=[{"value": "1"}])]}}, "Pod", "env", id="env-without-name"
        ),
        pytest.param(
            {"spec": {"containers": [c(volumeMounts=[{"name": "x"}])]}}, "Pod", "volumeMounts", id="mount"
        ),
        pytest.param({"spec": {"containers": [c()], "volumes": "x"}}, "Pod", "volumes", id="volumes"),
        pytest.param(
            {"spec": {"containers": [c()], "initContainers": [1]}}, "Pod", "initContainers", id="init"
        ),
        pytest.param({"metadata": [], "spec": {"containers": [c()]}}, "Pod", "metadata", id="metadata"),
        pytest.param(
            {"metadata": {"labels": {"a": 1}}, "spec": {"containers": [c()]}}, "Pod", "labels", id="labels"
        ),
        pytest.param(
            {"spec": {"template": None}}, "Job", "spec.template has no pod spec", id="job-no-template"
        ),
        pytest.param({"spec": {"containers": [c()]}}, "Deployment", "not handled", id="kind"),
    ],
)
def test_not_understood_objects_are_returned_unchanged(obj: Any, kind: str, reason: str) -> None:
    before = copy.deepcopy(obj)
    result = run(obj, CN, kind=kind)
    assert result.obj == before
    assert not result.changed
    assert reason in result.reason
    assert obj == before


# --- hardening: workload-controlled numbers never decide how much work admission does ------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "count",
    [
        pytest.param("99999999999999999999", id="huge"),
        pytest.param("1000000", id="larger-than-the-entries"),
        pytest.param("²", id="unicode-digit"),
        pytest.param("٣", id="arabic-indic-digit"),
        pytest.param("-1", id="negative"),
    ],
)
def test_hostile_git_config_count_cannot_freeze_admission(count: str) -> None:
    env = [{"name": "GIT_CONFIG_COUNT", "value": count}]
    result = run(pod(c(env=env)), SSH)
    values = {var["name"]: var.get("value") for var in result.obj["spec"]["containers"][0]["env"]}
    assert values["GIT_CONFIG_COUNT"] == count  # the workload's value is kept, never rewritten
    assert "GIT_CONFIG_KEY_0" not in values
    assert "GIT_CONFIG_COUNT" in result.skipped_env
    assert values["GOPROXY"] == "https://proxy.golang.org,direct"  # the rest is still injected


# --- hardening: the kubelet expands nothing the operator injects ---------------------------------

WORKLOAD_SECRET = {"name": "CI_TOKEN", "valueFrom": {"secretKeyRef": {"name": "ci", "key": "token"}}}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("$(CI_TOKEN)", id="reference"),
        pytest.param("https://evil.example/?t=$(CI_TOKEN)", id="reference-in-a-url"),
        pytest.param("$$(CI_TOKEN)", id="escaped-reference"),
        pytest.param("a$$b", id="double-dollar"),
        pytest.param("$$$(CI_TOKEN)", id="triple"),
        pytest.param("costs $5, $HOME stays", id="plain-dollars"),
        pytest.param("ends with $", id="trailing-dollar"),
        pytest.param("$(", id="unclosed"),
    ],
)
def test_injected_values_reach_the_container_literally(value: str) -> None:
    path = "".join(ch for ch in value if ch not in " ,?#")  # what a GOPROXY URL may hold of it
    spec = {
        "goproxy": [f"https://goproxy.corp/{path}", "direct"],
        "env": [{"name": "LEAK", "value": value}],
        **SSH,
    }
    workload = pod(c(env=[WORKLOAD_SECRET, {"name": "CI_TOKEN_COPY", "value": "s3cr3t"}]))
    result = run(workload, spec)
    env = result.obj["spec"]["containers"][0]["env"]
    # The kubelet resolves the Secret first; then it expands each literal value in order.
    seen = container_environment([{"name": "CI_TOKEN", "value": "s3cr3t"}, *env[1:]])
    assert seen["LEAK"] == value
    assert seen["GOPROXY"] == f"https://goproxy.corp/{path},direct"
    assert "s3cr3t" not in seen["LEAK"] + seen["GOPROXY"]
    # Generated values (shell snippets) are injected as they are: they contain neither $( nor $$.
    assert seen["GIT_SSH_COMMAND"] == next(v["value"] for v in env if v["name"] == "GIT_SSH_COMMAND")
    # And a second admission finds everything present.
    assert run(result.obj, spec).obj == result.obj
