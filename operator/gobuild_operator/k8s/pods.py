"""Reads and marks Pods for the download reporter and the missed-injection check."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import ANNOTATION_RECORDED


async def read_pod(api: client.ApiClient, *, namespace: str, name: str) -> dict[str, Any] | None:
    """The Pod as the API serves it (camelCase dict), or None when it is gone."""
    try:
        pod = await client.CoreV1Api(api).read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    result: dict[str, Any] = api.sanitize_for_serialization(pod)
    return result


async def mark_recorded(api: client.ApiClient, *, namespace: str, name: str, uid: str, stage: str) -> bool:
    """Set `gobuild.dev/recorded: STAGE` on the Pod with this uid; False when that Pod is gone.

    The uid in the patch is a precondition: a Pod recreated under the same name has another uid,
    and the API server refuses to change it (422), so the new Pod is never marked by mistake.
    """
    body = {"metadata": {"uid": uid, "annotations": {ANNOTATION_RECORDED: stage}}}
    try:
        await client.CoreV1Api(api).patch_namespaced_pod(name, namespace, body)
    except ApiException as exc:
        if exc.status in (404, 409, 422):
            return False
        raise
    return True
