"""What the operator runs for a GoBuildConfig's Proxy cache (core/proxycache/deployment.py), and how
builds and image builders are given it (core/injection)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.configspec.policy import Policy, problems
from gobuild_operator.core.injection.mutate import mutate
from gobuild_operator.core.plan import build_plan
from gobuild_operator.core.proxycache.deployment import CacheAccess, CacheImage, cache_objects
from gobuild_operator.core.proxycache.settings import CacheSettings

IMAGE = CacheImage("registry.example/gobuild-operator:1.2.3")
CORP = {
    "goproxy": ["https://goproxy.corp.example", "https://proxy.golang.org", "direct"],
    "proxyFallback": "OnAnyError",
    "gosumdb": "sum.golang.org",
    "goprivate": ["git.corp.example/*"],
    "corporateProxy": {"httpsProxy": "http://proxy.corp.example:3128", "noProxy": [".corp.example"]},
    "privateModules": {"netrc": {"secretName": "tokens"}},
    "caBundle": {"configMapName": "corp-ca"},
    "cache": {"enabled": True, "size": "20Gi"},
}


ACCESS = CacheAccess("gobuild-system", ("monitoring",))


def objects(spec: dict[str, Any], *, access: CacheAccess | None = ACCESS) -> dict[str, dict[str, Any]]:
    found = cache_objects(
        config_name="go",
        namespace="builds",
        config_uid="uid-1",
        spec=parse_spec(spec),
        image=IMAGE,
        access=access,
    )
    return {obj["kind"]: obj for obj in found}


def test_the_cache_fetches_as_the_config_says_builds_would() -> None:
    settings = CacheSettings.from_mapping(json.loads(objects(CORP)["ConfigMap"]["data"]["config.json"]))
    assert settings.goproxy == "https://goproxy.corp.example|https://proxy.golang.org|direct"
    assert (settings.gosumdb, settings.goprivate) == ("sum.golang.org", ("git.corp.example/*",))
    assert (settings.https_proxy, settings.no_proxy) == ("http://proxy.corp.example:3128", (".corp.example",))
    assert settings.netrc_file == "/etc/gomodcache/netrc/.netrc"
    assert settings.ca_file == "/etc/gomodcache/ca/ca.crt"
    assert settings.max_bytes == int(20 * 1024**3 * 0.85), "room on the claim for downloads in flight"


def test_the_cache_runs_the_operators_image_with_nothing_it_does_not_need() -> None:
    deployment = objects(CORP)["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE.image
    assert container["command"][:3] == ["python", "-m", "gobuild_operator.modcache"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["storage"] == {"name": "storage", "persistentVolumeClaim": {"claimName": "go-gomodcache"}}
    assert volumes["netrc"]["secret"]["secretName"] == "tokens"
    assert volumes["ca"]["configMap"]["name"] == "corp-ca"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}, "one Pod on a ReadWriteOnce claim"
    assert deployment["spec"]["template"]["metadata"]["annotations"]["gobuild.dev/inject"] == "false"
    plain = objects({"cache": {"enabled": True}})["Deployment"]["spec"]["template"]["spec"]
    assert {volume["name"] for volume in plain["volumes"]} == {"config", "storage"}


def test_every_object_is_the_configs_and_says_it_is_a_cache() -> None:
    """What the chart's cache-writes policy lets the operator's account write."""
    for obj in objects(CORP).values():
        metadata = obj["metadata"]
        assert metadata["name"] == "go-gomodcache"
        assert metadata["labels"]["app.kubernetes.io/component"] == "gomodcache"
        assert metadata["ownerReferences"][0]["kind"] == "GoBuildConfig"
        assert metadata["ownerReferences"][0]["uid"] == "uid-1"


def test_only_the_configs_namespace_the_operator_and_the_admins_namespaces_may_reach_the_cache() -> None:
    """A cache holds what its config's credentials fetched: another namespace's Pods are not admitted."""
    policy = objects(CORP)["NetworkPolicy"]["spec"]
    pods = objects(CORP)["Deployment"]["spec"]["template"]["metadata"]["labels"]

    selected = policy["podSelector"]["matchLabels"]
    assert selected.items() <= pods.items()
    assert selected["app.kubernetes.io/name"] == "gomodcache"
    assert selected["app.kubernetes.io/instance"] == "go"  # this config's cache, no other
    assert policy["policyTypes"] == ["Ingress"]  # its fetches from the upstreams are not touched
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert rule["from"] == [
        {"podSelector": {}},  # Pods of the policy's own namespace: the builds
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gobuild-system"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_the_configs_own_namespace_is_admitted_once_and_no_policy_is_made_when_the_admin_says_so() -> None:
    same = objects(CORP, access=CacheAccess("builds", ("builds", "monitoring", "monitoring")))
    assert same["NetworkPolicy"]["spec"]["ingress"][0]["from"] == [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]
    assert "NetworkPolicy" not in objects(CORP, access=None)


def test_a_new_upstream_rolls_the_cache() -> None:
    def stamp(spec: dict[str, Any]) -> str:
        return str(
            objects(spec)["Deployment"]["spec"]["template"]["metadata"]["annotations"]["gobuild.dev/settings"]
        )

    assert stamp(CORP) == stamp(CORP)
    assert stamp(CORP) != stamp({**CORP, "goproxy": ["https://goproxy.cn"]})


def _pod(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "b"},
        "spec": {"containers": list(containers)},
    }


BUILDCTL = {"name": "image", "image": "moby/buildkit", "command": ["buildctl-daemonless.sh", "build"]}
GO = {"name": "go", "image": "golang:1.26", "command": ["go", "build"]}
KANIKO = {"name": "kaniko", "image": "gcr.io/kaniko-project/executor", "args": ["--context=dir:///ws"]}


@pytest.mark.parametrize(
    ("cache", "container", "mounted"),
    [
        pytest.param({"enabled": True}, GO, True, id="proxy-go-build"),
        pytest.param({"enabled": True}, BUILDCTL, False, id="proxy-builder"),
        pytest.param({"enabled": True}, KANIKO, False, id="proxy-kaniko"),
        pytest.param({"enabled": True, "mode": "SharedVolume"}, GO, True, id="shared-go-build"),
        pytest.param({"enabled": True, "mode": "SharedVolume"}, BUILDCTL, False, id="shared-builder"),
        pytest.param({"enabled": True, "mode": "SharedVolume"}, KANIKO, True, id="shared-kaniko-runs-in-it"),
    ],
)
def test_no_module_cache_is_given_to_a_builder_that_cannot_use_it(
    cache: dict[str, Any], container: dict[str, Any], mounted: bool
) -> None:
    spec = parse_spec({"cache": cache})
    plan = build_plan(config_name="go", namespace="builds", spec=spec)
    result = mutate(_pod(dict(container)), kind="Pod", plan=plan, override_env=False, containers=())
    pod = result.obj["spec"]
    (out,) = pod["containers"]
    names = {var["name"] for var in out.get("env") or []}
    assert ("GOMODCACHE" in names) is mounted
    assert any(m["name"] == "gobuild-cache" for m in out.get("volumeMounts") or []) is mounted
    assert any(v["name"] == "gobuild-cache" for v in pod.get("volumes") or []) is mounted, (
        "a volume no container mounts is not added (an unused claim would still pin the Pod's node)"
    )
    assert "GOPROXY" in names
    assert not any("could not be mounted" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("cache", "policy", "refused"),
    [
        pytest.param({"size": "100Gi"}, Policy(max_cache_size="50Gi"), "spec.cache.size", id="too-big"),
        pytest.param({"size": "50Gi"}, Policy(max_cache_size="50Gi"), None, id="at-the-bound"),
        pytest.param({}, Policy(max_cache_size="5Gi"), "spec.cache.size", id="the-default-size-too"),
        pytest.param({"existingClaim": "mine"}, Policy(max_cache_size="1Gi"), None, id="their-own-claim"),
        pytest.param(
            {"storageClassName": "premium"},
            Policy(cache_storage_classes=frozenset({"standard"})),
            "spec.cache.storageClassName",
            id="class-not-allowed",
        ),
        pytest.param({}, Policy(cache_storage_classes=frozenset({"standard"})), None, id="default-class"),
    ],
)
def test_the_claims_the_operator_creates_stay_within_the_admins_bounds(
    cache: dict[str, Any], policy: Policy, refused: str | None
) -> None:
    found = problems(parse_spec({"cache": {"enabled": True, **cache}}), policy)
    if refused is None:
        assert found == []
    else:
        (problem,) = found
        assert problem.startswith(refused)
