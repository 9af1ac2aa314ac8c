"""Count Pods' stages on their GoBuildConfig's `status.downloads`, exactly once, in batches.

Counting protocol (why a restart neither loses nor double-counts an outcome)
--------------------------------------------------------------------------
Each Pod goes through stages, each counted at most once: `injected` (seen carrying the marker), then
`succeeded` or `failed`; a Pod admitted without the injection it asked for has the single stage
`missed`. Two durable records say what has been counted:

* `status.downloads.running` and `status.downloads.pending`, written in the SAME status write as
  the counts (read-modify-write with resourceVersion, so "not yet counted?" and "+1" are one atomic
  step): `running` lists the injected Pods counted while they run (`uid/name` words in one string),
  `pending` the Pods counted in a final stage (uid, name, stage, time) whose annotation is owed;
* the Pod's annotation `gobuild.dev/recorded: STAGE`, written by the operator after counting a
  final stage (succeeded, failed, missed). The next status write then drops the Pod's entry.

A stage is counted only when neither the Pod's annotation nor `running`/`pending` (nor, within one
process, the memory of what was already queued) shows it.

The `injected` stage writes nothing on the Pod: its word stays in `running` while the Pod runs and
is replaced by a final stage's `pending` entry when the Pod finishes (or dropped when the Pod is
deleted), so creating an injected Pod costs the API server one status write shared with every
other Pod of the batch, instead of a PATCH of each Pod and the watch event it causes. `running` is
one string, not a list of objects, because it is rewritten by every status write of its config:
as a string it is encoded, decoded and copied in C (by the API client, the API server and kopf's
watch), where a list of a thousand small objects cost the operator's loop milliseconds a write.
It is bounded: beyond `running_limit` per config the oldest are recorded on their Pods
(`gobuild.dev/recorded: injected`, as every injected Pod once was) and dropped.

A crash therefore leaves:

* before the status write: nothing counted, no entry, no annotation -> counted after the restart;
* after it: `running` or `pending` has the Pod -> not counted again (a running Pod's word is its
  only record; a finished Pod's annotation is written after the restart);
* between annotation and the removal from `pending`: the annotation shows the stage -> not counted,
  the stale entry is dropped.

Entries left by a previous run are settled when the operator starts: the Pods of final-stage
entries are looked up (a missing annotation is written, the entry dropped, also when the Pod is
gone), and running entries whose Pod no longer exists are dropped; the same runs on a schedule, so
an entry whose Pod vanished during a watch gap goes too. An observation queued before its Pod was
annotated is counted before the entry is dropped (see `apply_batch`), and the process remembers
what it counted, so a stale watch event arriving later is ignored. A Pod created and deleted
entirely while the operator was down is never seen and cannot be counted; that is the one loss
the protocol accepts (a finalizer on every build Pod would cost more than it saves).

Batching: observations are queued in memory per GoBuildConfig and `apply_batch` folds a whole
queue into one status write, so a burst of new or finished Pods costs a handful of writes, not
one each.

Everything here is pure: the operator feeds it Pod dicts and status dicts and does the I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from gobuild_operator.api.status.model import Condition, Downloads, Failure, GoBuildConfigStatus, PendingEntry
from gobuild_operator.api.status.reasons import UNKNOWN
from gobuild_operator.core.downloads.observe import (
    FAILED,
    INJECTED,
    MISSED,
    SUCCEEDED,
    Observation,
    about,
    level,
)
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status import health
from gobuild_operator.timeutil import parse_rfc3339

#: status.downloads.recentFailures keeps this many, newest first (SPEC).
MAX_RECENT_FAILURES: Final = 10
#: Running injected Pods tracked in `running` per config before the oldest are recorded on the Pod:
#: about 60 bytes each, so the status stays far below etcd's object size limit.
RUNNING_LIMIT: Final = 2000


@dataclass(frozen=True)
class BatchResult:
    status: GoBuildConfigStatus
    #: Observations counted by this write (metrics and Events are for these only).
    counted: tuple[Observation, ...] = ()
    #: Pods whose annotation must be raised to `stage` (counted now, or earlier and still pending).
    to_mark: tuple[Observation, ...] = ()


@dataclass
class _Tally:
    """status.downloads as the counting works on it: entries keyed by Pod uid."""

    injected: int = 0
    succeeded: int = 0
    failed: int = 0
    missed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    last_failure: Failure | None = None
    recent: list[Failure] = field(default_factory=list)
    pending: dict[str, PendingEntry] = field(default_factory=dict)  # uid -> entry
    running: dict[str, str] = field(default_factory=dict)  # uid -> Pod name, oldest first

    @classmethod
    def read(cls, downloads: Downloads | None) -> _Tally:
        if downloads is None:
            return cls()
        return cls(
            injected=downloads.injected,
            succeeded=downloads.succeeded,
            failed=downloads.failed,
            missed=downloads.missed_injections,
            by_reason=dict(downloads.by_reason),
            last_failure=downloads.last_failure,
            recent=list(downloads.recent_failures),
            pending={entry.uid: entry for entry in downloads.pending if entry.uid},
            running=parse_running(downloads.running),
        )

    def write(self) -> Downloads:
        return Downloads(
            injected=self.injected,
            succeeded=self.succeeded,
            failed=self.failed,
            missed_injections=self.missed,
            by_reason=dict(sorted(self.by_reason.items())),
            last_failure=self.last_failure,
            recent_failures=self.recent[:MAX_RECENT_FAILURES],
            pending=sorted(self.pending.values(), key=lambda e: (e.time, e.uid)),
            running=" ".join(f"{uid}/{name}" for uid, name in self.running.items()),
        )


def apply_batch(
    status: GoBuildConfigStatus,
    observations: Sequence[Observation],
    *,
    marked: Collection[tuple[str, str]] = (),
    gone: Collection[str] = (),
    generation: int | None,
    now: str,
    running_limit: int = RUNNING_LIMIT,
) -> BatchResult:
    """Count `observations` not counted yet, then drop from `pending` the `marked` (uid, stage) Pods
    and the `gone` ones (uids of deleted Pods).

    Pure and idempotent: applying the same batch to the status it produced changes nothing, which
    is what makes a retried or replayed flush safe.
    """
    tally = _Tally.read(status.downloads)
    counted: list[Observation] = []
    mark: dict[str, Observation] = {}
    for obs in observations:
        pending = tally.pending.get(obs.uid)
        floor = max(obs.floor, level(pending.stage if pending else None))
        if obs.uid in tally.running:
            floor = max(floor, level(INJECTED))
        if level(obs.stage) > floor:
            _count(tally, obs, floor=floor)
            counted.append(obs)
            if obs.stage == INJECTED:
                tally.running[obs.uid] = obs.pod
            else:
                tally.running.pop(obs.uid, None)
                tally.pending[obs.uid] = PendingEntry(uid=obs.uid, pod=obs.pod, stage=obs.stage, time=now)
        if (
            obs.stage != INJECTED  # a running Pod's record is its entry (see the module docstring)
            and level(obs.marker) < level(obs.stage)
            and (obs.uid not in mark or level(obs.stage) > level(mark[obs.uid].stage))
        ):
            mark[obs.uid] = obs
    # After counting: an observation that raced with its Pod's annotation (queued before it, from
    # a stale watch event) must still find the entry and be recognised as counted.
    for uid, stage in marked:
        entry = tally.pending.get(uid)
        if entry is not None and level(entry.stage) <= level(stage):
            del tally.pending[uid]
        if stage == INJECTED:  # recorded on the Pod: the annotation is its record now
            tally.running.pop(uid, None)
    for uid in gone:
        tally.pending.pop(uid, None)
        tally.running.pop(uid, None)
    for uid, pod in list(tally.running.items())[: max(0, len(tally.running) - running_limit)]:
        if uid not in mark:
            mark[uid] = Observation(uid=uid, pod=pod, stage=INJECTED)
    conditions = downloads_condition(counted, conditions=status.conditions, generation=generation, now=now)
    if conditions is not status.conditions:
        conditions = health.consistent_proxies(
            conditions, status.proxies, tally.last_failure, generation=generation, now=now
        )
        conditions = cond.with_ready(conditions, generation=generation, now=now)
    new = status.model_copy(update={"downloads": tally.write(), "conditions": conditions})
    return BatchResult(status=new, counted=tuple(counted), to_mark=tuple(mark.values()))


def parse_running(value: Any) -> dict[str, str]:
    """`status.downloads.running` ("uid/name uid/name ...") as uid -> Pod name, in order."""
    if not isinstance(value, str):
        return {}
    running: dict[str, str] = {}
    for word in value.split():
        uid, _, name = word.partition("/")
        if uid:
            running[uid] = name
    return running


def _count(tally: _Tally, obs: Observation, *, floor: int) -> None:
    if obs.stage == MISSED:
        tally.missed += 1
        return
    if floor < level(INJECTED):
        tally.injected += 1
    if obs.stage == SUCCEEDED:
        tally.succeeded += 1
    elif obs.stage == FAILED:
        tally.failed += 1
        failure = obs.failure or Failure(pod=obs.pod, reason=UNKNOWN)
        tally.by_reason[failure.reason] = tally.by_reason.get(failure.reason, 0) + 1
        tally.last_failure = failure
        tally.recent = [failure, *tally.recent][:MAX_RECENT_FAILURES]


def downloads_condition(
    counted: Sequence[Observation],
    *,
    conditions: list[Condition],
    generation: int | None,
    now: str,
) -> list[Condition]:
    """DownloadsHealthy describes the most recently finished injected Pod.

    True: it succeeded. False: its log shows a module download failure; reason and remedy are the
    classifier's. Unknown: it failed, but not in a way the classifier recognises as a download
    failure (a compile error, a failing test). Returns `conditions` itself when nothing finished.
    """
    set_downloads_healthy = cond.setter(conditions, cond.DOWNLOADS_HEALTHY, generation=generation, now=now)
    finished = [o for o in counted if o.stage in (SUCCEEDED, FAILED)]
    if not finished:
        return conditions
    last = finished[-1]
    if last.stage == SUCCEEDED:
        return set_downloads_healthy(
            "True", "BuildSucceeded", f"the latest finished injected Pod, {last.pod}, succeeded"
        )
    failure = last.failure or Failure(pod=last.pod, reason=UNKNOWN, time=now)
    where = f"Pod {failure.pod}" + (f" (container {failure.container})" if failure.container else "")
    if failure.reason == UNKNOWN:
        return set_downloads_healthy(
            "Unknown",
            "UnrecognisedFailure",
            f"{where} failed, but its log shows no known module download failure",
        )
    return set_downloads_healthy(
        "False", failure.reason, f"{where} failed{about(failure)}: {failure.summary} Remedy: {failure.remedy}"
    )


def stale_pending(status: GoBuildConfigStatus, *, older_than: timedelta, now: datetime) -> list[PendingEntry]:
    """Final-stage `pending` entries written more than `older_than` ago: their Pod must be looked up
    (a running Pod's entry is old as long as its build runs; see `running_pending`)."""
    entries = _Tally.read(status.downloads).pending.values()
    cutoff = now - older_than
    return [e for e in entries if e.stage != INJECTED and parse_rfc3339(e.time) < cutoff]


def running_pending(status: GoBuildConfigStatus) -> list[PendingEntry]:
    """The running injected Pods (as entries): dropped when their Pod turns out to be gone."""
    running = _Tally.read(status.downloads).running
    return [PendingEntry(uid=uid, pod=name, stage=INJECTED) for uid, name in running.items()]
