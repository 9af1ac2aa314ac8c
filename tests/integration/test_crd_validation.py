"""The GoBuildConfig CRD as the real API server enforces it.

What a user sees at `kubectl apply`: the examples are accepted, bad input is refused with a message
that names the field and says what to write, defaults appear on the stored object, and
`kubectl get gbc` shows the SPEC's printer columns.

Fixtures (tests/conftest.py): `kubectl(*args, input=None, check=True)` runs kubectl against the local
control plane with the CRD applied; `namespace` is a fresh namespace per test.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INVALID = EXAMPLES / "invalid"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def gbc(spec: dict[str, Any] | None, name: str = "probe") -> str:
    """A GoBuildConfig manifest; spec None leaves the spec out entirely."""
    body: dict[str, Any] = {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": name},
    }
    if spec is not None:
        body["spec"] = spec
    return yaml.safe_dump(body)


def dry_run(kubectl: Kubectl, namespace: str, manifest: str) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest, check=False)


def get_json(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        kubectl("get", "gobuildconfig", name, "-n", namespace, "-o", "json").stdout
    )
    return result


# --- valid input is accepted -----------------------------------------------------------------------

VALID_EXAMPLES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in VALID_EXAMPLES])
def test_example_is_accepted(kubectl: Kubectl, namespace: str, path: Path) -> None:
    # Into the test's namespace: an example's own Namespace and namespace fields are left out.
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc and doc["kind"] != "Namespace"]
    for doc in documents:
        doc["metadata"].pop("namespace", None)
    result = dry_run(kubectl, namespace, yaml.safe_dump_all(documents))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({}, id="empty-spec"),
        pytest.param({"goproxy": ["off"]}, id="goproxy-off"),
        pytest.param({"goproxy": ["file:///srv/goproxy", "direct"]}, id="goproxy-file-url"),
        pytest.param({"goproxy": ["http://athens.build.svc:3000/"]}, id="goproxy-http-port"),
        pytest.param({"gosumdb": "off"}, id="gosumdb-off"),
        pytest.param(
            {"gosumdb": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"},
            id="gosumdb-key",
        ),
        # The SPEC template writes unset names as "": copying it must work.
        pytest.param(
            {"caBundle": {"configMapName": "", "secretName": "corp-ca"}}, id="cabundle-empty-placeholder"
        ),
        pytest.param({"cache": {"enabled": True, "existingClaim": "shared"}}, id="existing-claim-alone"),
        pytest.param(
            {"cache": {"enabled": True, "size": "500Mi", "storageClassName": "nfs"}}, id="created-claim"
        ),
        pytest.param(
            {"privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["gitlab.corp.example:2222"]}}},
            id="ssh-host-port",
        ),
        pytest.param({"privateModules": {"netrc": {"secretName": "netrc"}}}, id="netrc"),
        pytest.param(
            {"corporateProxy": {"httpsProxy": "socks5h://proxy.corp.example:1080"}}, id="socks-proxy"
        ),
        # Without the cache, GOMODCACHE is the user's to set.
        pytest.param({"env": [{"name": "GOMODCACHE", "value": "/cache"}]}, id="gomodcache-without-cache"),
        pytest.param(
            {"env": [{"name": n, "value": "x"} for n in ("NETRC", "GIT_SSH_COMMAND", "SSL_CERT_DIR")]},
            id="block-variables-without-blocks",
        ),
        pytest.param(
            {"cache": {"enabled": True, "existingClaim": "shared", "size": ""}}, id="claim-empty-size"
        ),
        pytest.param(
            {"podSelector": {"matchExpressions": [{"key": "gobuild.dev/build", "operator": "Exists"}]}},
            id="selector-exists",
        ),
    ],
)
def test_valid_spec_is_accepted(kubectl: Kubectl, namespace: str, spec: dict[str, Any]) -> None:
    result = dry_run(kubectl, namespace, gbc(spec))
    assert result.returncode == 0, result.stderr


def test_defaults_are_stored(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=gbc(None, name="defaults"))
    spec = get_json(kubectl, namespace, "defaults")["spec"]
    assert spec == {
        "default": False,
        "overrideEnv": False,
        "goproxy": ["https://proxy.golang.org", "direct"],
        "proxyFallback": "OnNotFound",
        "cache": {"enabled": False, "mode": "Proxy", "mountPath": "/go/pkg/mod", "buildCache": False},
        "reporting": {"enabled": True, "probeIntervalSeconds": 300, "probeModule": "golang.org/x/mod"},
        "imageBuilds": {
            "enabled": True,
            "sshId": "default",
            "knownHostsSecretId": "known_hosts",
            "netrcSecretId": "netrc",
            "caSecretId": "gobuild-ca",
        },
    }


def test_nested_defaults_fill_given_blocks(kubectl: Kubectl, namespace: str) -> None:
    spec = {
        "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}},
        "caBundle": {"secretName": "corp-ca"},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=gbc(spec, name="nested"))
    stored = get_json(kubectl, namespace, "nested")["spec"]
    assert stored["privateModules"]["ssh"]["knownHostsKey"] == "known_hosts"
    assert stored["privateModules"]["ssh"]["user"] == "git"
    assert stored["caBundle"]["key"] == "ca.crt"
    assert "size" not in stored["cache"], "10Gi is the operator's to apply, never stored as a default"


# --- invalid input is refused, naming the field ------------------------------------------------------

# file -> substrings the API server's message must contain: the field path, then what is wrong.
INVALID_EXAMPLES = {
    "bad-goproxy-url.yaml": ["spec.goproxy[1]", '"goproxy.io"', 'must be "direct", "off", or an http://'],
    "unknown-proxyfallback.yaml": ["spec.proxyFallback", "Unsupported value", '"OnNotFound"', '"OnAnyError"'],
    "existingclaim-and-size.yaml": ["spec.cache.size", "Forbidden", "existingClaim"],
    "configmap-and-secret.yaml": ["spec.caBundle.secretName", "Forbidden", "configMapName"],
    "cabundle-without-source.yaml": ["spec.caBundle", "Required", "configMapName", "secretName"],
    "ssh-without-hosts.yaml": ["spec.privateModules.ssh.hosts", "Required value"],
    "ssh-empty-hosts.yaml": ["spec.privateModules.ssh.hosts", "at least 1 items"],
    "ssh-host-with-scheme.yaml": ["spec.privateModules.ssh.hosts[0]", "hostname"],
    "corporate-proxy-not-url.yaml": ["spec.corporateProxy.httpsProxy", "http:// or https://"],
    "goflags-without-dash.yaml": ["spec.goflags[0]", 'starts with "-"'],
    "env-reserved-name.yaml": ["spec.env[0].name", "Forbidden", "GOPROXY is set from spec.goproxy"],
    "env-bad-name.yaml": ["spec.env[0].name", '"CGO_ENABLED=0"', "must be an environment variable name"],
    "env-gomodcache-with-cache.yaml": ["spec.env", "Forbidden", "GOMODCACHE", "spec.cache.enabled"],
    "cache-bad-size.yaml": ["spec.cache.size", "quantity"],
    "cache-relative-mountpath.yaml": ["spec.cache.mountPath", "absolute path"],
    "cache-bad-accessmode.yaml": ["spec.cache.accessModes[0]", "Unsupported value", '"ReadWriteMany"'],
    "podselector-in-without-values.yaml": ["spec.podSelector.matchExpressions[0].values", "Required value"],
    "bad-container-name.yaml": ["spec.containers[0]", "must be a container name"],
    "probe-interval-too-short.yaml": ["spec.reporting.probeIntervalSeconds", "greater than or equal to 30"],
    "bad-gosumdb.yaml": ["spec.gosumdb", "NAME+HASH+KEY [URL]"],
}


def test_every_invalid_example_has_expectations() -> None:
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(INVALID_EXAMPLES)


@pytest.mark.parametrize(
    ("name", "expected"), [pytest.param(n, e, id=n) for n, e in INVALID_EXAMPLES.items()]
)
def test_invalid_example_is_refused(kubectl: Kubectl, namespace: str, name: str, expected: list[str]) -> None:
    result = dry_run(kubectl, namespace, (INVALID / name).read_text())
    assert result.returncode != 0, f"{name} was accepted"
    for text in expected:
        assert text in result.stderr


def test_invalid_example_is_refused_on_create_too(kubectl: Kubectl, namespace: str) -> None:
    """Not only dry-run: nothing is stored."""
    result = kubectl("create", "-n", namespace, "-f", str(INVALID / "bad-goproxy-url.yaml"), check=False)
    assert result.returncode != 0
    listed = kubectl("get", "gobuildconfigs", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == ""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"goproxy": ["ftp://mirror.example/"]}, ["spec.goproxy[0]"], id="goproxy-ftp"),
        pytest.param(
            {"goproxy": ["https://a.example,direct"]}, ["spec.goproxy[0]", '","'], id="goproxy-joined"
        ),
        pytest.param({"goproxy": []}, ["spec.goproxy", "at least 1 items"], id="goproxy-empty"),
        pytest.param(
            {"goproxy": ["direct", "direct"]}, ["spec.goproxy[1]", "Duplicate value"], id="goproxy-dup"
        ),
        pytest.param(
            {"goprivate": ["a.example/*,b.example/*"]}, ["spec.goprivate[0]", '","'], id="goprivate-joined"
        ),
        pytest.param({"unknownField": True}, ['unknown field "spec.unknownField"'], id="unknown-field"),
        pytest.param(
            {"privateModules": {"ssh": {"hosts": ["git.corp.example"]}}},
            ["spec.privateModules.ssh.secretName", "Required value"],
            id="ssh-without-secret",
        ),
        pytest.param(
            {"privateModules": {"netrc": {}}},
            ["spec.privateModules.netrc.secretName", "Required value"],
            id="netrc-without-secret",
        ),
        pytest.param(
            {"cache": {"existingClaim": "shared", "storageClassName": "nfs"}},
            ["spec.cache.storageClassName", "Forbidden"],
            id="claim-and-storageclass",
        ),
        pytest.param(
            {"cache": {"mountPath": "/go/../etc"}}, ["spec.cache.mountPath", '".."'], id="mountpath-dotdot"
        ),
        pytest.param(
            {"podSelector": {"matchLabels": {"bad key!": "x"}}},
            ["spec.podSelector.matchLabels", "label keys"],
            id="selector-bad-key",
        ),
        pytest.param(
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}},
            ["spec.podSelector.matchExpressions[0].operator", "Unsupported value"],
            id="selector-bad-op",
        ),
        pytest.param(
            {"reporting": {"probeModule": "https://golang.org/x/mod"}},
            ["spec.reporting.probeModule", "module path"],
            id="probe-module-url",
        ),
        pytest.param(
            {"imageBuilds": {"netrcSecretId": "id=x,src=/etc/passwd"}},
            ["spec.imageBuilds.netrcSecretId", "letters, digits"],
            id="build-secret-id-csv",
        ),
        pytest.param(
            {"imageBuilds": {"caSecretId": "netrc"}},
            ["spec.imageBuilds.caSecretId", "must differ"],
            id="build-secret-ids-distinct",
        ),
        pytest.param(
            {"caBundle": {"configMapName": "Corp_CA"}},
            ["spec.caBundle.configMapName", "object name"],
            id="cabundle-bad-name",
        ),
        pytest.param({"cache": {"size": "10GB"}}, ["spec.cache.size", "positive quantity"], id="size-GB"),
        pytest.param({"cache": {"size": "0"}}, ["spec.cache.size", "positive quantity"], id="size-zero"),
        pytest.param(
            {"cache": {"existingClaim": "shared", "accessModes": ["ReadWriteOnce"]}},
            ["spec.cache.accessModes", "Forbidden", "existingClaim"],
            id="claim-and-accessmodes",
        ),
        pytest.param(
            {"cache": {"mountPath": "/etc/gobuild/mod"}},
            ["spec.cache.mountPath", "Forbidden", "/etc/gobuild"],
            id="mountpath-over-operator-files",
        ),
        pytest.param(
            {"env": [{"name": "GIT_CONFIG_KEY_0", "value": "url.x.insteadOf"}]},
            ["spec.env[0].name", "Forbidden", "spec.privateModules"],
            id="env-git-config",
        ),
        pytest.param(
            {"env": [{"name": "GIT_CONFIG_COUNT", "value": "1"}]},
            ["spec.env[0].name", "GIT_CONFIG_COUNT is set from spec.privateModules"],
            id="env-git-config-count",
        ),
        pytest.param(
            {"env": [{"name": "http_proxy", "value": "http://p:3128"}]},
            ["spec.env[0].name", "http_proxy is set from spec.corporateProxy.httpProxy"],
            id="env-lowercase-proxy",
        ),
        pytest.param(
            {"privateModules": {"netrc": {"secretName": "netrc"}}, "env": [{"name": "NETRC", "value": "/n"}]},
            ["spec.env", "Forbidden", "spec.privateModules.netrc"],
            id="env-netrc-with-netrc",
        ),
        pytest.param(
            {
                "privateModules": {"ssh": {"secretName": "k", "hosts": ["git.corp.example"]}},
                "env": [{"name": "GIT_SSH_COMMAND", "value": "ssh"}],
            },
            ["spec.env", "Forbidden", "spec.privateModules.ssh"],
            id="env-ssh-command-with-ssh",
        ),
        pytest.param(
            {"caBundle": {"secretName": "ca"}, "env": [{"name": "SSL_CERT_DIR", "value": "/certs"}]},
            ["spec.env", "Forbidden", "spec.caBundle"],
            id="env-ssl-cert-dir-with-cabundle",
        ),
    ],
)
def test_invalid_spec_is_refused(
    kubectl: Kubectl, namespace: str, spec: dict[str, Any], expected: list[str]
) -> None:
    result = dry_run(kubectl, namespace, gbc(spec))
    assert result.returncode != 0, "accepted"
    for text in expected:
        assert text in result.stderr


# --- how it reads: short name, category, printer columns, explain -----------------------------------


@pytest.fixture
def no_operator(operator: OperatorProcess) -> Iterator[None]:
    """The status this test writes is the operator's to write: keep it from rewriting it meanwhile."""
    operator.stop()
    try:
        yield
    finally:
        operator.start()


