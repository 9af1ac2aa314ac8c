"""The operator's watch of injected Pods is narrowed by the API server, not filtered after the fact,
and runs outside kopf (no per-object machinery per Pod event)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gobuild_operator.metrics import Metrics
from gobuild_operator.reporting import service
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store


@pytest.mark.parametrize(
    ("namespaces", "paths"),
    [
        pytest.param((), ["/api/v1/pods"], id="cluster-wide"),
        pytest.param(("a", "b"), ["/api/v1/namespaces/a/pods", "/api/v1/namespaces/b/pods"], id="namespaced"),
    ],
)
async def test_only_injected_pods_are_watched_whole(
    monkeypatch: pytest.MonkeyPatch, namespaces: tuple[str, ...], paths: list[str]
) -> None:
    calls: list[dict[str, Any]] = []

    async def watch_objects(_: object, **kwargs: Any) -> None:
        calls.append(kwargs)
        kwargs["callback"]("ADDED", {"metadata": {"uid": "u", "annotations": {"gobuild.dev/injected": "go"}}})

    monkeypatch.setattr(service, "watch_objects", watch_objects)
    reporting = service.Reporting(
        api=object(),  # type: ignore[arg-type]
        metrics=Metrics(),
        settings=Settings(),
        store=Store(),
        namespaces=namespaces,
    )
    reporting.start()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await reporting.close()
    assert [c["path"] for c in calls] == paths
    assert all(c["label_selector"] == "gobuild.dev/config" and c["metadata_only"] is False for c in calls)
    assert reporting.reporter.known("u") == 1, "the event reached the download reporter"
