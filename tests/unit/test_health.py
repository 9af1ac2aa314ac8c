"""core.health and core.events: what the periodic checks ask, and how their answers read."""

from __future__ import annotations

from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.status.model import CacheStatus, Condition
from gobuild_operator.core.downloads.events import transition_events
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status import health
from gobuild_operator.core.status.health import Claim, Lookup, ProbeResult

NOW = "2026-01-02T03:04:05Z"


def condition(conditions: list[Condition], type_: str) -> Condition:
    found = cond.get_condition(conditions, type_)
    assert found is not None, f"no {type_} condition"
    return found


# --- probes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "escaped"),
    [
        pytest.param("golang.org/x/mod", "golang.org/x/mod", id="lowercase"),
        pytest.param("github.com/Azure/azure-sdk", "github.com/!azure/azure-sdk", id="capital"),
    ],
)
def test_escape_module_path(path: str, escaped: str) -> None:
    assert health.escape_module_path(path) == escaped


def test_probe_targets_skip_direct_and_off_and_note_file() -> None:
    spec = parse_spec(
        {
            "goproxy": ["https://goproxy.cn/", "http://athens.ci:3000", "file:///srv/mods", "direct", "off"],
            "reporting": {"probeModule": "github.com/Sirupsen/logrus"},
        }
    )
    targets = health.probe_targets(spec)
    assert [(t.url, t.probe_url) for t in targets] == [
        ("https://goproxy.cn/", "https://goproxy.cn/github.com/!sirupsen/logrus/@v/list"),
        ("http://athens.ci:3000", "http://athens.ci:3000/github.com/!sirupsen/logrus/@v/list"),
        ("file:///srv/mods", ""),
    ]
    assert targets[2].note == health.FILE_NOTE


@pytest.mark.parametrize(
    ("proxy", "url", "expected"),
    [
        pytest.param({}, "https://goproxy.cn", "", id="none"),
        pytest.param(
            {"httpsProxy": "http://squid:3128"}, "https://goproxy.cn", "http://squid:3128", id="https"
        ),
        pytest.param({"httpsProxy": "http://squid:3128"}, "http://athens", "", id="http-not-set"),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": [".corp"]},
            "https://goproxy.corp",
            "",
            id="no-proxy",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["corp"]},
            "https://a.corp",
            "",
            id="no-proxy-suffix",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["10.0.0.0/8"]},
            "https://10.96.0.12:3000",
            "",
            id="no-proxy-cidr",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["10.0.0.0/8"]},
            "https://192.168.1.2",
            "http://squid:3128",
            id="outside-the-cidr",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["fd00::/8"]},
            "https://[fd00::12]:3000",
            "",
            id="no-proxy-ipv6-cidr",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["192.168.1.2"]},
            "https://192.168.1.2",
            "",
            id="no-proxy-ip",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["goproxy.corp:443"]},
            "https://goproxy.corp",
            "",
            id="no-proxy-host-port",
        ),
        pytest.param(
            {"httpsProxy": "http://squid:3128", "noProxy": ["*"]}, "https://goproxy.cn", "", id="star"
        ),
    ],
)
def test_probes_take_the_corporate_proxy_like_builds(proxy: dict[str, Any], url: str, expected: str) -> None:
    spec = parse_spec({"goproxy": [url], "corporateProxy": proxy})
    assert health.corporate_proxy_for(spec, url) == expected


@pytest.mark.parametrize(
    ("status", "reachable", "error_part"),
    [
        pytest.param(200, True, "", id="ok"),
        pytest.param(404, True, "does not serve", id="not-found"),
        pytest.param(403, True, "credentials", id="forbidden"),
        pytest.param(502, False, "HTTP 502", id="bad-gateway"),
    ],
)
def test_http_verdict(status: int, reachable: bool, error_part: str) -> None:
    got_reachable, error = health.http_verdict(status, module="golang.org/x/mod")
    assert got_reachable is reachable
    assert error_part in error


