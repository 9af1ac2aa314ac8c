"""The cache's pure rules, as tables: go's GOPROXY list, proxy variables, netrc, GONOSUMDB patterns,
freshness, the `h1:` hash, the checksum database's signatures and proofs, and the settings file.

Expected values are go's (the hashes were computed by golang.org/x/mod/sumdb/dirhash; the patterns
follow module.MatchPrefixPatterns), so a row failing means the cache would disagree with go.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from gobuild_operator.core.modcache import dirhash, policy, sumdb
from gobuild_operator.core.modcache.paths import Kind, Tile
from gobuild_operator.core.modcache.patterns import match_prefix_patterns
from gobuild_operator.core.proxycache.settings import CacheSettings, SettingsError, parse_quantity
from gobuild_operator.core.proxycache.upstreams import (
    Credentials,
    ProxyRules,
    UpstreamConfigError,
    UpstreamProxy,
    credentials_for,
    parse_goproxy,
    parse_netrc,
    redact,
)
from support import modcache_sumdb as forge

# --- GOPROXY lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "https://proxy.golang.org,direct",
            [UpstreamProxy("https://proxy.golang.org", False)],
            id="default",
        ),
        pytest.param(
            "https://a.example|https://b.example,https://c.example",
            [
                UpstreamProxy("https://a.example", True),
                UpstreamProxy("https://b.example", False),
                UpstreamProxy("https://c.example", False),
            ],
            id="separators-belong-to-the-entry-before",
        ),
        pytest.param(
            "goproxy.cn,direct,https://never.example",
            [UpstreamProxy("https://goproxy.cn", False)],
            id="scheme-added-and-direct-ends-the-list",
        ),
        pytest.param("off", [], id="off"),
        pytest.param("direct", [], id="direct"),
        pytest.param(
            " http://10.0.0.7:3000/base/ , ,", [UpstreamProxy("http://10.0.0.7:3000/base", False)], id="blank"
        ),
        pytest.param(
            "file:///srv/mods,https://b.example",
            [UpstreamProxy("https://b.example", False)],
            id="file-entries-are-for-go",
        ),
    ],
)
def test_goproxy_lists_are_read_as_go_reads_them(value: str, expected: list[UpstreamProxy]) -> None:
    assert list(parse_goproxy(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("ftp://x.example", id="scheme"),
        pytest.param("https://user:secret@x.example", id="credentials"),
        pytest.param("https://x.example/?a=b", id="query"),
    ],
)
def test_goproxy_entries_the_cache_cannot_use_are_refused_without_echoing_secrets(value: str) -> None:
    with pytest.raises(UpstreamConfigError) as err:
        parse_goproxy(value)
    assert "secret" not in str(err.value)


@pytest.mark.parametrize(
    ("answer", "fall_back_on_error", "falls"),
    [
        pytest.param(policy.Answer.NOT_FOUND, False, True, id="404-comma"),
        pytest.param(policy.Answer.ERROR, False, False, id="error-comma"),
        pytest.param(policy.Answer.ERROR, True, True, id="error-pipe"),
        pytest.param(policy.Answer.OK, True, False, id="ok"),
    ],
)
def test_fallthrough_follows_the_separator(
    answer: policy.Answer, fall_back_on_error: bool, falls: bool
) -> None:
    assert policy.falls_through(answer, fall_back_on_error=fall_back_on_error) is falls


@pytest.mark.parametrize(
    ("status", "answer", "error_class"),
    [
        pytest.param(200, policy.Answer.OK, "ok", id="200"),
        pytest.param(404, policy.Answer.NOT_FOUND, "not_found", id="404"),
        pytest.param(410, policy.Answer.NOT_FOUND, "not_found", id="410"),
        pytest.param(403, policy.Answer.ERROR, "http_4xx", id="403"),
        pytest.param(500, policy.Answer.ERROR, "http_5xx", id="500"),
        pytest.param(503, policy.Answer.ERROR, "http_5xx", id="503"),
        pytest.param(204, policy.Answer.ERROR, "http_other", id="204"),
    ],
)
def test_upstream_statuses_are_classified(status: int, answer: policy.Answer, error_class: str) -> None:
    assert policy.classify_status(status) == policy.Classified(answer, error_class)


# --- proxies, netrc ---------------------------------------------------------------------------------

RULES = ProxyRules.parse(
    http_proxy="proxy.corp:3128",
    https_proxy="http://user:p%40ss@proxy.corp:8080",
    no_proxy=[".svc,cluster.local", "10.0.0.0/8", "mirror.corp:8443", "*.internal.example"],
)


@pytest.mark.parametrize(
    ("url", "proxy"),
    [
        pytest.param("https://proxy.golang.org/x", "http://proxy.corp:8080", id="https-via-connect-proxy"),
        pytest.param("http://goproxy.example/x", "http://proxy.corp:3128", id="http-proxy-scheme-added"),
        pytest.param("http://gomodcache.builds.svc:8080/x", None, id="no-proxy-suffix"),
        pytest.param("http://cluster.local/x", None, id="no-proxy-domain-itself"),
        pytest.param("http://a.b.cluster.local/x", None, id="no-proxy-subdomain"),
        pytest.param("http://notcluster.local/x", "http://proxy.corp:3128", id="no-proxy-is-not-a-substring"),
        pytest.param("http://10.1.2.3/x", None, id="no-proxy-cidr"),
        pytest.param("https://mirror.corp:8443/x", None, id="no-proxy-host-and-port"),
        pytest.param("https://mirror.corp/x", "http://proxy.corp:8080", id="no-proxy-other-port"),
        pytest.param("https://a.internal.example/x", None, id="no-proxy-wildcard"),
        pytest.param("http://127.0.0.1:8081/x", None, id="loopback-never-proxied"),
        pytest.param("http://localhost/x", None, id="localhost-never-proxied"),
    ],
)
def test_proxy_variables_are_applied_as_net_http_applies_them(url: str, proxy: str | None) -> None:
    chosen = RULES.select(url)
    assert (chosen.url if chosen else None) == proxy


def test_proxy_credentials_are_kept_apart_from_the_proxy_url() -> None:
    chosen = RULES.select("https://proxy.golang.org/")
    assert chosen is not None
    assert (chosen.url, chosen.login, chosen.password) == ("http://proxy.corp:8080", "user", "p@ss")


def test_no_proxy_star_disables_every_proxy() -> None:
    rules = ProxyRules.parse(http_proxy="http://p:1", https_proxy="http://p:1", no_proxy=["*"])
    assert rules.select("https://proxy.golang.org/") is None


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        pytest.param(
            "machine goproxy.corp login bot password s3cret\n",
            "https://goproxy.corp/x",
            Credentials("bot", "s3cret"),
            id="one-line",
        ),
        pytest.param(
            "machine goproxy.corp\n  login bot\n  password first\n"
            "machine goproxy.corp login x password second\n",
            "https://goproxy.corp/x",
            Credentials("bot", "first"),
            id="first-wins",
        ),
        pytest.param(
            "machine goproxy.corp:8443 login a password b\n",
            "https://goproxy.corp:8443/x",
            Credentials("a", "b"),
            id="with-port",
        ),
        pytest.param(
            "default login anyone password leaked\n", "https://any.example/x", None, id="default-ignored"
        ),
        pytest.param(
            "macdef init\nmachine evil.example login a password b\n\nmachine ok.example login c password d\n",
            "https://evil.example/",
            None,
            id="macro-body-ignored",
        ),
        pytest.param(
            "machine other.example login a password b\n", "https://goproxy.corp/", None, id="other-host"
        ),
    ],
)
def test_netrc_is_read_as_go_reads_it(text: str, url: str, expected: Credentials | None) -> None:
    assert credentials_for(url, parse_netrc(text)) == expected


def test_credentials_never_print() -> None:
    assert "s3cret" not in repr(Credentials("bot", "s3cret"))
    assert redact("https://bot:s3cret@goproxy.corp/x") == "https://***@goproxy.corp/x"


# --- which modules are checked ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("globs", "target", "matched"),
    [
        pytest.param("git.corp.example", "git.corp.example/team/repo", True, id="host-prefix"),
        pytest.param("git.corp.example/*", "git.corp.example/team/repo", True, id="one-element-glob"),
        pytest.param("*.corp.example", "git.corp.example/team", True, id="star-host"),
        pytest.param("git.corp.example/team", "git.corp.example/teamx", False, id="element-boundary"),
        pytest.param("git.corp.example/*/repo", "git.corp.example/a/repo/v2", True, id="middle-star"),
        pytest.param("git.corp.example/a/b/c", "git.corp.example/a", False, id="too-few-elements"),
        pytest.param("x.example,,git.corp.example/", "git.corp.example/a", True, id="list-trailing-slash"),
        pytest.param("github.com/[a-c]*", "github.com/bob/x", True, id="class"),
        pytest.param("github.com/[^a-c]*", "github.com/bob/x", False, id="negated-class"),
        pytest.param("github.com/[", "github.com/[", False, id="bad-pattern-matches-nothing"),
        pytest.param("", "github.com/a", False, id="empty"),
    ],
)
def test_gonosumdb_patterns_match_as_in_go(globs: str, target: str, matched: bool) -> None:
    assert match_prefix_patterns(globs, target) is matched


DB = sumdb.parse_gosumdb("sum.golang.org")


@pytest.mark.parametrize(
    ("kind", "module", "db", "nosumdb", "verified"),
    [
        pytest.param(Kind.ZIP, "github.com/a/b", DB, "", True, id="public-zip"),
        pytest.param(Kind.MOD, "github.com/a/b", DB, "", True, id="public-mod"),
        pytest.param(Kind.INFO, "github.com/a/b", DB, "", False, id="info-not-hashed"),
        pytest.param(Kind.ZIP, "git.corp.example/a", DB, "git.corp.example", False, id="private"),
        pytest.param(Kind.ZIP, "github.com/a/b", None, "", False, id="gosumdb-off"),
        pytest.param(Kind.ZIP, "golang.org/toolchain", DB, "golang.org", True, id="toolchain-always"),
    ],
)
def test_what_is_verified_is_what_go_verifies(
    kind: Kind, module: str, db: sumdb.SumDB | None, nosumdb: str, verified: bool
) -> None:
    assert policy.needs_verification(kind, module, sumdb=db, nosumdb=nosumdb) is verified


# --- freshness ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "age", "state"),
    [
        pytest.param(Kind.ZIP, 10**9, policy.Freshness.FRESH, id="zip-forever"),
        pytest.param(Kind.INFO, 10**9, policy.Freshness.FRESH, id="info-forever"),
        pytest.param(Kind.SUMDB_TILE, 10**9, policy.Freshness.FRESH, id="tile-forever"),
        pytest.param(Kind.LIST, 59, policy.Freshness.FRESH, id="list-within-ttl"),
        pytest.param(Kind.LIST, 60, policy.Freshness.STALE, id="list-after-ttl"),
        pytest.param(Kind.LATEST, 61, policy.Freshness.STALE, id="latest-after-ttl"),
        pytest.param(Kind.QUERY, 61, policy.Freshness.STALE, id="query-after-ttl"),
        pytest.param(Kind.SUMDB_LATEST, 61, policy.Freshness.STALE, id="sumdb-latest-after-ttl"),
        pytest.param(Kind.ZIP, None, policy.Freshness.MISSING, id="missing"),
    ],
)
def test_immutable_files_stay_fresh_and_the_rest_for_a_ttl(
    kind: Kind, age: float | None, state: policy.Freshness
) -> None:
    fetched_at = None if age is None else 1000.0 - age
    assert policy.freshness(kind, fetched_at=fetched_at, now=1000.0, ttl=60) is state


# --- h1: hashes ---------------------------------------------------------------------------------

X_MOD_GO_MOD = b"module golang.org/x/mod\n\ngo 1.22.0\n\nrequire golang.org/x/tools v0.13.0 // tagx:ignore\n"


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            [(b"go.mod", _sha(X_MOD_GO_MOD))],
            "h1:6SkKJ3Xj0I0BrPOZoBy3bdMptDDU9oJrpohJ3eWZ1fY=",
            id="x-mod-go-mod-from-go-sum",
        ),
        pytest.param(
            [
                (b"example.com/hello@v1.0.0/hello.go", _sha(b"package hello\n")),
                (b"example.com/hello@v1.0.0/go.mod", _sha(b"module example.com/hello\n\ngo 1.21\n")),
                (b"example.com/hello@v1.0.0/README", _sha(b"")),
                (b"example.com/hello@v1.0.0/dir/b.txt", _sha("\u00fcn\u00efcode\n".encode())),
            ],
            "h1:XX+4rysMRKBr2jQH7VAxqtTsg3UPvj5xaMT6qyDJ7ig=",
            id="zip-entries-any-order",
        ),
    ],
)
def test_h1_hashes_equal_gos(files: list[tuple[bytes, bytes]], expected: str) -> None:
    assert dirhash.hash1(files) == expected


def test_go_mod_hash_equals_go_sum() -> None:
    assert dirhash.hash1_go_mod(X_MOD_GO_MOD) == "h1:6SkKJ3Xj0I0BrPOZoBy3bdMptDDU9oJrpohJ3eWZ1fY="


def test_a_file_name_with_a_newline_has_no_hash() -> None:
    with pytest.raises(dirhash.DirHashError):
        dirhash.hash1([(b"a\nb", _sha(b""))])


# --- the checksum database ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name", "url"),
    [
        pytest.param("sum.golang.org", "sum.golang.org", "", id="known-name"),
        pytest.param(
            "sum.golang.google.cn", "sum.golang.org", "https://sum.golang.google.cn", id="china-mirror"
        ),
        pytest.param(
            "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org",
            "sum.golang.org",
            "https://goproxy.cn/sumdb/sum.golang.org",
            id="known-name-with-url",
        ),
    ],
)
def test_gosumdb_values_are_read_as_go_reads_them(value: str, name: str, url: str) -> None:
    db = sumdb.parse_gosumdb(value)
    assert db is not None
    assert (db.name, db.url) == (name, url)


def test_gosumdb_off_means_no_database() -> None:
    assert sumdb.parse_gosumdb("off") is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("sum.golang.org+033de0ae+AAAA", id="bad-key"),
        pytest.param("sum.golang.org+00000000+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", id="wrong-hash"),
        pytest.param("a b c", id="too-many-fields"),
        pytest.param("unknown.example", id="unknown-name-without-key"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_gosumdb_values_are_refused(value: str) -> None:
    with pytest.raises(sumdb.SumDBError):
        sumdb.parse_gosumdb(value)


SIGNER = forge.Signer.new("sum.test")
OTHER = forge.Signer.new("sum.test")
TEST_DB = sumdb.parse_gosumdb(SIGNER.vkey)
RECORDS = [forge.record(f"example.com/m{i}", "v1.0.0", f"h1:zip{i}=", f"h1:mod{i}=") for i in range(70)]


def _lookup(record_id: int, *, records: list[bytes] = RECORDS, signer: forge.Signer = SIGNER) -> bytes:
    return forge.lookup_body(signer, records, record_id)


def test_a_signed_lookup_opens_and_names_the_hashes() -> None:
    assert TEST_DB is not None
    lookup = sumdb.open_lookup(_lookup(42), TEST_DB)
    assert sumdb.record_hashes(lookup, "example.com/m42", "v1.0.0") == ("h1:zip42=", "h1:mod42=")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_lookup(3, signer=OTHER), id="other-key-same-name"),
        pytest.param(_lookup(3).replace(b"h1:zip3=", b"h1:zip9="), id="record-edited-signature-still-valid"),
        pytest.param(_lookup(3).replace(b"tree\n70\n", b"tree\n71\n"), id="tree-edited"),
        pytest.param(_lookup(3).rsplit(b"\n\n", 1)[0] + b"\n\n", id="signature-removed"),
        pytest.param(b"3\n" + RECORDS[3], id="no-tree"),
        pytest.param(b"x\n" + _lookup(3).split(b"\n", 1)[1], id="bad-id"),
        pytest.param(_lookup(3).replace(b"3\n", b"99\n", 1), id="id-beyond-tree"),
    ],
)
def test_lookups_that_are_not_the_databases_are_refused(body: bytes) -> None:
    with pytest.raises(sumdb.SumDBError):
        _open_and_prove(body)


def _open_and_prove(body: bytes) -> None:
    assert TEST_DB is not None
    lookup = sumdb.open_lookup(body, TEST_DB)
    sumdb.check_inclusion(lookup, forge.tiles(RECORDS, 2), height=2)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 16, 17, 64, 70])
def test_every_record_is_proven_in_trees_of_any_size(size: int) -> None:
    assert TEST_DB is not None
    records = RECORDS[:size]
    tiles = forge.tiles(records, 2)
    for record_id in range(size):
        lookup = sumdb.open_lookup(_lookup(record_id, records=records), TEST_DB)
        assert set(sumdb.tiles_needed(lookup, height=2)) <= set(tiles)
        sumdb.check_inclusion(lookup, tiles, height=2)


def _with(tiles: dict[Tile, bytes], tile: Tile, data: bytes) -> dict[Tile, bytes]:
    return {**tiles, tile: data}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("flip-a-hash", id="forged-tile"),
        pytest.param("truncate", id="short-tile"),
        pytest.param("drop", id="missing-tile"),
        pytest.param("forged-record", id="record-not-in-tree"),
    ],
)
def test_an_inclusion_proof_fails_when_anything_is_forged(change: str) -> None:
    assert TEST_DB is not None
    records = list(RECORDS)
    lookup = sumdb.open_lookup(_lookup(5, records=records), TEST_DB)
    tiles = forge.tiles(records, 2)
    first = sumdb.tiles_needed(lookup, height=2)[0]
    if change == "flip-a-hash":
        tiles = _with(tiles, first, bytes([tiles[first][0] ^ 1]) + tiles[first][1:])
    elif change == "truncate":
        tiles = _with(tiles, first, tiles[first][:-32])
    elif change == "drop":
        del tiles[first]
    else:
        lookup = dataclasses.replace(
            lookup, text=forge.record("example.com/m5", "v1.0.0", "h1:evil=", "h1:evil=")
        )
    with pytest.raises(sumdb.SumDBError):
        sumdb.check_inclusion(lookup, tiles, height=2)


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        pytest.param("10Gi", 10 << 30, id="gibi"),
        pytest.param("500M", 500_000_000, id="mega"),
        pytest.param("1.5Ki", 1536, id="fraction"),
        pytest.param(4096, 4096, id="int"),
        pytest.param("4096", 4096, id="digits"),
    ],
)
def test_sizes_accept_kubernetes_quantities(value: str | int, size: int) -> None:
    assert parse_quantity(value) == size


def test_settings_round_trip_through_their_json() -> None:
    s = CacheSettings.from_mapping(
        {
            "maxBytes": "2Gi",
            "goproxy": "https://a.example|https://b.example,direct",
            "goprivate": ["git.corp.example"],
            "noProxy": ".svc,.cluster.local",
            "mutableTTLSeconds": 30,
        }
    )
    assert CacheSettings.from_mapping(s.to_mapping()) == s
    assert (s.max_bytes, s.nosumdb, s.no_proxy) == (2 << 30, "git.corp.example", (".svc", ".cluster.local"))
    assert [u.url for u in s.upstreams] == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"maxbytes": 1}, "unknown setting 'maxbytes'", id="typo"),
        pytest.param({"port": "http"}, "port must be an integer", id="port-type"),
        pytest.param({"port": 70000}, "port must be between", id="port-range"),
        pytest.param(
            {"negativeTTLSeconds": 3600}, "negativeTTLSeconds must be between", id="negative-ttl-brief"
        ),
        pytest.param({"gosumdb": "bogus"}, "GOSUMDB", id="gosumdb"),
        pytest.param({"goproxy": "https://u:pw@x.example"}, "netrc", id="credentials-in-goproxy"),
        pytest.param({"maxBytes": "lots"}, "not a size", id="size"),
        pytest.param({"logLevel": "loud"}, "logLevel", id="log-level"),
        pytest.param({"gonosumdb": [1]}, "list of strings", id="list-type"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        CacheSettings.from_mapping(data)
