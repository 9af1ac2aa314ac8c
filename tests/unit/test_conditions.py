"""Conditions behave like kubebuilder's: transitions are dated, Ready follows the gates."""

from __future__ import annotations

import pytest

from gobuild_operator.api.status.model import Condition
from gobuild_operator.core.status import conditions as cond

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def _set(conditions: list[Condition], type_: str, status: cond.Status, now: str) -> list[Condition]:
    return cond.set_condition(
        conditions, type=type_, status=status, reason="R", message="m", generation=1, now=now
    )


def test_transition_time_kept_while_status_unchanged() -> None:
    first = _set([], cond.SECRETS_RESOLVED, "False", T0)
    again = _set(first, cond.SECRETS_RESOLVED, "False", T1)
    assert again[0].last_transition_time == T0


def test_transition_time_moves_when_status_changes() -> None:
    first = _set([], cond.SECRETS_RESOLVED, "False", T0)
    fixed = _set(first, cond.SECRETS_RESOLVED, "True", T1)
    assert fixed[0].last_transition_time == T1


def test_other_conditions_untouched_and_order_stable() -> None:
    conditions = _set([], cond.DOWNLOADS_HEALTHY, "True", T0)
    conditions = _set(conditions, cond.SPEC_VALID, "True", T0)
    conditions = _set(conditions, cond.PROXIES_REACHABLE, "False", T0)
    assert [c.type for c in conditions] == [
        cond.SPEC_VALID,
        cond.PROXIES_REACHABLE,
        cond.DOWNLOADS_HEALTHY,
    ]


@pytest.mark.parametrize(
    ("gates", "expected"),
    [
        pytest.param({}, "Unknown", id="nothing-reconciled"),
        pytest.param({cond.SPEC_VALID: "True"}, "True", id="valid-rest-pending"),
        pytest.param({cond.SPEC_VALID: "False"}, "False", id="invalid-spec"),
        pytest.param({cond.SPEC_VALID: "True", cond.SECRETS_RESOLVED: "False"}, "False", id="missing-secret"),
        pytest.param({cond.SPEC_VALID: "True", cond.CACHE_READY: "False"}, "False", id="cache-not-ready"),
        pytest.param(
            {cond.SPEC_VALID: "True", cond.PROXIES_REACHABLE: "False"}, "True", id="proxies-do-not-gate"
        ),
    ],
)
def test_ready_summarises_gates(gates: dict[str, cond.Status], expected: str) -> None:
    conditions: list[Condition] = []
    for type_, status in gates.items():
        conditions = _set(conditions, type_, status, T0)
    ready = cond.get_condition(cond.with_ready(conditions, generation=1, now=T0), cond.READY)
    assert ready is not None
    assert ready.status == expected


def test_ready_false_names_the_failing_gate() -> None:
    conditions = cond.set_condition(
        [],
        type=cond.SECRETS_RESOLVED,
        status="False",
        reason="SecretNotFound",
        message='Secret "git-ssh" not found',
        generation=2,
        now=T0,
    )
    ready = cond.get_condition(cond.with_ready(conditions, generation=2, now=T0), cond.READY)
    assert ready is not None
    assert ready.reason == "SecretNotFound"
    assert "git-ssh" in ready.message
    assert ready.observed_generation == 2
