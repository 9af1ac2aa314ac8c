"""Kubernetes Events the operator posts, as plain text; k8s/events.py sends them.

Events are for the people who run builds: they say what broke and which field fixes it, and
never carry Secret data or log lines (a log line may hold a URL with a token in it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from gobuild_operator.core import conditions as cond


@dataclass(frozen=True)
class EventText:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


#: Conditions whose changes are announced as Events on the GoBuildConfig.
ANNOUNCED: Final = (cond.PROXIES_REACHABLE, cond.SECRETS_RESOLVED, cond.CACHE_READY)


def transition_events(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[EventText]:
    """A Warning when an announced condition turns False (or a False one changes reason), a Normal
    Event when it recovers. Nothing while it stays the same, so periodic probes do not spam."""
    events = []
    for type_ in ANNOUNCED:
        old = cond.get_condition(before, type_) or {}
        new = cond.get_condition(after, type_)
        if new is None:
            continue
        if new.get("status") == "False" and (
            old.get("status") != "False" or old.get("reason") != new.get("reason")
        ):
            events.append(EventText("Warning", str(new.get("reason")), f"{type_}: {new.get('message', '')}"))
        elif new.get("status") == "True" and old.get("status") == "False":
            events.append(EventText("Normal", str(new.get("reason")), f"{type_}: {new.get('message', '')}"))
    return events
