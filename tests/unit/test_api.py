"""The spec model accepts what the SPEC documents and refuses bad input naming the field to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.fields.values import SpecError, bytes_of
from support.hostile import CREDENTIALS, PROBE_TRICKS, TOKEN, UNUSABLE, USABLE, Refused

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_specs() -> None:
    spec = parse_spec({})
    assert spec.default is False
    assert spec.pod_selector is None
    assert spec.containers == ()
    assert spec.override_env is False
    assert spec.goproxy == ("https://proxy.golang.org", "direct")
    assert spec.proxy_fallback == "OnNotFound"
    assert spec.gosumdb == ""
    assert spec.private_modules.ssh is None
    assert spec.private_modules.netrc is None
    assert spec.ca_bundle is None
    assert spec.cache.enabled is False
    assert spec.cache.claim_size == "10Gi"
    assert spec.cache.access_modes == ()
    assert (spec.cache.mode, spec.cache.claim_access_modes) == ("Proxy", ("ReadWriteOnce",))
    assert spec.cache.mount_path == "/go/pkg/mod"
    assert spec.reporting.enabled is True
    assert spec.reporting.probe_interval_seconds == 300
    assert spec.reporting.probe_module == "golang.org/x/mod"
    assert spec.image_builds.enabled is True
    assert spec.image_builds.ssh_id == "default"
    assert spec.image_builds.known_hosts_secret_id == "known_hosts"
    assert spec.image_builds.netrc_secret_id == "netrc"
    assert spec.image_builds.ca_secret_id == "gobuild-ca"


def test_block_defaults_apply_inside_blocks() -> None:
    spec = parse_spec(
        {
            "privateModules": {"ssh": {"secretName": "git-key", "hosts": ["git.corp.example"]}},
            "caBundle": {"secretName": "corp-ca"},
        }
    )
    assert spec.private_modules.ssh is not None
    assert spec.private_modules.ssh.known_hosts_key == "known_hosts"
    assert spec.private_modules.ssh.user == "git"
    assert spec.ca_bundle is not None
    assert spec.ca_bundle.key == "ca.crt"


FULL: dict[str, Any] = {
    "default": True,
    "podSelector": {
        "matchLabels": {"app.kubernetes.io/component": "build"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["ci"]}],
    },
    "containers": ["build"],
    "overrideEnv": True,
    "goproxy": ["https://goproxy.cn", "https://goproxy.io", "file:///srv/proxy", "direct"],
    "proxyFallback": "OnAnyError",
    "gosumdb": "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org",
    "goprivate": ["git.corp.example/*"],
    "gonoproxy": ["git.corp.example/*"],
    "gonosumdb": ["git.corp.example/*"],
    "goinsecure": ["insecure.corp.example"],
    "goflags": ["-mod=mod", "-modcacherw"],
    "env": [{"name": "CGO_ENABLED", "value": "0"}, {"name": "GOTOOLCHAIN"}],
    "corporateProxy": {
        "httpProxy": "http://proxy.corp.example:3128",
        "httpsProxy": "http://proxy.corp.example:3128",
        "noProxy": [".corp.example", "10.0.0.0/8"],
    },
    "privateModules": {
        "ssh": {
            "secretName": "git-key",
            "knownHostsKey": "hosts",
            "hosts": ["git.corp.example", "gitlab.corp.example:2222"],
            "user": "gitlab",
        },
        "netrc": {"secretName": "tokens"},
    },
    "caBundle": {"configMapName": "corp-ca", "key": "bundle.pem"},
    "cache": {
        "enabled": True,
        "mode": "SharedVolume",
        "size": "50Gi",
        "storageClassName": "nfs",
        "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
        "mountPath": "/cache/mod/",
        "buildCache": True,
    },
    "reporting": {"enabled": False, "probeIntervalSeconds": 60, "probeModule": "github.com/pkg/errors"},
}


def test_every_field_round_trips_by_its_camel_case_name() -> None:
    spec = parse_spec(FULL)
    dumped = spec.model_dump(by_alias=True, exclude_unset=True)
    assert dumped["cache"]["mountPath"] == "/cache/mod"  # normalised
    dumped["cache"]["mountPath"] = "/cache/mod/"
    dumped["env"][1]["value"] = None
    expected = {**FULL, "env": [FULL["env"][0], {"name": "GOTOOLCHAIN", "value": None}]}
    assert _json(dumped) == _json(expected)


def _json(value: Any) -> Any:
    """Lists and tuples alike, so the comparison is about content."""
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"goproxy": ["https://goproxy.cn", "ftp://x"]}, "spec.goproxy[1]: ", id="goproxy-scheme"
        ),
        pytest.param(
            {"goproxy": ["https://"]}, "spec.goproxy[0]: 'https://' has no host", id="goproxy-no-host"
        ),
        pytest.param({"goproxy": ["https://a,b"]}, "spec.goproxy[0]: ", id="goproxy-comma"),
        pytest.param(
            {"goproxy": ["direct", "direct"]}, "spec.goproxy[1]: 'direct' is listed twice", id="dup"
        ),
        pytest.param({"goproxy": []}, "spec.goproxy: ", id="goproxy-empty"),
        pytest.param({"proxyFallback": "Sometimes"}, "spec.proxyFallback: ", id="fallback-enum"),
        pytest.param({"goprivate": ["a b"]}, "spec.goprivate[0]: ", id="pattern-space"),
        pytest.param({"goflags": ["-mod=mod", "mod=vendor"]}, "spec.goflags[1]: ", id="goflag-dash"),
        pytest.param({"goflags": ["-x -v"]}, "spec.goflags[0]: ", id="goflag-space"),
        pytest.param({"gosumdb": "a\nb"}, "spec.gosumdb: ", id="gosumdb-newline"),
        pytest.param({"containers": ["Build"]}, "spec.containers[0]: ", id="container-name"),
        pytest.param(
            {"env": [{"name": "GOPROXY", "value": "x"}]}, "spec.env[0].name: GOPROXY is set from", id="env"
        ),
        pytest.param({"env": [{"name": "https_proxy"}]}, "corporateProxy.httpsProxy", id="env-proxy"),
        pytest.param({"env": [{"name": "GIT_CONFIG_COUNT"}]}, "spec.env[0].name: ", id="env-git-config"),
        pytest.param({"env": [{"name": "1X"}]}, "spec.env[0].name: ", id="env-name-syntax"),
        pytest.param(
            {"env": [{"name": "A"}, {"name": "A"}]}, "spec.env[1].name: A is listed twice", id="env-dup"
        ),
        pytest.param(
            {"cache": {"enabled": True}, "env": [{"name": "GOMODCACHE"}]},
            "spec.env[0].name: ",
            id="env-cache",
        ),
        pytest.param(
            {"corporateProxy": {"httpProxy": "proxy:3128"}}, "spec.corporateProxy.httpProxy: ", id="proxy"
        ),
        pytest.param(
            {"privateModules": {"ssh": {"secretName": "k"}}}, "spec.privateModules.ssh.hosts: ", id="hosts"
        ),
        pytest.param(
            {"privateModules": {"ssh": {"hosts": ["a.b"]}}}, "spec.privateModules.ssh.secretName: ", id="key"
        ),
        pytest.param(
            {"privateModules": {"ssh": {"secretName": "k", "hosts": ["https://a.b/"]}}},
            "spec.privateModules.ssh.hosts[0]: ",
            id="host-url",
        ),
        pytest.param(
            {"privateModules": {"ssh": {"secretName": "k", "hosts": ["a.b"], "user": "$(id)"}}},
            "spec.privateModules.ssh.user: ",
            id="user-shell",
        ),
        pytest.param({"privateModules": {"netrc": {}}}, "spec.privateModules.netrc.secretName: ", id="netrc"),
        pytest.param(
            {"caBundle": {"configMapName": "a", "secretName": "b"}}, "spec.caBundle.secretName: ", id="ca2"
        ),
        pytest.param({"caBundle": {}}, "spec.caBundle: set exactly one", id="ca0"),
        pytest.param({"caBundle": {"secretName": "a", "key": "../x"}}, "spec.caBundle.key: ", id="ca-key"),
        pytest.param({"cache": {"existingClaim": "c", "size": "1Gi"}}, "spec.cache.size: ", id="claim-size"),
        pytest.param(
            {"cache": {"existingClaim": "c", "storageClassName": "s"}},
            "spec.cache.storageClassName: ",
            id="claim-sc",
        ),
        pytest.param({"cache": {"size": "lots"}}, "spec.cache.size: ", id="size"),
        pytest.param({"cache": {"size": "0"}}, "spec.cache.size: ", id="size-zero"),
        pytest.param({"cache": {"size": "10GB"}}, "spec.cache.size: ", id="size-GB"),
        pytest.param(
            {
                "privateModules": {"ssh": {"secretName": "k", "hosts": ["a.b"]}},
                "env": [{"name": "GIT_SSH_COMMAND"}],
            },
            "spec.env[0].name: GIT_SSH_COMMAND is set by spec.privateModules.ssh",
            id="env-ssh",
        ),
        pytest.param(
            {"privateModules": {"netrc": {"secretName": "n"}}, "env": [{"name": "NETRC"}]},
            "spec.env[0].name: NETRC is set by spec.privateModules.netrc",
            id="env-netrc",
        ),
        pytest.param(
            {"caBundle": {"secretName": "ca"}, "env": [{"name": "A"}, {"name": "GIT_SSL_CAPATH"}]},
            "spec.env[1].name: GIT_SSL_CAPATH is set by spec.caBundle",
            id="env-ca",
        ),
        pytest.param(
            {"cache": {"accessModes": ["ReadWriteSometimes"]}}, "spec.cache.accessModes[0]: ", id="mode"
        ),
        pytest.param({"cache": {"mountPath": "go/pkg/mod"}}, "spec.cache.mountPath: ", id="relative"),
        pytest.param({"cache": {"mountPath": "/etc/gobuild"}}, "overlaps /etc/gobuild", id="ours"),
        pytest.param(
            {"reporting": {"probeIntervalSeconds": 5}}, "spec.reporting.probeIntervalSeconds: ", id="probe"
        ),
        pytest.param({"reporting": {"probeModule": "x y"}}, "spec.reporting.probeModule: ", id="module"),
        pytest.param(
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
            "spec.podSelector.matchExpressions[0]: values must be empty",
            id="selector-values",
        ),
        pytest.param(
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": 1}}},
            'spec.podSelector.matchLabels["app.kubernetes.io/name"]: ',
            id="selector-label",
        ),
        pytest.param(
            {"imageBuilds": {"netrcSecretId": "id=x,src=/etc/passwd"}},
            "spec.imageBuilds.netrcSecretId: ",
            id="build-secret-id-csv",
        ),
        pytest.param({"imageBuilds": {"sshId": ""}}, "spec.imageBuilds.sshId: ", id="build-ssh-id-empty"),
        pytest.param(
            {"imageBuilds": {"caSecretId": "netrc"}},
            "spec.imageBuilds.caSecretId: 'netrc' is already used",
            id="build-ids-distinct",
        ),
        pytest.param(
            {"imageBuilds": {"netrcSecretId": "known_hosts"}},
            "spec.imageBuilds.netrcSecretId: ",
            id="build-ids-distinct-netrc",
        ),
        pytest.param({"goProxy": ["direct"]}, "spec.goProxy: unknown field", id="unknown-field"),
        pytest.param({"default": "maybe"}, "spec.default: ", id="bool"),
    ],
)
def test_bad_input_names_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(spec)
    assert message in str(raised.value)
    assert all(error.startswith("spec") for error in raised.value.errors)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec({"goproxy": ["ftp://a"], "goflags": ["x"], "cache": {"size": "?"}})
    assert [error.split(":")[0] for error in raised.value.errors] == [
        "spec.goproxy[0]",
        "spec.goflags[0]",
        "spec.cache.size",
    ]


def test_a_spec_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SpecError, match=r"^spec: must be an object"):
        parse_spec([])  # type: ignore[arg-type]


def test_parsed_spec_is_immutable() -> None:
    spec = parse_spec({})
    with pytest.raises(ValueError, match="frozen"):
        spec.default = True  # type: ignore[misc]


def test_block_variables_are_the_users_while_the_block_is_absent() -> None:
    names = [
        "NETRC",
        "GIT_SSH_COMMAND",
        "SSL_CERT_DIR",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "GOMODCACHE",
        "GOCACHE",
    ]
    spec = parse_spec({"env": [{"name": name, "value": "x"} for name in names]})
    assert [entry.name for entry in spec.env] == names


def test_empty_strings_mean_unset_like_the_crd() -> None:
    spec = parse_spec(
        {"gosumdb": "", "cache": {"existingClaim": "shared", "size": "", "storageClassName": ""}}
    )
    assert spec.gosumdb == ""
    assert spec.cache.existing_claim == "shared"


def _examples(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def _config_specs(path: Path) -> list[dict[str, Any]]:
    documents = yaml.safe_load_all(path.read_text())
    return [
        doc.get("spec") or {}
        for doc in documents
        if isinstance(doc, dict) and doc.get("kind") == "GoBuildConfig"
    ]


@pytest.mark.parametrize("path", _examples(ROOT / "examples"), ids=lambda path: path.name)
def test_examples_parse(path: Path) -> None:
    for spec in _config_specs(path):
        parse_spec(spec)


@pytest.mark.parametrize("path", _examples(ROOT / "examples" / "invalid"), ids=lambda path: path.name)
def test_invalid_examples_are_refused_like_the_api_server_does(path: Path) -> None:
    specs = _config_specs(path)
    assert specs
    for spec in specs:
        with pytest.raises(SpecError):
            parse_spec(spec)


# --- hardening: the operator refuses what the API server refuses (support/hostile.py) ------------


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in UNUSABLE.items()])
def test_values_no_build_can_use_are_refused(case: Refused) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(case.spec)
    assert any(error.startswith(case.field + ":") for error in raised.value.errors), raised.value.errors


@pytest.mark.parametrize("spec", [pytest.param(s, id=name) for name, s in USABLE.items()])
def test_the_usable_edges_parse(spec: dict[str, Any]) -> None:
    parse_spec(spec)


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        pytest.param("1Mi", 2**20, id="Mi"),
        pytest.param("1.5Gi", 3 * 2**29, id="fraction"),
        pytest.param("500M", 500 * 10**6, id="decimal-suffix"),
        pytest.param("1024", 1024, id="bytes"),
    ],
)
def test_storage_quantities_in_bytes(quantity: str, size: int) -> None:
    assert bytes_of(quantity) == size


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in CREDENTIALS.items()])
def test_credentials_in_urls_are_refused_without_quoting_them(case: Refused) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(case.spec)
    assert any(error.startswith(case.field + ":") for error in raised.value.errors), raised.value.errors
    assert "spec.privateModules.netrc" in str(raised.value)
    assert TOKEN not in str(raised.value), "the refusal is written on the status: it must not quote the token"


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in PROBE_TRICKS.items()])
def test_urls_and_modules_that_redirect_the_probe_are_refused(case: Refused) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(case.spec)
    assert any(error.startswith(case.field + ":") for error in raised.value.errors), raised.value.errors
