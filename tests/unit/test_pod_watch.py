"""The operator's Pod watch is narrowed by the API server, not filtered after the fact."""

from __future__ import annotations

import kopf
import pytest
from kopf._cogs.structs.references import Resource

from gobuild_operator.handlers.startup import select_injected_pods


@pytest.mark.parametrize(
    ("resource", "selectors"),
    [
        pytest.param(Resource("", "v1", "pods", namespaced=True), ["gobuild.dev/config"], id="pods"),
        pytest.param(Resource("", "v1", "namespaces"), [], id="namespaces"),
        pytest.param(
            Resource("gobuild.dev", "v1alpha1", "gobuildconfigs", namespaced=True), [], id="configs"
        ),
        pytest.param(Resource("batch", "v1", "jobs", namespaced=True), [], id="jobs"),
    ],
)
def test_only_the_pod_watch_selects_on_the_config_label(resource: Resource, selectors: list[str]) -> None:
    settings = kopf.OperatorSettings()
    select_injected_pods(settings)
    # what kopf's list and watch requests put into `labelSelector=`
    assert settings.watching.label_selectors.collect(resource) == selectors
