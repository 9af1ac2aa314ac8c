"""When the download reporter flushes a config's queue: new outcomes at once, failed bookkeeping
cleanup after its own backoff (hardening #8), nothing while a flush runs or a status write backs off."""

from __future__ import annotations

import time

import pytest

from gobuild_operator.core.downloads.observe import Observation
from gobuild_operator.reporting.downloads import _Queue

LATER = 3600.0
OBS = Observation(uid="u", pod="p", stage="injected")


@pytest.mark.parametrize(
    ("queue", "due"),
    [
        pytest.param(_Queue(), False, id="empty"),
        pytest.param(_Queue(touched=True), True, id="left-by-a-previous-run"),
        pytest.param(
            _Queue(touched=True, cleanup_at=time.monotonic() + LATER), False, id="cleanup-backing-off"
        ),
        pytest.param(
            _Queue(observations=[OBS], touched=True, cleanup_at=time.monotonic() + LATER),
            True,
            id="new-outcomes-are-not-held-back-by-cleanup",
        ),
        pytest.param(_Queue(marked={("u", "injected")}), True, id="marked-to-drop"),
        pytest.param(
            _Queue(observations=[OBS], retry_at=time.monotonic() + LATER), False, id="write-backing-off"
        ),
        pytest.param(_Queue(observations=[OBS], busy=True), False, id="busy"),
    ],
)
def test_when_a_queue_is_due(queue: _Queue, due: bool) -> None:
    assert queue.due is due
