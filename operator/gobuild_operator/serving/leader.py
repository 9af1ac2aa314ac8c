"""Leader election over a Lease: one replica of many does what must be done once.

Every replica serves admission from its own in-memory store. Status writes, proxy probes, the
cache claims, Events, the missed-injection check and the webhook's certificate are the leader's
alone, so counts are never written twice and nothing is done by two replicas at once. The decision
each round is core.leadership.decide; this module only reads and writes the Lease on a schedule.

Losing the Lease (it could not be renewed for a lease duration: an API outage, a paused process)
ends the process: the kubelet restarts it as a standby, which is simpler and safer than unwinding
every leader task in place (controller-runtime does the same).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gobuild_operator.core.leadership import Action, Observation, decide
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.leases import read_lease, release_lease, write_lease

logger = logging.getLogger(__name__)


@dataclass
class LeaderElection:
    api: ApiClient
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    retry_period: float = 2.0
    is_leader: bool = False
    became_leader: asyncio.Event = field(default_factory=asyncio.Event)
    _last_renewal: float = 0.0

    async def run(self, *, on_lost: Callable[[], Awaitable[None]]) -> None:
        """Campaign and renew until cancelled; `on_lost` runs if the Lease slips away from us."""
        observed: Observation | None = None
        while True:
            try:
                record, current = await read_lease(self.api, namespace=self.namespace, name=self.name)
                action, observed = decide(
                    record,
                    me=self.identity,
                    now=time.monotonic(),
                    last=observed,
                    duration=self.lease_duration,
                )
                if action is not Action.WAIT:
                    held = await write_lease(
                        self.api,
                        namespace=self.namespace,
                        name=self.name,
                        holder=self.identity,
                        duration=int(self.lease_duration),
                        current=current,
                    )
                    if held:
                        self._held()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API is down or slow: keep trying, as a standby would
                logger.warning("leader election: %s", exc)
            if self.is_leader and time.monotonic() - self._last_renewal > self.lease_duration:
                logger.error("lost the leader lease %s/%s (not renewed in time)", self.namespace, self.name)
                self.is_leader = False
                await on_lost()
                return
            await asyncio.sleep(self.retry_period)

    def _held(self) -> None:
        self._last_renewal = time.monotonic()
        if not self.is_leader:
            self.is_leader = True
            logger.info("became the leader (lease %s/%s)", self.namespace, self.name)
            self.became_leader.set()

    async def release(self) -> None:
        """On a clean shutdown: hand the Lease over at once instead of after it expires."""
        if self.is_leader:
            self.is_leader = False
            await release_lease(self.api, namespace=self.namespace, name=self.name, holder=self.identity)
