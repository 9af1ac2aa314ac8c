"""Hardening #3: a GOPROXY probe asks only <url>/<module>/@v/list and reaches no metadata service.

The pure decisions (core.reach) are tables; the probe itself runs against aiohttp servers on
127.0.0.1. Nothing here sends a packet off this machine: every session records its connection
attempts and refuses any to an address other than loopback (`Recorder`), so even the code before
the fix, which connected to 169.254.169.254, could only be caught trying.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from gobuild_operator.core.status import health, reach
from gobuild_operator.core.status.health import ProbeTarget
from gobuild_operator.reporting.proxyprobe import probe, probe_session
from gobuild_operator.serving import pki

MODULE = "golang.org/x/mod"
METADATA_REFUSAL = "link-local or cloud metadata"

# --- the pure decisions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        pytest.param("https://goproxy.cn", "https://goproxy.cn/golang.org/x/mod/@v/list", id="plain"),
        pytest.param("https://goproxy.cn/", "https://goproxy.cn/golang.org/x/mod/@v/list", id="slash"),
        pytest.param(
            "http://10.0.0.7:3000/base", "http://10.0.0.7:3000/base/golang.org/x/mod/@v/list", id="path"
        ),
        pytest.param("http://10.0.0.7:8080/admin#", "", id="fragment"),
        pytest.param("http://10.0.0.7:8080/admin?", "", id="empty-query"),
        pytest.param("http://10.0.0.7:8080/admin?a=b", "", id="query"),
        pytest.param("https://tok@goproxy.corp", "", id="credentials"),
        pytest.param("file:///srv/goproxy", "", id="file"),
    ],
)
def test_the_probe_url_is_built_from_the_parsed_entry(entry: str, url: str) -> None:
    assert reach.probe_url(entry, MODULE) == url


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("169.254.169.254", id="aws-gcp-azure"),
        pytest.param("169.254.170.2", id="ecs-credentials"),
        pytest.param("[fd00:ec2::254]", id="aws-ipv6"),
        pytest.param("100.100.100.200", id="alibaba"),
        pytest.param("[fe80::1]", id="ipv6-link-local"),
        pytest.param("[::ffff:169.254.169.254]", id="ipv4-mapped"),
        pytest.param("[64:ff9b::a9fe:a9fe]", id="nat64"),
        pytest.param("[2002:a9fe:a9fe::1]", id="6to4"),
        pytest.param("2852039166", id="decimal"),
        pytest.param("0xa9fea9fe", id="hex"),
        pytest.param("0251.0376.0251.0376", id="octal"),
        pytest.param("169.254.43518", id="short-form"),
        pytest.param("metadata.google.internal", id="gcp-name"),
        pytest.param("Metadata.Google.Internal.", id="gcp-name-spelled-differently"),
        pytest.param("metadata", id="bare-name"),
        pytest.param("instance-data.ec2.internal", id="aws-name"),
    ],
)
def test_metadata_and_link_local_hosts_are_refused(host: str) -> None:
    refusal = reach.host_refusal(host)
    assert refusal is not None
    assert "refused before connecting" in refusal
    assert reach.ALLOW_FLAG in refusal
    assert reach.host_refusal(host, guard=reach.Guard(allow_link_local=True)) is None


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("10.96.0.10", id="cluster"),
        pytest.param("goproxy.cn", id="name"),
        pytest.param("metadata.corp.example", id="a-name-that-merely-says-metadata"),
        pytest.param("100.100.100.201", id="next-to-alibaba"),
    ],
)
def test_other_hosts_are_reachable(host: str) -> None:
    assert reach.host_refusal(host) is None


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("127.9.9.9", id="loopback-range"),
        pytest.param("[::1]", id="ipv6-loopback"),
        pytest.param("[::ffff:127.0.0.1]", id="ipv4-mapped-loopback"),
        pytest.param("0x7f000001", id="numeric-loopback"),
        pytest.param("localhost", id="localhost"),
    ],
)
def test_loopback_where_the_operators_own_ports_answer_is_refused_unless_listed(host: str) -> None:
    """A config's probe of 127.0.0.1:8080 once reported the operator's own metrics port reachable."""
    refusal = reach.host_refusal(host)
    assert refusal is not None
    assert "loopback" in refusal
    assert reach.HOSTS_FLAG in refusal
    listed = reach.Guard(allow_loopback=reach.lists_loopback(("127.0.0.0/8", "goproxy.corp")))
    assert reach.host_refusal(host, guard=listed) is None


def test_the_operators_own_address_is_refused_whatever_is_allowed() -> None:
    own = reach.Guard(allow_link_local=True, allow_loopback=True, own=frozenset({ip_address("10.244.0.7")}))
    refusal = reach.host_refusal("10.244.0.7", guard=own)
    assert refusal is not None
    assert "operator's own address" in refusal
    assert reach.host_refusal("10.244.0.8", guard=own) is None


HTTPS = "https://proxy.example/golang.org/x/mod/@v/list"
HTTP = "http://proxy.example/golang.org/x/mod/@v/list"


@pytest.mark.parametrize(
    ("chain", "location", "refused"),
    [
        pytest.param([HTTP], "http://other.example/x", None, id="http-to-http"),
        pytest.param([HTTP], "https://other.example/x", None, id="http-to-https"),
        pytest.param([HTTPS], "https://other.example/x", None, id="https-to-https"),
        pytest.param([HTTPS], "http://other.example/x", "from https:// to http://", id="downgrade"),
        pytest.param([HTTPS, "https://a/"], "http://b/", "from https:// to http://", id="later-downgrade"),
        pytest.param([HTTP], "file:///etc/passwd", "file: URL", id="file"),
        pytest.param([HTTP], "gopher://x/", "gopher: URL", id="gopher"),
        pytest.param([HTTP] * 10, "http://other.example/x", None, id="tenth"),
        pytest.param([HTTP] * 11, "http://other.example/x", "stopped after 10 redirects", id="eleventh"),
    ],
)
def test_redirects_are_followed_where_go_follows_them(
    chain: list[str], location: str, refused: str | None
) -> None:
    refusal = reach.redirect_refusal(chain, location)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refused in refusal


# --- the probe, against loopback servers -----------------------------------------------------------


@dataclass
class Recorder:
    """Records every connection a session attempts and lets only those to loopback through."""

    attempts: list[str] = field(default_factory=list)

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
            self.attempts.append(str(params.url))
            try:
                address = ipaddress.ip_address((params.url.host or "").strip("[]"))
            except ValueError:
                return  # a name: the tests resolve names with FakeDNS only
            if not address.is_loopback:
                raise AssertionError(f"the probe tried to reach {params.url}")  # no packet leaves

        config.on_request_start.append(on_start)
        return config


class FakeDNS(AbstractResolver):
    """Resolves every name to one address, as a hostile DNS server (or DNS rebinding) would."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": self.address, "port": port, "family": family, "proto": 0, "flags": 0}
        ]

    async def close(self) -> None:
        pass


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