def result(url: str, reachable: bool | None, error: str = "") -> ProbeResult:
    return ProbeResult(url, reachable, 12 if reachable else None, error, NOW)


@pytest.mark.parametrize(
    ("spec", "results", "status", "reason", "words"),
    [
        pytest.param({}, [result("https://p", True)], "True", "Reachable", ["https://p (12 ms)"], id="up"),
        pytest.param(
            {"goproxy": ["https://p", "direct"]},
            [result("https://p", False, "connection refused")],
            "False",
            "ProxyUnreachable",
            ["https://p unreachable: connection refused", "OnAnyError"],
            id="down-onnotfound",
        ),
        pytest.param(
            {"goproxy": ["https://p", "direct"], "proxyFallback": "OnAnyError"},
            [result("https://p", False, "refused")],
            "False",
            "PartlyUnreachable",
            ["https://p unreachable", "Builds are not stopped by it"],
            id="down-onanyerror",
        ),
        pytest.param({"goproxy": ["direct"]}, [], "True", "NothingToProbe", ["direct"], id="direct-only"),
        pytest.param(
            {"reporting": {"enabled": False}}, [], "Unknown", "ProbesDisabled", ["enabled"], id="off"
        ),
    ],
)
def test_proxies_condition(
    spec: dict[str, Any], results: list[ProbeResult], status: str, reason: str, words: list[str]
) -> None:
    got = condition(
        health.proxies_condition([], results, spec=parse_spec(spec), generation=1, now=NOW),
        "ProxiesReachable",
    )
    assert (got.status, got.reason) == (status, reason)
    for word in words:
        assert word in got.message


def test_an_unprobed_file_entry_keeps_a_note_and_no_reachable_field() -> None:
    shown = ProbeResult("file:///m", None, None, health.FILE_NOTE, NOW).to_status()
    assert shown.model_dump(by_alias=True, exclude_none=True) == {
        "url": "file:///m",
        "lastProbeTime": NOW,
        "error": health.FILE_NOTE,
    }


# --- referenced Secrets and ConfigMaps ---------------------------------------------------------

PRIVATE = {
    "privateModules": {
        "ssh": {"secretName": "git-ssh", "hosts": ["git.corp"], "knownHostsKey": "hosts"},
        "netrc": {"secretName": "netrc"},
    },
    "caBundle": {"configMapName": "corp-ca"},
}


@pytest.mark.parametrize(
    ("lookups", "status", "reason", "words"),
    [
        pytest.param(
            {
                ("Secret", "git-ssh"): Lookup(True, frozenset({"ssh-privatekey", "hosts"})),
                ("Secret", "netrc"): Lookup(True, frozenset({".netrc"})),
                ("ConfigMap", "corp-ca"): Lookup(True, frozenset({"ca.crt"})),
            },
            "True",
            "Resolved",
            ["Secret git-ssh (ssh-privatekey, hosts)", "ConfigMap corp-ca (ca.crt)"],
            id="all-there",
        ),
        pytest.param(
            {
                ("Secret", "git-ssh"): Lookup(False),
                ("Secret", "netrc"): Lookup(True, frozenset({".netrc"})),
                ("ConfigMap", "corp-ca"): Lookup(True, frozenset({"ca.crt"})),
            },
            "False",
            "SecretNotFound",
            ["Secret git-ssh not found (spec.privateModules.ssh.secretName)"],
            id="secret-missing",
        ),
        pytest.param(
            {
                ("Secret", "git-ssh"): Lookup(True, frozenset({"ssh-privatekey", "known_hosts"})),
                ("Secret", "netrc"): Lookup(True, frozenset({"netrc"})),
                ("ConfigMap", "corp-ca"): Lookup(False, error="forbidden"),
            },
            "False",
            "KeyNotFound",
            [
                "Secret git-ssh has no key hosts (spec.privateModules.ssh.knownHostsKey)",
                "Secret netrc has no key .netrc (spec.privateModules.netrc.secretName)",
                "cannot read ConfigMap corp-ca (spec.caBundle.configMapName): forbidden",
            ],
            id="keys-missing",
        ),
    ],
)
def test_secrets_condition_names_what_is_missing(
    lookups: dict[tuple[str, str], Lookup], status: str, reason: str, words: list[str]
) -> None:
    spec = parse_spec(PRIVATE)
    got = condition(
        health.secrets_condition([], health.references(spec), lookups, generation=1, now=NOW),
        "SecretsResolved",
    )
    assert (got.status, got.reason) == (status, reason)
    for word in words:
        assert word in got.message


