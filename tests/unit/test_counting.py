"""core.observe, core.counting, core.missed, core.events: what a finished or missed Pod means for
status.downloads, counted exactly once, and the Events that say so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.status.model import Failure
from gobuild_operator.core.downloads import counting, events, missed, observe
from gobuild_operator.core.downloads.observe import Observation
from gobuild_operator.core.status import conditions as cond
from gobuild_operator.k8s.status import dump, read_status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gofailures"
NOW = "2026-01-02T03:04:05Z"
LATER = "2026-01-02T03:05:00Z"


def pod(
    *,
    name: str = "build-1",
    uid: str = "uid-1",
    phase: str = "Running",
    config: str | None = "go",
    recorded: str | None = None,
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    containers: tuple[str, ...] = ("build",),
    restart_policy: str = "Never",
    annotations: dict[str, str] | None = None,
    created: str = NOW,
) -> dict[str, Any]:
    notes = dict(annotations or {})
    if config:
        notes["gobuild.dev/injected"] = config
    if recorded:
        notes["gobuild.dev/recorded"] = recorded
    status: dict[str, Any] = {"phase": phase}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid,
            "annotations": notes,
            "creationTimestamp": created,
        },
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": n, "image": "golang"} for n in containers],
        },
        "status": status,
    }


def terminated(name: str, code: int, message: str = "") -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code, "reason": "Error", "message": message}}}


def running(name: str) -> dict[str, Any]:
    return {"name": name, "state": {"running": {}}}


# --- reading Pods ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"phase": "Pending"}, "running", id="pending"),
        pytest.param({"phase": "Succeeded"}, "succeeded", id="phase-succeeded"),
        pytest.param({"phase": "Failed"}, "failed", id="phase-failed"),
        pytest.param({"statuses": [terminated("build", 0)]}, "succeeded", id="all-terminated-ok"),
        pytest.param({"statuses": [terminated("build", 2)]}, "failed", id="all-terminated-never-restart"),
        pytest.param(
            {"statuses": [terminated("build", 2)], "restart_policy": "OnFailure"},
            "running",
            id="onfailure-will-restart",
        ),
        pytest.param(
            {"statuses": [terminated("build", 0)], "restart_policy": "Always"},
            "running",
            id="always-restarts",
        ),
        pytest.param(
            {"statuses": [terminated("build", 0), running("side")], "containers": ("build", "side")},
            "running",
            id="one-still-running",
        ),
    ],
)
def test_pod_result(kwargs: dict[str, Any], expected: str) -> None:
    assert observe.pod_result(pod(**kwargs)) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"statuses": [terminated("test", 0), terminated("build", 1, "go: boom")]},
            ("build", "go: boom"),
            id="first-nonzero",
        ),
        pytest.param(
            {"init_statuses": [terminated("deps", 1, "init log")], "statuses": [terminated("build", 1, "x")]},
            ("deps", "init log"),
            id="init-container-first",
        ),
        pytest.param(
            {
                "statuses": [
                    {
                        "name": "build",
                        "state": {"waiting": {}},
                        "lastState": terminated("b", 3, "old")["state"],
                    }
                ]
            },
            ("build", "old"),
            id="last-state",
        ),
        pytest.param({"statuses": []}, ("", ""), id="pod-level"),
    ],
)
def test_failed_container(kwargs: dict[str, Any], expected: tuple[str, str]) -> None:
    assert observe.failed_container(pod(phase="Failed", **kwargs)) == expected


def test_a_failed_pod_is_classified_from_its_termination_message() -> None:
    log = (FIXTURES / "proxy_404.txt").read_text()
    obs = observe.observe(pod(phase="Failed", statuses=[terminated("build", 1, log)]), known=0, now=NOW)
    assert obs is not None
    assert obs.failure is not None
    assert (obs.stage, obs.failure.reason, obs.failure.container) == ("failed", "ModuleNotFound", "build")
    assert "spec.goprivate" in obs.failure.remedy
    assert (obs.failure.module, obs.failure.host, obs.failure.route) == (
        "example.com/nosuch",
        "goproxy.corp.invalid",
        "proxy",
    )
    first_line = log.splitlines()[0]
    assert first_line not in str(obs.failure.model_dump()), "the evidence line stays out of status"


@pytest.mark.parametrize(
    ("kwargs", "known", "expected"),
    [
        pytest.param({}, 0, "injected", id="running-new"),
        pytest.param({"recorded": "injected"}, 0, None, id="running-recorded"),
        pytest.param({}, 1, None, id="running-known"),
        pytest.param({"phase": "Succeeded"}, 0, "succeeded", id="succeeded-new"),
        pytest.param(
            {"phase": "Succeeded", "recorded": "injected"}, 0, "succeeded", id="succeeded-after-injected"
        ),
        pytest.param({"phase": "Succeeded", "recorded": "succeeded"}, 0, None, id="succeeded-recorded"),
        pytest.param({"phase": "Failed"}, 2, None, id="failed-known"),
        pytest.param({"config": None}, 0, None, id="not-injected"),
        pytest.param({"recorded": "something-else"}, 0, "injected", id="unknown-marker-is-nothing"),
    ],
)
def test_observe(kwargs: dict[str, Any], known: int, expected: str | None) -> None:
    obs = observe.observe(pod(**kwargs), known=known, now=NOW)
    assert (obs.stage if obs else None) == expected


# --- counting exactly once ---------------------------------------------------------------------


def failure(name: str = "build-1", reason: str = "ModuleNotFound") -> Failure:
    return Failure(
        pod=name,
        container="build",
        reason=reason,
        summary=f"summary of {reason}.",
        remedy=f"remedy of {reason}",
        time=NOW,
    )


def fails(
    uid: str = "uid-1", marker: str | None = None, known: int = 0, reason: str = "ModuleNotFound"
) -> Observation:
    return Observation(uid, f"pod-{uid}", "failed", marker, known, failure(f"pod-{uid}", reason))


@dataclass(frozen=True)
class Applied:
    """A batch's result with the status as the API server stores it (camelCase, unset fields absent)."""

    status: dict[str, Any]
    counted: tuple[Observation, ...]
    to_mark: tuple[Observation, ...]