#: Unit tests serve their proxies on loopback, which the admin of a local run lists in --probe-hosts.
LOCAL = reach.Guard(allow_loopback=True)


async def run_probe(
    entry: str,
    *,
    recorder: Recorder,
    resolver: AbstractResolver | None = None,
    proxy: str = "",
    ssl_context: ssl.SSLContext | None = None,
) -> health.ProbeResult:
    session = probe_session(guard=LOCAL, resolver=resolver)
    trace = recorder.trace()
    trace.freeze()
    session.trace_configs.append(trace)
    target = ProbeTarget(entry, reach.probe_url(entry, MODULE), proxy=proxy)
    try:
        return await probe(session, target, module=MODULE, timeout=5, ssl_context=ssl_context, guard=LOCAL)
    finally:
        await session.close()


async def version_list(_: web.Request) -> web.Response:
    return web.Response(text="v0.1.0\nv0.2.0\n")


def redirect_to(location: str) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("http://169.254.169.254/latest/meta-data", id="ipv4-literal"),
        pytest.param("http://[fd00:ec2::254]/latest", id="ipv6-literal"),
        pytest.param("http://[::ffff:169.254.169.254]/", id="ipv4-mapped"),
        pytest.param("http://0xa9fea9fe/", id="hex"),
        pytest.param("http://metadata.google.internal/computeMetadata/v1", id="name"),
    ],
)
async def test_a_metadata_entry_is_refused_before_connecting(entry: str) -> None:
    recorder = Recorder()
    result = await run_probe(entry, recorder=recorder, resolver=FakeDNS("127.0.0.1"))
    assert result.reachable is False
    assert "refused before connecting" in result.error
    assert recorder.attempts == []


async def test_a_name_resolving_to_a_metadata_address_is_refused() -> None:
    recorder = Recorder()
    result = await run_probe(
        "http://goproxy.corp.example", recorder=recorder, resolver=FakeDNS("169.254.169.254")
    )
    assert result.reachable is False
    assert METADATA_REFUSAL in result.error
    # The request started, but the resolver refused the address: no connection was made.
    assert recorder.attempts == ["http://goproxy.corp.example/golang.org/x/mod/@v/list"]


