"""Namespace labels into the store: the webhook skips namespaces labelled
`gobuild.dev/injection=disabled` without an API call, and so does the missed-injection check; the
operator's own `gobuild.dev/configs` label is kept right (reporting/namespacelabels.py)."""

from __future__ import annotations

from typing import Any

import kopf

from gobuild_operator.reporting.service import Reporting


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(
    event: kopf.RawEvent, name: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any
) -> None:
    reporting: Reporting = memo.reporting
    reporting.on_namespace(event.get("type"), name, labels)