def apply(status: dict[str, Any], batch: list[Observation], **kwargs: Any) -> Applied:
    now = kwargs.pop("now", NOW)
    result = counting.apply_batch(read_status(status), batch, generation=1, now=now, **kwargs)
    return Applied(dump(result.status), result.counted, result.to_mark)


def test_a_pod_first_seen_failed_counts_as_injected_and_failed() -> None:
    result = apply({}, [fails()])
    downloads = result.status["downloads"]
    assert (downloads["injected"], downloads["failed"], downloads["succeeded"]) == (1, 1, 0)
    assert downloads["byReason"] == {"ModuleNotFound": 1}
    assert downloads["lastFailure"]["reason"] == "ModuleNotFound"
    assert downloads["lastFailure"]["remedy"] == "remedy of ModuleNotFound"
    assert [p["uid"] for p in downloads["pending"]] == ["uid-1"]
    assert [o.uid for o in result.counted] == ["uid-1"]
    assert [(o.uid, o.stage) for o in result.to_mark] == [("uid-1", "failed")]


def test_replaying_a_batch_counts_nothing_twice() -> None:
    """What a restart after the status write but before the Pod annotation does."""
    first = apply({}, [Observation("u", "p", "injected"), fails("u", known=1)])
    again = apply(first.status, [fails("u")])  # the restarted operator knows nothing
    assert again.status["downloads"] == first.status["downloads"]
    assert again.counted == ()
    assert [(o.uid, o.stage) for o in again.to_mark] == [("u", "failed")], "the annotation is still owed"


