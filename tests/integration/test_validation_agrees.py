"""The operator's parse and the API server refuse the same GoBuildConfigs, naming the same field.

Every check is written once in api/ and appears twice: as the model's validator (the operator
parses every spec, since the CRD in a cluster may be older) and as the CRD's schema and CEL rules
generated from the same patterns. Where the two could drift, this finds it: one hostile corpus
(support/hostile.py: valid specs, valid specs with hostile values, and anything) goes through
`parse_spec` and through a server-side dry run of the real API server, and any spec one accepts
and the other refuses fails the test, as does a refusal that names a field the other does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from conftest import Cluster
from gobuild_operator.api.configspec.model import parse_spec
from gobuild_operator.api.fields.values import SpecError
from support.hostile import hostile_specs

#: Bounded: each example is one dry-run request.
EXAMPLES = 300


@pytest.fixture(scope="module")
def dry_namespace(cluster: Cluster) -> Iterator[str]:
    name = "validation-agrees"
    cluster.kubectl("create", "namespace", name, check=False)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _server_verdict(api: client.ApiClient, namespace: str, spec: dict[str, Any]) -> str:
    """ "" when the API server accepts the spec, else its message."""
    body = {
        "apiVersion": "gobuild.dev/v1alpha1",
        "kind": "GoBuildConfig",
        "metadata": {"name": "x"},
        "spec": spec,
    }
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "gobuild.dev", "v1alpha1", namespace, "gobuildconfigs", body, dry_run="All"
        )
    except ApiException as exc:
        if exc.status != 422:
            raise
        message: str = json.loads(exc.body).get("message", "")
        return message or "refused"
    return ""


def _fields(messages: list[str]) -> set[str]:
    """The top-level spec fields a refusal names (spec.goproxy[1]: ... -> goproxy)."""
    fields = set()
    for message in messages:
        path = message.partition(":")[0].removeprefix("spec.").removeprefix("spec")
        fields.add(path.lstrip(".").split(".")[0].split("[")[0])
    return fields


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=hostile_specs)
def test_the_model_and_the_api_server_agree_on_every_spec(
    api: client.ApiClient, dry_namespace: str, spec: dict[str, Any]
) -> None:
    server = _server_verdict(api, dry_namespace, spec)
    try:
        parse_spec(spec)
        refused: list[str] = []
    except SpecError as error:
        refused = list(error.errors)
    assert bool(server) == bool(refused), (
        f"the API server {'refuses' if server else 'accepts'} and the model "
        f"{'refuses' if refused else 'accepts'}: {json.dumps(spec)}\nserver: {server}\nmodel: {refused}"
    )
    if refused:
        named = {field for field in _fields(refused) if field}
        assert any(f"spec.{field}" in server for field in named), (
            f"the API server names none of {sorted(named)}: {server}"
        )
