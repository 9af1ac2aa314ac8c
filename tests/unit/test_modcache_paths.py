"""The cache serves exactly the paths go sends, and no request can name a file outside its directory.

Expected values follow golang.org/x/mod (module.CheckPath, EscapePath/UnescapePath, semver,
tlog.ParseTilePath); the hostile rows are paths a tenant could send to the cache's Service.
"""

from __future__ import annotations

import pytest

from gobuild_operator.core.modcache import paths
from gobuild_operator.core.modcache.paths import Kind, Refusal, Target, Tile

SUMDB = {"sumdb_name": "sum.golang.org", "sumdb_dir": "0123456789abcdef"}


@pytest.mark.parametrize(
    ("raw", "kind", "module", "version", "upstream", "stored"),
    [
        pytest.param(
            "/golang.org/x/mod/@v/v0.22.0.zip",
            Kind.ZIP,
            "golang.org/x/mod",
            "v0.22.0",
            "golang.org/x/mod/@v/v0.22.0.zip",
            "mod/golang.org/x/mod/@v/v0.22.0.zip",
            id="zip",
        ),
        pytest.param(
            "/github.com/!burnt!sushi/toml/@v/v1.3.2.mod",
            Kind.MOD,
            "github.com/BurntSushi/toml",
            "v1.3.2",
            "github.com/!burnt!sushi/toml/@v/v1.3.2.mod",
            "mod/github.com/!burnt!sushi/toml/@v/v1.3.2.mod",
            id="upper-case-escaped",
        ),
        pytest.param(
            "/rsc.io/quote/v3/@v/v3.1.0.info",
            Kind.INFO,
            "rsc.io/quote/v3",
            "v3.1.0",
            "rsc.io/quote/v3/@v/v3.1.0.info",
            "mod/rsc.io/quote/v3/@v/v3.1.0.info",
            id="info-canonical",
        ),
        pytest.param(
            "/github.com/a/b/@v/v0.0.0-20240101000000-abcdefabcdef.zip",
            Kind.ZIP,
            "github.com/a/b",
            "v0.0.0-20240101000000-abcdefabcdef",
            "github.com/a/b/@v/v0.0.0-20240101000000-abcdefabcdef.zip",
            "mod/github.com/a/b/@v/v0.0.0-20240101000000-abcdefabcdef.zip",
            id="pseudo-version",
        ),
        pytest.param(
            "/github.com/a/b/@v/v2.0.0+incompatible.mod",
            Kind.MOD,
            "github.com/a/b",
            "v2.0.0+incompatible",
            "github.com/a/b/@v/v2.0.0+incompatible.mod",
            "mod/github.com/a/b/@v/v2.0.0+incompatible.mod",
            id="incompatible",
        ),
        pytest.param(
            "/gopkg.in/yaml.v3/@v/v3.0.1.zip",
            Kind.ZIP,
            "gopkg.in/yaml.v3",
            "v3.0.1",
            "gopkg.in/yaml.v3/@v/v3.0.1.zip",
            "mod/gopkg.in/yaml.v3/@v/v3.0.1.zip",
            id="gopkg-in",
        ),
        pytest.param(
            "/github.com/a/b/@v/v1.0.0-!r!c1.info",
            Kind.INFO,
            "github.com/a/b",
            "v1.0.0-RC1",
            "github.com/a/b/@v/v1.0.0-!r!c1.info",
            "mod/github.com/a/b/@v/v1.0.0-!r!c1.info",
            id="upper-case-prerelease",
        ),
        pytest.param(
            "/golang.org/x/mod/@v/list",
            Kind.LIST,
            "golang.org/x/mod",
            "",
            "golang.org/x/mod/@v/list",
            "mod/golang.org/x/mod/@v/list",
            id="list",
        ),
        pytest.param(
            "/golang.org/x/mod/@latest",
            Kind.LATEST,
            "golang.org/x/mod",
            "",
            "golang.org/x/mod/@latest",
            "mod/golang.org/x/mod/@latest",
            id="latest",
        ),
        pytest.param(
            "/golang.org/x/mod/@v/master.info",
            Kind.QUERY,
            "golang.org/x/mod",
            "master",
            "golang.org/x/mod/@v/master.info",
            "mod/golang.org/x/mod/@v/" + paths.query_storage_name("master"),
            id="branch-query",
        ),
        pytest.param(
            "/golang.org/x/mod/@v/v1.2.info",
            Kind.QUERY,
            "golang.org/x/mod",
            "v1.2",
            "golang.org/x/mod/@v/v1.2.info",
            "mod/golang.org/x/mod/@v/" + paths.query_storage_name("v1.2"),
            id="short-version-is-a-query",
        ),
        pytest.param(
            "/golang.org/x/mod/@v/feature%20x.info",
            Kind.QUERY,
            "golang.org/x/mod",
            "feature x",
            "golang.org/x/mod/@v/feature x.info",
            "mod/golang.org/x/mod/@v/" + paths.query_storage_name("feature x"),
            id="percent-encoded-query",
        ),
        pytest.param(
            "/sumdb/sum.golang.org/lookup/golang.org/x/mod@v0.22.0",
            Kind.SUMDB_LOOKUP,
            "golang.org/x/mod",
            "v0.22.0",
            "lookup/golang.org/x/mod@v0.22.0",
            "sumdb/0123456789abcdef/lookup/golang.org/x/mod@v0.22.0",
            id="sumdb-lookup",
        ),
        pytest.param(
            "/sumdb/sum.golang.org/tile/8/0/x123/456.p/7",
            Kind.SUMDB_TILE,
            "",
            "",
            "tile/8/0/x123/456.p/7",
            "sumdb/0123456789abcdef/tile/8/0/x123/456.p/7",
            id="sumdb-partial-tile",
        ),
        pytest.param(
            "/sumdb/sum.golang.org/tile/8/data/000",
            Kind.SUMDB_TILE,
            "",
            "",
            "tile/8/data/000",
            "sumdb/0123456789abcdef/tile/8/data/000",
            id="sumdb-data-tile",
        ),
        pytest.param(
            "/sumdb/sum.golang.org/latest",
            Kind.SUMDB_LATEST,
            "",
            "",
            "latest",
            "sumdb/0123456789abcdef/latest",
            id="sumdb-latest",
        ),
        pytest.param(
            "/sumdb/sum.golang.org/supported", Kind.SUMDB_SUPPORTED, "", "", "", "", id="sumdb-supported"
        ),
    ],
)
def test_go_requests_map_to_one_upstream_path_and_one_file(
    raw: str, kind: Kind, module: str, version: str, upstream: str, stored: str
) -> None:
    assert paths.parse(raw, **SUMDB) == Target(kind, module, version, upstream, stored)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("/../../etc/passwd", id="dot-dot"),
        pytest.param("/golang.org/x/../../../etc/@v/v1.0.0.zip", id="dot-dot-in-module"),
        pytest.param("/golang.org/x/mod/@v/..%2f..%2f..%2fetc%2fpasswd.info", id="encoded-slash-in-version"),
        pytest.param("/golang.org%2f..%2f..%2fx/@v/list", id="encoded-slash-in-module"),
        pytest.param("/golang.org/x/mod/@v/%2e%2e.info", id="encoded-dots-version"),
        pytest.param("/golang.org/x/mod/@v/v1.0.0.zip%00", id="encoded-nul"),
        pytest.param("/golang.org/x/mod/@v/v1.0.0%5c..%5cx.zip", id="encoded-backslash"),
        pytest.param("/golang.org//x/mod/@v/list", id="double-slash"),
        pytest.param("/golang.org/x/mod/@v/", id="empty-name"),
        pytest.param("/golang.org/x/mod/@v/list/extra", id="extra-element"),
        pytest.param("/GoLang.org/x/mod/@v/list", id="upper-case-not-escaped"),
        pytest.param("/github.com/!!a/b/@v/list", id="double-bang"),
        pytest.param("/github.com/a!/@v/list", id="trailing-bang"),
        pytest.param("/github.com/a/b/@v/v1.0.0-!R.info", id="bang-upper"),
        pytest.param("/localhost/x/@v/list", id="no-dot-in-host"),
        pytest.param("/-x.com/a/@v/list", id="leading-dash"),
        pytest.param("/x.com/.hidden/@v/list", id="leading-dot-element"),
        pytest.param("/x.com/a./@v/list", id="trailing-dot-element"),
        pytest.param("/x.com/con/@v/list", id="windows-reserved"),
        pytest.param("/x.com/aux.go/@v/list", id="windows-reserved-with-dot"),
        pytest.param("/x.com/abc~1/@v/list", id="windows-short-name"),
        pytest.param("/x.com/a b/@v/list", id="space-in-module"),
        pytest.param("/x.com/%C3%A9/@v/list", id="non-ascii"),
        pytest.param("/x.com/a/v1/@v/list", id="v1-suffix"),
        pytest.param("/x.com/a/v2/@v/v1.0.0.zip", id="major-mismatch"),
        pytest.param("/x.com/a/@v/v2.0.0.zip", id="v2-without-suffix"),
        pytest.param("/x.com/a/@v/master.zip", id="zip-of-a-query"),
        pytest.param("/x.com/a/@v/v1.2.mod", id="mod-of-short-version"),
        pytest.param("/x.com/a/@v/v1.0.0+build.zip", id="build-metadata"),
        pytest.param("/x.com/a/@v/v01.0.0.zip", id="leading-zero"),
        pytest.param("/x.com/a/@v/v1.0.0.tar", id="unknown-extension"),
        pytest.param("/x.com/a/@v/a*b.info", id="star-query"),
        pytest.param("/x.com/a/@v/ab!.info", id="trailing-bang-query"),
        pytest.param("/x.com/a/@latest/x", id="latest-extra"),
        pytest.param("/x.com/a/@v/v1.0.0.zip?x=1", id="query-string"),
        pytest.param("/x.com/a/@v/%zz.info", id="bad-percent"),
        pytest.param("/x.com/a/@v/v1.0.0.zip%", id="truncated-percent"),
        pytest.param("/@v/list", id="no-module"),
        pytest.param("/" + "a" * 5000 + ".com/@v/list", id="too-long"),
        pytest.param("/sumdb/other.example/lookup/x.com/a@v1.0.0", id="sumdb-other-name"),
        pytest.param("/sumdb/sum.golang.org/lookup/x.com/a", id="lookup-without-version"),
        pytest.param("/sumdb/sum.golang.org/lookup/x.com/a@master", id="lookup-of-a-query"),
        pytest.param("/sumdb/sum.golang.org/lookup/../../x@v1.0.0", id="lookup-dot-dot"),
        pytest.param("/sumdb/sum.golang.org/tile/8/0/1", id="tile-not-canonical"),
        pytest.param("/sumdb/sum.golang.org/tile/8/0/000.p/256", id="tile-partial-full-width"),
        pytest.param("/sumdb/sum.golang.org/tile/8/0/../../x", id="tile-dot-dot"),
        pytest.param("/sumdb/sum.golang.org/tile/31/0/000", id="tile-too-high"),
        pytest.param("/sumdb/sum.golang.org/tile/8/64/000", id="tile-level-too-high"),
        pytest.param("/sumdb/sum.golang.org/config", id="sumdb-unknown"),
        pytest.param("/sumdb/sum.golang.org", id="sumdb-bare"),
        pytest.param("/metricsx", id="not-a-module"),
        pytest.param("relative/@v/list", id="relative"),
    ],
)
def test_paths_go_would_not_send_are_refused(raw: str) -> None:
    assert isinstance(paths.parse(raw, **SUMDB), Refusal)