@pytest.mark.parametrize(
    ("pending_stage", "marker", "observed", "added"),
    [
        pytest.param(None, None, "failed", (1, 1, 0), id="nothing-recorded"),
        pytest.param("failed", None, "failed", (0, 0, 0), id="crash-before-annotation"),
        pytest.param("failed", "injected", "failed", (0, 0, 0), id="crash-between-two-annotations"),
        pytest.param(None, "failed", "failed", (0, 0, 0), id="annotated-and-settled"),
        pytest.param(None, "injected", "failed", (0, 1, 0), id="injected-annotated-then-finished"),
        pytest.param("injected", None, "failed", (0, 1, 0), id="injected-pending-then-finished"),
        pytest.param("missed", None, "missed", (0, 0, 0), id="missed-pending"),
        pytest.param(None, None, "missed", (0, 0, 1), id="missed-new"),
    ],
)
def test_restart_cases(
    pending_stage: str | None, marker: str | None, observed: str, added: tuple[int, int, int]
) -> None:
    """(injected, failed, missedInjections) added for a Pod in each state a crash can leave."""
    pending = [{"uid": "u", "pod": "p", "stage": pending_stage, "time": NOW}] if pending_stage else []
    status = {"downloads": {"injected": 5, "failed": 5, "missedInjections": 5, "pending": pending}}
    obs = Observation("u", "p", observed, marker, 0, failure("p") if observed == "failed" else None)  # type: ignore[arg-type]
    downloads = apply(status, [obs]).status["downloads"]
    assert (downloads["injected"] - 5, downloads["failed"] - 5, downloads["missedInjections"] - 5) == added


def test_marked_pods_leave_pending_but_later_stages_stay() -> None:
    status = apply({}, [Observation("a", "pa", "injected"), fails("b")]).status
    result = apply(status, [], marked={("a", "injected"), ("b", "injected")})
    assert [p["uid"] for p in result.status["downloads"]["pending"]] == ["b"], "b was counted as failed"
    result = apply(result.status, [], marked={("b", "failed")})
    assert result.status["downloads"]["pending"] == []


def running(result: Applied) -> list[str]:
    return list(counting.parse_running(result.status["downloads"]["running"]))


def test_an_injected_pod_is_counted_without_touching_the_pod() -> None:
    """no write per injected Pod; its word in `running` is the record until it finishes."""
    result = apply({}, [Observation("a", "pa", "injected")])
    downloads = result.status["downloads"]
    assert (downloads["injected"], downloads["running"], downloads["pending"]) == (1, "a/pa", [])
    assert result.to_mark == (), "no annotation owed for a running Pod"
    again = apply(result.status, [Observation("a", "pa", "injected")])  # a restart re-lists it
    assert again.counted == ()
    assert again.status["downloads"] == downloads
    finished = apply(again.status, [fails("a")])
    assert (finished.status["downloads"]["injected"], finished.status["downloads"]["failed"]) == (1, 1)
    assert running(finished) == []
    assert [(p["uid"], p["stage"]) for p in finished.status["downloads"]["pending"]] == [("a", "failed")]
    assert [(o.uid, o.stage) for o in finished.to_mark] == [("a", "failed")]


def test_a_deleted_pod_leaves_the_bookkeeping_whatever_its_stage() -> None:
    batch = [Observation("a", "pa", "injected"), fails("b"), Observation("c", "pc", "injected")]
    status = apply({}, batch).status
    result = apply(status, [], gone={"a", "b"})
    assert (running(result), result.status["downloads"]["pending"]) == (["c"], [])
    assert (result.status["downloads"]["injected"], result.status["downloads"]["failed"]) == (3, 1)


def test_a_pod_counted_and_deleted_in_one_batch_is_counted_once() -> None:
    result = apply({}, [Observation("a", "pa", "injected")], gone={"a"})
    assert (result.status["downloads"]["injected"], running(result)) == (1, [])


def test_running_pods_beyond_the_limit_are_recorded_on_their_pods() -> None:
    batch = [Observation(f"u{i}", f"p{i}", "injected") for i in range(5)]
    status = apply({}, batch[:3], now=NOW).status
    result = apply(status, batch[3:], now=LATER, running_limit=3)
    assert sorted((o.uid, o.stage) for o in result.to_mark) == [("u0", "injected"), ("u1", "injected")]
    # Once annotated, the next write drops them: the annotation is their record now.
    marked = {(o.uid, o.stage) for o in result.to_mark}
    after = apply(result.status, [], marked=marked, running_limit=3)
    assert running(after) == ["u2", "u3", "u4"]
    assert after.to_mark == ()
    assert after.status["downloads"]["injected"] == 5
    relisted = apply(after.status, [Observation("u0", "p0", "injected", marker="injected")], running_limit=3)
    assert relisted.counted == (), "the annotation keeps it counted"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("", {}, id="empty"),
        pytest.param(None, {}, id="absent"),
        pytest.param("u1/p1  u2/p2\n", {"u1": "p1", "u2": "p2"}, id="any-whitespace"),
        pytest.param("u1", {"u1": ""}, id="no-name"),
        pytest.param(7, {}, id="not-a-string"),
    ],
)
def test_parse_running(value: Any, expected: dict[str, str]) -> None:
    assert counting.parse_running(value) == expected