async def test_a_redirect_to_a_metadata_address_is_not_followed(
    serve: Callable[..., Awaitable[str]],
) -> None:
    recorder = Recorder()
    base = await serve(redirect_to("http://169.254.169.254/latest/meta-data/iam/"))
    result = await run_probe(base, recorder=recorder)
    assert result.reachable is False
    assert "redirect refused before connecting" in result.error
    assert recorder.attempts == [f"{base}/golang.org/x/mod/@v/list"]


async def test_a_corporate_proxy_at_a_metadata_address_is_refused() -> None:
    recorder = Recorder()
    result = await run_probe(
        "http://goproxy.corp.example", recorder=recorder, proxy="http://169.254.169.254:3128"
    )
    assert result.reachable is False
    assert result.error.startswith("corporate proxy refused before connecting")
    assert recorder.attempts == []


async def test_redirects_stop_after_ten_like_go(serve: Callable[..., Awaitable[str]]) -> None:
    asked: list[str] = []

    async def loop(request: web.Request) -> web.Response:
        asked.append(request.path)
        raise web.HTTPFound(f"/hop{len(asked)}")

    recorder = Recorder()
    result = await run_probe(await serve(loop), recorder=recorder)
    assert result.reachable is False
    assert "stopped after 10 redirects" in result.error
    assert len(asked) == 11  # the request and the 10 redirects go follows


async def test_a_redirect_from_https_to_http_is_not_followed(
    serve: Callable[..., Awaitable[str]], tmp_path: Any
) -> None:
    ca = pki.make_ca("probe-test-ca")
    leaf = pki.issue(ca, common_name="127.0.0.1", ip_addresses=("127.0.0.1",), server=True)
    cert, key = leaf.write(tmp_path, "server")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cadata=ca.cert_pem.decode())

    plain = await serve(version_list)
    secure = await serve(redirect_to(f"{plain}/golang.org/x/mod/@v/list"), ssl_context=server_tls)
    recorder = Recorder()
    result = await run_probe(secure, recorder=recorder, ssl_context=client_tls)
    assert result.reachable is False
    assert "from https:// to http://" in result.error
    assert recorder.attempts == [f"{secure}/golang.org/x/mod/@v/list"]


async def test_redirects_go_would_follow_are_followed(serve: Callable[..., Awaitable[str]]) -> None:
    async def moved(request: web.Request) -> web.Response:
        if request.path.startswith("/elsewhere/"):
            return await version_list(request)
        raise web.HTTPMovedPermanently("/elsewhere/golang.org/x/mod/@v/list")

    mirror = await serve(version_list)
    relative = await serve(moved)
    recorder = Recorder()
    result = await run_probe(
        await serve(redirect_to(f"{mirror}/golang.org/x/mod/@v/list")), recorder=recorder
    )
    assert (result.reachable, result.error) == (True, "")
    assert len(recorder.attempts) == 2
    result = await run_probe(relative, recorder=Recorder())
    assert result.reachable is True


async def test_a_listed_loopback_proxy_is_probed(serve: Callable[..., Awaitable[str]]) -> None:
    base = await serve(version_list)
    recorder = Recorder()
    result = await run_probe(base, recorder=recorder)
    assert (result.reachable, result.error) == (True, "")
    assert recorder.attempts == [f"{base}/golang.org/x/mod/@v/list"]


@pytest.mark.parametrize(
    ("host", "allowed", "listed"),
    [
        pytest.param("proxy.golang.org", (), True, id="no-list-allows-all"),
        pytest.param("proxy.golang.org", ("127.0.0.0/8", "*.svc"), False, id="public-name-outside"),
        pytest.param("127.0.0.1", ("127.0.0.0/8",), True, id="address-in-cidr"),
        pytest.param("[::1]", ("::1",), True, id="ipv6-literal"),
        pytest.param("goproxy.corp.example", ("*.corp.example",), True, id="suffix"),
        pytest.param("corp.example", ("*.corp.example",), True, id="suffix-matches-the-domain"),
        pytest.param("evilcorp.example", ("*.corp.example",), False, id="suffix-needs-a-dot"),
        pytest.param("GOPROXY.svc.", ("*.svc",), True, id="case-and-trailing-dot"),
        pytest.param("10.1.2.3", ("goproxy.corp.example",), False, id="address-against-names"),
    ],
)
def test_probes_stay_within_the_listed_hosts(host: str, allowed: tuple[str, ...], listed: bool) -> None:
    assert reach.host_listed(host, allowed) is listed
