"""The module cache on loopback, as builds and upstreams see it: what it serves, when it asks again,
what it passes on, what it never keeps, and that it never reads or writes outside its directory.

Every upstream is a Mirror on 127.0.0.1 that records each request; time-to-live rules run on a
fake clock, so nothing here sleeps.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.serving import pki
from support.modcache import (
    ConnectProxy,
    FakeClock,
    Fault,
    Mirror,
    RunningCache,
    make_module,
    settings,
    stored_files,
    wait_until_in_flight,
    write_module,
)

MOD = make_module("example.com/hello", "v1.0.0", {"hello.go": b"package hello\n"})
ZIP = f"/{MOD.escaped}.zip"
LIST = "/example.com/hello/@v/list"
LATEST = "/example.com/hello/@latest"
QUERY = "/example.com/hello/@v/main.info"
TTL = 60.0

StartCache = Callable[..., RunningCache]


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    write_module(root, MOD)
    (root / "example.com/hello/@v/main.info").write_bytes(MOD.info)
    m = Mirror(root).start()
    yield m
    m.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def start_cache(tmp_path: Path, clock: FakeClock) -> Iterator[StartCache]:
    started: list[RunningCache] = []

    def start(
        *, storage: Path | None = None, hosts: dict[str, str] | None = None, **values: Any
    ) -> RunningCache:
        values.setdefault("mutable_ttl_seconds", TTL)
        cache = RunningCache(settings(storage or tmp_path / "cache", **values), hosts=hosts, clock=clock)
        started.append(cache)
        return cache

    yield start
    for cache in started:
        cache.stop()


# --- what is kept, and for how long ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content"),
    [
        pytest.param(f"/{MOD.escaped}.info", MOD.info, id="info"),
        pytest.param(f"/{MOD.escaped}.mod", MOD.go_mod, id="mod"),
        pytest.param(ZIP, MOD.zip, id="zip"),
    ],
)
def test_module_files_are_fetched_once_and_kept_for_good(
    mirror: Mirror, start_cache: StartCache, clock: FakeClock, path: str, content: bytes
) -> None:
    cache = start_cache(goproxy=mirror.url)
    first = cache.get(path)
    clock.advance(365 * 24 * 3600)
    again = cache.get(path)
    assert (first.status, first.body, first.headers["X-Cache"]) == (200, content, "MISS")
    assert (again.status, again.body, again.headers["X-Cache"]) == (200, content, "HIT")
    assert mirror.count(path) == 1


@pytest.mark.parametrize(
    ("path", "file"),
    [
        pytest.param(LIST, "example.com/hello/@v/list", id="list"),
        pytest.param(LATEST, "example.com/hello/@latest", id="latest"),
        pytest.param(QUERY, "example.com/hello/@v/main.info", id="query"),
    ],
)
def test_lists_latest_and_queries_are_fresh_for_the_ttl_then_asked_again(
    mirror: Mirror, start_cache: StartCache, clock: FakeClock, path: str, file: str
) -> None:
    cache = start_cache(goproxy=mirror.url)
    before = cache.get(path).body
    clock.advance(TTL - 1)
    within = cache.get(path)
    (mirror.root / file).write_bytes(b"v1.0.0\nv1.1.0\n")
    clock.advance(2)
    after = cache.get(path)
    assert (within.body, within.headers["X-Cache"], mirror.count(path)) == (before, "HIT", 2)
    assert (after.status, after.body, after.headers["X-Cache"]) == (200, b"v1.0.0\nv1.1.0\n", "MISS")


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param("500", id="upstream-500"),
        pytest.param("503", id="upstream-503"),
        pytest.param("hang", id="upstream-times-out"),
        pytest.param("down", id="upstream-down"),
    ],
)
@pytest.mark.parametrize("path", [LIST, LATEST, QUERY])
def test_a_stale_copy_is_served_when_the_upstream_fails(
    mirror: Mirror, start_cache: StartCache, clock: FakeClock, failure: str, path: str
) -> None:
    cache = start_cache(goproxy=mirror.url, revalidate_timeout_seconds=0.5)
    fresh = cache.get(path)
    if failure == "down":
        mirror.stop()
    elif failure == "hang":
        mirror.faults[path] = Fault(hold=threading.Event())
    else:
        mirror.faults[path] = Fault(status=int(failure), body=b"upstream broken\n")
    clock.advance(TTL + 1)
    stale = cache.get(path)
    assert (stale.status, stale.body, stale.headers["X-Cache"]) == (200, fresh.body, "STALE")
    assert cache.metric("gomodcache_stale_served_total") == 1


@pytest.mark.parametrize("status", [404, 410])
@pytest.mark.parametrize("path", [ZIP, LIST, QUERY])
def test_not_found_and_gone_are_passed_on_with_their_text_and_not_kept(
    mirror: Mirror, start_cache: StartCache, status: int, path: str
) -> None:
    mirror.faults[path] = Fault(status=status, body=b"not found: unknown revision\n")
    cache = start_cache(goproxy=mirror.url)
    answer = cache.get(path)
    assert (answer.status, answer.body) == (status, b"not found: unknown revision\n")
    assert stored_files(Path(cache.settings.storage_dir)) == set()


def test_a_404_is_remembered_only_briefly(mirror: Mirror, start_cache: StartCache, clock: FakeClock) -> None:
    mirror.faults[ZIP] = Fault(status=404, body=b"not found\n")
    cache = start_cache(goproxy=mirror.url, negative_ttl_seconds=5)
    first = cache.get(ZIP)
    again = cache.get(ZIP)
    del mirror.faults[ZIP]  # the module is published
    clock.advance(5)
    later = cache.get(ZIP)
    assert (first.status, again.status, later.status) == (404, 404, 200)
    assert mirror.count(ZIP) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_upstream_5xx_is_never_cached(mirror: Mirror, start_cache: StartCache, status: int) -> None:
    mirror.faults[ZIP] = Fault(status=status, body=b"<html>proxy error</html>")
    cache = start_cache(goproxy=mirror.url)
    failed = cache.get(ZIP)
    del mirror.faults[ZIP]
    recovered = cache.get(ZIP)
    assert failed.status == 502
    assert b"proxy error" in failed.body
    assert (recovered.status, recovered.body) == (200, MOD.zip)
    assert cache.metric("gomodcache_upstream_errors_total", **{"class": "http_5xx"}) == 1


# --- the GOPROXY list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("goproxy", "fault_a", "fault_b", "status", "asked"),
    [
        pytest.param("{a},{b}", 404, 0, 200, (1, 1), id="comma-falls-through-on-404"),
        pytest.param("{a},{b}", 410, 0, 200, (1, 1), id="comma-falls-through-on-410"),
        pytest.param("{a},{b}", 500, 0, 502, (1, 0), id="comma-stops-on-error"),
        pytest.param("{a},{b}", 403, 0, 502, (1, 0), id="comma-stops-on-403"),
        pytest.param("{a}|{b}", 500, 0, 200, (1, 1), id="pipe-falls-through-on-error"),
        pytest.param("{a}|{b}", -1, 0, 200, (0, 1), id="pipe-falls-through-when-down"),
        pytest.param("{a}|{b}", 500, 404, 502, (1, 1), id="an-error-outranks-a-404"),
        pytest.param("{a},{b}", 404, 404, 404, (1, 1), id="404-everywhere"),
        pytest.param("{a},direct,{b}", 404, 0, 404, (1, 0), id="direct-ends-the-cache-list"),
        pytest.param("off", 0, 0, 404, (0, 0), id="off"),
    ],
)
def test_the_upstream_list_falls_through_as_go_does(
    tmp_path: Path,
    start_cache: StartCache,
    goproxy: str,
    fault_a: int,
    fault_b: int,
    status: int,
    asked: tuple[int, int],
) -> None:
    root = tmp_path / "mirror"
    write_module(root, MOD)
    a, b = Mirror(root).start(), Mirror(root).start()
    try:
        for m, fault in ((a, fault_a), (b, fault_b)):
            if fault > 0:
                m.faults[ZIP] = Fault(status=fault, body=b"no\n")
        url_a = a.url
        if fault_a < 0:
            a.stop()
        cache = start_cache(goproxy=goproxy.format(a=url_a, b=b.url))
        answer = cache.get(ZIP)
        assert answer.status == status
        assert (a.count(ZIP), b.count(ZIP)) == asked
    finally:
        a.stop()
        b.stop()


# --- hostile requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("/../secret", id="dot-dot"),
        pytest.param("/..%2fsecret", id="encoded-slash"),
        pytest.param("/%2e%2e/secret", id="encoded-dots"),
        pytest.param("/example.com/../../secret/@v/v1.0.0.zip", id="dot-dot-module"),
        pytest.param("/example.com/hello/@v/..%2f..%2f..%2fsecret.info", id="dot-dot-version"),
        pytest.param("/example.com/hello/@v/v1.0.0.zip%00.txt", id="nul"),
        pytest.param("/Example.com/hello/@v/v1.0.0.zip", id="upper-case"),
        pytest.param("/example.com/hello/@v/v1.0.0.zip/", id="trailing-slash"),
        pytest.param("//etc/passwd", id="absolute"),
        pytest.param("/sumdb/../../secret", id="sumdb-dot-dot"),
    ],
)
def test_hostile_paths_touch_nothing_outside_the_cache(
    mirror: Mirror, start_cache: StartCache, tmp_path: Path, raw: str
) -> None:
    (tmp_path / "secret").write_text("do not serve")
    cache = start_cache(goproxy=mirror.url)
    conn = http.client.HTTPConnection("127.0.0.1", cache.running.port, timeout=10)
    conn.request("GET", raw)  # sent as is: no client-side normalisation
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 404
    assert b"do not serve" not in body
    assert mirror.requests == []
    assert stored_files(Path(cache.settings.storage_dir)) == set()


# --- concurrency, size, restarts --------------------------------------------------------------------


def test_concurrent_misses_for_one_file_fetch_it_once(mirror: Mirror, start_cache: StartCache) -> None:
    gate = threading.Event()
    mirror.faults[ZIP] = Fault(hold=gate)
    cache = start_cache(goproxy=mirror.url)
    with ThreadPoolExecutor(20) as pool:
        answers = [pool.submit(cache.get, ZIP) for _ in range(20)]
        wait_until_in_flight(cache, 20)
        gate.set()
        results = [a.result() for a in answers]
    assert {(r.status, r.body) for r in results} == {(200, MOD.zip)}
    assert mirror.count(ZIP) == 1
    assert cache.metric("gomodcache_singleflight_joined_total") == 19


def test_a_waiter_that_gives_up_does_not_cancel_the_fetch(mirror: Mirror, start_cache: StartCache) -> None:
    gate = threading.Event()
    mirror.faults[ZIP] = Fault(hold=gate)
    cache = start_cache(goproxy=mirror.url)
    quitter = http.client.HTTPConnection("127.0.0.1", cache.running.port, timeout=10)
    quitter.request("GET", ZIP)
    wait_until_in_flight(cache, 1)
    quitter.close()
    gate.set()
    answer = cache.get(ZIP)
    assert (answer.status, answer.body) == (200, MOD.zip)
    assert mirror.count(ZIP) == 1


def _zips(root: Path, n: int, size: int) -> list[str]:
    out = []
    for i in range(n):
        m = make_module(f"example.com/m{i}", "v1.0.0", {"blob": bytes([i]) * size})
        write_module(root, m)
        out.append(f"/{m.escaped}.zip")
    return out


def test_eviction_keeps_within_max_bytes_least_recently_used_first(
    mirror: Mirror, start_cache: StartCache
) -> None:
    first, second, third = _zips(mirror.root, 3, 100_000)
    cache = start_cache(goproxy=mirror.url, max_bytes=250_000)
    cache.get(first)
    cache.get(second)
    cache.get(first)  # used again: second is now the least recently used
    cache.get(third)
    assert [cache.get(p).headers["X-Cache"] for p in (first, third, second)] == ["HIT", "HIT", "MISS"]
    assert cache.metric("gomodcache_evictions_total") == 2  # second, then first to make room for second
    assert cache.metric("gomodcache_stored_bytes") <= 250_000


def test_a_file_being_written_survives_evictions_around_it(mirror: Mirror, start_cache: StartCache) -> None:
    big, *small = _zips(mirror.root, 4, 60_000)
    gate = threading.Event()
    mirror.faults[big] = Fault(hold=gate, after_bytes=30_000)
    cache = start_cache(goproxy=mirror.url, max_bytes=130_000)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(cache.get, big)
        wait_until_in_flight(cache, 1)
        for path in small:  # each store evicts the one before
            assert cache.get(path).status == 200
        gate.set()
        answer = pending.result()
    assert (answer.status, len(answer.body)) == (200, len((mirror.root / big.lstrip("/")).read_bytes()))
    assert cache.get(big).headers["X-Cache"] == "HIT"


def test_files_larger_than_the_cache_are_served_but_not_kept(mirror: Mirror, start_cache: StartCache) -> None:
    (big,) = _zips(mirror.root, 1, 200_000)
    cache = start_cache(goproxy=mirror.url, max_bytes=100_000)
    answers = [cache.get(big) for _ in range(2)]
    assert [a.status for a in answers] == [200, 200]
    assert mirror.count(big) == 2
    assert stored_files(Path(cache.settings.storage_dir)) == set()


def test_a_restart_finds_what_was_cached(
    mirror: Mirror, start_cache: StartCache, clock: FakeClock, tmp_path: Path
) -> None:
    first = start_cache(goproxy=mirror.url)
    assert first.get(ZIP).status == 200
    assert first.get(LIST).status == 200
    files = first.metric("gomodcache_stored_files")
    first.stop()
    mirror.stop()  # the upstream is gone as the cache comes back
    (tmp_path / "cache" / "tmp" / "half-a-download").write_bytes(b"x" * 10)
    clock.advance(TTL + 1)
    second = start_cache(goproxy=mirror.url)
    assert (second.metric("gomodcache_stored_files"), files) == (2, 2)
    assert (second.get(ZIP).headers["X-Cache"], second.get(ZIP).body) == ("HIT", MOD.zip)
    assert second.get(LIST).headers["X-Cache"] == "STALE"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_health_readiness_and_metrics_are_served(mirror: Mirror, start_cache: StartCache) -> None:
    cache = start_cache(goproxy=mirror.url)
    cache.get(ZIP)
    cache.get(ZIP)
    names = {name for name, _ in cache.metrics()}
    assert (cache.get("/healthz").status, cache.get("/readyz").status) == (200, 200)
    assert {
        "gomodcache_hits_total",
        "gomodcache_misses_total",
        "gomodcache_served_bytes_total",
        "gomodcache_upstream_requests_total",
        "gomodcache_stored_bytes",
        "gomodcache_stored_files",
        "gomodcache_max_bytes",
    } <= names
    assert cache.metric("gomodcache_hits_total", kind="zip") == 1
    assert cache.metric("gomodcache_misses_total", kind="zip") == 1
    assert cache.metric("gomodcache_served_bytes_total", kind="zip") == 2 * len(MOD.zip)


# --- behind a corporate proxy ---------------------------------------------------------------------


@pytest.fixture
def corp(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An HTTPS mirror (mirror.test) that wants netrc credentials, a second one (other.test), and a
    CONNECT proxy that wants its own credentials and is the only way to either name."""
    ca = pki.make_ca("corp test CA")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    cert, key = pki.issue(
        ca, common_name="mirror.test", dns_names=("mirror.test", "other.test"), server=True
    ).write(tmp_path / "tls", "mirror")
    root = tmp_path / "mirror"
    write_module(root, MOD)
    mirror = Mirror(root, tls=(cert, key), basic_auth=("bot", "netrc-s3cret")).start()
    other = Mirror(root, tls=(cert, key)).start()
    proxy = ConnectProxy(
        routes={f"mirror.test:{mirror.port}": mirror.port, f"other.test:{other.port}": other.port},
        credentials=("corp", "proxy-s3cret"),
    ).start()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine mirror.test login bot password netrc-s3cret\n")
    yield {
        "mirror": mirror,
        "other": other,
        "proxy": proxy,
        "goproxy": f"https://mirror.test:{mirror.port}",
        "https_proxy": proxy.url.replace("http://", "http://corp:proxy-s3cret@"),
        "ca_file": str(ca_file),
        "netrc_file": str(netrc),
    }
    for server in (mirror, other, proxy):
        server.stop()


