"""Read-modify-write of a GoBuildConfig's status with optimistic concurrency.

Only the status writer (reconciler/status.py) calls this. Each write reads the latest object,
applies a pure function to its status (as the api/ model), and writes the result back as a merge
patch with the resourceVersion it read; a 409 Conflict means another replica or a user wrote in
between, so it reads and applies again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from gobuild_operator.api.status.model import GoBuildConfigStatus
from gobuild_operator.constants import GROUP, PLURAL, VERSION

logger = logging.getLogger(__name__)

StatusFn = Callable[[dict[str, Any], GoBuildConfigStatus], GoBuildConfigStatus | None]
"""(object, current status) -> the new status, or None when nothing needs writing."""


async def update_status(
    api: client.ApiClient, *, namespace: str, name: str, fn: StatusFn, attempts: int = 8
) -> dict[str, Any] | None:
    """Apply `fn` to the latest status until it sticks; the object as read (None: it is gone)."""
    custom = client.CustomObjectsApi(api)
    for _ in range(attempts):
        try:
            obj: dict[str, Any] = await custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        raw = obj.get("status") or {}
        current = read_status(raw, where=f"{namespace}/{name}")
        new = fn(obj, current)
        if new is None:
            return obj
        patch = merge_patch(dump(current), dump(new))
        if not patch:
            return obj
        body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": patch}
        try:
            # A dict body would be sent as a JSON Patch, the first type custom objects accept.
            await custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
                GROUP, VERSION, namespace, PLURAL, name, body, _content_type="application/merge-patch+json"
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status != 409:
                raise
            continue
        return obj
    raise RuntimeError(f"status of {namespace}/{name} kept conflicting after {attempts} attempts")


def dump(status: GoBuildConfigStatus) -> dict[str, Any]:
    """The status as the API server stores it (camelCase, unset fields absent)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def read_status(raw: Mapping[str, Any], *, where: str = "") -> GoBuildConfigStatus:
    """The stored status as the model. The API server prunes what the schema does not declare, so
    this only fails for a status stored under another schema: then each field that still reads is
    kept, and what does not is rewritten from scratch (and logged)."""
    try:
        return GoBuildConfigStatus.model_validate(dict(raw))
    except ValidationError:
        kept: dict[str, Any] = {}
        for key, value in raw.items():
            try:
                GoBuildConfigStatus.model_validate({key: value})
            except ValidationError:
                logger.warning("status of %s: field %s does not read; it is rewritten", where, key)
            else:
                kept[key] = value
        return GoBuildConfigStatus.model_validate(kept)


def merge_patch(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch from `current` to `new`: changed keys, and null for keys `new` no
    longer has (at any depth of objects; lists are replaced whole). Empty when they are equal."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            inner = merge_patch(old, value)
            if inner:
                patch[key] = inner
        elif value != old or key not in current:
            patch[key] = value
    for key in current:
        if key not in new:
            patch[key] = None
    return patch
