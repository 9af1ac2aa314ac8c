"""The one write the operator makes to Namespaces: its `gobuild.dev/configs` label."""

from __future__ import annotations

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException


async def set_label(api: client.ApiClient, *, namespace: str, key: str, value: str | None) -> bool:
    """Set (or with None remove) one label; False when the namespace is gone."""
    body = {"metadata": {"labels": {key: value}}}
    try:
        await client.CoreV1Api(api).patch_namespace(  # type: ignore[call-arg]
            namespace, body, _content_type="application/merge-patch+json"
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
