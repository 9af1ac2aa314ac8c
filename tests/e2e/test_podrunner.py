"""The pod runner behaves like a kubelet for what a Go build in a mutated Pod relies on.

If these fail, an e2e test of the operator could pass here and fail on a real node (or the
reverse), so each asserts something a user would see on a node: env resolution, who the process
is, what a Secret volume file looks like to root and to uid 1000, fsGroup, shared claims.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from .modules import ModuleSet
from .podrunner import (
    InitContainerFailed,
    PodRunnerError,
    PodSandbox,
    expand,
    golang_image,
    run_container,
)
from .servers import GoProxyServer, HttpsGitServer, PrivateRepos, SshGitServer

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sandbox")]

KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot really a key\n-----END OPENSSH PRIVATE KEY-----\n"


def pod(
    *,
    command: list[str] | None = None,
    pod_sc: Mapping[str, Any] | None = None,
    container_sc: Mapping[str, Any] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    env: list[dict[str, Any]] | None = None,
    env_from: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    **container: Any,
) -> dict[str, Any]:
    """A Pod as the API server would store it, with one container named "build"."""
    build: dict[str, Any] = {"name": "build", "image": "golang:1.26", **container}
    for key, value in (
        ("command", command),
        ("securityContext", container_sc),
        ("volumeMounts", mounts),
        ("env", env),
        ("envFrom", env_from),
    ):
        if value is not None:
            build[key] = value
    spec: dict[str, Any] = {"containers": [build], "volumes": volumes or []}
    if pod_sc is not None:
        spec["securityContext"] = pod_sc
    if init is not None:
        spec["initContainers"] = init
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "build-7f9c", "namespace": "team-a", "labels": {"app": "ci"}},
        "spec": spec,
    }


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def env_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


# ------------------------------------------------------------------------------------------ env


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$(A)/bin", {"A": "/go"}, "/go/bin"),
        ("$(MISSING)", {}, "$(MISSING)"),
        ("$$(A)", {"A": "x"}, "$(A)"),
        ("$$", {}, "$"),
        ("a$b", {"b": "no"}, "a$b"),
        ("$(A", {"A": "x"}, "$(A"),
        ("$(A)$(B)", {"A": "1", "B": "2"}, "12"),
        ("end$", {}, "end$"),
    ],
    ids=[
        "defined",
        "undefined-kept",
        "escaped",
        "double-dollar",
        "bare-dollar",
        "unclosed",
        "adjacent",
        "trailing",
    ],
)
def test_expand_matches_kubernetes(text: str, env: dict[str, str], expected: str) -> None:
    assert expand(text, env) == expected


@pytest.mark.parametrize(
    ("resources", "ref", "expected"),
    [
        ({"limits": {"cpu": "1500m"}}, {"resource": "limits.cpu"}, "2"),
        ({"requests": {"cpu": "250m"}}, {"resource": "requests.cpu", "divisor": "1m"}, "250"),
        ({"limits": {"memory": "128Mi"}}, {"resource": "limits.memory", "divisor": "1Mi"}, "128"),
        ({"limits": {"memory": "129e6"}}, {"resource": "limits.memory", "divisor": "1M"}, "129"),
        ({}, {"resource": "requests.memory"}, "0"),
        ({}, {"resource": "limits.cpu"}, str(os.cpu_count())),
    ],
    ids=[
        "cpu-rounds-up",
        "milli-divisor",
        "binary-suffix",
        "exponent",
        "unset-request",
        "unset-limit-is-node",
    ],
)
def test_resource_field_refs(resources: dict[str, Any], ref: dict[str, Any], expected: str) -> None:
    spec = pod(
        command=["true"], resources=resources, env=[{"name": "V", "valueFrom": {"resourceFieldRef": ref}}]
    )
    with PodSandbox(spec) as sandbox:
        assert sandbox.environment("build")["V"] == expected


def test_environment_is_resolved_like_the_kubelet() -> None:
    spec = pod(
        command=["env"],
        env_from=[{"configMapRef": {"name": "settings"}, "prefix": "CM_"}, {"secretRef": {"name": "creds"}}],
        env=[
            {"name": "GOPATH", "value": "/work/go"},  # the container's value beats the image's ENV
            {"name": "GOBIN", "value": "$(GOPATH)/bin"},
            {"name": "LATER", "value": "$(DEFINED_BELOW)"},  # only earlier names expand
            {"name": "DEFINED_BELOW", "value": "x"},
            {"name": "ESCAPED", "value": "$$(GOPATH)"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "EMPTY"},
        ],
        resources={"limits": {"cpu": "1500m"}},
    )
    result = run_container(
        spec,
        container="build",
        secrets={"creds": {"token": b"s3cret", "user": b"bot"}},
        config_maps={"settings": {"mode": "fast", "level": "2"}},
    )
    env = env_of(result)
    assert {k: env[k] for k in ("CM_mode", "CM_level", "user", "token")} == {
        "CM_mode": "fast",
        "CM_level": "2",
        "user": "bot",
        "token": "s3cret",
    }
    assert env["GOPATH"] == "/work/go"
    assert env["GOBIN"] == "/work/go/bin"
    assert env["LATER"] == "$(DEFINED_BELOW)"
    assert env["ESCAPED"] == "$(GOPATH)"
    assert env["TOKEN"] == "s3cret"
    assert env["MODE"] == "fast"
    assert "GONE" not in env
    assert env["NS"] == "team-a"
    assert env["APP"] == "ci"
    assert env["CPUS"] == "2"  # 1500m rounded up, as the kubelet does
    assert env["EMPTY"] == ""
    # what the runtime adds: image ENV, HOSTNAME, HOME from the image's passwd
    assert env["PATH"].startswith("/go/bin:/usr/local/go/bin:")
    assert env["GOTOOLCHAIN"] == "local"
    assert env["HOSTNAME"] == "build-7f9c"
    assert env["HOME"] == "/root"


def test_command_and_args_are_expanded_with_the_container_env() -> None:
    spec = pod(
        command=["sh", "-c"],
        args=["echo $(GREETING) $HOME $(UNDEFINED_VAR)"],
        env=[{"name": "GREETING", "value": "hello"}],
    )
    result = run_container(spec, container="build")
    # $(UNDEFINED_VAR) reaches the shell unexpanded, which runs it as a command substitution
    assert result.stdout == "hello /root\n"
    assert "UNDEFINED_VAR: not found" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}],
            "couldn't find key nope",
        ),
        (
            [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}],
            'secret "absent" not found',
        ),
        ([{"name": "T", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}], "configmap"),
    ],
    ids=["missing-key", "missing-secret", "missing-configmap"],
)
def test_unresolvable_env_refuses_to_start(env: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PodRunnerError, match=message):
        run_container(pod(command=["true"], env=env), container="build", secrets={"creds": {"k": b"v"}})


# ------------------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("pod_sc", "container_sc", "image_user", "expected"),
    [
        (None, None, (0, 0), "0 0 0"),
        (None, None, (1000, 1000), "1000 1000 1000"),
        ({"runAsUser": 2000, "runAsGroup": 2000}, None, (1000, 1000), "2000 2000 2000"),
        ({"runAsUser": 2000, "runAsGroup": 2000}, {"runAsUser": 3000}, (0, 0), "3000 2000 2000"),
        ({"runAsUser": 1000}, None, (1000, 1000), "1000 1000 1000"),  # group from the image's passwd
        ({"runAsUser": 4242}, None, (0, 0), "4242 0 0"),  # unknown to the image: group 0
        (
            {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 2000, "supplementalGroups": [3000]},
            None,
            (0, 0),
            "1000 1000 1000 2000 3000",  # the kernel keeps groups sorted
        ),
    ],
    ids=[
        "image-root",
        "image-user",
        "pod",
        "container-beats-pod",
        "group-from-passwd",
        "unknown-uid",
        "groups",
    ],
)
def test_process_identity_follows_security_context(
    pod_sc: dict[str, Any] | None,
    container_sc: dict[str, Any] | None,
    image_user: tuple[int, int],
    expected: str,
) -> None:
    spec = pod(command=sh('echo "$(id -u) $(id -g) $(id -G)"'), pod_sc=pod_sc, container_sc=container_sc)
    result = run_container(spec, container="build", image=golang_image(user=image_user))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_run_as_non_root_refuses_a_root_image() -> None:
    spec = pod(command=["true"], pod_sc={"runAsNonRoot": True})
    with pytest.raises(PodRunnerError, match="runAsNonRoot"):
        run_container(spec, container="build")
    ok = run_container(spec, container="build", image=golang_image(user=(1000, 1000)))
    assert ok.returncode == 0


def test_home_comes_from_the_image_passwd_or_is_slash() -> None:
    script = sh(
        'echo "$HOME"; touch "$HOME/probe" && echo writable; ssh -G example.test >/dev/null; echo "ssh=$?"'
    )
    as_image_user = run_container(
        pod(command=script), container="build", image=golang_image(user=(1000, 1000))
    )
    assert as_image_user.stdout.splitlines() == ["/home/gopher", "writable", "ssh=0"]
    unknown = run_container(pod(command=script, pod_sc={"runAsUser": 4242}), container="build")
    # as on a node: no passwd entry means HOME=/ (not writable) and OpenSSH refuses to start
    assert unknown.stdout.splitlines() == ["/", "ssh=255"]
    assert "No user exists for uid 4242" in unknown.stderr


def test_root_has_the_runtime_default_capabilities(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    (claim / "private").write_text("owned by 1000\n")
    os.chown(claim / "private", 1000, 1000)
    (claim / "private").chmod(0o400)
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mounts = [{"name": "data", "mountPath": "/data"}]
    default = run_container(
        pod(command=["cat", "/data/private"], volumes=volumes, mounts=mounts),
        container="build",
        claims={"data": claim},
    )
    assert default.returncode == 0  # CAP_DAC_OVERRIDE
    dropped = run_container(
        pod(
            command=["cat", "/data/private"],
            volumes=volumes,
            mounts=mounts,
            container_sc={"capabilities": {"drop": ["ALL"]}},
        ),
        container="build",
        claims={"data": claim},
    )
    assert dropped.returncode != 0
    assert "Permission denied" in dropped.stderr


# -------------------------------------------------------------------------------------- volumes

SSH_VOLUME = {
    "name": "gobuild-ssh",
    "secret": {
        "secretName": "git-ssh",
        "defaultMode": 0o400,
        "items": [
            {"key": "ssh-privatekey", "path": "id_ed25519"},
            {"key": "known_hosts", "path": "known_hosts", "mode": 0o444},
        ],
    },
}
SSH_MOUNT = {"name": "gobuild-ssh", "mountPath": "/etc/gobuild/ssh", "readOnly": True}
SSH_SECRET = {"git-ssh": {"ssh-privatekey": KEY, "known_hosts": b"[127.0.0.1]:2222 ssh-ed25519 AAAA\n"}}
STAT = "stat -L -c '%n %u:%g %a' /etc/gobuild/ssh/id_ed25519 /etc/gobuild/ssh/known_hosts"


def test_secret_files_have_kubelet_modes_and_root_ownership() -> None:
    script = sh(f"{STAT}; cat /etc/gobuild/ssh/id_ed25519 >/dev/null && echo key-readable")
    spec = pod(command=script, volumes=[SSH_VOLUME], mounts=[SSH_MOUNT])
    as_root = run_container(spec, container="build", secrets=SSH_SECRET)
    assert as_root.stdout.splitlines() == [
        "/etc/gobuild/ssh/id_ed25519 0:0 400",
        "/etc/gobuild/ssh/known_hosts 0:0 444",
        "key-readable",
    ]
    as_user = run_container(
        spec, container="build", secrets=SSH_SECRET, image=golang_image(user=(1000, 1000))
    )
    assert as_user.stdout.splitlines()[:2] == as_root.stdout.splitlines()[:2]
    assert "key-readable" not in as_user.stdout
    assert "/etc/gobuild/ssh/id_ed25519: Permission denied" in as_user.stderr


def test_fs_group_owns_secret_files_and_adds_group_read() -> None:
    script = sh(
        f"{STAT}; stat -L -c '%a %g' /etc/gobuild/ssh/..data;"
        " cat /etc/gobuild/ssh/id_ed25519 >/dev/null && echo key-readable"
    )
    spec = pod(command=script, volumes=[SSH_VOLUME], mounts=[SSH_MOUNT], pod_sc={"fsGroup": 2000})
    as_user = run_container(
        spec, container="build", secrets=SSH_SECRET, image=golang_image(user=(1000, 1000))
    )
    assert as_user.stdout.splitlines() == [
        "/etc/gobuild/ssh/id_ed25519 0:2000 440",
        "/etc/gobuild/ssh/known_hosts 0:2000 444",
        "2755 2000",
        "key-readable",
    ]


def test_openssh_refuses_a_group_readable_key_owned_by_root(tmp_path: Path) -> None:
    """The trap the SPEC warns about: fsGroup makes the key 0440, which root's ssh will not use."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True, timeout=30
    )
    secrets = {"git-ssh": {"ssh-privatekey": (tmp_path / "k").read_bytes(), "known_hosts": b""}}
    spec = pod(
        command=["ssh-keygen", "-y", "-f", "/etc/gobuild/ssh/id_ed25519"],
        volumes=[SSH_VOLUME],
        mounts=[SSH_MOUNT],
    )
    plain = run_container(spec, container="build", secrets=secrets)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("ssh-ed25519 ")
    spec["spec"]["securityContext"] = {"fsGroup": 2000}
    grouped = run_container(spec, container="build", secrets=secrets)
    assert grouped.returncode != 0
    assert "UNPROTECTED PRIVATE KEY FILE" in grouped.stderr


