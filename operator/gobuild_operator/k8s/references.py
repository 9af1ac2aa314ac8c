"""Look up what a GoBuildConfig references: Secrets and ConfigMaps (key names only) and its claim.

Secret values are never returned, logged or kept: a lookup keeps the set of key names and drops
the object. (The API offers no way to read key names without the values.)
"""

from __future__ import annotations

from typing import Literal

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.core.status.health import Claim, Lookup


async def lookup(
    api: client.ApiClient, *, namespace: str, kind: Literal["Secret", "ConfigMap"], name: str
) -> Lookup:
    core = client.CoreV1Api(api)
    try:
        if kind == "Secret":
            secret = await core.read_namespaced_secret(name, namespace)
            keys = frozenset((secret.data or {}).keys())
            del secret
        else:
            config_map = await core.read_namespaced_config_map(name, namespace)
            keys = frozenset((config_map.data or {}).keys()) | frozenset(
                (config_map.binary_data or {}).keys()
            )
    except ApiException as exc:
        if exc.status == 404:
            return Lookup(found=False)
        return Lookup(found=False, error=_reason(exc))
    return Lookup(found=True, keys=keys)


async def read_config_map_key(api: client.ApiClient, *, namespace: str, name: str, key: str) -> str | None:
    """One ConfigMap value (used for a CA bundle, which is public material), or None."""
    try:
        config_map = await client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status in (403, 404):
            return None
        raise
    value = (config_map.data or {}).get(key)
    return value if isinstance(value, str) else None


async def read_claim(api: client.ApiClient, *, namespace: str, name: str) -> Claim:
    try:
        pvc = await client.CoreV1Api(api).read_namespaced_persistent_volume_claim(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return Claim(found=False)
        return Claim(found=False, error=f"cannot read it: {_reason(exc)}")
    status = pvc.status
    requested = tuple(pvc.spec.access_modes or ()) if pvc.spec is not None else ()
    if status is None:
        return Claim(found=True, access_modes=requested)
    capacity = str((status.capacity or {}).get("storage", ""))
    modes = tuple(status.access_modes or ()) or requested
    return Claim(found=True, phase=status.phase or "", capacity=capacity, access_modes=modes)


def _reason(exc: ApiException) -> str:
    if exc.status == 403:
        return "forbidden (the operator's RBAC does not allow it)"
    return f"HTTP {exc.status} {exc.reason or ''}".strip()
