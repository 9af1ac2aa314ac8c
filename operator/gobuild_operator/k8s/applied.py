"""Objects the operator owns in a GoBuildConfig's namespace (the Proxy cache's ConfigMap,
Deployment, Service, PodDisruptionBudget and NetworkPolicy): applied server-side, read back, deleted.

Server-side apply with the operator's field manager, forced: the operator's fields are the object
as the config says it should be, so a hand edit of them is put back at the next reconcile, while
fields others own (an HPA's replicas, a mesh's annotations) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import FIELD_MANAGER

#: kind -> the API path of its objects in a namespace.
_PATHS: Final[Mapping[str, str]] = {
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
}
KINDS: Final = tuple(_PATHS)


def _path(kind: str, namespace: str, name: str) -> str:
    return f"{_PATHS[kind].format(namespace=namespace)}/{name}"


async def apply(api: client.ApiClient, obj: Mapping[str, Any]) -> None:
    """Server-side apply `obj` (one of KINDS) as the operator's field manager."""
    metadata = obj["metadata"]
    response = await api.call_api(
        _path(str(obj["kind"]), str(metadata["namespace"]), str(metadata["name"])),
        "PATCH",
        query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
        # The client JSON-encodes the body for this content type itself (YAML is a superset of
        # JSON); plain JSON types, whatever mappings `obj` is made of.
        body=orjson.loads(orjson.dumps(dict(obj))),
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    async with response:
        if response.status >= 300:
            raise ApiException(status=response.status, reason=(await response.text())[:500])


async def read(api: client.ApiClient, *, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as the API serves it, or None when it does not exist."""
    body = await _call(api, "GET", _path(kind, namespace, name))
    if body is None:
        return None
    found: dict[str, Any] = orjson.loads(body)
    return found


async def delete(api: client.ApiClient, *, kind: str, namespace: str, name: str) -> bool:
    """Delete the object if it is there; True when something was deleted."""
    return await _call(api, "DELETE", _path(kind, namespace, name)) is not None


async def _call(api: client.ApiClient, method: str, path: str) -> bytes | None:
    """The response body of `method` on the object at `path`; None when it does not exist."""
    response = await api.call_api(
        path,
        method,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    async with response:
        if response.status == 404:
            return None
        if response.status >= 300:
            raise ApiException(status=response.status, reason=response.reason)
        body: bytes = await response.read()
        return body
