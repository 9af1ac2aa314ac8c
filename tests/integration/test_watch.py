"""The operator's own watches (k8s/metawatch) against the real API server.

The injected-Pod count rests on these watches: an event missed when a stream ends is a Pod never
counted, an event repeated is a Pod counted twice. The server ends each watch stream after
`server_timeout` (here 1 s, so a few seconds of changes cross several of them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from kubernetes import client
from kubernetes_asyncio import client as aclient
from kubernetes_asyncio import config as aconfig

from conftest import Cluster
from gobuild_operator.k8s import metawatch
from support.waiting import wait_for

LABEL = "gobuild.dev/test-watch"


@contextlib.asynccontextmanager
async def api_client(cluster: Cluster) -> AsyncIterator[aclient.ApiClient]:
    """The operator's kind of client (k8s/client.py), for this cluster's kubeconfig."""
    configuration = aclient.Configuration()
    await aconfig.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    async with aclient.ApiClient(configuration) as api:
        yield api


def config_map(name: str, value: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {LABEL: "yes"}}, "data": {"value": value}}


async def test_events_across_stream_ends_arrive_once_each(
    cluster: Cluster, api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, config_map("before"))
    seen: Counter[tuple[str, str]] = Counter()

    def on_event(kind: str, obj: Mapping[str, Any]) -> None:
        if (obj.get("metadata") or {}).get("labels", {}).get(LABEL) == "yes":
            seen[(kind, obj["metadata"]["name"])] += 1

    async with api_client(cluster) as aapi:
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        watch = asyncio.create_task(
            metawatch.watch_objects(
                aapi,
                path=path,
                callback=on_event,
                label_selector=LABEL,
                server_timeout=1,
                metadata_only=False,
            )
        )
        try:
            await asyncio.to_thread(wait_for, lambda: ("LISTED", "before") in seen, what="the first list")
            for index in range(8):  # about 4 s: three or four streams end meanwhile
                await asyncio.to_thread(
                    core.create_namespaced_config_map, namespace, config_map(f"cm-{index}")
                )
                await asyncio.sleep(0.5)
            await asyncio.to_thread(
                core.patch_namespaced_config_map, "cm-0", namespace, config_map("cm-0", "2")
            )
            await asyncio.to_thread(core.delete_namespaced_config_map, "cm-1", namespace)
            expected = Counter(
                {("LISTED", "before"): 1, ("MODIFIED", "cm-0"): 1, ("DELETED", "cm-1"): 1}
                | {("ADDED", f"cm-{index}"): 1 for index in range(8)}
            )
            await asyncio.to_thread(wait_for, lambda: seen == expected, what="each event exactly once")
            await asyncio.sleep(1.5)  # one more stream end: nothing may be delivered again
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
    assert seen == expected
