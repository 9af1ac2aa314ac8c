"""Markers that put into the pydantic API model what only the CRD schema says (kubebuilder's markers).

The models of api/ are the one source of the GoBuildConfig API: field names, types, defaults,
enums (Literal), bounds (Field(min_length=..., max_length=..., ge=..., le=...)) and descriptions are
ordinary pydantic, and the operator enforces them when it parses a spec. What the API server needs
on top (CEL rules, list semantics, formats, the rare default that differs from the model's) is said
with these markers, next to the field, and crd/schema.py turns all of it into the openAPIV3Schema.

    goproxy: Annotated[tuple[GoproxyEntry, ...], Field(min_length=1, max_length=16), SET] = (...)

A marker on a model class (`crd_rules`, `crd_schema` class variables) applies wherever the class
is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One `x-kubernetes-validations` entry. The API server prints the field path and the value in
    front of `message`, so the message says what to write instead."""

    rule: str
    message: str = ""
    message_expression: str = ""
    field_path: str = ""
    reason: str = ""

    def to_schema(self) -> dict[str, str]:
        out = {"rule": self.rule}
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = self.reason
        if self.message:
            out["message"] = self.message
        if self.message_expression:
            out["messageExpression"] = self.message_expression
        return out


@dataclass(frozen=True)
class Schema:
    """Schema keywords the model has no word for (`x-kubernetes-list-type`, `format`, `pattern`, ...)."""

    keywords: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Default:
    """The schema default, where it differs from the model's (a block the API server fills with {})."""

    value: Any


SET = Schema({"x-kubernetes-list-type": "set"})
INT32 = Schema({"format": "int32"})
DATE_TIME = Schema({"format": "date-time"})


def map_list(*keys: str) -> Schema:
    """A list the API server merges by `keys` (`x-kubernetes-list-type: map`)."""
    return Schema({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)})
