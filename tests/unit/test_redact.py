"""Hardening #6: a credential written into a URL is shown nowhere.

The CRD and the model refuse credentials in URLs (tests/unit/test_api.py,
tests/integration/test_hardening.py). What is tested here is the second line: a spec stored under an
older CRD (built with `model_construct`, which skips validation, the way such an object reaches
the operator when its own parse is bypassed) still shows no credential in anything the operator
writes or serves: status.proxies, status.goproxy/gosumdb (and so `kubectl get gbc`), conditions,
Events, metric labels, admission warnings and logs.
"""

from __future__ import annotations

import io
import logging

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import generate_latest

from gobuild_operator.api.configspec.blocks import CorporateProxy, Reporting
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.status.model import GoBuildConfigStatus
from gobuild_operator.core.downloads.events import transition_events
from gobuild_operator.core.status import health
from gobuild_operator.core.status.compose import Findings, SpecView, with_findings, with_spec
from gobuild_operator.k8s.status import dump
from gobuild_operator.metrics import Metrics
from gobuild_operator.redact import RedactingFilter, has_userinfo, redact_text, redact_url
from gobuild_operator.reporting.checker import ConfigChecker
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store
from support.hostile import TOKEN

NOW = "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(f"https://{TOKEN}@goproxy.corp", "https://***@goproxy.corp", id="token-as-user"),
        pytest.param(f"https://ci:{TOKEN}@goproxy.corp/x", "https://***@goproxy.corp/x", id="user-password"),
        pytest.param(f"https://:{TOKEN}@goproxy.corp", "https://***@goproxy.corp", id="empty-user"),
        pytest.param(f"http://a@{TOKEN}@proxy:3128", "http://***@proxy:3128", id="two-at-signs"),
        pytest.param("https://goproxy.corp/@v/list", "https://goproxy.corp/@v/list", id="at-in-path"),
        pytest.param("file:///srv/goproxy", "file:///srv/goproxy", id="file"),
        pytest.param("https://[::1]:8443/", "https://[::1]:8443/", id="ipv6"),
        pytest.param("direct", "direct", id="not-a-url"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert TOKEN not in redact_url(url)
    assert has_userinfo(url) == (url != shown)


def test_redact_text_finds_every_url() -> None:
    text = f'GOPROXY=https://ci:{TOKEN}@a.corp,direct and "http://{TOKEN}@b.corp/x", sumdb https://c.corp'
    assert redact_text(text) == (
        'GOPROXY=https://***@a.corp,direct and "http://***@b.corp/x", sumdb https://c.corp'
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param(f"x://y://{TOKEN}@h", "x://y://***@h", id="a-url-inside-an-authority"),
        pytest.param(f"_bad://{TOKEN}@h/p", "_bad://***@h/p", id="userinfo-after-an-odd-scheme"),
        pytest.param(f"git+ssh://{TOKEN}@h and mailto:a@b", "git+ssh://***@h and mailto:a@b", id="not-a-url"),
        pytest.param(f"https://{TOKEN}@", "https://***@", id="at-the-end"),
    ],
)
def test_redact_text_edges(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def _stored_spec() -> GoBuildConfigSpec:
    """A spec with credentials in every URL field, as an object stored under an older CRD."""
    return GoBuildConfigSpec.model_construct(
        goproxy=(f"https://ci:{TOKEN}@goproxy.corp", "http://127.0.0.1:9/", "direct"),
        gosumdb=f"sum.golang.org https://{TOKEN}@sum.corp",
        corporate_proxy=CorporateProxy.model_construct(https_proxy=f"http://ci:{TOKEN}@proxy.corp:3128"),
        reporting=Reporting(probe_module="golang.org/x/mod"),
    )


def test_a_stored_token_reaches_neither_status_nor_conditions_nor_events() -> None:
    spec = _stored_spec()
    targets = health.probe_targets(spec)
    assert [t.url for t in targets] == ["https://***@goproxy.corp", "http://127.0.0.1:9/"]
    assert targets[0].probe_url == "", "an entry with credentials is not probed (nor sent to a redirect)"
    assert targets[0].note == health.CREDENTIALS_NOTE

    results = [
        health.ProbeResult(t.url, None if not t.probe_url else False, None, t.note or "refused", NOW)
        for t in targets
    ]
    findings = Findings(spec=spec, config_name="corp", results=results, refs=[], lookups={}, claim=None)
    status = with_findings(GoBuildConfigStatus(), findings, generation=1, now=NOW)
    status = with_spec(status, SpecView(spec, generation=1), now=NOW)
    events = transition_events([], status.conditions)
    shown = repr(dump(status)) + repr(events)
    assert TOKEN not in shown
    assert status.goproxy == "https://***@goproxy.corp,http://127.0.0.1:9/,direct"  # kubectl get gbc
    assert status.gosumdb == "sum.golang.org https://***@sum.corp"


async def test_a_stored_token_is_no_metric_label() -> None:
    async def version_list(_: web.Request) -> web.Response:
        return web.Response(text="v0.1.0\n")

    app = web.Application()
    app.router.add_get("/{tail:.*}", version_list)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    metrics = Metrics()
    checker = ConfigChecker(
        api=None,  # type: ignore[arg-type]
        metrics=metrics,
        store=Store(),
        settings=Settings(probe_hosts=("127.0.0.0/8",)),
        writer=None,  # type: ignore[arg-type]
        cache=None,  # type: ignore[arg-type]
    )
    checker.start()
    try:
        spec = GoBuildConfigSpec.model_construct(
            goproxy=(f"http://ci:{TOKEN}@127.0.0.1:{port}", f"http://127.0.0.1:{port}/", "direct"),
            reporting=Reporting(),
        )
        results = await checker._probe("builds", "corp", spec)
    finally:
        await checker.close()
        await runner.cleanup()
    assert [r.reachable for r in results] == [None, True]
    exposed = generate_latest(metrics.registry).decode()
    assert f'url="http://127.0.0.1:{port}/"' in exposed
    assert TOKEN not in exposed


def test_logs_never_carry_a_token() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test-redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Patching with: %s", {"spec": {"goproxy": [f"https://ci:{TOKEN}@goproxy.corp"]}})
        try:
            raise aiohttp.InvalidURL(f"https://{TOKEN}@bad host")
        except aiohttp.InvalidURL:
            logger.exception("probe of %s failed", f"https://{TOKEN}@goproxy.corp")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "https://***@goproxy.corp" in logged
    assert TOKEN not in logged
