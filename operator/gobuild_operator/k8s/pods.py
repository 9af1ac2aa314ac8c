"""Reads and marks Pods for the download reporter and the missed-injection check."""

from __future__ import annotations

import json
from enum import Enum
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


class Marked(Enum):
    """What became of a `gobuild.dev/recorded` annotation."""

    MARKED = "marked"
    #: The Pod with this uid is gone (deleted, or recreated under its name): nothing to mark.
    GONE = "gone"
    #: The API server refused the change (an admission policy, a quota): the Pod keeps no record.
    REFUSED = "refused"


async def mark_recorded(
    api: client.ApiClient, *, namespace: str, name: str, uid: str, stage: str
) -> tuple[Marked, str]:
    """Set `gobuild.dev/recorded: STAGE` on the Pod with this uid: (what happened, why if refused).

    The uid in the patch is a precondition: a Pod recreated under the same name has another uid,
    and the API server refuses to change it (409 or 422), so the new Pod is never marked by mistake.
    A refusal is told apart from a Pod that is gone by reading the Pod: a counted Pod whose marker
    was refused must keep its bookkeeping entry, or a restart would count it again.
    """
    body = {"metadata": {"uid": uid, "annotations": {ANNOTATION_RECORDED: stage}}}
    try:
        await client.CoreV1Api(api).patch_namespaced_pod(name, namespace, body)
    except ApiException as exc:
        if exc.status == 404:
            return Marked.GONE, ""
        if exc.status not in (403, 409, 422):
            raise
        current = await read_pod(api, namespace=namespace, name=name)
        if current is None or (current.get("metadata") or {}).get("uid") != uid:
            return Marked.GONE, ""
        return Marked.REFUSED, f"HTTP {exc.status}: {_message(exc)}"
    return Marked.MARKED, ""


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason or "")
    except ValueError:
        return str(exc.reason or "")
