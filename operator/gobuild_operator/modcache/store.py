"""The cache directory: files in GOPROXY layout, an LRU index in memory, atomic writes, eviction.

Every file arrives in `tmp/` and is renamed into place only once complete, synced and checked, so
a reader (or a restart) never sees half a zip. The index is memory only: a restart rebuilds it by
walking the directory, oldest modification first, which is also how long ago each file was
fetched, and empties `tmp/` of whatever a killed process left. Eviction removes least recently
served files first until the total fits `max_bytes`; a file being written is not in the index yet,
and a file being served is pinned, so neither is ever evicted from under its user.

Relative paths come from core.modcache.paths, built from validated parts; `path()` still refuses
anything that could leave the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LAYOUT = "v1"


class UnsafePath(ValueError):
    pass


@dataclass
class Entry:
    size: int
    fetched_at: float
    pins: int = 0


@dataclass(frozen=True)
class Evicted:
    rel: str
    size: int


class Store:
    """Files under `root/v1/`, downloads under `root/tmp/`; the index is rebuilt by `open()`."""

    def __init__(self, root: Path, *, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.files = root / LAYOUT
        self.tmp = root / "tmp"
        self.max_bytes = max_bytes
        self._clock = clock
        self._index: OrderedDict[str, Entry] = OrderedDict()
        self.total_bytes = 0

    @property
    def file_count(self) -> int:
        return len(self._index)

    def open(self) -> None:
        """Create the layout, drop leftover downloads, rebuild the index from what is on disk."""
        self.files.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()
        found: list[tuple[float, str, int]] = []
        for dirpath, _, names in os.walk(self.files):
            for name in names:
                full = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    st = os.stat(full, follow_symlinks=False)
                    rel = os.path.relpath(full, self.files).replace(os.sep, "/")
                    found.append((st.st_mtime, rel, st.st_size))
        found.sort()
        self._index.clear()
        self.total_bytes = 0
        for mtime, rel, size in found:
            self._index[rel] = Entry(size=size, fetched_at=mtime)
            self.total_bytes += size
        log.info("cache index rebuilt: %d files, %d bytes", len(self._index), self.total_bytes)

    def path(self, rel: str) -> Path:
        parts = rel.split("/")
        if not rel or rel.startswith("/") or any(p in ("", ".", "..") or "\0" in p for p in parts):
            raise UnsafePath(rel)
        return self.files.joinpath(*parts)

    def get(self, rel: str) -> Entry | None:
        """The entry for `rel`, marked as just used."""
        entry = self._index.get(rel)
        if entry is not None:
            self._index.move_to_end(rel)
        return entry

    def pin(self, rel: str) -> bool:
        entry = self._index.get(rel)
        if entry is None:
            return False
        entry.pins += 1
        return True

    def unpin(self, rel: str) -> None:
        entry = self._index.get(rel)
        if entry is not None and entry.pins > 0:
            entry.pins -= 1

    def new_temp(self) -> Path:
        return self.tmp / uuid.uuid4().hex

    async def commit(self, temp: Path, rel: str) -> list[Evicted]:
        """Move a complete download into place (synced first) and evict what no longer fits."""
        target = self.path(rel)
        await asyncio.get_running_loop().run_in_executor(None, _sync_file, temp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        now = self._clock()
        os.utime(target, (now, now))  # a restart reads the fetch time back from the mtime
        size = target.stat().st_size
        old = self._index.pop(rel, None)
        if old is not None:
            self.total_bytes -= old.size
        self._index[rel] = Entry(size=size, fetched_at=now, pins=old.pins if old else 0)
        self.total_bytes += size
        return self._evict(keep=rel)

    def remove(self, rel: str) -> None:
        entry = self._index.pop(rel, None)
        if entry is not None:
            self.total_bytes -= entry.size
            with contextlib.suppress(FileNotFoundError):
                self.path(rel).unlink()

    def _evict(self, *, keep: str) -> list[Evicted]:
        evicted: list[Evicted] = []
        if self.total_bytes <= self.max_bytes:
            return evicted
        for rel in list(self._index):
            if self.total_bytes <= self.max_bytes:
                break
            entry = self._index[rel]
            if rel == keep or entry.pins:
                continue
            self.remove(rel)
            evicted.append(Evicted(rel, entry.size))
        return evicted


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
