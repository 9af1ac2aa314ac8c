"""Leader election decisions: one leader, taken over only after its lease ran out on our clock."""

from __future__ import annotations

import pytest

from gobuild_operator.core.leadership import Action, Observation, Record, decide

ME = "operator-a"
THEM = Record("operator-b", "2026-11-29T10:00:00.000000Z", 15)


@pytest.mark.parametrize(
    ("record", "last", "now", "expected"),
    [
        pytest.param(None, None, 100.0, Action.CREATE, id="no-lease-yet"),
        pytest.param(Record(ME, "t1", 15), None, 100.0, Action.RENEW, id="ours-is-renewed"),
        pytest.param(Record("", "t1", 15), None, 100.0, Action.TAKE, id="released-is-taken-at-once"),
        pytest.param(THEM, None, 100.0, Action.WAIT, id="first-sight-of-theirs-waits"),
        pytest.param(THEM, Observation(THEM, 90.0), 100.0, Action.WAIT, id="theirs-within-its-duration"),
        pytest.param(
            THEM, Observation(THEM, 85.0), 100.0, Action.TAKE, id="theirs-unrenewed-for-its-duration"
        ),
        pytest.param(
            Record("operator-b", "t2", 15),
            Observation(THEM, 0.0),
            100.0,
            Action.WAIT,
            id="renewed-since-last-seen-waits-again",
        ),
        pytest.param(
            Record("operator-b", "t1", 60),
            Observation(Record("operator-b", "t1", 60), 50.0),
            100.0,
            Action.WAIT,
            id="the-lease-says-how-long-it-lasts",
        ),
    ],
)
def test_decide(record: Record | None, last: Observation | None, now: float, expected: Action) -> None:
    action, _ = decide(record, me=ME, now=now, last=last, duration=15)
    assert action is expected


def test_the_clock_starts_when_the_record_is_first_seen_not_from_its_renew_time() -> None:
    # Another node's clock may be hours off: only our own observation times count.
    _, seen = decide(THEM, me=ME, now=1000.0, last=None, duration=15)
    assert seen == Observation(THEM, 1000.0)
    assert decide(THEM, me=ME, now=1014.0, last=seen, duration=15)[0] is Action.WAIT
    assert decide(THEM, me=ME, now=1015.0, last=seen, duration=15)[0] is Action.TAKE
