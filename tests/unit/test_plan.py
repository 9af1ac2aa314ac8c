"""What an injected workload carries, derived from a spec (SPEC "What an injected workload carries").

The shell snippets are run for real with the system's sh and awk: they are what users' builds run.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.core.plan import (
    InjectionPlan,
    build_plan,
    cache_claim_name,
    effective_goproxy,
    effective_gosumdb,
    git_ssh_command,
    netrc_credential_helper,
)

SSH = {"secretName": "git-key", "hosts": ["git.corp.example", "gitlab.corp.example:2222"]}


def plan_of(spec: dict[str, Any], **kwargs: Any) -> InjectionPlan:
    return build_plan(config_name="corp", spec=parse_spec(spec), **kwargs)


def env_of(spec: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {var.name: var.value for var in plan_of(spec, **kwargs).env}


@pytest.mark.parametrize(
    ("spec", "goproxy"),
    [
        pytest.param({}, "https://proxy.golang.org,direct", id="default"),
        pytest.param(
            {"goproxy": ["https://goproxy.cn", "direct"]}, "https://goproxy.cn,direct", id="not-found"
        ),
        pytest.param(
            {"goproxy": ["https://a.example", "https://b.example", "direct"], "proxyFallback": "OnAnyError"},
            "https://a.example|https://b.example|direct",
            id="any-error",
        ),
        pytest.param({"goproxy": ["off"]}, "off", id="off"),
    ],
)
def test_effective_goproxy(spec: dict[str, Any], goproxy: str) -> None:
    assert effective_goproxy(parse_spec(spec)) == goproxy
    assert env_of(spec)["GOPROXY"] == goproxy


def test_gosumdb_only_when_set() -> None:
    assert "GOSUMDB" not in env_of({})
    mirror = "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org"
    assert effective_gosumdb(parse_spec({"gosumdb": mirror})) == mirror
    assert env_of({"gosumdb": mirror})["GOSUMDB"] == mirror
    assert env_of({"gosumdb": "off"})["GOSUMDB"] == "off"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, {"GOPROXY": "https://proxy.golang.org,direct"}, id="minimal"),
        pytest.param(
            {"goprivate": ["git.corp.example/*", "rsc.io/private"], "goinsecure": ["http.corp.example"]},
            {
                "GOPROXY": "https://proxy.golang.org,direct",
                "GOPRIVATE": "git.corp.example/*,rsc.io/private",
                "GOINSECURE": "http.corp.example",
            },
            id="lists-joined-with-commas",
        ),
        pytest.param(
            {"goflags": ["-mod=mod", "-modcacherw"]},
            {"GOPROXY": "https://proxy.golang.org,direct", "GOFLAGS": "-mod=mod -modcacherw"},
            id="goflags-joined-with-spaces",
        ),
        pytest.param(
            {"goprivate": ["git.corp.example/*"], "privateModules": {"ssh": SSH}},
            {"GOPRIVATE": "git.corp.example/*,git.corp.example,gitlab.corp.example"},
            id="ssh-hosts-join-goprivate-without-port",
        ),
        pytest.param(
            {
                "gonoproxy": ["athens.corp.example/*"],
                "gonosumdb": ["x.example"],
                "privateModules": {"ssh": SSH},
            },
            {
                "GONOPROXY": "athens.corp.example/*,git.corp.example,gitlab.corp.example",
                "GONOSUMDB": "x.example,git.corp.example,gitlab.corp.example",
            },
            id="explicit-gonoproxy-gonosumdb-get-ssh-hosts",
        ),
        pytest.param(
            {"env": [{"name": "CGO_ENABLED", "value": "0"}, {"name": "GIT_TERMINAL_PROMPT", "value": "1"}]},
            {"CGO_ENABLED": "0"},
            id="extra-env",
        ),
    ],
)
def test_go_env(spec: dict[str, Any], expected: dict[str, str]) -> None:
    env = env_of(spec)
    assert {name: env.get(name) for name in expected} == expected


def test_go_variables_come_first_and_extra_env_last() -> None:
    plan = plan_of(
        {
            "gosumdb": "off",
            "goflags": ["-mod=mod"],
            "env": [{"name": "CGO_ENABLED", "value": "0"}],
            "corporateProxy": {"httpsProxy": "http://proxy:3128"},
        }
    )
    names = [var.name for var in plan.env]
    assert names[:3] == ["GOPROXY", "GOSUMDB", "GOFLAGS"]
    assert names[-1] == "CGO_ENABLED"


def test_extra_env_replaces_a_generated_variable_of_the_same_name() -> None:
    plan = plan_of(
        {"privateModules": {"netrc": {"secretName": "t"}}, "env": [{"name": "GIT_TERMINAL_PROMPT"}]}
    )
    assert [(var.name, var.value) for var in plan.env if var.name == "GIT_TERMINAL_PROMPT"] == [
        ("GIT_TERMINAL_PROMPT", "")
    ]


def test_corporate_proxy_sets_both_cases_and_completes_no_proxy() -> None:
    env = env_of(
        {
            "corporateProxy": {
                "httpProxy": "http://proxy.corp.example:3128",
                "httpsProxy": "http://proxy.corp.example:3129",
                "noProxy": [".corp.example", "localhost"],
            }
        },
        cluster_domain="k8s.internal",
        extra_no_proxy=["10.96.0.1"],
    )
    assert env["HTTP_PROXY"] == env["http_proxy"] == "http://proxy.corp.example:3128"
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://proxy.corp.example:3129"
    ours, cluster = ".corp.example,localhost", ".svc,.svc.k8s.internal,.k8s.internal,kubernetes.default.svc"
    no_proxy = f"{ours},{cluster},127.0.0.1,10.96.0.1"
    assert env["NO_PROXY"] == env["no_proxy"] == no_proxy


def test_no_proxy_variables_without_a_corporate_proxy() -> None:
    assert not {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "no_proxy"} & set(env_of({}))


def test_only_https_proxy() -> None:
    env = env_of({"corporateProxy": {"httpsProxy": "http://p:3128"}})
    assert "HTTP_PROXY" not in env
    assert env["NO_PROXY"].startswith(".svc,.svc.cluster.local,.cluster.local,")


def test_the_proxy_cache_comes_first_and_each_build_keeps_its_own_module_cache() -> None:
    """Builds only read the cache over HTTP; nothing they write is read by another build."""
    spec = parse_spec({"goproxy": ["https://goproxy.cn", "direct"], "cache": {"enabled": True}})
    plan = build_plan(config_name="corp", spec=spec, namespace="builds")
    env = {var.name: var.value for var in plan.env}
    assert env["GOPROXY"] == "http://corp-gomodcache.builds.svc.cluster.local:8080|https://goproxy.cn,direct"
    assert env["GOMODCACHE"] == "/go/pkg/mod"
    assert [volume.to_k8s() for volume in plan.volumes] == [{"name": "gobuild-cache", "emptyDir": {}}]
    assert [mount.to_k8s() for mount in plan.mounts] == [
        {"name": "gobuild-cache", "mountPath": "/go/pkg/mod"}
    ]
    assert all(mount.builders == frozenset() for mount in plan.mounts), "image builders cannot use it"
    assert effective_goproxy(spec) == "https://goproxy.cn,direct", "without the config: the list alone"


@pytest.mark.parametrize(
    ("cache", "claim"),
    [
        pytest.param({"enabled": True, "mode": "SharedVolume"}, "corp-gomodcache", id="created-claim"),
        pytest.param(
            {"enabled": True, "mode": "SharedVolume", "existingClaim": "shared-cache"},
            "shared-cache",
            id="existing-claim",
        ),
    ],
)
def test_a_shared_volume_mounts_the_claim(cache: dict[str, Any], claim: str) -> None:
    plan = plan_of({"cache": cache})
    assert cache_claim_name("corp", parse_spec({"cache": cache})) == claim
    assert [volume.to_k8s() for volume in plan.volumes] == [
        {"name": "gobuild-cache", "persistentVolumeClaim": {"claimName": claim}}
    ]
    assert all(mount.builders == frozenset({"kaniko"}) for mount in plan.mounts)


def test_cache_mounts_module_and_build_cache_on_separate_subpaths() -> None:
    plan = plan_of(
        {"cache": {"enabled": True, "mode": "SharedVolume", "mountPath": "/cache/mod", "buildCache": True}}
    )
    assert [mount.to_k8s() for mount in plan.mounts] == [
        {"name": "gobuild-cache", "mountPath": "/cache/mod", "subPath": "gomodcache"},
        {"name": "gobuild-cache", "mountPath": "/var/cache/gobuild/gocache", "subPath": "gocache"},
    ]
    env = {var.name: var.value for var in plan.env}
    assert env["GOMODCACHE"] == "/cache/mod"
    assert env["GOCACHE"] == "/var/cache/gobuild/gocache"


def test_cache_disabled_injects_nothing_about_it() -> None:
    plan = plan_of({"cache": {"existingClaim": "c"}})
    assert plan.volumes == ()
    assert "GOMODCACHE" not in {var.name for var in plan.env}


def test_ssh_mounts_the_secret_readable_by_any_user_and_rewrites_urls() -> None:
    plan = plan_of({"privateModules": {"ssh": {**SSH, "knownHostsKey": "hosts", "user": "gitlab"}}})
    assert [volume.to_k8s() for volume in plan.volumes] == [
        {
            "name": "gobuild-ssh",
            "secret": {
                "secretName": "git-key",
                "items": [
                    {"key": "ssh-privatekey", "path": "identity"},
                    {"key": "hosts", "path": "known_hosts"},
                ],
                "defaultMode": 0o444,
            },
        }
    ]
    assert [mount.to_k8s() for mount in plan.mounts] == [
        {"name": "gobuild-ssh", "mountPath": "/etc/gobuild/ssh", "readOnly": True}
    ]
    assert [(entry.key, entry.value) for entry in plan.git_config] == [
        ("url.ssh://gitlab@git.corp.example/.insteadOf", "https://git.corp.example/"),
        ("url.ssh://gitlab@gitlab.corp.example:2222/.insteadOf", "https://gitlab.corp.example/"),
    ]
    env = {var.name: var.value for var in plan.env}
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert "/etc/gobuild/ssh/known_hosts" in env["GIT_SSH_COMMAND"]


def test_netrc_mounts_the_secret_and_points_go_and_git_at_it() -> None:
    plan = plan_of({"privateModules": {"netrc": {"secretName": "tokens"}}})
    assert [volume.to_k8s() for volume in plan.volumes] == [
        {
            "name": "gobuild-netrc",
            "secret": {
                "secretName": "tokens",
                "items": [{"key": ".netrc", "path": ".netrc"}],
                "defaultMode": 0o444,
            },
        }
    ]
    env = {var.name: var.value for var in plan.env}
    assert env["NETRC"] == "/etc/gobuild/netrc/.netrc"
    assert [entry.key for entry in plan.git_config] == ["credential.helper"]
    assert plan.git_config[0].value.startswith("!")


@pytest.mark.parametrize(
    ("bundle", "source"),
    [
        pytest.param(
            {"configMapName": "corp-ca"},
            {
                "configMap": {
                    "name": "corp-ca",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    "defaultMode": 0o444,
                }
            },
            id="configmap",
        ),
        pytest.param(
            {"secretName": "corp-ca", "key": "bundle.pem"},
            {
                "secret": {
                    "secretName": "corp-ca",
                    "items": [{"key": "bundle.pem", "path": "ca.crt"}],
                    "defaultMode": 0o444,
                }
            },
            id="secret",
        ),
    ],
)
def test_ca_bundle_is_added_to_system_trust(bundle: dict[str, Any], source: dict[str, Any]) -> None:
    plan = plan_of({"caBundle": bundle})
    assert [volume.to_k8s() for volume in plan.volumes] == [{"name": "gobuild-ca", **source}]
    env = {var.name: var.value for var in plan.env}
    assert env["SSL_CERT_DIR"] == "/etc/ssl/certs:/etc/pki/tls/certs:/etc/gobuild/ca"
    assert env["GIT_SSL_CAINFO"] == "/etc/gobuild/ca/ca.crt"
    assert env["GIT_SSL_CAPATH"] == "/etc/ssl/certs"
    assert "SSL_CERT_FILE" not in env


EVERYTHING: dict[str, Any] = {
    "gosumdb": "off",
    "corporateProxy": {"httpsProxy": "http://p:3128"},
    "privateModules": {"ssh": SSH, "netrc": {"secretName": "tokens"}},
    "caBundle": {"configMapName": "ca"},
    "cache": {"enabled": True, "mode": "SharedVolume", "buildCache": True},
}


def test_variables_that_point_into_a_mount_name_it() -> None:
    plan = plan_of(EVERYTHING)
    paths = {mount.mount_path for mount in plan.mounts}
    needs = {var.name: var.needs for var in plan.env if var.needs}
    assert set(needs) == {"GOMODCACHE", "GOCACHE", "NETRC", "GIT_SSH_COMMAND", "SSL_CERT_DIR"} | {
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
    }
    assert set(needs.values()) <= paths
    assert all(entry.needs in paths for entry in plan.git_config)


def test_volumes_mounts_and_env_are_unique_and_prefixed() -> None:
    plan = plan_of(EVERYTHING)
    names = [volume.name for volume in plan.volumes]
    assert names == ["gobuild-cache", "gobuild-netrc", "gobuild-ssh", "gobuild-ca"]
    assert len({mount.mount_path for mount in plan.mounts}) == len(plan.mounts)
    assert len({var.name for var in plan.env}) == len(plan.env)


def test_generated_values_survive_kubernetes_variable_expansion() -> None:
    """Kubernetes rewrites `$(NAME)` and `$$` in env values; ours must contain neither."""
    plan = plan_of(EVERYTHING)
    for value in [var.value for var in plan.env] + [entry.value for entry in plan.git_config]:
        assert "$(" not in value
        assert "$$" not in value


# --- the shell snippets, run for real ---------------------------------------------------------

needs_shell = pytest.mark.skipif(not (shutil.which("sh") and shutil.which("awk")), reason="needs sh and awk")

NETRC = """\
machine other.example login bob password bobs-secret
machine git.corp.example
    login alice
    password alices-token