def test_nothing_referenced_is_resolved() -> None:
    got = condition(health.secrets_condition([], [], {}, generation=1, now=NOW), "SecretsResolved")
    assert (got.status, got.reason) == ("True", "NothingReferenced")


def test_a_secret_ca_bundle_is_a_secret_reference() -> None:
    (ref,) = health.references(parse_spec({"caBundle": {"secretName": "ca", "key": "root.pem"}}))
    assert (ref.kind, ref.name, ref.field, ref.keys) == (
        "Secret",
        "ca",
        "spec.caBundle.secretName",
        (("root.pem", "spec.caBundle.key"),),
    )


# --- the cache claim ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache", "claim", "status", "reason", "words", "claim_name"),
    [
        pytest.param({}, None, "True", "CacheDisabled", ["enabled is false"], None, id="disabled"),
        pytest.param(
            {"enabled": True},
            Claim(True, "Bound", "10Gi", ("ReadWriteMany",)),
            "True",
            "Bound",
            ["go-gomodcache is bound (10Gi)"],
            "go-gomodcache",
            id="bound",
        ),
        pytest.param(
            {"enabled": True, "mode": "SharedVolume", "accessModes": ["ReadWriteOnce"]},
            Claim(True, "Bound", "10Gi", ("ReadWriteOnce",)),
            "True",
            "SingleNodeAccess",
            ["warning", "ReadWriteOnce", "Pods on one node", "ReadWriteMany", "every build that mounts"],
            "go-gomodcache",
            id="shared-volume-rwo-warning",
        ),
        pytest.param(
            {"enabled": True},
            Claim(True, "Pending", "", ("ReadWriteMany",)),
            "Unknown",
            "ClaimPending",
            ["Pending"],
            "go-gomodcache",
            id="pending",
        ),
        pytest.param(
            {"enabled": True, "existingClaim": "shared"},
            Claim(False),
            "False",
            "ClaimNotFound",
            ["shared not found (spec.cache.existingClaim)"],
            "shared",
            id="existing-missing",
        ),
        pytest.param(
            {"enabled": True},
            Claim(False, error="could not create it: HTTP 403 Forbidden"),
            "False",
            "ClaimNotCreated",
            ["403"],
            "go-gomodcache",
            id="cannot-create",
        ),
        pytest.param(
            {"enabled": True},
            Claim(True, "Lost", "", ()),
            "False",
            "ClaimLost",
            ["Lost"],
            "go-gomodcache",
            id="lost",
        ),
    ],
)
def test_cache_check(
    cache: dict[str, Any],
    claim: Claim | None,
    status: str,
    reason: str,
    words: list[str],
    claim_name: str | None,
) -> None:
    cache_status, conditions = health.cache_check(
        [], parse_spec({"cache": cache}), config_name="go", claim=claim, generation=1, now=NOW
    )
    got = condition(conditions, "CacheReady")
    assert (got.status, got.reason) == (status, reason)
    for word in words:
        assert word in got.message
    assert (cache_status.claim_name if cache_status else None) == claim_name