def test_secret_volume_without_items_uses_default_mode_and_atomic_layout() -> None:
    volume = {"name": "netrc", "secret": {"secretName": "netrc"}}
    mount = {"name": "netrc", "mountPath": "/etc/gobuild/netrc"}
    script = sh("cd /etc/gobuild/netrc && stat -L -c '%n %a' .netrc && readlink .netrc && touch x")
    result = run_container(
        pod(command=script, volumes=[volume], mounts=[mount]),
        container="build",
        secrets={"netrc": {".netrc": b"machine h login u password p\n"}},
    )
    lines = result.stdout.splitlines()
    assert lines == [".netrc 644", "..data/.netrc"]
    assert "Read-only file system" in result.stderr  # Secret volumes are always mounted read-only


def test_config_map_items_nested_paths_and_sub_path() -> None:
    volume = {
        "name": "ca",
        "configMap": {
            "name": "corp-ca",
            "items": [{"key": "ca.crt", "path": "certs/corp.pem", "mode": 0o440}],
        },
    }
    mounts = [
        {"name": "ca", "mountPath": "/etc/gobuild/ca"},
        {"name": "ca", "mountPath": "/usr/local/share/ca-certificates/corp.crt", "subPath": "certs/corp.pem"},
    ]
    script = sh(
        "stat -L -c '%a' /etc/gobuild/ca/certs/corp.pem; cat /usr/local/share/ca-certificates/corp.crt"
    )
    result = run_container(
        pod(command=script, volumes=[volume], mounts=mounts),
        container="build",
        config_maps={"corp-ca": {"ca.crt": "PEM\n", "ignored": "x"}},
    )
    assert result.stdout == "440\nPEM\n", result.stderr