def test_an_https_upstream_is_reached_through_a_connect_proxy_with_ca_and_netrc(
    corp: dict[str, Any], start_cache: StartCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cache = start_cache(
        goproxy=corp["goproxy"],
        https_proxy=corp["https_proxy"],
        ca_file=corp["ca_file"],
        netrc_file=corp["netrc_file"],
    )
    answer = cache.get(ZIP)
    assert (answer.status, answer.body) == (200, MOD.zip)
    assert corp["proxy"].connects == [corp["goproxy"].removeprefix("https://")]
    assert corp["mirror"].authorizations[-1].startswith("Basic ")
    assert cache.resolver.unknown == []  # the cache never looked the name up itself
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("change", "error_class", "message"),
    [
        pytest.param({"ca_file": ""}, "tls", "certificate", id="without-the-extra-ca"),
        pytest.param({"https_proxy": "wrong"}, "proxy", "407", id="wrong-proxy-credentials"),
        pytest.param({"netrc_file": ""}, "http_4xx", "401", id="without-netrc"),
    ],
)
def test_what_is_wrong_behind_the_proxy_is_named(
    corp: dict[str, Any],
    start_cache: StartCache,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, str],
    error_class: str,
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    values = {k: corp[k] for k in ("goproxy", "https_proxy", "ca_file", "netrc_file")}
    values.update(change)
    if values["https_proxy"] == "wrong":
        values["https_proxy"] = corp["proxy"].url.replace("http://", "http://corp:guess@")
    cache = start_cache(**values)
    answer = cache.get(ZIP)
    assert answer.status == 502
    assert message in answer.body.decode()
    assert cache.metric("gomodcache_upstream_errors_total", **{"class": error_class}) == 1
    assert "s3cret" not in caplog.text
    assert "guess" not in caplog.text


