"""List+watch of object METADATA only (PartialObjectMetadata), in one namespace.

The operator needs a few cheap signals besides kopf's watches: Pods admitted without the
injection marker (their annotations), and changes of the Secrets, ConfigMaps and claims that a
GoBuildConfig names. kopf keeps one watch per resource with one server-side selector (the Pod
watch selects `gobuild.dev/config`), so these run as separate watches here. Asking the API server
for metadata only means Secret values never travel to the operator through them, and a Pod event
costs a few hundred bytes instead of the whole Pod.

It speaks HTTP with aiohttp, using the connection settings of the operator's kubernetes client,
so it can be cancelled instantly (the sync client's watch cannot).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from kubernetes import client

logger = logging.getLogger(__name__)

_AS_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_AS_ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

#: (event type: "LISTED" | "ADDED" | "MODIFIED" | "DELETED", metadata) -> None
Callback = Callable[[str, Mapping[str, Any]], Awaitable[None] | None]


class Forbidden(Exception):
    """RBAC does not allow this watch."""


def make_session(api: client.ApiClient) -> aiohttp.ClientSession:
    cfg = api.configuration
    context = (
        ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.ssl_ca_cert
        else ssl.create_default_context()
    )
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    if not cfg.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    connector = aiohttp.TCPConnector(ssl=context, limit=0)
    return aiohttp.ClientSession(connector=connector, trust_env=False)


def _headers(api: client.ApiClient, accept: str) -> dict[str, str]:
    headers = {"Accept": accept}
    auth = api.configuration.auth_settings().get("BearerToken")  # refreshes an in-cluster token
    if auth and auth.get("value"):
        headers["Authorization"] = str(auth["value"])
    return headers


async def watch_metadata(
    api: client.ApiClient,
    session: aiohttp.ClientSession,
    *,
    namespace: str,
    plural: str,
    callback: Callback,
    label_selector: str = "",
    server_timeout: int = 300,
) -> None:
    """List, then watch from the list's resourceVersion, forever; relist on 410 Gone.

    Raises Forbidden when RBAC refuses the list, so the caller can fall back to polling.
    """
    base = f"{api.configuration.host}/api/v1/namespaces/{namespace}/{plural}"
    selector = {"labelSelector": label_selector} if label_selector else {}
    backoff = 0.5
    while True:
        try:
            version = await _list(api, session, base, selector, callback)
            backoff = 0.5
            await _watch(api, session, base, selector, version, callback, server_timeout)
        except Forbidden:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("metadata watch of %s in %s failed (%s); retrying", plural, namespace, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30)


async def _call(callback: Callback, kind: str, metadata: Mapping[str, Any]) -> None:
    result = callback(kind, metadata)
    if result is not None:
        await result


async def _list(
    api: client.ApiClient,
    session: aiohttp.ClientSession,
    base: str,
    selector: dict[str, str],
    callback: Callback,
) -> str:
    token = ""
    while True:
        query = {**selector, "limit": "500", **({"continue": token} if token else {})}
        async with session.get(f"{base}?{urlencode(query)}", headers=_headers(api, _AS_LIST)) as response:
            if response.status == 403:
                raise Forbidden(base)
            response.raise_for_status()
            body = await response.json()
        for item in body.get("items") or []:
            await _call(callback, "LISTED", item.get("metadata") or {})
        token = (body.get("metadata") or {}).get("continue") or ""
        if not token:
            return str((body.get("metadata") or {}).get("resourceVersion") or "")


async def _watch(
    api: client.ApiClient,
    session: aiohttp.ClientSession,
    base: str,
    selector: dict[str, str],
    version: str,
    callback: Callback,
    server_timeout: int,
) -> None:
    """Watch until the stream ends or expires (410); the caller relists after either."""
    while True:
        query = {
            **selector,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": version,
            "timeoutSeconds": str(server_timeout),
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=server_timeout + 30)
        async with session.get(
            f"{base}?{urlencode(query)}", headers=_headers(api, _AS_ITEM), timeout=timeout
        ) as response:
            if response.status == 410:
                return
            if response.status == 403:
                raise Forbidden(base)
            response.raise_for_status()
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return
                    raise ValueError(f"watch error: {obj.get('message')}")
                metadata = obj.get("metadata") or {}
                version = str(metadata.get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    await _call(callback, kind, metadata)
