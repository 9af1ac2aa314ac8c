"""The API calls of `gobuild-operator selftest` (the chart's `helm test`): a scratch namespace (or
the one the chart made), a GoBuildConfig in it, and a Pod created as a server-side dry run, which
runs the admission webhooks and stores nothing."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from gobuild_operator import constants as c
from gobuild_operator.k8s.client import ApiClient, ApiException


async def create_namespace(api: ApiClient, *, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await client.CoreV1Api(api).create_namespace(body)  # type: ignore[arg-type]


async def delete_namespace(api: ApiClient, *, name: str) -> None:
    try:
        await client.CoreV1Api(api).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


async def create_config(api: ApiClient, *, namespace: str, name: str, spec: dict[str, Any]) -> None:
    body = {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": {"name": name}, "spec": spec}
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        c.GROUP, c.VERSION, namespace, c.PLURAL, body
    )


async def delete_config(api: ApiClient, *, namespace: str, name: str) -> None:
    try:
        await client.CustomObjectsApi(api).delete_namespaced_custom_object(
            c.GROUP, c.VERSION, namespace, c.PLURAL, name
        )
    except ApiException as exc:
        if exc.status != 404:
            raise


async def dry_run_pod(api: ApiClient, *, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    """The Pod as the API server would store it (admission webhooks included), without storing it."""
    created = await client.CoreV1Api(api).create_namespaced_pod(namespace, pod, dry_run="All")  # type: ignore[arg-type]
    result: dict[str, Any] = api.sanitize_for_serialization(created)
    return result