def test_missing_secret_volume_or_key_refuses_to_start() -> None:
    spec = pod(command=["true"], volumes=[SSH_VOLUME], mounts=[SSH_MOUNT])
    with pytest.raises(PodRunnerError, match='secret "git-ssh" not found'):
        run_container(spec, container="build")
    with pytest.raises(PodRunnerError, match="non-existent key 'known_hosts'"):
        run_container(spec, container="build", secrets={"git-ssh": {"ssh-privatekey": KEY}})


def test_claims_persist_between_pods_and_honour_sub_path(tmp_path: Path) -> None:
    claim = tmp_path / "gomodcache-claim"
    volumes = [{"name": "cache", "persistentVolumeClaim": {"claimName": "gomodcache"}}]
    mounts = [
        {"name": "cache", "mountPath": "/go/pkg/mod", "subPath": "mod"},
        {"name": "cache", "mountPath": "/per-pod", "subPathExpr": "pods/$(POD_NAME)"},
    ]
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    writer = pod(
        command=sh("echo cached > /go/pkg/mod/marker && echo mine > /per-pod/file"),
        volumes=volumes,
        mounts=mounts,
        env=env,
    )
    assert run_container(writer, container="build", claims={"gomodcache": claim}).returncode == 0
    assert (claim / "mod" / "marker").read_text() == "cached\n"
    assert (claim / "pods" / "build-7f9c" / "file").read_text() == "mine\n"
    reader = pod(command=["cat", "/go/pkg/mod/marker"], volumes=volumes, mounts=mounts, env=env)
    assert run_container(reader, container="build", claims={"gomodcache": claim}).stdout == "cached\n"


