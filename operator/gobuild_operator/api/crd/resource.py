"""The GoBuildConfig object itself: the root of the generated CRD schema."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.api.fields.markers import Default, Rule
from gobuild_operator.api.fields.values import MAX_NAME_LENGTH, NAME_TOO_LONG
from gobuild_operator.api.status.model import GoBuildConfigStatus, StatusModel


class GoBuildConfig(StatusModel):
    """GoBuildConfig makes `go mod download` work in the build Pods, Jobs and CronJobs of its namespace: it
    injects GOPROXY/GOSUMDB and friends, private-module credentials, corporate proxy and CA settings and
    a shared module cache, and reports on its status what failed in those builds and how to fix it."""

    crd_rules = (Rule(f"self.metadata.name.size() <= {MAX_NAME_LENGTH}", NAME_TOO_LONG),)

    api_version: Annotated[
        str,
        Field(description="APIVersion defines the versioned schema of this representation of an object."),
    ] = c.API_VERSION
    kind: Annotated[
        str,
        Field(description="Kind is a string value representing the REST resource this object represents."),
    ] = c.KIND
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: Annotated[
        GoBuildConfigSpec,
        Field(
            description=(
                "What to inject into the build workloads that opt in (annotation gobuild.dev/config: NAME, "
                'gobuild.dev/inject: "true" for the namespace default, or a matching podSelector).'
            )
        ),
        Default({}),
    ]
    status: Annotated[
        GoBuildConfigStatus | None,
        Field(description="What the operator observed. Written by the operator only."),
    ] = None
