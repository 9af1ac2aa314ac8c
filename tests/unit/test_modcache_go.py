"""go itself, downloading through the cache: fallback, the checksum database through the cache, a
tampered zip that neither the cache nor go accepts, and a warm second build that asks nobody.

The checksum database is tests/support/go/sumdb: golang.org/x/mod's own server with a fresh key,
vouching for the modules a test writes. go checks each answer with that key, so a wrong proof or
hash in the cache shows up as go refusing it. Needs go and the recorded e2e modules (for x/mod).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.modcache import (
    SUMDB_NAME,
    Mirror,
    RunningCache,
    SumDBServer,
    build_sumdb_helper,
    e2e_download_tree,
    go_download,
    make_module,
    settings,
    stored_files,
    sumdb_server,
    write_module,
)

REPO = Path(__file__).resolve().parents[2]
PUBLIC = make_module("example.com/public", "v1.0.0", {"p.go": b"package public\n"})
TAMPERED = make_module("example.com/tampered", "v1.0.0", {"t.go": b"package tampered\n"})
EVIL_ZIP = make_module("example.com/tampered", "v1.0.0", {"t.go": b"package tampered // and worse\n"}).zip
PRIVATE = make_module("git.corp.example/team/private", "v1.0.0", {"x.go": b"package private\n"})


@pytest.fixture(scope="session")
def sumdb_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = build_sumdb_helper(Path.home() / ".cache" / "gobuild-operator" / "test-bin")
    if isinstance(built, str):
        pytest.skip(built)
    return built


@dataclass(frozen=True)
class World:
    mirror: Mirror
    db: SumDBServer


@pytest.fixture
def world(tmp_path: Path, sumdb_binary: Path) -> Iterator[World]:
    """The truth (what the database vouches for) and a mirror that serves a tampered zip."""
    truth, served = tmp_path / "truth", tmp_path / "mirror"
    for module in (PUBLIC, TAMPERED, PRIVATE):
        write_module(truth, module)
        write_module(served, module, zip_bytes=EVIL_ZIP if module is TAMPERED else None)
    mirror = Mirror(served).start()
    with sumdb_server(sumdb_binary, truth, log=tmp_path / "sumdb.log", fill=300) as db:
        yield World(mirror, db)
    mirror.stop()


def _cache(tmp_path: Path, mirror: Mirror, db: SumDBServer, **values: object) -> RunningCache:
    return RunningCache(settings(tmp_path / "cache", goproxy=mirror.url, gosumdb=db.gosumdb, **values))


def _json_stream(text: str) -> list[dict[str, str]]:
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text.strip()):
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def test_go_checks_the_database_through_the_cache_and_a_second_build_asks_nobody(
    tmp_path: Path, world: World
) -> None:
    mirror, db = world.mirror, world.db
    cache = _cache(tmp_path, mirror, db)
    try:
        first = go_download(
            tmp_path / "go", f"{PUBLIC.path}@{PUBLIC.version}", goproxy=cache.url, gosumdb=db.key
        )
        upstream_after_first, db_after_first = len(mirror.requests), len(db.requests())
        second = go_download(
            tmp_path / "go", f"{PUBLIC.path}@{PUBLIC.version}", goproxy=cache.url, gosumdb=db.key
        )
        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        assert _json_stream(first.stdout)[0]["Sum"] == _json_stream(second.stdout)[0]["Sum"]
        assert (len(mirror.requests), len(db.requests())) == (upstream_after_first, db_after_first)
        assert cache.metric("gomodcache_misses_total", kind="sumdb-lookup") == 1
    finally:
        cache.stop()


def test_a_tampered_zip_is_refused_never_kept_and_go_refuses_it_too(tmp_path: Path, world: World) -> None:
    mirror, db = world.mirror, world.db
    cache = _cache(tmp_path, mirror, db, negative_ttl_seconds=0)
    try:
        direct = cache.get(f"/{TAMPERED.escaped}.zip")
        builds = [
            go_download(
                tmp_path / f"go{i}",
                f"{TAMPERED.path}@{TAMPERED.version}",
                goproxy=f"{cache.url},{mirror.url}",  # the cache's 410 sends go to the mirror itself
                gosumdb=db.key,
            )
            for i in range(2)
        ]
        assert direct.status == 410
        assert "does not match the checksum database" in direct.body.decode()
        for build in builds:
            assert build.returncode != 0
            assert "checksum mismatch" in build.stdout + build.stderr
        assert f"mod/{TAMPERED.escaped}.zip" not in stored_files(tmp_path / "cache")
        assert cache.metric("gomodcache_served_bytes_total", kind="zip") == 0
        assert cache.metric("gomodcache_verification_failures_total", kind="zip") == 3
    finally:
        cache.stop()


def test_private_modules_are_kept_without_asking_the_database(tmp_path: Path, world: World) -> None:
    mirror, db = world.mirror, world.db
    cache = _cache(tmp_path, mirror, db, goprivate=("git.corp.example",))
    try:
        answer = cache.get(f"/{PRIVATE.escaped}.zip")
        assert (answer.status, answer.body) == (200, PRIVATE.zip)
        assert cache.get(f"/{PRIVATE.escaped}.zip").headers["X-Cache"] == "HIT"
        assert not any("git.corp.example" in r for r in db.requests())
    finally:
        cache.stop()


def test_what_the_database_cannot_vouch_for_is_served_but_not_kept(tmp_path: Path, world: World) -> None:
    mirror, db = world.mirror, world.db
    cache = RunningCache(
        settings(
            tmp_path / "cache", goproxy=mirror.url, gosumdb=f"{db.key} http://127.0.0.1:9"
        )  # nobody there
    )
    try:
        answers = [cache.get(f"/{PUBLIC.escaped}.zip") for _ in range(2)]
        assert [(a.status, a.body) for a in answers] == [(200, PUBLIC.zip)] * 2
        assert [a.headers["X-Cache"] for a in answers] == ["MISS", "MISS"]
        assert stored_files(tmp_path / "cache") == set()
        assert cache.metric("gomodcache_verification_unavailable_total", reason="sumdb_unreachable") == 2
    finally:
        cache.stop()


def test_an_answer_signed_with_another_key_is_refused(
    tmp_path: Path, world: World, sumdb_binary: Path
) -> None:
    mirror, db = world.mirror, world.db
    with sumdb_server(sumdb_binary, tmp_path / "truth", log=tmp_path / "impostor.log") as impostor:
        cache = RunningCache(
            settings(tmp_path / "cache", goproxy=mirror.url, gosumdb=f"{db.key} {impostor.url}")
        )
        try:
            lookup = cache.get(f"/sumdb/{SUMDB_NAME}/lookup/{PUBLIC.path}@{PUBLIC.version}")
            zipped = cache.get(f"/{PUBLIC.escaped}.zip")
            assert lookup.status == 502
            assert "signature" in lookup.body.decode()
            assert zipped.status == 200
            assert stored_files(tmp_path / "cache") == set()
            assert cache.metric("gomodcache_verification_unavailable_total", reason="sumdb_refused") == 1
        finally:
            cache.stop()


def test_a_404_from_the_cache_sends_go_to_the_next_proxy(tmp_path: Path, world: World) -> None:
    mirror = world.mirror
    only_in_second = make_module("example.com/elsewhere", "v1.0.0")
    second_root = tmp_path / "second"
    write_module(second_root, only_in_second)
    second = Mirror(second_root).start()
    cache = RunningCache(settings(tmp_path / "cache", goproxy=mirror.url))
    try:
        build = go_download(
            tmp_path / "go",
            f"{only_in_second.path}@v1.0.0",
            goproxy=f"{cache.url},{second.url}",
            gosumdb="off",
        )
        assert build.returncode == 0, build.stderr
        assert second.count(".zip") == 1
        assert cache.metric("gomodcache_requests_total", code="404") >= 1
    finally:
        cache.stop()
        second.stop()


@pytest.fixture
def real_modules(tmp_path: Path) -> Path:
    tree = e2e_download_tree()
    if tree is None:
        pytest.skip("the real modules are not recorded: run `make e2e-setup` once")
    return tree


def test_a_real_project_builds_warm_without_asking_upstream_or_the_database(
    tmp_path: Path, real_modules: Path, sumdb_binary: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "tests" / "e2e" / "testdata" / "consumer", project)
    (project / "go.sum").unlink()  # so go asks the checksum database (through the cache) for everything
    mirror = Mirror(real_modules).start()
    with sumdb_server(sumdb_binary, real_modules, log=tmp_path / "sumdb.log", fill=1000) as db:
        cache = RunningCache(settings(tmp_path / "cache", goproxy=mirror.url, gosumdb=db.gosumdb))
        try:
            cold = go_download(tmp_path / "go", goproxy=cache.url, gosumdb=db.key, cwd=project)
            counts = (len(mirror.requests), len(db.requests()))
            (project / "go.sum").unlink(missing_ok=True)
            warm = go_download(tmp_path / "go", goproxy=cache.url, gosumdb=db.key, cwd=project)
            assert cold.returncode == 0, cold.stderr
            assert warm.returncode == 0, warm.stderr
            assert (len(mirror.requests), len(db.requests())) == counts
            assert cache.metric("gomodcache_verification_failures_total") == 0
            assert cache.metric("gomodcache_misses_total", kind="zip") == 5
        finally:
            cache.stop()
            mirror.stop()
