"""reporting/namespacelabels.py: the `gobuild.dev/configs` label follows the namespaces' configs."""

from __future__ import annotations

from typing import Any

import pytest

from gobuild_operator.reporting import namespacelabels
from gobuild_operator.reporting.namespacelabels import NamespaceLabels
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

LABEL = "gobuild.dev/configs"


def store_with(
    configs: dict[str, dict[str, Any]], labels: dict[str, dict[str, str]], *, synced: bool
) -> Store:
    store = Store()
    for key, spec in configs.items():
        namespace, name = key.split("/")
        store.put_config({"metadata": {"namespace": namespace, "name": name, "uid": key}, "spec": spec})
    for namespace, values in labels.items():
        store.put_namespace(namespace, values)
    store.synced = synced
    return store


@pytest.mark.parametrize(
    ("configs", "labels", "synced", "only", "writes"),
    [
        pytest.param({"a/go": {}}, {"a": {}}, True, (), {"a": "annotated"}, id="first-config"),
        pytest.param(
            {"a/go": {}, "a/sel": {"podSelector": {"matchLabels": {"app": "build"}}}},
            {"a": {LABEL: "annotated"}},
            True,
            (),
            {"a": "selected"},
            id="a-pod-selector-arrives",
        ),
        pytest.param({"a/go": {}}, {"a": {LABEL: "annotated"}}, True, (), {}, id="already-right"),
        pytest.param({}, {"a": {LABEL: "annotated"}}, True, (), {"a": None}, id="last-config-gone"),
        pytest.param({}, {"a": {LABEL: "annotated"}}, False, (), {}, id="not-removed-before-synced"),
        pytest.param(
            {}, {"a": {LABEL: "annotated"}}, True, ("b",), {}, id="not-removed-outside-own-namespaces"
        ),
        pytest.param(
            {"gobuild-system/go": {}}, {"gobuild-system": {}}, True, (), {}, id="never-own-namespace"
        ),
    ],
)
async def test_labels_follow_configs(
    monkeypatch: pytest.MonkeyPatch,
    configs: dict[str, dict[str, Any]],
    labels: dict[str, dict[str, str]],
    synced: bool,
    only: tuple[str, ...],
    writes: dict[str, str | None],
) -> None:
    written: dict[str, str | None] = {}

    async def set_label(_: object, *, namespace: str, key: str, value: str | None) -> bool:
        assert key == LABEL
        written[namespace] = value
        return True

    monkeypatch.setattr(namespacelabels, "set_label", set_label)
    store = store_with(configs, labels, synced=synced)
    manager = NamespaceLabels(api=object(), store=store, settings=Settings(), namespaces=only)  # type: ignore[arg-type]
    await manager._sync()
    assert written == writes
    written.clear()
    await manager._sync()
    assert written == {}, "the store remembers what was written until the watch confirms it"
