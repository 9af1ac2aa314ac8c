"""Namespace labels into the store: the webhook skips namespaces labelled
`gobuild.dev/injection=disabled` without an API call, and so does the missed-injection check."""

from __future__ import annotations

from typing import Any

import kopf

from gobuild_operator.store import Store


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(
    event: kopf.RawEvent, name: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any
) -> None:
    store: Store = memo.store
    if event.get("type") == "DELETED":
        store.remove_namespace(name)
    else:
        store.put_namespace(name, labels)