def test_no_proxy_hosts_are_reached_directly(corp: dict[str, Any], start_cache: StartCache) -> None:
    cache = start_cache(
        goproxy=corp["goproxy"],
        https_proxy=corp["https_proxy"],
        no_proxy=("mirror.test",),
        ca_file=corp["ca_file"],
        netrc_file=corp["netrc_file"],
        hosts={"mirror.test": "127.0.0.1"},
    )
    assert cache.get(ZIP).status == 200
    assert corp["proxy"].connects == []


def test_credentials_do_not_follow_a_redirect_to_another_host(
    corp: dict[str, Any], start_cache: StartCache
) -> None:
    corp["mirror"].redirects[ZIP] = f"https://other.test:{corp['other'].port}{ZIP}"
    cache = start_cache(
        goproxy=corp["goproxy"],
        https_proxy=corp["https_proxy"],
        ca_file=corp["ca_file"],
        netrc_file=corp["netrc_file"],
    )
    answer = cache.get(ZIP)
    assert (answer.status, answer.body) == (200, MOD.zip)
    assert corp["other"].authorizations == [""]


def test_an_https_upstream_is_never_redirected_to_plain_http(
    corp: dict[str, Any], mirror: Mirror, start_cache: StartCache
) -> None:
    corp["mirror"].redirects[ZIP] = f"{mirror.url}{ZIP}"
    cache = start_cache(
        goproxy=corp["goproxy"],
        https_proxy=corp["https_proxy"],
        ca_file=corp["ca_file"],
        netrc_file=corp["netrc_file"],
    )
    answer = cache.get(ZIP)
    assert answer.status == 502
    assert "insecure" in answer.body.decode()
    assert mirror.requests == []