def test_read_only_mounts_and_claims(tmp_path: Path) -> None:
    volumes = [
        {"name": "cache", "persistentVolumeClaim": {"claimName": "c", "readOnly": True}},
        {"name": "scratch", "emptyDir": {}},
    ]
    mounts = [{"name": "cache", "mountPath": "/cache"}, {"name": "scratch", "mountPath": "/scratch"}]
    script = sh("touch /scratch/ok && echo scratch-ok; touch /cache/x")
    result = run_container(
        pod(command=script, volumes=volumes, mounts=mounts), container="build", claims={"c": tmp_path / "c"}
    )
    assert result.stdout == "scratch-ok\n"
    assert "Read-only file system" in result.stderr


def test_empty_dir_is_shared_with_init_containers_but_not_between_pods() -> None:
    volumes = [{"name": "shared", "emptyDir": {}}]
    mounts = [{"name": "shared", "mountPath": "/shared"}]
    init = [
        {
            "name": "prepare",
            "image": "busybox",
            "command": sh("echo from-init > /shared/file"),
            "volumeMounts": mounts,
        }
    ]
    spec = pod(command=["cat", "/shared/file"], volumes=volumes, mounts=mounts, init=init)
    assert run_container(spec, container="build").stdout == "from-init\n"
    skipped = run_container(spec, container="build", run_init_containers=False)
    assert "No such file" in skipped.stderr


