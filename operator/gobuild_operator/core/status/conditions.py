"""metav1.Condition lists, updated the way kubebuilder's meta.SetStatusCondition does.

lastTransitionTime moves only when a condition's status changes, so `kubectl describe` shows
when a problem started, not when it was last seen. `Ready` is derived from the others, never
set by hand, so it cannot disagree with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]

READY = "Ready"
PROXIES_REACHABLE = "ProxiesReachable"
SECRETS_RESOLVED = "SecretsResolved"
#: The reason of a condition the operator is not allowed to establish (e.g. Secrets it may not read).
NOT_CHECKED = "NotChecked"
CACHE_READY = "CacheReady"
DOWNLOADS_HEALTHY = "DownloadsHealthy"
SPEC_VALID = "SpecValid"

#: Conditions whose False makes the config not Ready. Proxies and download health are
#: reported but do not gate Ready: a proxy list with a working fallback still serves builds.
READY_GATES = (SPEC_VALID, SECRETS_RESOLVED, CACHE_READY)
#: The order conditions appear in, so `kubectl describe` reads the same every time.
ORDER = (READY, SPEC_VALID, PROXIES_REACHABLE, SECRETS_RESOLVED, CACHE_READY, DOWNLOADS_HEALTHY)


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type: str,
    status: Status,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """A new list with `type` set; other conditions are copied unchanged."""
    previous = next((c for c in conditions if c.get("type") == type), None)
    transition = now
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        transition = str(previous["lastTransitionTime"])
    updated: dict[str, Any] = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        updated["observedGeneration"] = generation
    others = [dict(c) for c in conditions if c.get("type") != type]
    return sort_conditions([*others, updated])


def sort_conditions(conditions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    def rank(c: Mapping[str, Any]) -> tuple[int, str]:
        t = str(c.get("type", ""))
        return (ORDER.index(t) if t in ORDER else len(ORDER), t)

    return [dict(c) for c in sorted(conditions, key=rank)]


def get_condition(conditions: Sequence[Mapping[str, Any]], type: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type), None)


def with_ready(
    conditions: Sequence[Mapping[str, Any]], *, generation: int | None, now: str
) -> list[dict[str, Any]]:
    """Recompute `Ready` from the gating conditions."""
    failing = [c for t in READY_GATES if (c := get_condition(conditions, t)) and c.get("status") == "False"]
    if failing:
        first = failing[0]
        return set_condition(
            conditions,
            type=READY,
            status="False",
            reason=str(first.get("reason", first["type"])),
            message=f"{first['type']}: {first.get('message', '')}",
            generation=generation,
            now=now,
        )
    pending = [t for t in READY_GATES if get_condition(conditions, t) is None]
    if SPEC_VALID in pending:
        return set_condition(
            conditions,
            type=READY,
            status="Unknown",
            reason="Reconciling",
            message="the spec has not been reconciled yet",
            generation=generation,
            now=now,
        )
    unknown = [t for t in READY_GATES if (c := get_condition(conditions, t)) and c.get("status") == "Unknown"]
    unchecked = [t for t in unknown if (get_condition(conditions, t) or {}).get("reason") == NOT_CHECKED]
    checking = [t for t in unknown if t not in unchecked] + pending
    message = "spec valid"
    if checking:
        message += "; still checking: " + ", ".join(checking)
    if unchecked:
        message += "; not checked: " + ", ".join(unchecked)
    return set_condition(
        conditions,
        type=READY,
        status="True",
        reason="Reconciled",
        message=message,
        generation=generation,
        now=now,
    )