def test_printer_columns_show_status(kubectl: Kubectl, namespace: str, no_operator: None) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=gbc({}, name="shown"))
    status = {
        "observedGeneration": 1,
        "goproxy": "https://goproxy.cn,direct",
        "gosumdb": "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org",
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "SecretNotFound",
                "message": 'Secret "git-ssh" not found',
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
        "proxies": [
            {
                "url": "https://goproxy.cn",
                "reachable": True,
                "latencyMs": 42,
                "lastProbeTime": "2026-01-01T00:00:00Z",
                "error": "",
            }
        ],
        "cache": {
            "claimName": "shown-gomodcache",
            "phase": "Bound",
            "capacity": "10Gi",
            "accessModes": ["ReadWriteMany"],
        },
        "downloads": {
            "injected": 3,
            "succeeded": 1,
            "failed": 2,
            "missedInjections": 0,
            "byReason": {"ProxyUnreachable": 2},
            "lastFailure": {
                "pod": "build-x",
                "container": "build",
                "reason": "ProxyUnreachable",
                "summary": "no GOPROXY answered",
                "remedy": "set spec.goproxy",
                "time": "2026-01-01T00:00:00Z",
            },
            "recentFailures": [],
        },
    }
    kubectl(
        "patch",
        "gobuildconfig",
        "shown",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert get_json(kubectl, namespace, "shown")["status"] == status, (
        "the API server pruned part of the status"
    )

    table = kubectl("get", "gbc", "shown", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "PROXY",
        "READY",
        "FAILED",
        "REASON",
        "AGE",
        "LAST-FAILURE",
        "DEFAULT",
    ]
    row = table[1].split()
    assert row[:5] == ["shown", "https://goproxy.cn,direct", "False", "2", "SecretNotFound"]
    assert row[6:] == ["ProxyUnreachable", "false"]


def test_category_lists_gobuildconfigs(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=gbc({}, name="listed"))
    assert (
        "gobuildconfig.gobuild.dev/listed" in kubectl("get", "gobuild", "-n", namespace, "-o", "name").stdout
    )


def test_recent_failures_capped_at_ten(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=gbc({}, name="capped"))
    failures = [{"pod": f"p{i}", "reason": "Unknown"} for i in range(11)]
    result = kubectl(
        "patch",
        "gobuildconfig",
        "capped",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"downloads": {"recentFailures": failures}}}),
        check=False,
    )
    assert result.returncode != 0
    assert "status.downloads.recentFailures" in result.stderr


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("gobuildconfig.spec.cache.size", "10Gi", id="size"),
        pytest.param("gbc.spec.goproxy", "direct", id="goproxy"),
        pytest.param("gbc.spec.proxyFallback", "OnAnyError", id="proxyFallback"),
        pytest.param("gbc.status.downloads.missedInjections", "webhook", id="missedInjections"),
    ],
)
def test_explain_reads_well(kubectl: Kubectl, field: str, expected: str) -> None:
    assert expected in kubectl("explain", field).stdout
