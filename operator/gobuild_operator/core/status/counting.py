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

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from gobuild_operator.api.reasons import UNKNOWN
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.core.status.observe import (
    FAILED,
    INJECTED,
    MISSED,
    SUCCEEDED,
    Failure,
    Observation,
    level,
)
from gobuild_operator.timeutil import parse_rfc3339

#: status.downloads.recentFailures keeps this many, newest first (SPEC).
MAX_RECENT_FAILURES: Final = 10
#: Running injected Pods tracked in `running` per config before the oldest are recorded on the Pod:
#: about 60 bytes each, so the status stays far below etcd's object size limit.
RUNNING_LIMIT: Final = 2000


@dataclass(frozen=True)
class BatchResult:
    status: dict[str, Any]
    #: Observations counted by this write (metrics and Events are for these only).
    counted: tuple[Observation, ...] = ()
    #: Pods whose annotation must be raised to `stage` (counted now, or earlier and still pending).
    to_mark: tuple[Observation, ...] = ()


@dataclass
class _Downloads:
    injected: int = 0
    succeeded: int = 0
    failed: int = 0
    missed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    last_failure: dict[str, Any] | None = None
    recent: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # uid -> entry
    running: dict[str, str] = field(default_factory=dict)  # uid -> Pod name, oldest first

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> _Downloads:
        def count(key: str) -> int:
            value = raw.get(key)
            return value if isinstance(value, int) else 0

        by_reason = {str(k): v for k, v in (raw.get("byReason") or {}).items() if isinstance(v, int)}
        pending = {
            str(e["uid"]): {k: str(v) for k, v in e.items()}
            for e in raw.get("pending") or []
            if isinstance(e, Mapping) and e.get("uid")
        }
        running = parse_running(raw.get("running"))
        # Running Pods listed in `pending` by an earlier version of this protocol move to `running`.
        for uid, entry in list(pending.items()):
            if entry.get("stage") == INJECTED:
                running.setdefault(uid, entry.get("pod", ""))
                del pending[uid]
        return cls(
            injected=count("injected"),
            succeeded=count("succeeded"),
            failed=count("failed"),
            missed=count("missedInjections"),
            by_reason=by_reason,
            last_failure=dict(raw["lastFailure"]) if isinstance(raw.get("lastFailure"), Mapping) else None,
            recent=[dict(f) for f in raw.get("recentFailures") or [] if isinstance(f, Mapping)],
            pending=pending,
            running=running,
        )

    def write(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "injected": self.injected,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "missedInjections": self.missed,
            "byReason": dict(sorted(self.by_reason.items())),
            "recentFailures": self.recent[:MAX_RECENT_FAILURES],
            "pending": sorted(self.pending.values(), key=lambda e: (e.get("time", ""), e["uid"])),
            "running": " ".join(f"{uid}/{name}" for uid, name in self.running.items()),
        }
        if self.last_failure is not None:
            out["lastFailure"] = self.last_failure
        return out


