"""Injected Pods' watch events -> the download reporter (memory only; it writes in batches).

An event handler, not a create/update handler: kopf persists nothing on the Pods for it (no
progress or last-handled annotations), so watching costs the API server nothing but the watch.
It is async on purpose: kopf runs sync handlers in threads, and the reporter's state belongs to
the event loop.
"""

from __future__ import annotations

from typing import Any

import kopf

from gobuild_operator.reporting.service import Reporting


@kopf.on.event("", "v1", "pods")
async def injected_pod_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reporting: Reporting = memo.reporting
    reporting.reporter.on_pod(event.get("type"), body)
