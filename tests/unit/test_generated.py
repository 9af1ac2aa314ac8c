"""What `make generate` writes is what the sources generate, and what it generates is a CRD the API
server can take.

The model (operator/gobuild_operator/api/) and the reason registry (core/diagnosis/reasons/) are the
sources; crds/, the README field table and the docs/diagnosis.md reason table are derived. The API
server itself judges the schema in tests/integration/test_crd_validation.py; here, without a
cluster: the committed files are up to date, and the generator keeps the rules the API server
applies before it accepts a CRD.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import chartschema
from gobuild_operator import generate
from gobuild_operator.api.crd import schema
from gobuild_operator.api.status.reasons import NAMES
from gobuild_operator.core.diagnosis.reasons import registry

ROOT = Path(__file__).resolve().parents[2]

Schema = dict[str, Any]


def test_committed_files_are_what_make_generate_writes() -> None:
    assert generate.stale(ROOT) == [], "run `make generate` and commit the result"


def test_drift_is_detected(tmp_path: Path) -> None:
    """The check above can fail: a hand edit of the CRD is reported."""
    for path, text in generate.outputs(ROOT).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    shutil.copytree(ROOT / generate.FIXTURES, tmp_path / generate.FIXTURES)
    assert generate.stale(tmp_path) == []
    crd_file = tmp_path / generate.CRD_FILE
    crd_file.write_text(crd_file.read_text().replace("default: OnNotFound", "default: OnAnyError"))
    assert generate.stale(tmp_path) == [generate.CRD_FILE]
    assert generate.main(["--root", str(tmp_path), "--check"]) == 1


def test_the_yaml_is_the_generated_object() -> None:
    assert yaml.safe_load(schema.render()) == schema.crd()


def test_the_failure_reason_enum_is_the_registry() -> None:
    failure = schema.openapi_schema()["properties"]["status"]["properties"]["downloads"]["properties"]
    assert failure["lastFailure"]["properties"]["reason"]["enum"] == list(NAMES)
    assert failure["recentFailures"]["items"]["properties"]["reason"]["enum"] == list(NAMES)


def test_every_reason_is_in_the_docs_table() -> None:
    table = generate.reason_table(ROOT / generate.FIXTURES)
    for name in NAMES:
        assert f"| `{name}` |" in table


def test_splice_refuses_a_document_without_its_markers() -> None:
    with pytest.raises(ValueError, match="generated: spec-fields"):
        generate.splice("# README\n", "spec-fields", "| a |\n")


# --- what the API server requires before it accepts the CRD ------------------------------------


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from walk(schema["items"], f"{path}.[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}.{{}}")


ROOT_SCHEMA = schema.openapi_schema()
NODES = [(path or "<root>", node) for path, node in walk(ROOT_SCHEMA) if path != "metadata"]


@pytest.mark.parametrize(("path", "node"), [pytest.param(p, n, id=p) for p, n in NODES])
def test_structural_node(path: str, node: Schema) -> None:
    assert "type" in node, "every node needs a type"
    scalar_element = path.endswith(("[]", "{}")) and node["type"] not in {"object", "array"}
    assert scalar_element or node.get("description"), "kubectl explain needs a description"
    if node["type"] == "array":
        assert "items" in node
    if node["type"] == "object":
        assert "properties" in node or "additionalProperties" in node
    for rule in node.get("x-kubernetes-validations", []):
        assert rule.get("message") or rule.get("messageExpression"), "a rule without a message"


SPEC_NODES = [(path, node) for path, node in walk(ROOT_SCHEMA["properties"]["spec"], "spec")]


@pytest.mark.parametrize(("path", "node"), [pytest.param(p, n, id=p) for p, n in SPEC_NODES])
def test_spec_node_bounded_for_cel_cost(path: str, node: Schema) -> None:
    """Unbounded strings and lists make the API server's CEL cost estimate reject the CRD."""
    if node["type"] == "string" and "enum" not in node:
        assert "maxLength" in node
    elif node["type"] == "array":
        assert "maxItems" in node
    elif node["type"] == "object" and "additionalProperties" in node:
        assert "maxProperties" in node


def test_the_diagnosis_registry_ranks_every_reason_name_once() -> None:
    """The names are the API's (api/status/reasons.py); the registry that finds them lists each, in order."""
    assert tuple(entry.name for entry in registry.REGISTRY) == NAMES


def test_the_charts_values_schema_is_generated_from_its_values() -> None:
    """values.yaml (comments, defaults, @schema lines) is the one source; make generate writes it."""
    assert chartschema.SCHEMA.read_text() == chartschema.render(chartschema.VALUES.read_text()), (
        "helm/gobuild-operator/values.schema.json is stale: run make generate"
    )