def test_without_a_checksum_database_sumdb_paths_are_refused() -> None:
    assert isinstance(paths.parse("/sumdb/sum.golang.org/supported"), Refusal)


@pytest.mark.parametrize(
    ("path", "escaped"),
    [
        pytest.param("github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml", id="upper"),
        pytest.param("golang.org/x/mod", "golang.org/x/mod", id="lower"),
        pytest.param("github.com/Azure/azure-sdk-for-go", "github.com/!azure/azure-sdk-for-go", id="one"),
    ],
)
def test_escaping_round_trips(path: str, escaped: str) -> None:
    assert paths.escape(path) == escaped
    assert paths.unescape(escaped) == path


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        pytest.param("golang.org/x/mod", True, id="plain"),
        pytest.param("github.com/user/repo/v2", True, id="major-suffix"),
        pytest.param("gopkg.in/yaml.v3", True, id="gopkg"),
        pytest.param("gopkg.in/check.v1-unstable", True, id="gopkg-unstable"),
        pytest.param("example.com/a~b", True, id="tilde"),
        pytest.param("example.com/a_b.c-d", True, id="punctuation"),
        pytest.param("example.com/v1", False, id="v1-suffix"),
        pytest.param("example.com/v02", False, id="v0-leading-zero"),
        pytest.param("example.com/v2.1", False, id="dotted-major"),
        pytest.param("example.com/a+b", False, id="plus"),
        pytest.param("Example.com/a", False, id="upper-in-host"),
        pytest.param("exa_mple.com/a", False, id="underscore-in-host"),
        pytest.param("example", False, id="no-dot"),
        pytest.param("", False, id="empty"),
        pytest.param("example.com/", False, id="trailing-slash"),
        pytest.param("example.com/lpt9", False, id="windows-lpt9"),
        pytest.param("example.com/COM1.txt", False, id="windows-com1"),
        pytest.param("gopkg.in/yaml", False, id="gopkg-without-major"),
    ],
)
def test_module_paths_are_checked_as_go_checks_them(path: str, valid: bool) -> None:
    assert (paths.check_path(path) == "") is valid