def test_cache_status_shape() -> None:
    cache_status, _ = health.cache_check(
        [],
        parse_spec({"cache": {"enabled": True, "mode": "SharedVolume"}}),
        config_name="go",
        claim=Claim(True, "Bound", "20Gi", ("ReadWriteMany",)),
        generation=1,
        now=NOW,
    )
    assert cache_status == CacheStatus(
        mode="SharedVolume",
        claim_name="go-gomodcache",
        phase="Bound",
        capacity="20Gi",
        access_modes=["ReadWriteMany"],
    )


URL = "http://go-gomodcache.builds.svc.cluster.local:8080"


@pytest.mark.parametrize(
    ("proxy", "status", "reason", "words"),
    [
        pytest.param(
            health.ProxyCache(found=False), "Unknown", "CacheStarting", ["own GOPROXY list"], id="none-yet"
        ),
        pytest.param(
            health.ProxyCache(found=True, problem='pods "go-gomodcache-x" is forbidden: exceeded quota'),
            "False",
            "CacheNotRunning",
            ["exceeded quota"],
            id="cannot-run",
        ),
        pytest.param(
            health.ProxyCache(found=True, available=True, hits=90, misses=10),
            "True",
            "Serving",
            [URL],
            id="serving",
        ),
    ],
)
def test_the_proxy_cache_is_ready_when_its_pod_serves(
    proxy: health.ProxyCache, status: str, reason: str, words: list[str]
) -> None:
    cache_status, conditions = health.cache_check(
        [],
        parse_spec({"cache": {"enabled": True}}),
        config_name="go",
        claim=Claim(True, "Bound", "10Gi", ("ReadWriteOnce",)),
        proxy=proxy,
        url=URL,
        generation=1,
        now=NOW,
    )
    got = condition(conditions, "CacheReady")
    assert (got.status, got.reason) == (status, reason)
    assert all(word in got.message for word in words), got.message
    assert cache_status is not None
    assert (cache_status.mode, cache_status.url) == ("Proxy", URL)
    if proxy.hits is not None:
        assert (cache_status.hits, cache_status.misses, cache_status.hit_ratio) == (90, 10, 0.9)


# --- Events on condition changes ---------------------------------------------------------------


def secrets(status: str, reason: str) -> list[Condition]:
    return cond.set_condition(
        [], type="SecretsResolved", status=status, reason=reason, message="m", generation=1, now=NOW
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(
            [], secrets("False", "SecretNotFound"), [("Warning", "SecretNotFound")], id="new-problem"
        ),
        pytest.param(
            secrets("False", "SecretNotFound"), secrets("False", "SecretNotFound"), [], id="same-problem"
        ),
        pytest.param(
            secrets("False", "SecretNotFound"),
            secrets("False", "KeyNotFound"),
            [("Warning", "KeyNotFound")],
            id="changed",
        ),
        pytest.param(
            secrets("False", "SecretNotFound"),
            secrets("True", "Resolved"),
            [("Normal", "Resolved")],
            id="fixed",
        ),
        pytest.param([], secrets("True", "Resolved"), [], id="fine-from-the-start"),
    ],
)
def test_transition_events(
    before: list[Condition], after: list[Condition], expected: list[tuple[str, str]]
) -> None:
    assert [(e.type, e.reason) for e in transition_events(before, after)] == expected


def test_initial_downloads_condition_keeps_real_outcomes() -> None:
    first = health.initial_downloads_condition([], enabled=True, generation=1, now=NOW)
    assert condition(first, "DownloadsHealthy").reason == "NoBuildsYet"
    real = cond.set_condition(
        first, type="DownloadsHealthy", status="False", reason="DiskFull", message="x", generation=1, now=NOW
    )
    assert (
        condition(
            health.initial_downloads_condition(real, enabled=True, generation=1, now=NOW), "DownloadsHealthy"
        ).reason
        == "DiskFull"
    )
    off = health.initial_downloads_condition(real, enabled=False, generation=1, now=NOW)
    assert condition(off, "DownloadsHealthy").reason == "ReportingDisabled"
