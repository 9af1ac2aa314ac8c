"""No text a tenant controls makes the operator's work grow faster than the text.

Each entry point of tests/support/complexity.py is timed at two sizes; what is asserted is the
ratio of the times to the ratio of the sizes (about 1 for linear work, about 8 here for quadratic
work), never a time. `make bench` prints the same table from 1 KB to 1 MB.
"""

from __future__ import annotations

import logging

import pytest

from support.complexity import ENTRY_POINTS, EntryPoint, growth

SMALL, LARGE = 16 * 1024, 128 * 1024
#: Linear work measures about 1 (less where fixed costs dominate the small size); quadratic about 8.
BOUND = 3.0


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=[entry.name for entry in ENTRY_POINTS])
def test_work_grows_linearly_with_the_tenants_text(
    entry: EntryPoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    measured = growth(entry, SMALL, LARGE)
    if measured > BOUND:  # one more look before blaming the code for a busy machine
        measured = min(measured, growth(entry, SMALL, LARGE, repeat=5))
    assert measured <= BOUND, (
        f"{entry.name}: {LARGE // SMALL}x the text took {measured * LARGE / SMALL:.1f}x the time"
    )
