"""What a finished (or missed) Pod means for its GoBuildConfig's `status.downloads`, exactly once.

Counting protocol (why a restart neither loses nor double-counts an outcome)
--------------------------------------------------------------------------
Each Pod goes through stages, each counted at most once: `injected` (seen carrying the marker), then
`succeeded` or `failed`; a Pod admitted without the injection it asked for has the single stage
`missed`. Two durable records say what has been counted:

* the Pod's annotation `gobuild.dev/recorded: STAGE`, written by the operator after counting;
* `status.downloads.pending`: the Pods counted in a status write whose annotation is not yet
  written (uid, name, stage, time). It is written in the SAME status write as the counts
  (read-modify-write with resourceVersion, so "not yet counted?" and "+1" are one atomic step).

A stage is counted only when neither the Pod's annotation nor `pending` (nor, within one process,
the memory of what was already queued) shows it. After a status write the operator writes the
annotations, and the next status write drops those Pods from `pending`. A crash therefore leaves:

* before the status write: nothing counted, no annotation -> counted after the restart;
* between status write and annotation: `pending` has the Pod -> not counted again, annotation
  written after the restart;
* between annotation and the removal from `pending`: the annotation shows the stage -> not counted,
  the stale entry is dropped.

Entries left by a previous run are settled when the operator starts: it looks each Pod up, writes
a missing annotation, and drops the entry (also when the Pod is gone). Entries that linger for
another reason are settled the same way once they are older than a grace period (`stale_pending`).
An observation queued before its Pod was annotated is counted before the entry is dropped (see
`apply_batch`), and the process remembers what it annotated, so a stale watch event arriving
later is ignored. A Pod created and deleted entirely while the operator was down is never seen
and cannot be counted; that is the one loss the protocol accepts (a finalizer on every build Pod
would cost more than it saves).

Batching: observations are queued in memory per GoBuildConfig and `apply_batch` folds a whole
queue into one status write, so a burst of finished Pods costs a handful of writes, not one each.

Everything here is pure: the operator feeds it Pod dicts and status dicts and does the I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from gobuild_operator import constants as c
from gobuild_operator.api import GoBuildConfigSpec
from gobuild_operator.core import conditions as cond
from gobuild_operator.core.diagnose import UNKNOWN, Diagnosis, diagnose
from gobuild_operator.core.events import EventText
from gobuild_operator.core.mutate import mutate
from gobuild_operator.core.plan import build_plan
from gobuild_operator.core.selection import should_inject

Stage = Literal["injected", "succeeded", "failed", "missed"]
INJECTED: Final = "injected"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
MISSED: Final = "missed"

_LEVEL: Final[Mapping[str, int]] = {INJECTED: 1, SUCCEEDED: 2, FAILED: 2, MISSED: 2}

#: status.downloads.recentFailures keeps this many, newest first (SPEC).
MAX_RECENT_FAILURES: Final = 10
#: Names of Pods listed in one aggregated Event on the GoBuildConfig.
MAX_PODS_IN_EVENT: Final = 5


def level(stage: str | None) -> int:
    """0 for nothing recorded; 1 for injected; 2 for a final stage. Unknown markers count as 0."""
    return _LEVEL.get(stage or "", 0)


@dataclass(frozen=True)
class Failure:
    """status.downloads.lastFailure / recentFailures[] (never the evidence line: it may hold URLs)."""

    pod: str
    container: str
    reason: str
    summary: str
    remedy: str
    time: str

    def to_status(self) -> dict[str, str]:
        return {
            "pod": self.pod,
            "container": self.container,
            "reason": self.reason,
            "summary": self.summary,
            "remedy": self.remedy,
            "time": self.time,
        }


@dataclass(frozen=True)
class Observation:
    """One Pod reaching `stage`. `marker` is its annotation as seen; `known` the level already counted
    for it by this process (queued or written), which may be ahead of a stale watch event."""

    uid: str
    pod: str
    stage: Stage
    marker: str | None = None
    known: int = 0
    failure: Failure | None = None

    @property
    def floor(self) -> int:
        """What is certainly counted already, from what the caller knows."""
        return max(level(self.marker), self.known)


# --- reading Pods ------------------------------------------------------------------------------


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations if isinstance(annotations, Mapping) else {}


def injected_config(pod: Mapping[str, Any]) -> str | None:
    """The GoBuildConfig a Pod was injected with (its marker annotation), or None."""
    name = _annotations(pod).get(c.ANNOTATION_INJECTED)
    return name if isinstance(name, str) and name else None


def recorded_marker(pod: Mapping[str, Any]) -> str | None:
    value = _annotations(pod).get(c.ANNOTATION_RECORDED)
    return value if isinstance(value, str) else None


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    state = status.get("state") or {}
    terminated = state.get("terminated") if isinstance(state, Mapping) else None
    return terminated if isinstance(terminated, Mapping) else None


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Init containers first: a failing init container is where the build stopped."""
    status = pod.get("status") or {}
    found: list[Mapping[str, Any]] = []
    for key in ("initContainerStatuses", "containerStatuses"):
        found.extend(s for s in status.get(key) or [] if isinstance(s, Mapping))
    return found