def test_failing_init_container_stops_the_pod() -> None:
    init = [{"name": "prepare", "image": "busybox", "command": sh("echo broken >&2; exit 3")}]
    with pytest.raises(InitContainerFailed) as failed:
        run_container(pod(command=["true"], init=init), container="build")
    assert failed.value.container == "prepare"
    assert failed.value.result.returncode == 3
    assert "broken" in failed.value.result.stderr


def test_service_account_volume_of_a_stored_pod_is_projected() -> None:
    """The API server adds kube-api-access-* to every Pod; it must not stop the runner."""
    volume = {
        "name": "kube-api-access-x7k2p",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }
    mount = {
        "name": "kube-api-access-x7k2p",
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        "readOnly": True,
    }
    script = sh(
        "cd /var/run/secrets/kubernetes.io/serviceaccount"
        " && ls && cat namespace && echo && stat -L -c %a token"
    )
    result = run_container(pod(command=script, volumes=[volume], mounts=[mount]), container="build")
    assert result.stdout.split() == ["ca.crt", "namespace", "token", "team-a", "644"], result.stderr


def test_unmodelled_volume_types_are_refused() -> None:
    spec = pod(command=["true"], volumes=[{"name": "host", "hostPath": {"path": "/var/run"}}])
    with pytest.raises(PodRunnerError, match="hostPath"):
        run_container(spec, container="build")


# ---------------------------------------------------------------------------------- filesystem


