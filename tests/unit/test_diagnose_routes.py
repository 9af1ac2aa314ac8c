"""Which route failed, named right, with the remedy that fixes it; the status and `diagnose` agree.

A failed request is placed on go's route through GOPROXY (entries and separators), GOPRIVATE and
GONOPROXY: a module a mirror lacks shows in the log only as the error of the entry after it
(`direct` or `off`); a network error is a download failure only when it is go's (or git's) request;
the remedy depends on the route (falling back to `direct` is no advice where builds have no egress)
and on the workload (an image build's RUN step needs the CA as a build secret). Every log here is
recorded (tests/fixtures/gofailures); only the settings vary.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.status.model import Downloads, Failure, GoBuildConfigStatus, ProxyStatus
from gobuild_operator.cli.diagnose import main as diagnose_cli
from gobuild_operator.core.diagnosis.diagnose import diagnose
from gobuild_operator.core.diagnosis.routes import IMAGE_BUILD, POD, GoSettings
from gobuild_operator.core.downloads import counting, observe
from gobuild_operator.core.downloads.events import pod_event
from gobuild_operator.core.plan import build_plan
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status import health
from gobuild_operator.core.status.compose import Findings, SpecView, with_findings, with_spec
from gobuild_operator.handlers.admission import probe_warnings
from gobuild_operator.store import Store
from support.gofailures import recorded

NOW = "2026-03-04T05:06:07Z"
MIRROR = "https://goproxy.corp.invalid"


# --- routes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "reason", "module", "host", "route", "remedy_words"),
    [
        pytest.param(
            "mirror_missing_module_then_off",
            "ModuleNotFound",
            "example.com/nosuch",
            "goproxy.corp.invalid",
            "proxy",
            ["goproxy.corp.invalid: it does not have example.com/nosuch", 'before "off"', "spec.goprivate"],
            id="mirror-then-off",
        ),
        pytest.param(
            "mirror_missing_module_then_direct",
            "ModuleNotFound",
            "example.com/nosuch",
            "goproxy.corp.invalid",
            "proxy",
            ["does not have example.com/nosuch", "OnAnyError changes nothing here", 'before "direct"'],
            id="mirror-then-direct-without-egress",
        ),
        pytest.param(
            "proxy_refused_then_direct",
            "DNSResolutionFailed",
            "example.com/nosuch",
            "example.com",
            "direct",
            ["from its origin example.com itself", "after goproxy.corp.invalid:8081 failed"],
            id="refused-proxy-then-direct",
        ),
        pytest.param(
            "proxy_404",
            "ModuleNotFound",
            "example.com/nosuch",
            "goproxy.corp.invalid",
            "proxy",
            ["The proxy goproxy.corp.invalid does not have example.com/nosuch"],
            id="proxy-404",
        ),
        pytest.param(
            "proxy_404_origin_credentials",
            "AuthenticationFailed",
            "git.corp.invalid/team/secret",
            "athens.corp.invalid",
            "proxy",
            ["athens.corp.invalid could not read git.corp.invalid/team/secret", '"git.corp.invalid"'],
            id="proxy-without-origin-credentials",
        ),
        pytest.param(
            "sumdb_private_module_410",
            "SumDBModuleNotFound",
            "example.com/hello",
            "sumgone.corp.invalid",
            "sumdb",
            ['Add "example.com" to spec.goprivate'],
            id="private-module-in-the-checksum-database",
        ),
        pytest.param(
            "git_ssh_refused",
            "ProxyUnreachable",
            "git.corp.invalid/team/lib",
            "git.corp.invalid:8081",
            "vcs",
            ["GOPRIVATE covers it", "egress"],
            id="private-module-over-ssh",
        ),
    ],
)
def test_the_route_that_failed_is_named(
    case: str, reason: str, module: str, host: str, route: str, remedy_words: list[str]
) -> None:
    r = recorded(case)
    got = diagnose(r.text, settings=r.settings, workload=POD)
    assert (got.reason, got.module, got.host, got.route) == (reason, module, host, route), got.evidence
    for words in remedy_words:
        assert words in got.remedy


@pytest.mark.parametrize(
    ("goproxy", "words"),
    [
        pytest.param("http://goproxy.corp.invalid:8081", "It is the last entry of spec.goproxy", id="alone"),
        pytest.param(
            "http://goproxy.corp.invalid:8081,https://mirror2.corp.invalid,direct",
            "go does not move past it to mirror2.corp.invalid: set spec.proxyFallback: OnAnyError",
            id="a-second-mirror-behind-a-comma",
        ),
        pytest.param(
            "http://goproxy.corp.invalid:8081,direct",
            'OnAnyError would only send go to "direct", which works only where builds reach',
            id="only-direct-behind-it",
        ),
    ],
)
def test_the_advice_for_an_unreachable_proxy_depends_on_what_follows_it(goproxy: str, words: str) -> None:
    got = diagnose(recorded("proxy_connection_refused").text, settings=GoSettings(goproxy=goproxy))
    assert (got.reason, got.host, got.route) == ("ProxyUnreachable", "goproxy.corp.invalid:8081", "proxy")
    assert words in got.remedy


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        pytest.param(GoSettings(goproxy=f"{MIRROR},off"), "ModuleNotFound", id="mirror-comma-off"),
        pytest.param(GoSettings(goproxy=f"{MIRROR}|off"), "LookupDisabled", id="any-error-moves-on"),
        pytest.param(GoSettings(goproxy="off"), "LookupDisabled", id="off-alone"),
        pytest.param(
            GoSettings(goproxy=f"{MIRROR},off", goprivate="example.com"), "LookupDisabled", id="private"
        ),
        pytest.param(None, "LookupDisabled", id="settings-unknown"),
    ],
)
def test_off_after_a_mirror_is_the_mirror_lacking_the_module_only_on_that_route(
    settings: GoSettings | None, reason: str
) -> None:
    assert diagnose(recorded("mirror_missing_module_then_off").text, settings=settings).reason == reason


@pytest.mark.parametrize(
    "case", ["go_test_database_refused", "go_test_assertion_failed", "compile_error"], ids=str
)
def test_a_build_s_own_failure_is_not_blamed_on_the_proxy(case: str) -> None:
    r = recorded(case)
    for settings in (None, r.settings, GoSettings(goproxy=f"{MIRROR},direct")):
        got = diagnose(r.text, settings=settings)
        assert (got.reason, got.host) == ("Unknown", ""), got.evidence


# --- remedies from the workload and the settings --------------------------------------------------


def test_an_image_build_is_told_to_mount_the_ca_as_a_build_secret() -> None:
    text = recorded("corporate_proxy_tls_interception").text
    pod, build = diagnose(text, workload=POD), diagnose(text, workload=IMAGE_BUILD)
    assert pod.reason == build.reason == "CertificateUntrusted"
    assert "--mount=type=secret" not in pod.remedy
    assert "RUN --mount=type=secret,id=gobuild-ca,target=/etc/ssl/certs/gobuild-ca.pem" in build.remedy


@pytest.mark.parametrize(
    "case", ["buildkit_goproxy_not_passed", "buildah_goproxy_not_passed", "buildkit_goprivate_not_passed"]
)
def test_settings_not_passed_names_exactly_the_args_the_config_sets(case: str) -> None:
    r = recorded(case)
    got = diagnose(r.text, settings=r.settings)
    assert got.reason == "BuildSettingsNotPassed"
    assert r.settings is not None
    assert f"`ARG {' '.join(r.settings.declared)}`" in got.remedy


def test_a_proxy_refused_in_an_image_build_that_asked_the_default_proxy_is_settings_not_passed() -> None:
    r = recorded("buildkit_goproxy_not_passed")
    assert diagnose(r.text, settings=GoSettings(goproxy=MIRROR)).reason == "BuildSettingsNotPassed"
    assert diagnose(r.text, settings=GoSettings(goproxy=MIRROR), workload=POD).reason != (
        "BuildSettingsNotPassed"
    ), "a Pod's go reads the injected env itself"


# --- the status says what diagnose says -----------------------------------------------------------


def _config_file(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / "gbc.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "gobuild.dev/v1alpha1",
                "kind": "GoBuildConfig",
                "metadata": {"name": "m"},
                "spec": spec,
            }
        )
    )
    return path


def _failed_pod(spec: dict[str, Any], log: str) -> dict[str, Any]:
    plan = build_plan(config_name="m", spec=parse_spec(spec))
    env = [{"name": var.name, "value": var.value} for var in plan.env]
    return {
        "metadata": {"name": "build-1", "uid": "u1", "annotations": {"gobuild.dev/injected": "m"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "build", "image": "golang", "env": env}]},
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "build", "state": {"terminated": {"exitCode": 1, "message": log}}}
            ],
        },
    }


@pytest.mark.parametrize(
    ("case", "spec"),
    [
        pytest.param("mirror_missing_module_then_off", {"goproxy": [MIRROR, "off"]}, id="mirror-then-off"),
        pytest.param(
            "mirror_missing_module_then_direct", {"goproxy": [MIRROR, "direct"]}, id="mirror-then-direct"
        ),
        pytest.param(
            "proxy_connection_refused",
            {"goproxy": ["http://goproxy.corp.invalid:8081", "direct"]},
            id="refused",
        ),
    ],
)
def test_the_status_and_the_cli_say_the_same(
    case: str,
    spec: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = recorded(case).text
    obs = observe.observe(_failed_pod(spec, log), known=0, now=NOW)
    assert obs is not None
    assert obs.failure is not None
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(log.encode())))
    code = diagnose_cli(
        ["-", "--config", str(_config_file(tmp_path, spec)), "--workload", "pod", "-o", "json"]
    )
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    failure = obs.failure
    assert (shown["reason"], shown["module"], shown["host"], shown["route"]) == (
        failure.reason,
        failure.module,
        failure.host,
        failure.route,
    )
    assert shown["remedy"] == failure.remedy


def test_the_event_and_the_condition_name_the_module_and_the_proxy() -> None:
    spec = {"goproxy": [MIRROR, "off"]}
    obs = observe.observe(
        _failed_pod(spec, recorded("mirror_missing_module_then_off").text), known=0, now=NOW
    )
    assert obs is not None
    result = counting.apply_batch(GoBuildConfigStatus(), [obs], generation=1, now=NOW)
    healthy = cond.get_condition(result.status.conditions, cond.DOWNLOADS_HEALTHY)
    assert healthy is not None
    assert (healthy.status, healthy.reason) == ("False", "ModuleNotFound")
    assert "fetching example.com/nosuch from the proxy goproxy.corp.invalid" in healthy.message
    event = pod_event(obs, config="m")
    assert event is not None
    assert "example.com/nosuch" in event.message
    assert "goproxy.corp.invalid" in event.message


# --- conditions that never contradict each other --------------------------------------------------


def _status_after_failure(case: str, spec: dict[str, Any], probed: list[ProxyStatus]) -> GoBuildConfigStatus:
    obs = observe.observe(_failed_pod(spec, recorded(case).text), known=0, now=NOW)
    assert obs is not None
    start = with_spec(GoBuildConfigStatus(), SpecView(parse_spec(spec), generation=1), now=NOW)
    start = start.model_copy(update={"proxies": probed})
    start = start.model_copy(
        update={
            "conditions": cond.set_condition(
                start.conditions,
                type=cond.PROXIES_REACHABLE,
                status="True",
                reason="Reachable",
                message="up",
                generation=1,
                now=NOW,
            )
        }
    )
    return counting.apply_batch(start, [obs], generation=1, now=NOW).status


def _condition(status: GoBuildConfigStatus, type_: str) -> tuple[str, str]:
    found = cond.get_condition(status.conditions, type_)
    assert found is not None
    return found.status, found.reason


def test_a_module_a_mirror_lacks_does_not_contradict_a_reachable_mirror() -> None:
    up = [ProxyStatus(url=MIRROR, reachable=True, latency_ms=3)]
    status = _status_after_failure("mirror_missing_module_then_off", {"goproxy": [MIRROR, "off"]}, up)
    assert _condition(status, cond.DOWNLOADS_HEALTHY) == ("False", "ModuleNotFound")
    assert _condition(status, cond.PROXIES_REACHABLE) == ("True", "Reachable")


def test_a_proxy_the_probe_reaches_but_the_build_could_not_is_not_reported_reachable() -> None:
    url = "http://goproxy.corp.invalid:8081"
    up = [ProxyStatus(url=url, reachable=True, latency_ms=3)]
    status = _status_after_failure("proxy_connection_refused", {"goproxy": [url]}, up)
    assert _condition(status, cond.DOWNLOADS_HEALTHY) == ("False", "ProxyUnreachable")
    assert _condition(status, cond.PROXIES_REACHABLE) == ("False", "UnreachableFromBuilds")
    assert _condition(status, cond.READY) == ("False", "UnreachableFromBuilds")
    # the next probe round keeps it while the latest build says otherwise
    spec = parse_spec({"goproxy": [url]})
    probe = health.ProbeResult(url, True, 3, "", NOW)
    again = with_findings(
        status,
        Findings(spec=spec, config_name="m", results=[probe], refs=[], lookups={}, claim=None),
        generation=1,
        now=NOW,
    )
    assert _condition(again, cond.PROXIES_REACHABLE) == ("False", "UnreachableFromBuilds")
    # a build that succeeds settles it
    ok = observe.Observation(uid="u2", pod="build-2", stage="succeeded")
    settled = counting.apply_batch(again, [ok], generation=1, now=NOW).status
    assert _condition(settled, cond.PROXIES_REACHABLE) == ("True", "Reachable")
    assert _condition(settled, cond.READY)[0] == "True"


@pytest.mark.parametrize(
    ("spec", "probes", "ready", "reason"),
    [
        pytest.param(
            {"goproxy": ["https://p"]}, {"https://p": False}, "False", "ProxyUnreachable", id="alone"
        ),
        pytest.param(
            {"goproxy": ["https://p", "direct"]},
            {"https://p": False},
            "False",
            "ProxyUnreachable",
            id="comma",
        ),
        pytest.param(
            {"goproxy": ["https://p", "direct"], "proxyFallback": "OnAnyError"},
            {"https://p": False},
            "True",
            "PartlyUnreachable",
            id="any-error-to-direct",
        ),
        pytest.param(
            {"goproxy": ["https://p", "https://q"], "proxyFallback": "OnAnyError"},
            {"https://p": False, "https://q": False},
            "False",
            "ProxyUnreachable",
            id="every-proxy-down",
        ),
        pytest.param(
            {"goproxy": ["https://p", "https://q"]},
            {"https://p": True, "https://q": False},
            "True",
            "PartlyUnreachable",
            id="a-later-proxy-down-behind-a-working-one",
        ),
    ],
)
def test_ready_follows_probes_builds_cannot_get_past(
    spec: dict[str, Any], probes: dict[str, bool], ready: str, reason: str
) -> None:
    results = [
        health.ProbeResult(url, up, 3 if up else None, "" if up else "refused", NOW)
        for url, up in probes.items()
    ]
    status = with_findings(
        with_spec(GoBuildConfigStatus(), SpecView(parse_spec(spec), generation=1), now=NOW),
        Findings(spec=parse_spec(spec), config_name="m", results=results, refs=[], lookups={}, claim=None),
        generation=1,
        now=NOW,
    )
    assert _condition(status, cond.PROXIES_REACHABLE) == ("False", reason)
    assert _condition(status, cond.READY)[0] == ready


def test_a_failure_keeps_no_evidence_line_but_names_module_and_host() -> None:
    failure = Failure(
        pod="p", reason="ModuleNotFound", module="example.com/x", host="goproxy.corp.invalid", route="proxy"
    )
    dumped = Downloads(last_failure=failure).model_dump(by_alias=True, exclude_defaults=True)
    assert dumped["lastFailure"]["module"] == "example.com/x"
    assert observe.about(failure) == " fetching example.com/x from the proxy goproxy.corp.invalid"


# --- what admission tells whoever creates a build ----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "effect"),
    [
        pytest.param({"goproxy": ["https://p"]}, "builds fail at go mod download", id="blocking"),
        pytest.param(
            {"goproxy": ["https://p", "direct"], "proxyFallback": "OnAnyError"},
            "go moves on past it to the next spec.goproxy entry",
            id="passed-by",
        ),
    ],
)
def test_every_replica_warns_of_the_failing_probes_its_watch_shows(spec: dict[str, Any], effect: str) -> None:
    """The leader probes and writes the status; any replica's webhook warns from the config it watches."""
    parsed = parse_spec(spec)

    def stored(up: bool, *, generation: int = 1) -> dict[str, Any]:
        results = [
            health.ProbeResult("https://p", up, 3 if up else None, "" if up else "could not connect", NOW)
        ]
        status = with_findings(
            with_spec(GoBuildConfigStatus(), SpecView(parsed, generation=1), now=NOW),
            Findings(spec=parsed, config_name="m", results=results, refs=[], lookups={}, claim=None),
            generation=1,
            now=NOW,
        )
        return {
            "metadata": {"namespace": "ns", "name": "m", "uid": "u", "generation": generation},
            "spec": spec,
            "status": status.model_dump(by_alias=True, exclude_defaults=True),
        }

    store = Store()
    store.put_config(stored(up=False))
    [warning] = probe_warnings(store, "ns", "m")
    assert f"m: the GOPROXY probe at {NOW} failed: https://p: could not connect" in warning
    assert effect in warning
    store.put_config(stored(up=False, generation=2))
    assert probe_warnings(store, "ns", "m") == [], "probes of an older spec say nothing of this one"
    store.put_config(stored(up=True))
    assert probe_warnings(store, "ns", "m") == []
    store.put_config(stored(up=False))
    store.remove_config("ns", "m")
    assert probe_warnings(store, "ns", "m") == []
