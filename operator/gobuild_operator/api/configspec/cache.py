"""The module cache block of a GoBuildConfig spec (SPEC "cache").

Two modes. Proxy, the default: the operator runs an in-cluster GOPROXY cache per config, which
builds only read over HTTP, each with a GOMODCACHE of its own, so no build can change what another
compiles and any storage works (docs/cache.md). SharedVolume, chosen explicitly: one claim every
build mounts read-write, whose trust model (every build can rewrite what the next compiles) the
status and the admission warning state.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from gobuild_operator import constants as c
from gobuild_operator.api.fields.markers import SET, Rule
from gobuild_operator.api.fields.values import (
    CACHE_SIZE_MAX,
    CACHE_SIZE_MIN,
    DEFAULT_CACHE_SIZE,
    MOUNT_PATH,
    QUANTITY,
    SHADOWED_DIRS,
    SHADOWED_DIRS_TEXT,
    SYSTEM_DIRS,
    SYSTEM_DIRS_TEXT,
    AccessMode,
    FieldError,
    OptionalObjectName,
    SpecModel,
    cel_list,
    cel_matches,
    check_mount_path,
    check_quantity,
    unique,
)


class Cache(SpecModel):
    crd_rules = (
        Rule(
            "!(has(self.existingClaim) && self.existingClaim != '' && has(self.size) && self.size != '')",
            "must not be set together with spec.cache.existingClaim: size applies only to the claim the "
            "operator creates",
            field_path=".size",
            reason="FieldValueForbidden",
        ),
        Rule(
            "!(has(self.existingClaim) && self.existingClaim != '' && "
            "has(self.storageClassName) && self.storageClassName != '')",
            "must not be set together with spec.cache.existingClaim: storageClassName applies only to the "
            "claim the operator creates",
            field_path=".storageClassName",
            reason="FieldValueForbidden",
        ),
        Rule(
            "!(has(self.existingClaim) && self.existingClaim != '' && "
            "has(self.accessModes) && size(self.accessModes) > 0)",
            "must not be set together with spec.cache.existingClaim: accessModes applies only to the "
            "claim the operator creates",
            field_path=".accessModes",
            reason="FieldValueForbidden",
        ),
        Rule(
            "!(has(self.buildCache) && self.buildCache && (!has(self.mode) || self.mode != 'SharedVolume'))",
            "requires mode SharedVolume: it shares compiled objects on the volume every build writes; "
            "with the Proxy cache each build keeps its own GOCACHE",
            field_path=".buildCache",
            reason="FieldValueForbidden",
        ),
    )

    enabled: Annotated[
        bool,
        Field(description="Give the builds a module cache (see mode)."),
    ] = False
    mode: Annotated[
        Literal["Proxy", "SharedVolume"],
        Field(
            description=(
                "Proxy (the default): the operator runs a module cache for this config that speaks the "
                "GOPROXY protocol (a Deployment NAME-gomodcache with a ReadWriteOnce claim, a Service) and "
                "puts it first in GOPROXY; each build gets its own GOMODCACHE (an emptyDir at mountPath) "
                "filled from the cache, so go checks every module it downloads and no build can change "
                "what another compiles. It works on any storage and across nodes. SharedVolume: the claim "
                "is mounted read-write into every build as GOMODCACHE (and GOCACHE with buildCache): "
                "every build that can write it can change what the next build compiles, so use it only "
                "where all builds of the namespace are trusted alike; builds on several nodes need a "
                "ReadWriteMany claim."
            )
        ),
    ] = "Proxy"
    existing_claim: Annotated[
        OptionalObjectName,
        Field(
            description=(
                "Use this PersistentVolumeClaim of the namespace (the Proxy cache's storage, or the "
                "SharedVolume). Empty or absent: the operator creates the claim NAME-gomodcache, owned by "
                "(and deleted with) this GoBuildConfig. Not allowed together with size, storageClassName "
                "or accessModes."
            )
        ),
    ] = ""
    size: Annotated[
        str,
        AfterValidator(check_quantity),
        Field(
            max_length=64,
            description=(
                f"The storage request of the claim the operator creates, a quantity such as 10Gi, from "
                f"{CACHE_SIZE_MIN} to {CACHE_SIZE_MAX}. Empty or absent: {DEFAULT_CACHE_SIZE} (applied by "
                "the operator, not defaulted here, so that existingClaim alone stays valid). Not allowed "
                "together with existingClaim."
            ),
        ),
        Rule(
            f"self == '' || ({cel_matches(QUANTITY)} && quantity(self).isGreaterThan(quantity('0')))",
            "must be a positive quantity such as 10Gi or 500Mi",
        ),
        Rule(
            f"self == '' || !{cel_matches(QUANTITY)} || "
            f"(quantity(self).compareTo(quantity('{CACHE_SIZE_MIN}')) >= 0 && "
            f"quantity(self).compareTo(quantity('{CACHE_SIZE_MAX}')) <= 0)",
            f"must be from {CACHE_SIZE_MIN} to {CACHE_SIZE_MAX}",
        ),
    ] = ""
    storage_class_name: Annotated[
        OptionalObjectName,
        Field(
            description=(
                "The StorageClass of the claim the operator creates. Empty or absent: the cluster's "
                "default StorageClass."
            )
        ),
    ] = ""
    access_modes: Annotated[
        tuple[AccessMode, ...],
        Field(
            max_length=4,
            description=(
                "The access modes of the claim the operator creates. Empty or absent: ReadWriteOnce for "
                "the Proxy cache (one Pod mounts it), ReadWriteMany for a SharedVolume (builds on "
                "different nodes mount it; with ReadWriteOnce only builds on one node can). Not allowed "
                "together with existingClaim."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ()
    mount_path: Annotated[
        str,
        AfterValidator(check_mount_path),
        Field(
            min_length=2,
            max_length=1024,
            description=(
                "GOMODCACHE in the builds: each build's own emptyDir (Proxy) or the shared claim "
                "(SharedVolume) is mounted there. An absolute path "
                'of letters, digits and "._~+@-", not "/", not on or around '
                f"{c.MOUNT_ROOT} or {posixpath.dirname(c.GOCACHE_MOUNT_PATH)}, where the operator mounts its "
                f"own files, not on or below a system directory ({SYSTEM_DIRS_TEXT}) and not "
                f"exactly {SHADOWED_DIRS_TEXT}, whose files builds need."
            ),
        ),
        Rule(
            "self.startsWith('/') && !self.endsWith('/') && !self.contains(':') && !self.contains('//') && "
            "!self.split('/').exists(p, p == '..' || p == '.')",
            'must be an absolute path other than "/", without a trailing "/", "//", ".", ".." or ":"',
        ),
        Rule(
            cel_matches(MOUNT_PATH),
            'must consist of path elements of letters, digits and "._~+@-" (no spaces, control characters '
            'or "$")',
        ),
        Rule(
            f"!{cel_list(SYSTEM_DIRS)}.exists(d, self == d || self.startsWith(d + '/'))",
            "must not be on or below a system directory ("
            + ", ".join(SYSTEM_DIRS)
            + "): the cache would hide what the build runs",
            reason="FieldValueForbidden",
        ),
        Rule(
            f"!(self in {cel_list(SHADOWED_DIRS)})",
            "must not be exactly " + ", ".join(SHADOWED_DIRS) + ": the cache would hide the build's own "
            "files there; mount it below, e.g. /go/pkg/mod",
            reason="FieldValueForbidden",
        ),
        Rule(
            f"!['{c.MOUNT_ROOT}', '{posixpath.dirname(c.GOCACHE_MOUNT_PATH)}'].exists(r, "
            "self == r || self.startsWith(r + '/') || r.startsWith(self + '/'))",
            f"must not be on, above or below {c.MOUNT_ROOT} or {posixpath.dirname(c.GOCACHE_MOUNT_PATH)}, "
            "where the operator mounts its own files",
            reason="FieldValueForbidden",
        ),
    ] = "/go/pkg/mod"
    build_cache: Annotated[
        bool,
        Field(
            description=(
                "SharedVolume only: also share the build cache, GOCACHE on a subPath of the same claim. "
                "Compiled objects any build can rewrite are worse to trust than sources."
            )
        ),
    ] = False

    @property
    def claim_size(self) -> str:
        """The storage request of the claim the operator creates."""
        return self.size or DEFAULT_CACHE_SIZE

    @property
    def proxy(self) -> bool:
        """The operator runs a GOPROXY cache (the builds only read it)."""
        return self.enabled and self.mode == "Proxy"

    @property
    def shared_volume(self) -> bool:
        """The builds mount the claim read-write."""
        return self.enabled and self.mode == "SharedVolume"

    @property
    def claim_access_modes(self) -> tuple[str, ...]:
        """The access modes of the claim the operator creates."""
        if self.access_modes:
            return tuple(self.access_modes)
        return ("ReadWriteOnce",) if self.mode == "Proxy" else ("ReadWriteMany",)

    @model_validator(mode="after")
    def _existing_claim_alone(self) -> Cache:
        if self.existing_claim and self.size:
            raise FieldError(
                ".size",
                "must not be set together with existingClaim: it sizes the claim the operator creates",
            )
        if self.existing_claim and self.storage_class_name:
            raise FieldError(
                ".storageClassName",
                "must not be set together with existingClaim: it applies to the claim the operator creates",
            )
        if self.existing_claim and self.access_modes:
            raise FieldError(
                ".accessModes",
                "must not be set together with existingClaim: it applies to the claim the operator creates",
            )
        if self.build_cache and self.mode != "SharedVolume":
            raise FieldError(
                ".buildCache",
                "requires mode SharedVolume: it shares compiled objects on the volume every build writes",
            )
        return self