def test_running_entries_are_not_stale_however_old() -> None:
    from datetime import UTC, datetime, timedelta

    status = {
        "downloads": {
            "running": "run/p",
            "pending": [{"uid": "fin", "pod": "q", "stage": "failed", "time": NOW}],
        }
    }
    now = datetime(2026, 1, 3, tzinfo=UTC)
    stale = counting.stale_pending(read_status(status), older_than=timedelta(seconds=60), now=now)
    assert [e.uid for e in stale] == ["fin"]
    assert [e.uid for e in counting.running_pending(read_status(status))] == ["run"]


def test_a_stale_observation_in_the_batch_that_drops_its_entry_is_not_counted_again() -> None:
    """The Pod was annotated (and the entry is being dropped) while an older event of it was queued."""
    status = apply({}, [fails("u")]).status
    result = apply(status, [fails("u")], marked={("u", "failed")})
    assert result.counted == ()
    assert (result.status["downloads"]["failed"], result.status["downloads"]["pending"]) == (1, [])


def test_recent_failures_newest_first_at_most_ten() -> None:
    batch = [fails(f"u{i:02d}", reason="ModuleNotFound" if i % 2 else "DiskFull") for i in range(13)]
    downloads = apply({}, batch).status["downloads"]
    recent = downloads["recentFailures"]
    assert len(recent) == 10
    assert [f["pod"] for f in recent[:2]] == ["pod-u12", "pod-u11"]
    assert downloads["lastFailure"]["pod"] == "pod-u12"
    assert downloads["byReason"] == {"DiskFull": 7, "ModuleNotFound": 6}
    assert downloads["failed"] == 13


def test_missed_injections_count_apart_from_builds() -> None:
    downloads = apply({}, [Observation("m", "pm", "missed")]).status["downloads"]
    assert (downloads["missedInjections"], downloads["injected"], downloads["failed"]) == (1, 0, 0)


@pytest.mark.parametrize(
    ("batch", "status", "reason"),
    [
        pytest.param([Observation("u", "p", "succeeded")], "True", "BuildSucceeded", id="success"),
        pytest.param([fails()], "False", "ModuleNotFound", id="download-failure"),
        pytest.param([fails(reason="Unknown")], "Unknown", "UnrecognisedFailure", id="other-failure"),
        pytest.param(
            [fails("a"), Observation("b", "p", "succeeded")], "True", "BuildSucceeded", id="latest-wins"
        ),
    ],
)
def test_downloads_healthy_follows_the_latest_finished_pod(
    batch: list[Observation], status: str, reason: str
) -> None:
    conditions = {c["type"]: c for c in apply({"conditions": []}, batch).status["conditions"]}
    health = conditions[cond.DOWNLOADS_HEALTHY]
    assert (health["status"], health["reason"]) == (status, reason)
    assert cond.READY in conditions, "Ready is recomputed"


def test_download_failure_condition_names_the_pod_and_the_remedy() -> None:
    conditions = {c["type"]: c for c in apply({}, [fails()]).status["conditions"]}
    message = conditions[cond.DOWNLOADS_HEALTHY]["message"]
    assert "pod-uid-1" in message
    assert "remedy of ModuleNotFound" in message


def test_only_injection_news_leaves_conditions_alone() -> None:
    assert apply({}, [Observation("u", "p", "injected")]).status["conditions"] == []


def test_stale_pending() -> None:
    from datetime import UTC, datetime, timedelta

    pending = [
        {"uid": "old", "stage": "failed", "time": NOW},
        {"uid": "new", "stage": "failed", "time": LATER},
    ]
    now = datetime(2026, 1, 2, 3, 5, 30, tzinfo=UTC)
    stale = counting.stale_pending(
        read_status({"downloads": {"pending": pending}}), older_than=timedelta(seconds=60), now=now
    )
    assert [e.uid for e in stale] == ["old"]