def test_private_tmp_fresh_image_dirs_and_kubelet_files(tmp_path: Path) -> None:
    marker = f"podrunner-{time.time_ns()}"
    source = tmp_path / "src"
    source.mkdir()
    (source / "go.mod").write_text("module example.test/app\n")
    spec = pod(
        command=sh(f"pwd; cat go.mod; touch /tmp/{marker}; ls -A /root; cat /etc/hosts | tail -1; hostname"),
        workingDir="/src/app",
    )
    spec["spec"]["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": ["git.corp.example"]}]
    result = run_container(spec, container="build", workdir=source)
    assert result.stdout.splitlines() == [
        "/src/app",
        "module example.test/app",
        "127.0.0.1\tgit.corp.example",
        "build-7f9c",
    ], result.stderr
    assert not Path("/tmp", marker).exists()


def test_read_only_root_filesystem_leaves_only_volumes_writable(tmp_path: Path) -> None:
    volumes = [{"name": "cache", "persistentVolumeClaim": {"claimName": "c"}}]
    mounts = [{"name": "cache", "mountPath": "/go/pkg/mod"}]
    script = sh(
        "for d in /tmp /go /root /; do touch $d/probe 2>/dev/null && echo $d-writable; done;"
        " touch /go/pkg/mod/probe && echo cache-writable"
    )
    spec = pod(command=script, volumes=volumes, mounts=mounts, container_sc={"readOnlyRootFilesystem": True})
    result = run_container(spec, container="build", claims={"c": tmp_path / "c"})
    assert result.stdout == "cache-writable\n", result.stderr
    spec["spec"]["containers"][0]["securityContext"] = {}
    writable = run_container(spec, container="build", claims={"c": tmp_path / "c"})
    assert writable.stdout.split() == [
        "/tmp-writable",
        "/go-writable",
        "/root-writable",
        "/-writable",
        "cache-writable",
    ]


def test_host_secrets_are_invisible_and_system_files_read_only() -> None:
    script = sh(
        "ls /root/.ssh 2>&1; touch /usr/probe 2>&1; touch /etc/probe2;"
        " cat /etc/passwd | cut -d: -f1 | tr '\\n' ' '"
    )
    result = run_container(pod(command=script), container="build")
    assert "No such file or directory" in result.stdout
    assert "Read-only file system" in result.stdout
    assert result.stdout.rstrip().endswith("root daemon bin sys _apt nobody")


def test_timeout_kills_the_whole_sandbox() -> None:
    duration = f"299.{time.time_ns() % 10**6:06d}"  # a unique argument to look for afterwards
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_container(pod(command=sh(f"sleep {duration} & sleep {duration}")), container="build", timeout=1)
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert [p.name for p in procs if f"sleep {duration}" in _cmdline(p)] == []


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------------------ the real thing


def test_go_downloads_through_a_loopback_proxy_into_a_shared_claim(
    goproxy: GoProxyServer, consumer_project: Path, tmp_path: Path
) -> None:
    """Two Pods share a module-cache claim: the first downloads, the second asks the proxy nothing."""
    volumes = [{"name": "gobuild-cache", "persistentVolumeClaim": {"claimName": "gomodcache"}}]
    mounts = [{"name": "gobuild-cache", "mountPath": "/go/pkg/mod"}]
    env = [{"name": "GOPROXY", "value": goproxy.url}, {"name": "GOFLAGS", "value": "-mod=readonly"}]
    spec = pod(command=["go", "mod", "download"], volumes=volumes, mounts=mounts, env=env, workingDir="/src")
    claims = {"gomodcache": tmp_path / "claim"}
    first = run_container(spec, container="build", claims=claims, workdir=consumer_project)
    assert first.returncode == 0, first.stderr
    assert len(goproxy.requests) == 15  # .mod, .info and .zip of the five modules
    assert (tmp_path / "claim" / "rsc.io" / "quote" / "v3@v3.1.0" / "quote.go").exists()
    goproxy.reset()
    second = run_container(spec, container="build", claims=claims, workdir=consumer_project)
    assert second.returncode == 0, second.stderr
    assert goproxy.requests == []


