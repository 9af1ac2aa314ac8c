"""One status from its parts (core/status/compose.py): what the spec says, what the checks found,
and how a part written later keeps what the others wrote."""

from __future__ import annotations

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.status.model import Downloads, GoBuildConfigStatus
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status import health
from gobuild_operator.core.status.compose import Findings, SpecView, with_findings, with_spec
from gobuild_operator.k8s.status import dump, merge_patch, read_status

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-02-02T00:00:00Z"


def test_the_spec_part_of_a_valid_spec() -> None:
    spec = parse_spec({"goproxy": ["https://goproxy.cn", "direct"], "proxyFallback": "OnAnyError"})
    status = with_spec(GoBuildConfigStatus(), SpecView(spec, generation=3), now=NOW)
    assert status.observed_generation == 3
    assert (status.goproxy, status.gosumdb) == ("https://goproxy.cn|direct", "")
    valid = cond.get_condition(status.conditions, cond.SPEC_VALID)
    assert valid is not None
    assert (valid.status, valid.reason, valid.observed_generation) == ("True", "Valid", 3)


def test_an_invalid_spec_says_why_and_keeps_the_rest() -> None:
    current = GoBuildConfigStatus(goproxy="https://old,direct", downloads=Downloads(failed=2))
    status = with_spec(current, SpecView(None, generation=4, error="spec.goproxy[0]: bad"), now=NOW)
    assert status.goproxy == "https://old,direct", "the last good value stays until a valid spec"
    assert status.downloads == Downloads(failed=2)
    ready = cond.get_condition(status.conditions, cond.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "InvalidSpec")
    assert "spec.goproxy[0]: bad" in ready.message


def test_the_transition_time_stays_while_nothing_changes() -> None:
    spec = parse_spec({})
    first = with_spec(GoBuildConfigStatus(), SpecView(spec, generation=1), now=NOW)
    second = with_spec(first, SpecView(spec, generation=2), now=LATER)
    valid = cond.get_condition(second.conditions, cond.SPEC_VALID)
    assert valid is not None
    assert (valid.last_transition_time, valid.observed_generation) == (NOW, 2)


def _findings(*, reachable: bool) -> Findings:
    spec = parse_spec({"goproxy": ["https://goproxy.corp"]})
    result = health.ProbeResult("https://goproxy.corp", reachable, 12, "" if reachable else "refused", NOW)
    return Findings(spec=spec, config_name="go", results=[result], refs=[], lookups={}, claim=None)


def test_findings_and_spec_make_one_ready_whatever_their_order() -> None:
    view = SpecView(parse_spec({"goproxy": ["https://goproxy.corp"]}), generation=1)
    a = with_findings(
        with_spec(GoBuildConfigStatus(), view, now=NOW), _findings(reachable=False), generation=1, now=NOW
    )
    b = with_spec(
        with_findings(GoBuildConfigStatus(), _findings(reachable=False), generation=1, now=NOW), view, now=NOW
    )
    assert dump(a) == dump(b)
    reachable = cond.get_condition(a.conditions, cond.PROXIES_REACHABLE)
    assert reachable is not None
    assert reachable.status == "False"
    assert [p.url for p in a.proxies] == ["https://goproxy.corp"]
    ready = cond.get_condition(a.conditions, cond.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "ProxyUnreachable"), (
        "builds cannot get past the only proxy: the config is not Ready"
    )


def test_a_status_write_removes_what_the_new_status_no_longer_has() -> None:
    current = {"cache": {"claimName": "go-gomodcache", "capacity": "10Gi"}, "goproxy": "a"}
    new = {"cache": {"claimName": "go-gomodcache"}, "goproxy": "a"}
    assert merge_patch(current, new) == {"cache": {"capacity": None}}
    assert merge_patch(new, {"goproxy": "a"}) == {"cache": None}
    assert merge_patch(new, new) == {}


def test_a_stored_status_with_a_field_of_another_schema_keeps_the_rest() -> None:
    status = read_status({"goproxy": "https://x", "downloads": {"injected": 3}, "proxies": "not a list"})
    assert status.goproxy == "https://x"
    assert status.downloads is not None
    assert status.downloads.injected == 3
    assert status.proxies == []
