"""Hardening #9, found by the admission fuzzer: a GoBuildConfig name longer than a label value.

Object names may have 253 characters, label values 63, and injected Pods carry the config's name in
the label gobuild.dev/config: the API server refused every Pod the webhook injected with such a
config. The CRD now refuses the name; a config stored before that is invalid for the operator.
"""

from __future__ import annotations

import pytest

from gobuild_operator.handlers.admission import admit
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store

SETTINGS = Settings(operator_namespace="gobuild-system")


@pytest.mark.parametrize(
    ("name", "usable"),
    [
        pytest.param("b" * 63, True, id="63"),
        pytest.param("c" * 64, False, id="64"),
        pytest.param("d" * 253, False, id="253"),
    ],
)
def test_a_config_name_no_label_value_can_hold_is_not_injected(name: str, usable: bool) -> None:
    store = Store()
    info, _ = store.put_config(
        {"metadata": {"namespace": "builds", "name": name, "generation": 1}, "spec": {}}
    )
    pod = {
        "metadata": {"name": "b", "namespace": "builds", "annotations": {"gobuild.dev/config": name}},
        "spec": {"containers": [{"name": "go", "image": "golang:1.26"}]},
    }
    result = admit(pod, kind="Pod", namespace="builds", settings=SETTINGS, store=store)
    assert (result.obj is not None) is usable
    if not usable:
        assert info.error.startswith("metadata.name must have at most 63 characters")
        assert any("is invalid (see its status)" in w for w in result.warnings)
