"""Checking a download against the checksum database before the cache keeps it (see core.modcache.sumdb).

The lookup and the tiles its proof needs are fetched through the cache itself, so they are kept
(a build's go asks the cache for the same lookup a moment later, and gets it without a round trip)
and concurrent checks of one module share one lookup. A lookup is kept only once its signature and
inclusion proof hold. Hashing a zip reads it from disk in chunks, in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from gobuild_operator.core.modcache import paths
from gobuild_operator.core.modcache.dirhash import DirHashError, hash1, hash1_go_mod
from gobuild_operator.core.modcache.paths import Kind, Refusal, Target, Tile
from gobuild_operator.core.modcache.sumdb import (
    SumDB,
    SumDBError,
    check_inclusion,
    open_lookup,
    record_hashes,
    tiles_needed,
)

log = logging.getLogger(__name__)

#: go refuses a module whose files extract to more than this (golang.org/x/mod/zip MaxZipFile).
MAX_EXTRACTED = 500 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Verified:
    pass


@dataclass(frozen=True)
class Mismatch:
    expected: str
    got: str


@dataclass(frozen=True)
class Unavailable:
    reason: str  # metrics label: sumdb_unreachable, sumdb_refused, not_in_sumdb
    detail: str


@dataclass(frozen=True)
class Missing:
    """What reading a checksum database file through the cache gave instead of bytes."""

    status: int
    detail: str
    refused: bool = False  # the database answered, but its answer failed verification


Verdict = Verified | Mismatch | Unavailable
Reader = Callable[[Target], Awaitable["bytes | Missing"]]


def zip_hash(path: Path) -> str:
    """The `h1:` of a module zip as golang.org/x/mod/sumdb/dirhash.HashZip computes it."""
    total = 0
    with zipfile.ZipFile(path) as zf:
        last: dict[str, zipfile.ZipInfo] = {}
        names: list[tuple[str, bytes]] = []
        for info in zf.infolist():
            raw = info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
            last[info.filename] = info  # go hashes the last of duplicate names, once per occurrence
            names.append((info.filename, raw))
        digests: dict[str, bytes] = {}
        for name, info in last.items():
            digest = hashlib.sha256()
            with zf.open(info) as member:
                while chunk := member.read(_CHUNK):
                    total += len(chunk)
                    if total > MAX_EXTRACTED:
                        raise DirHashError("zip extracts to more than 500 MiB")
                    digest.update(chunk)
            digests[name] = digest.digest()
    return hash1((raw, digests[name]) for name, raw in names)


def mod_hash(path: Path) -> str:
    return hash1_go_mod(path.read_bytes())


def _file_hash(kind: Kind, path: Path) -> str:
    try:
        return zip_hash(path) if kind is Kind.ZIP else mod_hash(path)
    except (zipfile.BadZipFile, DirHashError, EOFError, NotImplementedError, ValueError) as exc:
        return f"(not a valid module zip: {exc})"


class Verifier:
    """Checks .mod/.zip downloads and /lookup answers for one checksum database."""

    def __init__(self, *, db: SumDB, read: Reader, forget: Callable[[Target], None]) -> None:
        self.db = db
        self._read = read
        self._forget = forget

    def target(self, path: str) -> Target:
        parsed = paths.parse(
            f"/sumdb/{self.db.name}/{path}", sumdb_name=self.db.name, sumdb_dir=self.db.storage_dir
        )
        if isinstance(parsed, Refusal):
            raise SumDBError(f"cannot ask the checksum database for {path}: {parsed.reason}")
        return parsed

    async def check_file(self, target: Target, path: Path) -> Verdict:
        """Does the downloaded .mod/.zip at `path` have the hash the checksum database records?"""
        try:
            lookup_target = self.target(
                f"lookup/{paths.escape(target.module)}@{paths.escape(target.version)}"
            )
        except SumDBError as exc:
            return Unavailable("sumdb_refused", str(exc))
        data = await self._read(lookup_target)
        if isinstance(data, Missing):
            if data.status in (404, 410):
                return Unavailable("not_in_sumdb", data.detail)
            return Unavailable("sumdb_refused" if data.refused else "sumdb_unreachable", data.detail)
        try:
            zip_h1, mod_h1 = record_hashes(open_lookup(data, self.db), target.module, target.version)
        except SumDBError as exc:
            return Unavailable("sumdb_refused", str(exc))
        expected = zip_h1 if target.kind is Kind.ZIP else mod_h1
        if not expected:
            return Unavailable("not_in_sumdb", f"the record has no {target.kind.value} hash")
        got = await asyncio.get_running_loop().run_in_executor(None, _file_hash, target.kind, path)
        return Verified() if got == expected else Mismatch(expected, got)

    async def check_lookup(self, body: bytes) -> None:
        """Raise SumDBError unless `body` is a lookup signed by the database and proven in its tree."""
        lookup = open_lookup(body, self.db)
        tiles = tiles_needed(lookup)
        datas = await asyncio.gather(*(self._tile(tile) for tile in tiles))
        try:
            check_inclusion(lookup, dict(zip(tiles, datas, strict=True)))
        except SumDBError:
            for tile in tiles:  # one of them may be what is wrong: read them afresh next time
                self._forget(self.target(tile.path()))
            raise

    async def _tile(self, tile: Tile) -> bytes:
        data = await self._read(self.target(tile.path()))
        full = Tile(tile.h, tile.level, tile.n, 1 << tile.h)
        if isinstance(data, Missing) and data.status in (404, 410) and tile != full:
            # A partial tile may be gone once the full one exists (go's client does the same).
            data = await self._read(self.target(full.path()))
            if not isinstance(data, Missing):
                data = data[: tile.w * 32]
        if isinstance(data, Missing):
            raise SumDBError(f"tile {tile.path()} unavailable: {data.detail}")
        return data