@pytest.mark.parametrize(
    ("version", "canonical"),
    [
        pytest.param("v1.2.3", "v1.2.3", id="canonical"),
        pytest.param("v1.2", "v1.2.0", id="short-minor"),
        pytest.param("v1", "v1.0.0", id="short-major"),
        pytest.param("v1.2.3-pre.1", "v1.2.3-pre.1", id="prerelease"),
        pytest.param("v1.2.3+meta", "v1.2.3", id="build-dropped"),
        pytest.param("v2.0.0+incompatible", "v2.0.0+incompatible", id="incompatible-kept"),
        pytest.param("v1.2.3-01", "", id="numeric-prerelease-leading-zero"),
        pytest.param("v1.2.3-", "", id="empty-prerelease"),
        pytest.param("v1.2.3-a..b", "", id="empty-identifier"),
        pytest.param("1.2.3", "", id="no-v"),
        pytest.param("v1.2.3.4", "", id="four-parts"),
        pytest.param("v1.2-pre", "", id="short-with-prerelease"),
        pytest.param("v00.1.0", "", id="leading-zero"),
    ],
)
def test_versions_are_canonicalised_as_semver_does(version: str, canonical: str) -> None:
    assert paths.canonical_version(version) == canonical


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        pytest.param("tile/8/0/000", Tile(8, 0, 0, 256), id="first"),
        pytest.param("tile/8/1/x001/234", Tile(8, 1, 1234, 256), id="two-elements"),
        pytest.param("tile/8/0/x001/x234/567.p/9", Tile(8, 0, 1234567, 9), id="partial"),
        pytest.param("tile/8/data/002", Tile(8, -1, 2, 256), id="data"),
        pytest.param("tile/8/0/x000/001", None, id="leading-zero-group"),
        pytest.param("tile/8/0/1000", None, id="group-too-large"),
        pytest.param("tile/8/0/000.p/0", None, id="zero-width"),
        pytest.param("tile/0/0/000", None, id="zero-height"),
        pytest.param("tile/8/0/-01", None, id="negative"),
    ],
)
def test_tile_paths_parse_only_in_canonical_form(path: str, tile: Tile | None) -> None:
    assert paths.parse_tile_path(path) == tile
    if tile is not None:
        assert tile.path() == path
