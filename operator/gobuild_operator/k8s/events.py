"""Post core/v1 Events on the objects users look at (`kubectl describe gbc`, `kubectl describe pod`).

kopf posts Events only from inside its per-object handler tasks (its event queue is a context
variable set there); the reporters post from their own background tasks, so they create Events
themselves, through the operator's one client. Texts come from core (never Secret data, never log
lines).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from gobuild_operator.constants import FIELD_MANAGER
from gobuild_operator.core.downloads.events import EventText
from gobuild_operator.redact import redact_text

logger = logging.getLogger(__name__)

#: The API server refuses longer Event messages.
MAX_MESSAGE = 1024


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


async def post_event(api: client.ApiClient, *, ref: ObjectRef, text: EventText) -> None:
    """Create one Event; failures are logged, never raised (an Event is not worth a retry loop)."""
    now = datetime.datetime.now(datetime.UTC)
    message = redact_text(text.message)  # Events are read by everyone in the namespace
    message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
    body = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:12]}", namespace=ref.namespace),
        involved_object=client.V1ObjectReference(
            api_version=ref.api_version, kind=ref.kind, name=ref.name, namespace=ref.namespace, uid=ref.uid
        ),
        reason=text.reason,
        message=message,
        type=text.type,
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component=FIELD_MANAGER),
        reporting_component=FIELD_MANAGER,
        reporting_instance=FIELD_MANAGER,
    )
    try:
        await client.CoreV1Api(api).create_namespaced_event(ref.namespace, body)
    except ApiException as exc:
        logger.warning(
            "could not post Event %s on %s %s/%s: %s",
            text.reason,
            ref.kind,
            ref.namespace,
            ref.name,
            exc.status,
        )
