"""`preview -f FILE --config ./gbc.yaml`: the webhook's answer, offline, for each kind and each input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from gobuild_operator.__main__ import kubectl_plugin
from gobuild_operator.__main__ import main as module_main
from gobuild_operator.cli.preview import main

CONFIG = {
    "apiVersion": "gobuild.dev/v1alpha1",
    "kind": "GoBuildConfig",
    "metadata": {"name": "corp"},
    "spec": {
        "goproxy": ["https://goproxy.corp.example", "direct"],
        "goflags": ["-mod=mod"],
        "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
    },
}
OPTED_IN = {"gobuild.dev/config": "corp"}


def _container(**extra: Any) -> dict[str, Any]:
    return {"name": "build", "image": "golang:1.26", "command": ["go", "build", "./..."], **extra}


def _workload(
    kind: str, name: str = "build", annotations: dict[str, str] | None = None, **container: Any
) -> dict[str, Any]:
    annotations = dict(OPTED_IN if annotations is None else annotations)
    pod_spec = {"restartPolicy": "Never", "containers": [_container(**container)]}
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": pod_spec,
        }
    template = {"metadata": {"annotations": annotations}, "spec": pod_spec}
    if kind == "Job":
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {"template": template},
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}},
    }


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj
    if obj["kind"] == "Job":
        return dict(obj["spec"]["template"])
    return dict(obj["spec"]["jobTemplate"]["spec"]["template"])


def _env(obj: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in _template(obj)["spec"]["containers"][0].get("env", [])}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gbc.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def _write(tmp_path: Path, *objects: Any, text: str | None = None) -> Path:
    path = tmp_path / "workload.yaml"
    path.write_text(text if text is not None else yaml.safe_dump_all(objects))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    code = main(list(argv), stdin=io.StringIO(stdin) if stdin is not None else None)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", ["Pod", "Job", "CronJob"])
def test_an_opted_in_workload_is_printed_as_the_webhook_admits_it(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, _workload(kind))), "--config", str(config))
    assert code == 0
    [shown] = list(yaml.safe_load_all(out))
    assert shown["kind"] == kind
    assert _template(shown)["metadata"]["annotations"]["gobuild.dev/injected"] == "corp"
    assert _env(shown)["GOPROXY"] == "https://goproxy.corp.example,direct"
    assert [v["name"] for v in _template(shown)["spec"]["volumes"]] == ["gobuild-ssh"]
    assert "injected with GoBuildConfig corp (annotation gobuild.dev/config=corp)" in err
    assert "gobuild.dev/injected" not in err  # manifests on stdout only


@pytest.mark.parametrize(
    ("annotations", "namespace", "why"),
    [
        pytest.param({}, "team", "not opted in", id="not-opted-in"),
        pytest.param(
            {"gobuild.dev/inject": "false"}, "team", "annotation gobuild.dev/inject=false", id="opted-out"
        ),
        pytest.param(
            {"gobuild.dev/config": "other"},
            "team",
            "annotation gobuild.dev/config=other: not found",
            id="other-config",
        ),
        pytest.param(
            OPTED_IN, "kube-system", "namespace kube-system is a system namespace", id="system-namespace"
        ),
        pytest.param(
            {**OPTED_IN, "gobuild.dev/injected": "corp"},
            "team",
            "already injected with GoBuildConfig corp",
            id="already-injected",
        ),
    ],
)
def test_a_workload_the_webhook_leaves_alone_is_printed_unchanged_with_the_reason(
    tmp_path: Path,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    annotations: dict[str, str],
    namespace: str,
    why: str,
) -> None:
    job = _workload("Job", annotations=annotations)
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, job)), "--config", str(config), "-n", namespace)
    assert code == 0
    assert yaml.safe_load(out) == job
    assert f"job.batch/build: not changed: {why}\n" in err


def test_not_found_config_repeats_the_webhooks_warning(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _workload("Job", annotations={"gobuild.dev/config": "other"})
    _, _, err = _run(capsys, "-f", str(_write(tmp_path, job)), "--config", str(config), "-n", "team")
    assert (
        "Warning: gobuild-operator: GoBuildConfig 'other' not found in namespace team; "
        "admitted without Go build settings" in err
    )


def test_multi_document_files_keep_their_order_and_pass_other_kinds_through(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"a": "b"},
    }
    text = "---\n" + yaml.safe_dump_all([_workload("Pod", "one"), configmap, _workload("CronJob", "nightly")])
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, text=text + "---\n")), "--config", str(config))
    assert code == 0
    shown = list(yaml.safe_load_all(out))
    assert [(o["kind"], o["metadata"]["name"]) for o in shown] == [
        ("Pod", "one"),
        ("ConfigMap", "settings"),
        ("CronJob", "nightly"),
    ]
    assert shown[1] == configmap
    assert "GOPROXY" in _env(shown[0])
    assert "GOPROXY" in _env(shown[2])
    assert "configmap/settings: not changed: the webhook handles Pod, Job and CronJob, not ConfigMap" in err
    assert "cronjob.batch/nightly: injected with GoBuildConfig corp" in err


def test_a_list_is_read_item_by_item_and_json_output_is_a_list(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": [_workload("Pod", "a"), _workload("Job", "b")]}
    code, out, _ = _run(capsys, "-f", str(_write(tmp_path, items)), "--config", str(config), "-o", "json")
    assert code == 0
    shown = json.loads(out)
    assert shown["kind"] == "List"
    assert [_env(item)["GOPROXY"] for item in shown["items"]] == ["https://goproxy.corp.example,direct"] * 2


def test_stdin_is_read_with_a_dash(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys, "-f", "-", "--config", str(config), "-o", "json", stdin=json.dumps(_workload("Pod", "piped"))
    )
    assert code == 0
    assert _env(json.loads(out))["GOPRIVATE"] == "git.corp.example"
    assert "pod/piped: injected" in err


@pytest.mark.parametrize("kind", ["Pod", "Job", "CronJob"])
def test_the_patch_applied_to_the_workload_gives_the_printed_object(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    workload = _workload(kind, env=[{"name": "GOFLAGS", "value": "-mod=vendor"}])
    path = _write(tmp_path, workload)
    _, printed, _ = _run(capsys, "-f", str(path), "--config", str(config), "-o", "json")
    code, patch, err = _run(capsys, "-f", str(path), "--config", str(config), "-o", "json", "--patch")
    assert code == 0
    assert jsonpatch.apply_patch(workload, json.loads(patch)) == json.loads(printed)
    assert "skipped variables (the workload's own are kept): GOFLAGS" in err


def test_the_patch_of_a_workload_left_alone_is_empty(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, _workload("Pod", annotations={}))
    code, out, _ = _run(capsys, "-f", str(path), "--config", str(config), "-o", "json", "--patch")
    assert (code, json.loads(out)) == (0, [])


def test_an_image_builder_shows_the_arguments_added_to_its_command_line(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = _workload(
        "Pod",
        "image-build",
        image="moby/buildkit:v0.34.2-rootless",
        command=["buildctl-daemonless.sh"],
        args=["build", "--frontend=dockerfile.v0"],
    )
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, pod)), "--config", str(config))
    assert code == 0
    args = yaml.safe_load(out)["spec"]["containers"][0]["args"]
    assert args[:2] == ["build", "--opt"]
    assert args[-1] == "--frontend=dockerfile.v0"
    assert (
        "pod/image-build: container build: added arguments --opt "
        "build-arg:GOPROXY=https://goproxy.corp.example,direct" in err
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "kind: Pod\nmetadata: {name: a}\n---\nkind: Job\nmetadata: {name: [\n",
            "workload.yaml: document 2 (line 6) is not YAML",
            id="bad-yaml-second-document",
        ),
        pytest.param("- a\n- b\n", "workload.yaml: document 1 is not an object but list", id="not-an-object"),
        pytest.param("metadata: {name: a}\n", "workload.yaml: document 1 has no kind", id="no-kind"),
        pytest.param("", "no objects in", id="empty"),
    ],
)
def test_input_that_is_not_a_workload_is_a_usage_error_naming_the_document(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, text=text)), "--config", str(config))
    assert (code, out) == (2, "")
    assert message in err


def test_a_namespace_flag_that_contradicts_the_workload_is_refused(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = _workload("Pod")
    pod["metadata"]["namespace"] = "team-a"
    code, _, err = _run(capsys, "-f", str(_write(tmp_path, pod)), "--config", str(config), "-n", "team-b")
    assert code == 2
    assert "pod/build is in namespace team-a, not -n team-b" in err


def test_a_config_the_operator_does_not_allow_is_not_injected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = {**CONFIG, "spec": {"env": [{"name": "GOTOOLCHAIN", "value": "local"}]}}
    config = tmp_path / "refused.yaml"
    config.write_text(yaml.safe_dump(refused))
    pod = _workload("Pod")
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, pod)), "--config", str(config))
    assert code == 0
    assert yaml.safe_load(out) == pod
    assert "GoBuildConfig corp is NotAllowed by the operator's default policy: spec.env[0].name" in err


def test_the_module_entry_point_and_the_kubectl_plugin_run_the_same_preview(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(_write(tmp_path, _workload("Job")))
    assert module_main(["preview", "-f", path, "--config", str(config)]) == 0
    by_module = capsys.readouterr()
    assert kubectl_plugin(["preview", "-f", path, "--config", str(config)]) == 0
    assert capsys.readouterr() == by_module
    assert kubectl_plugin(["preview", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: kubectl gobuild preview")
    assert kubectl_plugin([]) == 2
    assert "usage: kubectl gobuild {preview,preflight}" in capsys.readouterr().err


def test_a_config_file_must_be_spelled_as_a_path_and_a_file_is_not_for_the_server(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(_write(tmp_path, _workload("Pod")))
    code, _, err = _run(capsys, "-f", path, "--config", str(config), "--server")
    assert code == 2
    assert "--server previews with the cluster's GoBuildConfigs" in err
    code, _, err = _run(capsys, "-f", path, "--config", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "cannot read config" in err


def test_without_a_config_file_or_a_cluster_it_says_how_to_preview_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, err = _run(capsys, "-f", str(_write(tmp_path, _workload("Pod"))))
    assert (code, out) == (2, "")
    assert err.startswith("python -m gobuild_operator preview: error: cannot reach the cluster: ")
    assert err.endswith("give --config ./FILE to preview offline\n")
