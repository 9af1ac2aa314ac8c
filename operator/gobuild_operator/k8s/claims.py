"""The one place that creates the module cache claim `<name>-gomodcache` of a GoBuildConfig.

The claim is owned by the GoBuildConfig (ownerReference, controller), so deleting the config
deletes the cache. A claim that already exists is left alone: most of a claim's spec is immutable,
and a user may have prepared it on purpose. CacheReady reports what the claim really is.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.constants import API_VERSION, FIELD_MANAGER, KIND
from gobuild_operator.core.plan import cache_claim_name

logger = logging.getLogger(__name__)


def claim_body(
    *, namespace: str, config_name: str, config_uid: str, spec: GoBuildConfigSpec
) -> dict[str, Any]:
    cache = spec.cache
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": cache_claim_name(config_name, spec),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": FIELD_MANAGER,
                "app.kubernetes.io/component": "gomodcache",
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": config_name,
                    "uid": config_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "accessModes": list(cache.claim_access_modes),
            "resources": {"requests": {"storage": cache.claim_size}},
        },
    }
    if cache.storage_class_name:
        body["spec"]["storageClassName"] = cache.storage_class_name
    return body


async def ensure_claim(
    api: client.ApiClient, *, namespace: str, config_name: str, config_uid: str, spec: GoBuildConfigSpec
) -> str:
    """Create the claim when the spec wants the operator's own; return "" or what went wrong."""
    if not spec.cache.enabled or spec.cache.existing_claim:
        return ""
    body = claim_body(namespace=namespace, config_name=config_name, config_uid=config_uid, spec=spec)
    try:
        await client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
            namespace,
            body,  # type: ignore[arg-type]  # the client sends dicts as they are
            field_manager=FIELD_MANAGER,
        )
    except ApiException as exc:
        if exc.status != 409:
            return f"could not create it: HTTP {exc.status} {exc.reason or ''}".strip()
        return ""
    logger.info("created PersistentVolumeClaim %s/%s", namespace, body["metadata"]["name"])
    return ""