machine ports.example:8443 login carol password carols-token
machine nologin.example password only-password
default login anon password anon-token
"""


@needs_shell
@pytest.mark.parametrize(
    ("host", "answer"),
    [
        pytest.param("git.corp.example", "username=alice\npassword=alices-token\n", id="machine-on-lines"),
        pytest.param("other.example", "username=bob\npassword=bobs-secret\n", id="machine-on-one-line"),
        pytest.param("git.corp.example:8443", "username=alice\npassword=alices-token\n", id="port-ignored"),
        pytest.param("ports.example:8443", "username=carol\npassword=carols-token\n", id="machine-with-port"),
        pytest.param("nologin.example", "password=only-password\n", id="password-only"),
        pytest.param("unknown.example", "username=anon\npassword=anon-token\n", id="default"),
    ],
)
def test_credential_helper_answers_from_the_netrc(tmp_path: Path, host: str, answer: str) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(NETRC)
    helper = netrc_credential_helper(str(netrc))
    assert helper.startswith("!")
    result = subprocess.run(
        ["sh", "-c", helper[1:] + " get"],
        input=f"protocol=https\nhost={host}\npath=group/repo.git\n\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == answer


@needs_shell
def test_credential_helper_ignores_store_and_unknown_hosts_without_default(tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine a.example login x password y\n")
    helper = netrc_credential_helper(str(netrc))[1:]
    for action, host in (("store", "a.example"), ("get", "b.example")):
        result = subprocess.run(
            ["sh", "-c", f"{helper} {action}"],
            input=f"host={host}\n\n",
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout == ""


FAKE_SSH = """\
#!/bin/sh
# Records how it was called and what the key file looked like, then exits with $FAKE_SSH_STATUS.
key=
prev=
for arg in "$@"; do [ "$prev" = "-i" ] && key=$arg; prev=$arg; done
{
  echo "args: $*"
  echo "key: $key"
  echo "mode: $(stat -c %a "$key")"
  echo "owner: $(stat -c %u "$key")"
  echo "content:"; cat "$key"; echo "end"
} > "$FAKE_SSH_LOG"
exit "${FAKE_SSH_STATUS:-0}"
"""


@needs_shell
@pytest.mark.parametrize("status", [0, 128], ids=["success", "failure"])
def test_git_ssh_command_runs_ssh_with_a_private_copy_of_the_key(tmp_path: Path, status: int) -> None:
    mounted = tmp_path / "ssh"
    mounted.mkdir()
    (mounted / "identity").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
    )
    (mounted / "identity").chmod(0o444)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    log = tmp_path / "log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_SSH_LOG": str(log),
        "FAKE_SSH_STATUS": str(status),
        "TMPDIR": str(tmp_path),
    }
    command = git_ssh_command(directory=str(mounted))
    # git runs GIT_SSH_COMMAND as `sh -c '<command> "$@"' <command> <args>...`
    args = ["-o", "SendEnv=GIT_PROTOCOL", "git@git.corp.example", "git-upload-pack '/group/repo.git'"]
    result = subprocess.run(
        ["sh", "-c", f'{command} "$@"', command, *args], env=env, capture_output=True, text=True
    )
    assert result.returncode == status
    record = log.read_text()
    key = record.split("key: ")[1].split("\n")[0]
    assert f"-o UserKnownHostsFile={mounted}/known_hosts -o StrictHostKeyChecking=yes" in record
    assert "-o IdentitiesOnly=yes" in record
    assert "-o BatchMode=yes" in record
    assert record.split("args: ")[1].split("\n")[0].endswith(" ".join(args))
    assert "mode: 600" in record
    assert f"owner: {os.getuid()}" in record
    assert "-----END OPENSSH PRIVATE KEY-----\nend" in record  # the final newline the Secret lacked
    assert not Path(key).exists(), "the private copy of the key must be removed"
    assert stat.S_IMODE((mounted / "identity").stat().st_mode) == 0o444


@needs_shell
def test_git_ssh_command_fails_cleanly_without_a_key(tmp_path: Path) -> None:
    command = git_ssh_command(directory=str(tmp_path / "missing"))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        ["sh", "-c", f'{command} "$@"', command, "host"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 255
    assert list(tmp_path.iterdir()) == []