def apply_batch(
    status: Mapping[str, Any],
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
    new = dict(status)
    downloads = _Downloads.read(status.get("downloads") or {})
    counted: list[Observation] = []
    mark: dict[str, Observation] = {}
    for obs in observations:
        pending = downloads.pending.get(obs.uid)
        floor = max(obs.floor, level(pending.get("stage") if pending else None))
        if obs.uid in downloads.running:
            floor = max(floor, level(INJECTED))
        if level(obs.stage) > floor:
            _count(downloads, obs, floor=floor)
            counted.append(obs)
            if obs.stage == INJECTED:
                downloads.running[obs.uid] = obs.pod
            else:
                downloads.running.pop(obs.uid, None)
                downloads.pending[obs.uid] = {"uid": obs.uid, "pod": obs.pod, "stage": obs.stage, "time": now}
        if (
            obs.stage != INJECTED  # a running Pod's record is its entry (see the module docstring)
            and level(obs.marker) < level(obs.stage)
            and (obs.uid not in mark or level(obs.stage) > level(mark[obs.uid].stage))
        ):
            mark[obs.uid] = obs
    # After counting: an observation that raced with its Pod's annotation (queued before it, from
    # a stale watch event) must still find the entry and be recognised as counted.
    for uid, stage in marked:
        entry = downloads.pending.get(uid)
        if entry is not None and level(entry.get("stage")) <= level(stage):
            del downloads.pending[uid]
        if stage == INJECTED:  # recorded on the Pod: the annotation is its record now
            downloads.running.pop(uid, None)
    for uid in gone:
        downloads.pending.pop(uid, None)
        downloads.running.pop(uid, None)
    for uid, pod in list(downloads.running.items())[: max(0, len(downloads.running) - running_limit)]:
        if uid not in mark:
            mark[uid] = Observation(uid=uid, pod=pod, stage=INJECTED)
    new["downloads"] = downloads.write()
    conditions = list(status.get("conditions") or [])
    health = downloads_condition(counted, conditions=conditions, generation=generation, now=now)
    if health is not conditions:
        new["conditions"] = cond.with_ready(health, generation=generation, now=now)
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


def _count(downloads: _Downloads, obs: Observation, *, floor: int) -> None:
    if obs.stage == MISSED:
        downloads.missed += 1
        return
    if floor < level(INJECTED):
        downloads.injected += 1
    if obs.stage == SUCCEEDED:
        downloads.succeeded += 1
    elif obs.stage == FAILED:
        downloads.failed += 1
        failure = obs.failure or Failure(obs.pod, "", UNKNOWN, "", "", "")
        downloads.by_reason[failure.reason] = downloads.by_reason.get(failure.reason, 0) + 1
        entry = failure.to_status()
        downloads.last_failure = entry
        downloads.recent = [entry, *downloads.recent][:MAX_RECENT_FAILURES]


def downloads_condition(
    counted: Sequence[Observation],
    *,
    conditions: list[dict[str, Any]],
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """DownloadsHealthy describes the most recently finished injected Pod.

    True: it succeeded. False: its log shows a module download failure; reason and remedy are the
    classifier's. Unknown: it failed, but not in a way the classifier recognises as a download
    failure (a compile error, a failing test). Returns `conditions` itself when nothing finished.
    """
    finished = [o for o in counted if o.stage in (SUCCEEDED, FAILED)]
    if not finished:
        return conditions
    last = finished[-1]
    if last.stage == SUCCEEDED:
        return cond.set_condition(
            conditions,
            type=cond.DOWNLOADS_HEALTHY,
            status="True",
            reason="BuildSucceeded",
            message=f"the latest finished injected Pod, {last.pod}, succeeded",
            generation=generation,
            now=now,
        )
    failure = last.failure or Failure(last.pod, "", UNKNOWN, "", "", now)
    where = f"Pod {failure.pod}" + (f" (container {failure.container})" if failure.container else "")
    if failure.reason == UNKNOWN:
        return cond.set_condition(
            conditions,
            type=cond.DOWNLOADS_HEALTHY,
            status="Unknown",
            reason="UnrecognisedFailure",
            message=f"{where} failed, but its log shows no known module download failure",
            generation=generation,
            now=now,
        )
    return cond.set_condition(
        conditions,
        type=cond.DOWNLOADS_HEALTHY,
        status="False",
        reason=failure.reason,
        message=f"{where} failed: {failure.summary} Remedy: {failure.remedy}",
        generation=generation,
        now=now,
    )


def stale_pending(status: Mapping[str, Any], *, older_than: timedelta, now: datetime) -> list[dict[str, str]]:
    """Final-stage `pending` entries written more than `older_than` ago: their Pod must be looked up
    (a running Pod's entry is old as long as its build runs; see `running_pending`)."""
    entries = _Downloads.read(status.get("downloads") or {}).pending.values()
    cutoff = now - older_than
    return [e for e in entries if e.get("stage") != INJECTED and parse_rfc3339(e.get("time", "")) < cutoff]


def running_pending(status: Mapping[str, Any]) -> list[dict[str, str]]:
    """The running injected Pods (as entries): dropped when their Pod turns out to be gone."""
    running = _Downloads.read(status.get("downloads") or {}).running
    return [{"uid": uid, "pod": name, "stage": INJECTED} for uid, name in running.items()]
