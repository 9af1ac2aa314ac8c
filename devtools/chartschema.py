"""values.schema.json, generated from the chart's values.yaml: one annotated source for every value.

values.yaml is what users read: each key has its `# --` comment (the documentation) and its
default. What the schema needs beyond that sits in the same comment block as one `# @schema`
line of JSON:

    # -- Seconds the API server waits for an answer (1-30).
    # @schema {"minimum": 1, "maximum": 30}
    timeoutSeconds: 5

The type comes from the default (true: boolean, 5: integer, "": string, []: array, a mapping with
keys: an object whose keys are the only ones allowed). An annotation is merged over what is
inferred; one that names a "type" replaces it (a free-form object such as `resources`, or
`{"type": ["integer", "string"]}`). Every described object refuses unknown keys, so a typo fails
`helm install` instead of being ignored.

Run by `make generate`; tests/integration/test_chart.py fails when the committed file differs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "gobuild-operator"
VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:\s|$)")


def _comments(text: str) -> dict[tuple[str, ...], tuple[str, dict[str, Any]]]:
    """(description, annotation) of each key path, from the comment block right above the key."""
    found: dict[tuple[str, ...], tuple[str, dict[str, Any]]] = {}
    stack: list[tuple[int, str]] = []
    block: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if not match:
            block = [] if not stripped else block
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        path = tuple(key for _, key in stack)
        description, annotation = _read_block(block, where=f"{VALUES.name}:{number}")
        found[path] = (description, annotation)
        block = []
    return found


def _read_block(lines: list[str], *, where: str) -> tuple[str, dict[str, Any]]:
    words: list[str] = []
    annotation: dict[str, Any] = {}
    describing = False
    for line in lines:
        if line.startswith("@schema"):
            try:
                annotation = json.loads(line.removeprefix("@schema"))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{where}: @schema is not JSON: {exc}") from None
        elif line.startswith("-- "):
            describing, words = True, [line.removeprefix("-- ")]
        elif describing and line:
            words.append(line)
        else:
            describing = False
    return " ".join(words), annotation


def _infer(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object"}
    raise SystemExit(f"values.yaml: cannot infer a schema type for {value!r}")


def _node(
    path: tuple[str, ...], value: Any, comments: dict[tuple[str, ...], tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    description, annotation = comments.get(path, ("", {}))
    if "type" in annotation:
        node = dict(annotation)
    else:
        node = {**_infer(value), **annotation}
        if isinstance(value, dict) and value and "properties" not in annotation:
            node["additionalProperties"] = False
            node["properties"] = {key: _node((*path, key), child, comments) for key, child in value.items()}
    if description:
        node = {"description": description, **node}
    return node


def generate(values_text: str) -> dict[str, Any]:
    values = yaml.safe_load(values_text) or {}
    comments = _comments(values_text)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "gobuild-operator values",
        "type": "object",
        "additionalProperties": False,
        "properties": {key: _node((key,), value, comments) for key, value in values.items()},
    }


def render(values_text: str) -> str:
    return json.dumps(generate(values_text), indent=2) + "\n"


def main() -> None:
    SCHEMA.write_text(render(VALUES.read_text()))
    print(f"wrote {SCHEMA.relative_to(CHART.parents[1])}", file=sys.stderr)


if __name__ == "__main__":
    main()
