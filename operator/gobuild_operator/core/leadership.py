"""Who leads: the decision a replica takes from the Lease it sees, as client-go's leader election.

Every replica serves admission; exactly one (the Lease holder) reconciles, probes and writes
status. A replica takes the Lease when nobody holds it or when its holder has not renewed it for
`duration` seconds *as measured on this replica's clock* from the moment this replica last saw the
record change, so clocks that disagree between nodes cannot make two leaders; the holder renews
every `retry` seconds and stops leading if it could not renew for `duration` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    CREATE = "create"  # no Lease yet: create it, holding it
    RENEW = "renew"  # we hold it: bump renewTime
    TAKE = "take"  # its holder let it expire (or released it): take it over
    WAIT = "wait"  # someone else holds a live Lease


@dataclass(frozen=True)
class Record:
    """What the Lease says (None fields when it does not exist)."""

    holder: str | None
    renew_time: str | None  # the API's RFC 3339 micro-time string, compared for changes only
    duration: int | None


@dataclass(frozen=True)
class Observation:
    """The record this replica last saw and when (its own monotonic clock) it first saw it."""

    record: Record
    since: float


def decide(
    record: Record | None, *, me: str, now: float, last: Observation | None, duration: float
) -> tuple[Action, Observation | None]:
    """The action for this round, and the observation to remember for the next one."""
    if record is None:
        return Action.CREATE, None
    if record.holder == me:
        return Action.RENEW, Observation(record, now)
    if not record.holder:
        return Action.TAKE, Observation(record, now)  # released on purpose
    if last is None or last.record != record:
        return Action.WAIT, Observation(record, now)  # it moved: the holder is alive
    lease = float(record.duration or duration)
    if now - last.since >= lease:
        return Action.TAKE, last
    return Action.WAIT, last