# --- missed injections -----------------------------------------------------------------------


CONFIG_CREATED = "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("annotations", "spec", "created", "namespace_labels", "expected"),
    [
        pytest.param({"gobuild.dev/config": "go"}, {}, NOW, {}, "go", id="named"),
        pytest.param({"gobuild.dev/inject": "true"}, {"default": True}, NOW, {}, "go", id="default"),
        pytest.param({"gobuild.dev/inject": "true"}, {}, NOW, {}, None, id="no-default"),
        pytest.param({"gobuild.dev/config": "other"}, {}, NOW, {}, None, id="unknown-config"),
        pytest.param(
            {"gobuild.dev/config": "go", "gobuild.dev/inject": "false"}, {}, NOW, {}, None, id="opted-out"
        ),
        pytest.param(
            {"gobuild.dev/config": "go"}, {}, "2025-12-31T00:00:00Z", {}, None, id="older-than-config"
        ),
        pytest.param(
            {"gobuild.dev/config": "go"}, {}, "2025-12-31T23:59:59+00:00", {}, None, id="older-client-format"
        ),
        pytest.param(
            {"gobuild.dev/config": "go"}, {}, "2026-01-01T00:00:00+00:00", {}, "go", id="same-second"
        ),
        pytest.param(
            {"gobuild.dev/config": "go"}, {"containers": ["other"]}, NOW, {}, None, id="no-selected-container"
        ),
        pytest.param(
            {"gobuild.dev/config": "go"},
            {},
            NOW,
            {"gobuild.dev/injection": "disabled"},
            None,
            id="namespace-off",
        ),
        pytest.param({}, {"podSelector": {"matchLabels": {"app": "ci"}}}, NOW, {}, "go", id="pod-selector"),
    ],
)
def test_missed_config(
    annotations: dict[str, str],
    spec: dict[str, Any],
    created: str,
    namespace_labels: dict[str, str],
    expected: str | None,
) -> None:
    subject = pod(config=None, annotations=annotations, created=created)
    subject["metadata"]["labels"] = {"app": "ci"}
    found = missed.missed_config(
        subject,
        namespace="ns",
        namespace_labels=namespace_labels,
        operator_namespace="gobuild-system",
        configs={"go": parse_spec(spec)},
        created={"go": CONFIG_CREATED},
    )
    assert found == expected


def test_an_injected_or_recorded_pod_is_never_missed() -> None:
    configs = {"go": parse_spec({})}
    for subject in (pod(annotations={"gobuild.dev/config": "go"}), pod(config=None, recorded="missed")):
        subject["metadata"]["annotations"]["gobuild.dev/config"] = "go"
        assert (
            missed.missed_config(
                subject,
                namespace="ns",
                namespace_labels={},
                operator_namespace="gobuild-system",
                configs=configs,
                created={"go": CONFIG_CREATED},
            )
            is None
        )


# --- Events ----------------------------------------------------------------------------------


def test_config_events_group_a_burst_by_reason() -> None:
    counted = [fails(f"u{i}") for i in range(7)] + [
        fails("d", reason="DiskFull"),
        Observation("m", "pm", "missed"),
    ]
    posted = events.config_events(counted)
    assert [(e.type, e.reason) for e in posted] == [
        ("Warning", "ModuleNotFound"),
        ("Warning", "DiskFull"),
        ("Warning", "InjectionMissed"),
    ]
    assert "7 Pods pod-u0, pod-u1, pod-u2, pod-u3, pod-u4 and 2 more" in posted[0].message
    assert "remedy of ModuleNotFound" in posted[0].message


def test_pod_events() -> None:
    assert events.pod_event(Observation("u", "p", "succeeded"), config="go") is None
    failed = events.pod_event(fails(), config="go")
    assert failed is not None
    assert failed.reason == "ModuleNotFound"
    assert "remedy of" in failed.message
    missed = events.pod_event(Observation("u", "p", "missed"), config="corp-goproxy")
    assert missed is not None
    assert missed.reason == "InjectionMissed"
    assert "GoBuildConfig corp-goproxy" in missed.message, "the Event names the config the Pod asked for"
