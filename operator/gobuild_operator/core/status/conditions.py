"""metav1.Condition lists (api/status/model.py `Condition`), updated the way kubebuilder's
meta.SetStatusCondition does.

lastTransitionTime moves only when a condition's status changes, so `kubectl describe` shows
when a problem started, not when it was last seen. `Ready` is derived from the others, never
set by hand, so it cannot disagree with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from gobuild_operator.api.status.model import Condition

Status = Literal["True", "False", "Unknown"]

READY = "Ready"
PROXIES_REACHABLE = "ProxiesReachable"
SECRETS_RESOLVED = "SecretsResolved"
#: The reason of a condition the operator is not allowed to establish (e.g. Secrets it may not read).
NOT_CHECKED = "NotChecked"
CACHE_READY = "CacheReady"
DOWNLOADS_HEALTHY = "DownloadsHealthy"
SPEC_VALID = "SpecValid"

#: Conditions whose False makes the config not Ready. Download health is reported but does not
#: gate Ready, and ProxiesReachable only when builds cannot get past a failing proxy (its reasons in
#: BLOCKING_PROXY_REASONS): a proxy list with a working fallback still serves builds.
READY_GATES = (SPEC_VALID, SECRETS_RESOLVED, CACHE_READY)
#: ProxiesReachable reasons that stop builds: a proxy go cannot move past fails its probe, or the
#: builds cannot reach one the probe reaches (core/status/health.py).
BLOCKING_PROXY_REASONS = ("ProxyUnreachable", "UnreachableFromBuilds")
#: The order conditions appear in, so `kubectl describe` reads the same every time.
ORDER = (READY, SPEC_VALID, PROXIES_REACHABLE, SECRETS_RESOLVED, CACHE_READY, DOWNLOADS_HEALTHY)


def set_condition(
    conditions: Sequence[Condition],
    *,
    type: str,
    status: Status,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> list[Condition]:
    """A new list with `type` set; other conditions are kept unchanged."""
    previous = get_condition(conditions, type)
    transition = now
    if previous is not None and previous.status == status and previous.last_transition_time:
        transition = previous.last_transition_time
    updated = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    return sort_conditions([*(c for c in conditions if c.type != type), updated])


def setter(
    conditions: Sequence[Condition], type: str, *, generation: int | None, now: str
) -> Callable[[Status, str, str], list[Condition]]:
    """`set_condition` of one type, waiting for its status, reason and message."""

    def set_to(status: Status, reason: str, message: str) -> list[Condition]:
        return set_condition(
            conditions,
            type=type,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        )

    return set_to


def sort_conditions(conditions: Sequence[Condition]) -> list[Condition]:
    def rank(c: Condition) -> tuple[int, str]:
        return (ORDER.index(c.type) if c.type in ORDER else len(ORDER), c.type)

    return sorted(conditions, key=rank)


def get_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)


def with_ready(conditions: Sequence[Condition], *, generation: int | None, now: str) -> list[Condition]:
    """Recompute `Ready` from the gating conditions."""
    ready = setter(conditions, READY, generation=generation, now=now)
    failing = [c for t in READY_GATES if (c := get_condition(conditions, t)) and c.status == "False"]
    proxies = get_condition(conditions, PROXIES_REACHABLE)
    if proxies is not None and proxies.status == "False" and proxies.reason in BLOCKING_PROXY_REASONS:
        failing.append(proxies)
    if failing:
        first = failing[0]
        return ready("False", first.reason or first.type, f"{first.type}: {first.message}")
    pending = [t for t in READY_GATES if get_condition(conditions, t) is None]
    if SPEC_VALID in pending:
        return ready("Unknown", "Reconciling", "the spec has not been reconciled yet")
    unknown = [c for t in READY_GATES if (c := get_condition(conditions, t)) and c.status == "Unknown"]
    unchecked = [c.type for c in unknown if c.reason == NOT_CHECKED]
    checking = [c.type for c in unknown if c.reason != NOT_CHECKED] + pending
    message = "spec valid"
    if checking:
        message += "; still checking: " + ", ".join(checking)
    if unchecked:
        message += "; not checked: " + ", ".join(unchecked)
    return ready("True", "Reconciled", message)
