"""The one writer of every GoBuildConfig's status.

Three parts of the operator learn something a status shows: the spec reconcile (observedGeneration,
the effective GOPROXY/GOSUMDB, SpecValid), the checks (probes, referenced objects, the cache) and
the download counting (status.downloads, DownloadsHealthy, and status.lastPreflight from finished
preflight Pods, which it does not count). None of them writes: each hands what
it found to this writer, which keeps the latest spec view and findings of each config and applies
every part it holds, plus the counting batch when there is one, to the latest status in one write
(core/status/compose.py, core/downloads/counting.py). So every write carries all parts consistently,
Ready is derived from all of them, and the writes of one config never race each other (a lock per
config; across replicas the resourceVersion guards, k8s/status.py).

It also posts the Events of conditions that changed in a write (core/downloads/events.py), whichever
part changed them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from gobuild_operator.api.status.model import GoBuildConfigStatus, LastPreflight
from gobuild_operator.constants import API_VERSION, KIND
from gobuild_operator.core.downloads import counting
from gobuild_operator.core.downloads.counting import BatchResult
from gobuild_operator.core.downloads.events import transition_events
from gobuild_operator.core.downloads.observe import Observation
from gobuild_operator.core.status.compose import Findings, SpecView, with_findings, with_preflight, with_spec
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.events import ObjectRef, post_event
from gobuild_operator.k8s.status import update_status
from gobuild_operator.timeutil import now_rfc3339

logger = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass(frozen=True)
class Batch:
    """What the download counting hands over: observations to count, and bookkeeping to drop."""

    observations: Sequence[Observation] = ()
    marked: Collection[tuple[str, str]] = ()
    gone: Collection[str] = ()
    running_limit: int = counting.RUNNING_LIMIT
    #: Finished preflight Pods (not builds: never counted), for status.lastPreflight.
    preflights: Sequence[LastPreflight] = ()


@dataclass(frozen=True)
class Written:
    """What a write did: the config's uid (None: it is gone), and the counting's result."""

    uid: str | None
    batch: BatchResult | None = None


@dataclass
class _Parts:
    spec: SpecView | None = None
    findings: Findings | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class StatusWriter:
    def __init__(self, *, api: ApiClient) -> None:
        self._api = api
        self._parts: dict[Key, _Parts] = {}

    def forget(self, key: Key) -> None:
        """The config is gone (or this replica stopped leading): drop what is held for it."""
        self._parts.pop(key, None)

    async def write(
        self,
        key: Key,
        *,
        spec: SpecView | None = None,
        findings: Findings | None = None,
        batch: Batch | None = None,
    ) -> Written:
        """Hold the given parts as the config's latest, and write every part held (and `batch`)."""
        parts = self._parts.setdefault(key, _Parts())
        async with parts.lock:
            if spec is not None:
                parts.spec = spec
            if findings is not None:
                parts.findings = findings
            return await self._write(key, parts, batch)

    async def _write(self, key: Key, parts: _Parts, batch: Batch | None) -> Written:
        namespace, name = key
        result: dict[str, Any] = {}

        def apply(obj: dict[str, Any], current: GoBuildConfigStatus) -> GoBuildConfigStatus | None:
            result.clear()
            generation = obj["metadata"].get("generation")
            now = now_rfc3339()
            new = current
            if parts.spec is not None:
                new = with_spec(new, parts.spec, now=now)
            if parts.findings is not None:
                new = with_findings(new, parts.findings, generation=generation, now=now)
            if batch is not None:
                reporting = (obj.get("spec") or {}).get("reporting") or {}
                if reporting.get("enabled", True) is not False:
                    counted = counting.apply_batch(
                        new,
                        batch.observations,
                        marked=batch.marked,
                        gone=batch.gone,
                        generation=generation,
                        now=now,
                        running_limit=batch.running_limit,
                    )
                    result["batch"] = counted
                    new = counted.status
                for record in batch.preflights:
                    new = with_preflight(new, record)
            result["events"] = transition_events(current.conditions, new.conditions)
            return new

        obj = await update_status(self._api, namespace=namespace, name=name, fn=apply)
        if obj is None:
            return Written(uid=None)
        uid = str(obj["metadata"]["uid"])
        if result.get("events"):
            ref = ObjectRef(API_VERSION, KIND, namespace, name, uid)
            for text in result["events"]:
                await post_event(self._api, ref=ref, text=text)
        return Written(uid=uid, batch=result.get("batch"))
