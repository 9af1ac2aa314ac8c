"""Keep the `gobuild.dev/configs` label on exactly the namespaces that hold a GoBuildConfig.

The webhook configuration selects namespaces by this label (k8s/webhookconfig.py), so the API
server calls the webhook only where a config could inject something. The value is `selected`
when a config there has a podSelector (every object may be injected) and `annotated` otherwise
(only objects that opt in by annotation).

Desired values come from the store; current ones from the namespace watch (the store too). One
task writes the differences when poked (a config or namespace event) and retries failures.
Labels are added at once, and a namespace's label is also ensured before its config is reported
reconciled (handlers/gobuildconfigs.py); labels are removed only once the store is synced, so a
restart never strips a label because its config has not been listed yet. Only the operator that
writes status keeps labels; replicas that only serve admission never write them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gobuild_operator import constants as c
from gobuild_operator.core.injection.selection import namespace_label_value
from gobuild_operator.k8s.client import ApiClient
from gobuild_operator.k8s.namespaces import set_label
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

logger = logging.getLogger(__name__)

#: Seconds before a failed label write is tried again.
RETRY_SECONDS = 5.0


class NamespaceLabels:
    def __init__(
        self, *, api: ApiClient, store: Store, settings: Settings, namespaces: Sequence[str] = ()
    ) -> None:
        self._api = api
        self._store = store
        #: An operator watching only these namespaces keeps labels there only.
        self._only = frozenset(namespaces)
        self._never = c.SYSTEM_NAMESPACES | {settings.operator_namespace}
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gobuild-namespace-labels")
        self.poke()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def poke(self) -> None:
        self._poked.set()

    def desired(self) -> dict[str, str]:
        """namespace -> label value, for every namespace holding a config."""
        return {
            namespace: namespace_label_value(info.spec for info in self._store.configs_in(namespace))
            for namespace in self._store.namespaces_with_configs()
            if namespace not in self._never
        }

    async def ensure(self, namespace: str) -> None:
        """Label `namespace` now if it holds a config and lacks the right label (reconcile awaits it)."""
        want = self.desired().get(namespace)
        if want is not None:
            async with self._lock:
                await self._write(namespace, want)

    async def _run(self) -> None:
        while True:
            await self._poked.wait()
            self._poked.clear()
            try:
                async with self._lock:
                    await self._sync()
            except Exception as exc:
                logger.warning("could not label namespaces (%s); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._poked.set()

    async def _sync(self) -> None:
        desired = self.desired()
        for namespace, value in desired.items():
            await self._write(namespace, value)
        if not self._store.synced:
            return
        for namespace in self._store.labelled_namespaces(c.LABEL_NAMESPACE_CONFIGS):
            if namespace not in desired and (not self._only or namespace in self._only):
                await self._write(namespace, None)

    async def _write(self, namespace: str, value: str | None) -> None:
        labels = self._store.namespace_labels(namespace)
        if labels.get(c.LABEL_NAMESPACE_CONFIGS) == value:
            return
        if await set_label(self._api, namespace=namespace, key=c.LABEL_NAMESPACE_CONFIGS, value=value):
            logger.info("labelled namespace %s %s=%s", namespace, c.LABEL_NAMESPACE_CONFIGS, value)
            updated = {k: v for k, v in labels.items() if k != c.LABEL_NAMESPACE_CONFIGS}
            if value is not None:
                updated[c.LABEL_NAMESPACE_CONFIGS] = value
            # The watch brings the same soon; until then the store must not ask for it again.
            self._store.put_namespace(namespace, updated)