def pod_result(pod: Mapping[str, Any]) -> Literal["running", "succeeded", "failed"]:
    """Succeeded/Failed phase, or every container terminated where nothing will restart it."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return "succeeded"
    if phase == "Failed":
        return "failed"
    spec = pod.get("spec") or {}
    names = [ctr.get("name") for ctr in spec.get("containers") or [] if isinstance(ctr, Mapping)]
    statuses = {
        s.get("name"): s
        for s in ((pod.get("status") or {}).get("containerStatuses") or [])
        if isinstance(s, Mapping)
    }
    if not names or any(_terminated(statuses.get(name) or {}) is None for name in names):
        return "running"
    codes = [int((_terminated(statuses[name]) or {}).get("exitCode") or 0) for name in names]
    policy = spec.get("restartPolicy", "Always")
    if all(code == 0 for code in codes) and policy in ("Never", "OnFailure"):
        return "succeeded"
    if policy == "Never":
        return "failed"
    return "running"  # the kubelet restarts it


def failed_container(pod: Mapping[str, Any]) -> tuple[str, str]:
    """(container name, termination message) of the first container that exited non-zero.

    With FallbackToLogsOnError (set by the webhook) the message is the tail of the log. A Pod that
    failed without any container failing (eviction, deadline) gives ("", the Pod's own message).
    """
    for status in _container_statuses(pod):
        for state in (_terminated(status), _terminated({"state": status.get("lastState") or {}})):
            if state is not None and int(state.get("exitCode") or 0) != 0:
                return str(status.get("name") or ""), str(state.get("message") or "")
    pod_status = pod.get("status") or {}
    return "", " ".join(str(pod_status.get(k) or "") for k in ("reason", "message")).strip()


def classify(pod: Mapping[str, Any], *, now: str) -> Failure:
    name = str((pod.get("metadata") or {}).get("name") or "")
    container, message = failed_container(pod)
    diagnosis: Diagnosis = diagnose(message)
    return Failure(
        pod=name,
        container=container,
        reason=diagnosis.reason,
        summary=diagnosis.summary,
        remedy=diagnosis.remedy,
        time=now,
    )


def observe(pod: Mapping[str, Any], *, known: int, now: str) -> Observation | None:
    """The stage an injected Pod has reached, if it is beyond what is recorded or `known`; else None."""
    metadata = pod.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    if not uid or injected_config(pod) is None:
        return None
    marker = recorded_marker(pod)
    result = pod_result(pod)
    stage: Stage = INJECTED if result == "running" else result
    if level(stage) <= max(level(marker), known):
        return None
    failure = classify(pod, now=now) if stage == FAILED else None
    return Observation(
        uid=uid, pod=str(metadata.get("name") or ""), stage=stage, marker=marker, known=known, failure=failure
    )


# --- missed injections -----------------------------------------------------------------------


def asks_for_injection(metadata: Mapping[str, Any]) -> bool:
    """Cheap pre-check on metadata only: the Pod names a config or asks for the default one."""
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return False
    inject = str(annotations.get(c.ANNOTATION_INJECT, "")).strip().lower()
    return c.ANNOTATION_CONFIG in annotations or inject == "true"


def missed_config(
    pod: Mapping[str, Any],
    *,
    namespace: str,
    namespace_labels: Mapping[str, str],
    operator_namespace: str,
    configs: Mapping[str, GoBuildConfigSpec | None],
    created: Mapping[str, str],
    cluster_domain: str = c.DEFAULT_CLUSTER_DOMAIN,
) -> str | None:
    """The config a stored Pod would have been injected with had the webhook seen it, or None.

    The webhook's own pure functions decide, on the Pod as stored: if they inject it now, the
    webhook did not run when it was admitted. Pods older than the config (`created`: name ->
    creationTimestamp) were admitted when there was nothing to inject and are not missed.
    """
    metadata = pod.get("metadata") or {}
    if c.ANNOTATION_INJECTED in _annotations(pod) or c.ANNOTATION_RECORDED in _annotations(pod):
        return None
    decision = should_inject(
        pod,
        kind="Pod",
        namespace=namespace,
        namespace_labels=namespace_labels,
        operator_namespace=operator_namespace,
        configs=configs,
    )
    spec = configs.get(decision.config) if decision.config else None
    if decision.config is None or spec is None:
        return None
    born = _parse_time(str(metadata.get("creationTimestamp") or ""))
    if born < _parse_time(created.get(decision.config, "")):
        return None
    plan = build_plan(config_name=decision.config, spec=spec, cluster_domain=cluster_domain)
    result = mutate(pod, kind="Pod", plan=plan, override_env=spec.override_env, containers=spec.containers)
    return decision.config if result.changed else None


def observe_missed(pod: Mapping[str, Any], *, known: int) -> Observation | None:
    metadata = pod.get("metadata") or {}
    uid = str(metadata.get("uid") or "")
    if not uid or max(level(recorded_marker(pod)), known) >= level(MISSED):
        return None
    return Observation(uid=uid, pod=str(metadata.get("name") or ""), stage=MISSED, known=known)


# --- folding a batch into the status ------------------------------------------------------------


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
        return cls(
            injected=count("injected"),
            succeeded=count("succeeded"),
            failed=count("failed"),
            missed=count("missedInjections"),
            by_reason=by_reason,
            last_failure=dict(raw["lastFailure"]) if isinstance(raw.get("lastFailure"), Mapping) else None,
            recent=[dict(f) for f in raw.get("recentFailures") or [] if isinstance(f, Mapping)],
            pending=pending,
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
        }
        if self.last_failure is not None:
            out["lastFailure"] = self.last_failure
        return out


def apply_batch(
    status: Mapping[str, Any],
    observations: Sequence[Observation],
    *,
    marked: Collection[tuple[str, str]] = (),
    generation: int | None,
    now: str,
) -> BatchResult:
    """Count `observations` not counted yet, then drop `marked` (uid, stage) Pods from `pending`.

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
        if level(obs.stage) > floor:
            _count(downloads, obs, floor=floor)
            counted.append(obs)
            downloads.pending[obs.uid] = {"uid": obs.uid, "pod": obs.pod, "stage": obs.stage, "time": now}
        if level(obs.marker) < level(obs.stage) and (
            obs.uid not in mark or level(obs.stage) > level(mark[obs.uid].stage)
        ):
            mark[obs.uid] = obs
    # After counting: an observation that raced with its Pod's annotation (queued before it, from
    # a stale watch event) must still find the entry and be recognised as counted.
    for uid, stage in marked:
        entry = downloads.pending.get(uid)
        if entry is not None and level(entry.get("stage")) <= level(stage):
            del downloads.pending[uid]
    new["downloads"] = downloads.write()
    conditions = list(status.get("conditions") or [])
    health = downloads_condition(counted, conditions=conditions, generation=generation, now=now)
    if health is not conditions:
        new["conditions"] = cond.with_ready(health, generation=generation, now=now)
    return BatchResult(status=new, counted=tuple(counted), to_mark=tuple(mark.values()))


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
    """`pending` entries written more than `older_than` ago: their Pod must be looked up."""
    entries = _Downloads.read(status.get("downloads") or {}).pending.values()
    cutoff = now - older_than
    return [e for e in entries if _parse_time(e.get("time", "")) < cutoff]


def _parse_time(value: str) -> datetime:
    """RFC 3339 as the API server writes it ("...Z") or as the Python client renders it ("+00:00");
    the distant past when absent or unreadable."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- Events -----------------------------------------------------------------------------------


def pod_event(obs: Observation, *, config: str) -> EventText | None:
    """The Event on the Pod itself: why its build failed and what fixes it, or that it was missed."""
    if obs.stage == MISSED:
        return EventText(
            "Warning",
            "InjectionMissed",
            f"this Pod asked for GoBuildConfig {config} but was admitted without its Go build settings "
            "(the gobuild-operator webhook was unavailable); recreate the Pod to get them",
        )
    if obs.stage != FAILED or obs.failure is None:
        return None
    f = obs.failure
    where = f"container {f.container}" if f.container else "the Pod"
    return EventText("Warning", f.reason, f"{where}: {f.summary} Remedy: {f.remedy} (GoBuildConfig {config})")


def config_events(counted: Iterable[Observation]) -> list[EventText]:
    """Events on the GoBuildConfig for one flush: one per failure reason, one for missed Pods."""
    by_reason: dict[str, list[Failure]] = {}
    missed: list[str] = []
    for obs in counted:
        if obs.stage == FAILED and obs.failure is not None:
            by_reason.setdefault(obs.failure.reason, []).append(obs.failure)
        elif obs.stage == MISSED:
            missed.append(obs.pod)
    events = []
    for reason, failures in by_reason.items():
        first = failures[0]
        pods = _names([f.pod for f in failures])
        events.append(
            EventText("Warning", reason, f"build failed in {pods}: {first.summary} Remedy: {first.remedy}")
        )
    if missed:
        events.append(
            EventText(
                "Warning",
                "InjectionMissed",
                f"{_names(missed)} asked for this config but were admitted without it (the webhook was "
                "unavailable); recreate them to get the Go build settings",
            )
        )
    return events


def _names(pods: Sequence[str]) -> str:
    shown = ", ".join(pods[:MAX_PODS_IN_EVENT])
    more = len(pods) - MAX_PODS_IN_EVENT
    noun = "Pod" if len(pods) == 1 else f"{len(pods)} Pods"
    return f"{noun} {shown}" + (f" and {more} more" if more > 0 else "")
