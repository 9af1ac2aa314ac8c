"""The operator's own watches: list+watch of objects, by default their METADATA only
(PartialObjectMetadata). Every watch the operator runs outside kopf goes through here.

The operator needs a few cheap signals besides kopf's watches: Pods admitted without the
injection marker (their annotations), and changes of the Secrets, ConfigMaps and claims that a
GoBuildConfig names; the injected Pods (whole objects); the webhook's own TLS Secret (one object,
by field selector). kopf keeps one watch per resource with one server-side selector (the Pod
watch selects `gobuild.dev/config`), so these run as separate watches here. Asking the API server
for metadata only means Secret values never travel to the operator through them, and a Pod event
costs a few hundred bytes instead of the whole Pod.

The generated API functions fix the Accept header to whole objects, so the requests go through the
client's generic `call_api` (its TLS, its refreshed credentials) with the metadata Accept header.
The stream is read here, a line per event decoded with orjson: kubernetes_asyncio's Watch decodes
each event with the json module (after a copy to str), which for the injected-Pod watch (whole Pods
of several KB) was the largest part of the operator's own CPU per Pod outside admission.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import GROUP, PLURAL, VERSION

logger = logging.getLogger(__name__)

_AS_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_AS_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
_WHOLE = "application/json"

#: (event type: "LISTED" | "ADDED" | "MODIFIED" | "DELETED", metadata) -> None
Callback = Callable[[str, Mapping[str, Any]], Awaitable[None] | None]


class Forbidden(Exception):
    """RBAC does not allow this watch."""


async def watch_metadata(
    api: client.ApiClient,
    *,
    namespace: str,
    plural: str,
    callback: Callback,
    label_selector: str = "",
    server_timeout: int = 300,
) -> None:
    """List, then watch from the list's resourceVersion, forever; relist when the watch expires.

    Raises Forbidden when RBAC refuses the list or the watch, so the caller can rely on re-checks.
    """
    path = f"/api/v1/namespaces/{namespace}/{plural}"
    await watch_objects(
        api, path=path, callback=callback, label_selector=label_selector, server_timeout=server_timeout
    )


async def watch_objects(
    api: client.ApiClient,
    *,
    path: str,
    callback: Callback,
    label_selector: str = "",
    field_selector: str = "",
    server_timeout: int = 300,
    metadata_only: bool = True,
) -> None:
    """`watch_metadata` for any list path; with `metadata_only=False` the callback gets whole objects.

    Whole objects are decoded with json.loads and nothing else (no client models, no per-event
    framework machinery), which is what makes watching every injected Pod cheap.
    """
    backoff = 0.5
    while True:
        try:
            version = await _list(
                api,
                path=path,
                selectors=_selectors(label_selector, field_selector),
                callback=callback,
                metadata_only=metadata_only,
            )
            backoff = 0.5
            await _watch(
                api,
                path=path,
                selectors=_selectors(label_selector, field_selector),
                version=version,
                callback=callback,
                server_timeout=server_timeout,
                metadata_only=metadata_only,
            )
        except ApiException as exc:
            if exc.status == 403:
                raise Forbidden(path) from None
            if exc.status != 410:  # 410 Gone: the watch expired; relist at once
                logger.warning("watch of %s failed (%s); retrying", path, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("watch of %s failed (%s); retrying", path, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30)


async def _call(callback: Callback, kind: str, metadata: Mapping[str, Any]) -> None:
    result = callback(kind, metadata)
    if result is not None:
        await result


async def _get(
    api: client.ApiClient, path: str, query: list[tuple[str, Any]], accept: str, read_timeout: float | None
) -> aiohttp.ClientResponse:
    response: aiohttp.ClientResponse = await api.call_api(
        path,
        "GET",
        query_params=query,
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=read_timeout,
    )
    return response


async def list_metadata(
    api: client.ApiClient, *, namespace: str, plural: str, label_selector: str = ""
) -> list[Mapping[str, Any]]:
    """The metadata of every object of `plural` in `namespace` that the selector matches (one list)."""
    path = f"/api/v1/namespaces/{namespace}/{plural}"
    return await list_metadata_at(api, path, label_selector=label_selector)


async def list_metadata_at(
    api: client.ApiClient, path: str, *, label_selector: str = ""
) -> list[Mapping[str, Any]]:
    """The metadata of every object a list path serves (e.g. /apis/gobuild.dev/v1alpha1/gobuildconfigs)."""
    found: list[Mapping[str, Any]] = []

    def collect(_: str, metadata: Mapping[str, Any]) -> None:
        found.append(metadata)

    await _list(api, path=path, selectors=_selectors(label_selector, ""), callback=collect)
    return found


def _selectors(label_selector: str, field_selector: str) -> list[tuple[str, Any]]:
    query: list[tuple[str, Any]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


async def _list(
    api: client.ApiClient,
    *,
    path: str,
    selectors: list[tuple[str, Any]],
    callback: Callback,
    metadata_only: bool = True,
) -> str:
    token = ""
    while True:
        query: list[tuple[str, Any]] = [("limit", 500), *selectors]
        if token:
            query.append(("continue", token))
        response = await _get(api, path, query, _AS_LIST if metadata_only else _WHOLE, 60)
        async with response:
            if response.status >= 300:
                raise ApiException(status=response.status, reason=response.reason)
            body = await response.json()
        for item in body.get("items") or []:
            await _call(callback, "LISTED", (item.get("metadata") or {}) if metadata_only else item)
        token = (body.get("metadata") or {}).get("continue") or ""
        if not token:
            return str((body.get("metadata") or {}).get("resourceVersion") or "")


async def _watch(
    api: client.ApiClient,
    *,
    path: str,
    selectors: list[tuple[str, Any]],
    version: str,
    callback: Callback,
    server_timeout: int,
    metadata_only: bool = True,
) -> None:
    """Watch from `version` until an error; when the server ends a stream (after `server_timeout`),
    the next one starts from the last resourceVersion seen, bookmarks included. An ERROR event
    (410 Gone when `version` is too old) is raised as ApiException, for the caller to relist."""
    query: list[tuple[str, Any]] = [
        ("watch", True),
        ("allowWatchBookmarks", True),
        ("timeoutSeconds", server_timeout),
        *selectors,
    ]
    accept = _AS_ITEM if metadata_only else _WHOLE
    while True:
        response = await _get(api, path, [*query, ("resourceVersion", version)], accept, server_timeout + 30)
        async with response:
            if response.status >= 300:
                raise ApiException(status=response.status, reason=response.reason)
            while line := await response.content.readline():
                event = orjson.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    reason = f"{obj.get('reason')}: {obj.get('message')}"
                    raise ApiException(status=obj.get("code"), reason=reason)
                metadata = obj.get("metadata") or {}
                version = metadata.get("resourceVersion") or version
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    await _call(callback, kind, metadata if metadata_only else obj)


async def existing_configs_and_namespaces(
    api: client.ApiClient, *, namespaces: Sequence[str] = ()
) -> tuple[set[tuple[str, str]], set[str]]:
    """(namespace, name) of the GoBuildConfigs (in `namespaces`, or all) and the namespace names."""
    base = f"/apis/{GROUP}/{VERSION}"
    paths = [f"{base}/namespaces/{ns}/{PLURAL}" for ns in namespaces] or [f"{base}/{PLURAL}"]
    configs = set()
    for path in paths:
        for meta in await list_metadata_at(api, path):
            configs.add((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
    names = {str(meta.get("name") or "") for meta in await list_metadata_at(api, "/api/v1/namespaces")}
    return configs, names
