"""A time budget for one admission request, checked where the work grows with the object.

The webhook answers within the API server's timeout or not at all, and a workload controls how big
its object is. Every step of injection is linear in the object's size, and the body is capped at
the API server's own request limit, so the budget is a backstop, not the plan: a request that
exceeds it is admitted unchanged and counted (handlers/admission.py), never left to time out.

Pure: the caller passes the clock, so tests can run a budget on a fake one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class OverBudget(Exception):
    """The request has used its time budget."""


@dataclass(frozen=True)
class Budget:
    deadline: float
    clock: Callable[[], float]

    def check(self) -> None:
        if self.clock() > self.deadline:
            raise OverBudget
