"""The operator's one ApiClient for what kopf does not do (kopf has its own session).

kubernetes_asyncio: the same generated API as the `kubernetes` client, but on aiohttp in this event
loop, so a slow API call never holds a thread and a watch can be cancelled at once; it loads the
in-cluster ServiceAccount (refreshing its token) and kubeconfig files as kopf and kubectl do.
"""

from __future__ import annotations

import os

import orjson
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = ["ApiClient", "ApiException", "make_api_client", "status_message"]


async def make_api_client() -> ApiClient:
    """In a Pod: the ServiceAccount; elsewhere: KUBECONFIG or ~/.kube/config."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(client_configuration=configuration)
    return ApiClient(configuration)


def status_message(body: bytes, status: int, reason: str | None = None) -> str:
    """What the API server says went wrong: its Status `message`, else the HTTP status and reason."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        return str(answer["message"])
    return f"{status} {reason or ''}".strip()
