"""Kubernetes Events the operator posts, as plain text; k8s/events.py sends them.

Events are for the people who run builds: they say what broke and which field fixes it, and
never carry Secret data or log lines (a log line may hold a URL with a token in it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from gobuild_operator.api.status.model import Condition, Failure
from gobuild_operator.core.downloads.observe import FAILED, MISSED, Observation, about
from gobuild_operator.core.status import conditions as cond


@dataclass(frozen=True)
class EventText:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


#: Names of Pods listed in one aggregated Event on the GoBuildConfig.
MAX_PODS_IN_EVENT: Final = 5
#: Conditions whose changes are announced as Events on the GoBuildConfig.
ANNOUNCED: Final = (cond.PROXIES_REACHABLE, cond.SECRETS_RESOLVED, cond.CACHE_READY)


def transition_events(before: Sequence[Condition], after: Sequence[Condition]) -> list[EventText]:
    """A Warning when an announced condition turns False (or a False one changes reason), a Normal
    Event when it recovers. Nothing while it stays the same, so periodic probes do not spam."""
    events = []
    for type_ in ANNOUNCED:
        old = cond.get_condition(before, type_)
        new = cond.get_condition(after, type_)
        if new is None:
            continue
        was_false = old is not None and old.status == "False"
        if new.status == "False" and (not was_false or old is None or old.reason != new.reason):
            events.append(EventText("Warning", new.reason, f"{type_}: {new.message}"))
        elif new.status == "True" and was_false:
            events.append(EventText("Normal", new.reason, f"{type_}: {new.message}"))
    return events


# --- counted Pods ---------------------------------------------------------------------------


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
    return EventText(
        "Warning", f.reason, f"{where}{about(f)}: {f.summary} Remedy: {f.remedy} (GoBuildConfig {config})"
    )


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
            EventText(
                "Warning",
                reason,
                f"build failed in {pods}{about(first)}: {first.summary} Remedy: {first.remedy}",
            )
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
