"""Count injected Pods' outcomes on their GoBuildConfig: batched, and exactly once.

Watch events only queue observations in memory (no API call on the event path). Every
`flush_interval` each GoBuildConfig with queued work gets one status write carrying all of it,
then its Pods are marked `gobuild.dev/recorded` and Events are posted. The counting protocol that
makes restarts safe is described in core/downloads/counting.py; this module runs it:

1. status write: counts + `pending` entries, atomically (core.counting.apply_batch, applied by the
   status writer, reconciler/status.py, together with the config's other status parts);
2. annotate the finished Pods, post Events, bump metrics (for what step 1 newly counted); a Pod
   that was only injected is not written to: its `pending` entry is its record while it runs;
3. next status write: drop the annotated and the deleted Pods from `pending`.

Running Pods' entries whose Pod vanished without a DELETED event reaching us (a watch gap) are
found by listing the config's Pods (metadata only, one request) at start-up and every
`settle_interval` seconds.

Writes for one GoBuildConfig never overlap (one flush at a time), so Pod annotations only ever
move forward. A failed status write keeps the batch queued and retries with backoff.

Bookkeeping cleanup (step 2's Pod annotations, and settling `pending` entries) runs on its own
schedule: when a Pod cannot be annotated or an entry cannot be settled (the API server paused,
a Pod patch refused), the config's queue is marked for a settling flush after a backoff, so the
entries and markers are cleaned up without waiting for the next outcome of that config.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gobuild_operator.api.status.model import LastPreflight, PendingEntry
from gobuild_operator.constants import ANNOTATION_RECORDED, API_VERSION, KIND, LABEL_CONFIG
from gobuild_operator.core.downloads import counting, events, observe, preflight
from gobuild_operator.core.downloads.counting import BatchResult
from gobuild_operator.core.downloads.observe import Observation
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.events import ObjectRef, post_event
from gobuild_operator.k8s.metawatch import list_metadata
from gobuild_operator.k8s.pods import Marked, mark_recorded, read_pod
from gobuild_operator.metrics import Metrics
from gobuild_operator.reconciler.status import Batch, StatusWriter
from gobuild_operator.store import Key
from gobuild_operator.timeutil import now_rfc3339

logger = logging.getLogger(__name__)

#: A final-stage `pending` entry older than this is looked up: its Pod may have vanished while we
#: were down, or its annotation failed.
PENDING_GRACE = datetime.timedelta(seconds=60)
#: Seconds between checks that the Pods of running entries still exist.
SETTLE_INTERVAL = 300.0


@dataclass
class _Queue:
    observations: list[Observation] = field(default_factory=list)
    marked: set[tuple[str, str]] = field(default_factory=set)  # (uid, stage) annotated
    gone: set[str] = field(default_factory=set)  # uids of deleted Pods
    preflights: list[LastPreflight] = field(default_factory=list)  # finished preflight Pods
    touched: bool = False  # settle every `pending` entry at a flush (left by a previous run, or a retry)
    running: int = 0  # running entries in the status last written
    settled_at: float = field(default_factory=time.monotonic)
    busy: bool = False
    failures: int = 0
    retry_at: float = 0.0
    #: Cleanup that failed: the next settling flush waits until then (backoff), new outcomes do not.
    cleanup_failures: int = 0
    cleanup_at: float = 0.0

    @property
    def due(self) -> bool:
        now = time.monotonic()
        if self.busy or now < self.retry_at:
            return False
        # New outcomes are written at once; a cleanup that failed waits for its own backoff.
        return bool(self.observations or self.marked or self.gone or self.preflights) or (
            self.touched and now >= self.cleanup_at
        )


class DownloadReporter:
    def __init__(
        self,
        *,
        api: ApiClient,
        metrics: Metrics,
        writer: StatusWriter,
        flush_interval: float,
        settle_interval: float = SETTLE_INTERVAL,
        running_limit: int = counting.RUNNING_LIMIT,
    ) -> None:
        self._api = api
        self._metrics = metrics
        self._writer = writer
        self._interval = flush_interval
        self._settle_interval = settle_interval
        self._running_limit = running_limit
        self._queues: dict[Key, _Queue] = {}
        self._known: dict[str, int] = {}  # uid -> highest level counted or queued by this process
        self._preflights: set[str] = set()  # uids of the finished preflight Pods queued
        self._flushes: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # --- the event path: memory only ------------------------------------------------------

    def known(self, uid: str) -> int:
        return self._known.get(uid, 0)

    def on_pod(self, event_type: str | None, pod: Mapping[str, Any]) -> None:
        """A watch event of an injected Pod (kopf, server-side selected on the config label)."""
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        config = observe.injected_config(pod)
        if preflight.is_preflight(pod):  # not a build: its outcome is status.lastPreflight
            self._on_preflight(event_type, pod, config, uid)
            return
        if event_type == "DELETED":
            self._known.pop(uid, None)
            if config and uid:  # its running entry, if any, can go (a previous run's too)
                self._queues.setdefault((str(metadata.get("namespace") or ""), config), _Queue()).gone.add(
                    uid
                )
            return
        if not config:
            return
        obs = observe.observe(pod, known=self.known(uid), now=now_rfc3339())
        if obs is not None:
            self.add(str(metadata.get("namespace") or ""), config, obs)

    def _on_preflight(
        self, event_type: str | None, pod: Mapping[str, Any], config: str | None, uid: str
    ) -> None:
        """A finished preflight Pod's record goes to the writer once (its DELETED event carries the
        Pod's last state, for a Pod deleted before its finished state was seen)."""
        if config and uid and uid not in self._preflights:
            record = preflight.read_preflight(pod, now=now_rfc3339())
            if record is not None:
                self._preflights.add(uid)
                namespace = str((pod.get("metadata") or {}).get("namespace") or "")
                self._queues.setdefault((namespace, config), _Queue()).preflights.append(record)
        if event_type == "DELETED":
            self._preflights.discard(uid)

    def _remember(self, uid: str, stage: str) -> None:
        """`stage` is counted for `uid`: a later event showing less is stale and ignored."""
        self._known[uid] = max(self.known(uid), observe.level(stage))

    def add(self, namespace: str, config: str, obs: Observation) -> None:
        self._remember(obs.uid, obs.stage)
        self._queues.setdefault((namespace, config), _Queue()).observations.append(obs)

    def touch(self, key: Key) -> None:
        """Settle `key`'s `pending` entries soon: they were left by a previous run."""
        self._queues.setdefault(key, _Queue()).touched = True

    # --- flushing -------------------------------------------------------------------------

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="gobuild-download-flusher")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            now = time.monotonic()
            for key, queue in list(self._queues.items()):
                if queue.running and now - queue.settled_at >= self._settle_interval:
                    queue.touched = True
                if queue.due:
                    queue.busy = True
                    task = asyncio.create_task(self._flush(key, queue))
                    self._flushes.add(task)
                    task.add_done_callback(self._flushes.discard)

    async def close(self) -> None:
        """Stop the loop and write what is queued (a clean shutdown loses nothing)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        for key, queue in list(self._queues.items()):
            if queue.observations or queue.marked or queue.gone or queue.preflights:
                queue.busy = True
                await self._flush(key, queue, settle=False)

    async def _flush(self, key: Key, queue: _Queue, *, settle: bool = True) -> None:
        try:
            await self._flush_once(key, queue, settle=settle)
        except Exception:
            logger.exception("flushing download outcomes of %s/%s failed", *key)
        finally:
            queue.busy = False

    async def _flush_once(self, key: Key, queue: _Queue, *, settle: bool) -> None:
        namespace, name = key
        batch, queue.observations = queue.observations, []
        marked, queue.marked = queue.marked, set()
        gone, queue.gone = queue.gone, set()
        preflights, queue.preflights = queue.preflights, []
        settle_all, queue.touched = queue.touched, False
        try:
            written = await self._writer.write(
                key,
                batch=Batch(
                    batch,
                    marked=marked,
                    gone=gone,
                    running_limit=self._running_limit,
                    preflights=preflights,
                ),
            )
        except Exception as exc:
            queue.observations[:0] = batch
            queue.marked |= marked
            queue.gone |= gone
            queue.preflights[:0] = preflights
            queue.touched |= settle_all
            queue.failures += 1
            queue.retry_at = time.monotonic() + min(30.0, self._interval * 2**queue.failures)
            logger.warning("status write for %s/%s failed (%s); will retry", namespace, name, exc)
            return
        queue.failures = 0
        result = written.batch
        if result is None or written.uid is None:  # the config is gone, or does not want reporting
            return
        config = ObjectRef(API_VERSION, KIND, namespace, name, written.uid)
        self._count_metrics(namespace, name, result.counted)
        for obs in result.counted:
            logger.info("counted Pod %s/%s as %s for GoBuildConfig %s", namespace, obs.pod, obs.stage, name)
        done = await self._mark_and_announce(config, result)
        queue.marked |= done
        running = counting.running_pending(result.status)
        queue.running = len(running)
        left = len(result.to_mark) - len(done)
        if settle:
            marking = {obs.uid for obs in result.to_mark}
            grace = datetime.timedelta(0) if settle_all else PENDING_GRACE
            stale = counting.stale_pending(
                result.status, older_than=grace, now=datetime.datetime.now(datetime.UTC)
            )
            unsettled = [e for e in stale if e.uid not in marking]
            settled = await self._settle(namespace, unsettled)
            queue.marked |= settled
            left += len(unsettled) - len(settled)
            if settle_all and running:
                vanished, recorded = await self._settle_running(namespace, name, running)
                queue.gone |= vanished
                queue.marked |= {(uid, observe.INJECTED) for uid in recorded}
            if settle_all:
                queue.settled_at = time.monotonic()
        self._schedule_cleanup(queue, left=left)

    def _schedule_cleanup(self, queue: _Queue, *, left: int) -> None:
        """`left` Pods could not be annotated or settled: retry on a backoff of their own."""
        if not left:
            queue.cleanup_failures = 0
            return
        queue.cleanup_failures += 1
        queue.touched = True
        queue.cleanup_at = time.monotonic() + min(30.0, self._interval * 2**queue.cleanup_failures)

    def _count_metrics(self, namespace: str, name: str, counted: Iterable[Observation]) -> None:
        for obs in counted:
            if obs.stage == observe.MISSED:
                self._metrics.missed_injections.labels(namespace=namespace, config=name).inc()
            elif obs.stage in (observe.SUCCEEDED, observe.FAILED):
                reason = obs.failure.reason if obs.failure else ""
                self._metrics.downloads.labels(
                    namespace=namespace, config=name, outcome=obs.stage, reason=reason
                ).inc()

    async def _mark_and_announce(self, config: ObjectRef, result: BatchResult) -> set[tuple[str, str]]:
        namespace = config.namespace

        async def mark(obs: Observation) -> tuple[str, str] | None:
            try:
                marked = await self._mark(namespace, obs.pod, obs.uid, obs.stage)
            except Exception as exc:  # stays pending; settled later
                logger.warning("could not mark Pod %s/%s recorded: %s", namespace, obs.pod, exc)
                return None
            if not marked:
                return None
            self._remember(obs.uid, obs.stage)
            return (obs.uid, obs.stage)

        async def announce_pod(obs: Observation) -> None:
            text = events.pod_event(obs, config=config.name)
            if text is not None:
                pod = ObjectRef("v1", "Pod", namespace, obs.pod, obs.uid)
                await post_event(self._api, ref=pod, text=text)

        async def announce_config() -> None:
            for text in events.config_events(result.counted):
                await post_event(self._api, ref=config, text=text)

        marks = await asyncio.gather(
            *(mark(obs) for obs in result.to_mark),
            *(announce_pod(obs) for obs in result.counted),
            announce_config(),
        )
        return {m for m in marks[: len(result.to_mark)] if m is not None}

    async def _mark(self, namespace: str, pod: str, uid: str, stage: str) -> bool:
        """Record `stage` on the Pod; False when the API server refused it. The Pod's bookkeeping
        entry then stays on the status (its only record, so a restart does not count it again) and
        the cleanup retries on its backoff."""
        marked, why = await mark_recorded(self._api, namespace=namespace, name=pod, uid=uid, stage=stage)
        if marked is Marked.REFUSED:
            logger.warning(
                "Pod %s/%s: the %s annotation was refused (%s); it stays listed on its GoBuildConfig's "
                "status and is tried again",
                namespace,
                pod,
                ANNOTATION_RECORDED,
                why,
            )
            self._metrics.markers_refused.labels(namespace=namespace).inc()
            return False
        return True

    async def _settle_running(
        self, namespace: str, config: str, entries: list[PendingEntry]
    ) -> tuple[set[str], set[str]]:
        """Running entries whose Pod is gone, and those whose Pod already carries its record: one
        list of the config's Pods, metadata only."""
        try:
            pods = await list_metadata(
                self._api, namespace=namespace, plural="pods", label_selector=f"{LABEL_CONFIG}={config}"
            )
        except Exception as exc:
            logger.warning("could not list the Pods of %s/%s: %s", namespace, config, exc)
            return set(), set()
        present = {
            str(meta.get("uid")): observe.level((meta.get("annotations") or {}).get(ANNOTATION_RECORDED))
            for meta in pods
        }
        vanished, recorded = set(), set()
        for entry in entries:
            uid = entry.uid
            if uid not in present:
                vanished.add(uid)
            elif present[uid] >= observe.level(observe.INJECTED):
                recorded.add(uid)
            else:
                self._remember(uid, observe.INJECTED)
        return vanished, recorded

    async def _settle(self, namespace: str, entries: list[PendingEntry]) -> set[tuple[str, str]]:
        """Look up Pods of old `pending` entries: gone, or marked now -> the entry can go."""

        async def one(entry: PendingEntry) -> tuple[str, str] | None:
            uid, stage = entry.uid, entry.stage
            try:
                pod = await read_pod(self._api, namespace=namespace, name=entry.pod)
                same = pod is not None and (pod.get("metadata") or {}).get("uid") == uid
                if (
                    pod is not None
                    and same
                    and observe.level(observe.recorded_marker(pod)) < observe.level(stage)
                    and not await self._mark(namespace, entry.pod, uid, stage)
                ):
                    return None  # refused: the entry stays, the Pod's only record
                if same:
                    self._remember(uid, stage)
            except Exception as exc:
                logger.warning("could not settle pending Pod %s/%s: %s", namespace, entry.pod, exc)
                return None
            return (uid, stage)

        settled = await asyncio.gather(*(one(e) for e in entries))
        return {s for s in settled if s is not None}