@pytest.mark.parametrize(
    ("image_user", "fs_group"),
    [((0, 0), None), ((1000, 1000), 1000)],
    ids=["root", "image-user-with-fsgroup"],
)
def test_go_fetches_a_private_module_over_ssh_from_inside_a_pod(
    sshd: SshGitServer,
    private_repos: PrivateRepos,
    tmp_path: Path,
    image_user: tuple[int, int],
    fs_group: int | None,
) -> None:
    """A hand-written stand-in for an injected Pod: key and known_hosts from a Secret volume."""
    module = private_repos.modules["secretlib"]
    project = module.write_consumer(tmp_path / "project")
    project.chmod(0o777)  # the image user writes go.sum
    ssh_command = (
        "ssh -i /etc/gobuild/ssh/ssh-privatekey -o IdentitiesOnly=yes -o BatchMode=yes"
        " -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/gobuild/ssh/known_hosts"
    )
    env = [
        {"name": "GOPROXY", "value": "direct"},
        {"name": "GOPRIVATE", "value": private_repos.host},
        {"name": "GOFLAGS", "value": "-mod=mod"},
        {"name": "GIT_SSH_COMMAND", "value": ssh_command},
        *({"name": k, "value": v} for k, v in sshd.rewrite_env().items()),
    ]
    volumes = [{"name": "gobuild-ssh", "secret": {"secretName": "git-ssh", "defaultMode": 0o400}}]
    mounts = [{"name": "gobuild-ssh", "mountPath": "/etc/gobuild/ssh", "readOnly": True}]
    spec = pod(
        command=["go", "mod", "download", "-json", f"{module.path}@{module.version}"],
        env=env,
        volumes=volumes,
        mounts=mounts,
        workingDir="/src",
        pod_sc=None if fs_group is None else {"fsGroup": fs_group},
    )
    result = run_container(
        spec,
        container="build",
        secrets={"git-ssh": sshd.secret_data()},
        image=golang_image(user=image_user),
        workdir=project,
    )
    assert result.returncode == 0, result.stderr + sshd.log()[-2000:]
    assert json.loads(result.stdout)["Version"] == module.version


def test_go_fetches_over_https_from_inside_a_pod_with_ca_and_netrc(
    https_git: HttpsGitServer, private_repos: PrivateRepos, go_modules: ModuleSet, tmp_path: Path
) -> None:
    """Public modules through an authenticated HTTPS proxy and a private one over git+HTTPS."""
    module = private_repos.modules["tokenlib"]
    project = module.write_consumer(tmp_path / "project")
    env = [
        {"name": "GOPROXY", "value": https_git.proxy_url},
        {"name": "GOPRIVATE", "value": private_repos.host},
        {"name": "GOFLAGS", "value": "-mod=mod"},
        {"name": "GOSUMDB", "value": "off"},  # uuid is not in this project's go.sum; no sumdb here
        {"name": "SSL_CERT_FILE", "value": "/etc/gobuild/ca/ca.crt"},  # go
        {"name": "GIT_SSL_CAINFO", "value": "/etc/gobuild/ca/ca.crt"},  # git
        {"name": "NETRC", "value": "/root/.netrc"},
        *({"name": k, "value": v} for k, v in https_git.rewrite_env().items()),
    ]
    volumes = [
        {"name": "gobuild-ca", "configMap": {"name": "corp-ca"}},
        {"name": "gobuild-netrc", "secret": {"secretName": "netrc", "defaultMode": 0o600}},
    ]
    mounts = [
        {"name": "gobuild-ca", "mountPath": "/etc/gobuild/ca"},
        {"name": "gobuild-netrc", "mountPath": "/root/.netrc", "subPath": ".netrc"},  # git reads only $HOME
    ]
    spec = pod(
        command=sh(f"go mod download -json {module.path}@{module.version} github.com/google/uuid@v1.6.0"),
        env=env,
        volumes=volumes,
        mounts=mounts,
        workingDir="/src",
    )
    result = run_container(
        spec,
        container="build",
        secrets={"netrc": {".netrc": https_git.netrc()}},
        config_maps={"corp-ca": {"ca.crt": https_git.ca_pem.decode()}},
        workdir=project,
    )
    assert result.returncode == 0, result.stderr
    paths = {r.path.split("/")[1] for r in https_git.requests if r.status == 200}
    assert paths == {"git", "proxy"}
    assert {r.user for r in https_git.requests if r.status == 200} == {https_git.username}
