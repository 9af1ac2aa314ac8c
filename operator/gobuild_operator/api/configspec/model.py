"""GoBuildConfigSpec, and its parse: what the operator reads from every GoBuildConfig.

The operator parses every spec with the same model the CRD is generated from, because the CRD
installed in a cluster may be older than the operator and because the pure core wants typed,
defaulted, immutable values instead of dicts. A spec that does not parse is reported on its own
status with the message of `SpecError`, which names the field path to fix (`spec.goproxy[1]: ...`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from gobuild_operator.api.configspec.blocks import (
    CABundle,
    CorporateProxy,
    EnvEntry,
    ImageBuilds,
    LabelSelector,
    PrivateModules,
    Reporting,
    forbid_env_while,
)
from gobuild_operator.api.configspec.cache import Cache
from gobuild_operator.api.fields.markers import SET, Default, Rule, map_list
from gobuild_operator.api.fields.values import (
    GOSUMDB_PATTERN,
    NO_CREDENTIALS,
    ContainerName,
    FieldError,
    GoFlag,
    GoproxyEntry,
    Pattern,
    SpecError,
    SpecModel,
    cel_matches,
    check_gosumdb,
    no_credentials_rule,
    unique,
)
from gobuild_operator.redact import redact_text


class GoBuildConfigSpec(SpecModel):
    """SPEC "GoBuildConfig spec", field for field; defaults are the SPEC's."""

    crd_rules = (
        forbid_env_while(
            "spec.cache.enabled is true",
            "GOMODCACHE (or GOCACHE with cache.buildCache)",
            condition="has(self.cache) && self.cache.enabled",
            exists="e.name == 'GOMODCACHE' || "
            "(e.name == 'GOCACHE' && has(self.cache.buildCache) && self.cache.buildCache)",
            why="the cache sets them to spec.cache.mountPath",
        ),
        forbid_env_while(
            "spec.privateModules.ssh is set",
            "GIT_SSH_COMMAND",
            condition="has(self.privateModules) && has(self.privateModules.ssh)",
            exists="e.name == 'GIT_SSH_COMMAND'",
            why="the operator sets it to use the mounted key and known_hosts",
        ),
        forbid_env_while(
            "spec.privateModules.netrc is set",
            "NETRC",
            condition="has(self.privateModules) && has(self.privateModules.netrc)",
            exists="e.name == 'NETRC'",
            why="the operator points it at the mounted .netrc",
        ),
        forbid_env_while(
            "spec.caBundle is set",
            "SSL_CERT_DIR, GIT_SSL_CAINFO or GIT_SSL_CAPATH",
            condition="has(self.caBundle)",
            exists="e.name in ['SSL_CERT_DIR', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH']",
            why="the operator points them at the system CAs plus the bundle",
        ),
    )

    default: Annotated[
        bool,
        Field(
            description=(
                "Makes this the namespace's default config, used by workloads annotated gobuild.dev/inject: "
                '"true". Keep at most one default per namespace (the API server cannot check across '
                "objects): when several are, the first by name is used and the admission response warns."
            )
        ),
    ] = False
    pod_selector: Annotated[
        LabelSelector | None,
        Field(
            description=(
                "A label selector (metav1.LabelSelector). Pods, and Jobs and CronJobs whose pod template "
                "labels match, are injected without any annotation. Empty or absent selects nothing (unlike "
                "a NetworkPolicy): opting in by labels is always explicit."
            )
        ),
    ] = None
    containers: Annotated[
        tuple[ContainerName, ...],
        Field(
            max_length=64,
            description=(
                "Names of the containers (and initContainers) to inject into. Empty or absent: every "
                "container and initContainer of the Pod."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ()
    override_env: Annotated[
        bool,
        Field(
            description=(
                "false: a variable the workload already sets keeps its value, and the skipped names are "
                "reported (admission warning and annotation gobuild.dev/skipped-env). true: the values of "
                "this config replace the workload's."
            )
        ),
    ] = False
    goproxy: Annotated[
        tuple[GoproxyEntry, ...],
        Field(
            min_length=1,
            max_length=16,
            description=(
                "GOPROXY entries, tried in order: an http://, https:// or file:/// URL of a module proxy, "
                '"direct" (fetch from the version-control origin) or "off" (fail: no downloads). They are '
                "joined according to proxyFallback. Example for mainland China: "
                '["https://goproxy.cn", "https://goproxy.io", "direct"]. URLs carry no credentials (a proxy '
                "that wants a token gets it from privateModules.netrc), query or fragment."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ("https://proxy.golang.org", "direct")
    proxy_fallback: Annotated[
        Literal["OnNotFound", "OnAnyError"],
        Field(
            description=(
                'When go moves on to the next goproxy entry. OnNotFound joins entries with "," so go falls '
                'through only when a proxy answers 404 or 410; OnAnyError joins them with "|" so it also '
                "falls through on network errors and server errors (useful when a proxy is often "
                "unreachable)."
            )
        ),
    ] = "OnNotFound"
    gosumdb: Annotated[
        str,
        AfterValidator(check_gosumdb),
        Field(
            max_length=1024,
            description=(
                'GOSUMDB: the checksum database as go reads it: "sum.golang.org [URL]", e.g. "sum.golang.org '
                'https://goproxy.cn/sumdb/sum.golang.org" to reach sum.golang.org through a mirror, '
                '"sum.golang.google.cn", "NAME+HASH+KEY [URL]" for another database (its verifier key), or '
                '"off" to disable checksum verification. Empty or absent: go\'s default (sum.golang.org).'
            ),
        ),
        Rule(
            f"self == '' || self == 'off' || {cel_matches(GOSUMDB_PATTERN)}",
            'must be "off", "sum.golang.org [URL]", "sum.golang.google.cn" or "NAME+HASH+KEY [URL]" with an '
            'http(s) URL, e.g. "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org"',
        ),
        no_credentials_rule(NO_CREDENTIALS, anywhere=True),
    ] = ""
    goprivate: Annotated[
        tuple[Pattern, ...],
        Field(
            max_length=64,
            description=(
                "GOPRIVATE glob patterns of module path prefixes that are private: fetched directly (never "
                'through goproxy) and not checked against gosumdb, e.g. "git.corp.example/*". The hosts of '
                "privateModules.ssh are added automatically."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ()
    gonoproxy: Annotated[
        tuple[Pattern, ...],
        Field(
            max_length=64,
            description=(
                "GONOPROXY glob patterns of module paths fetched directly instead of through goproxy. "
                "Absent: go uses goprivate."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ()
    gonosumdb: Annotated[
        tuple[Pattern, ...],
        Field(
            max_length=64,
            description=(
                "GONOSUMDB glob patterns of module paths not checked against gosumdb. Absent: go uses "
                "goprivate."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ()
    goinsecure: Annotated[
        tuple[Pattern, ...],
        Field(
            max_length=64,
            description=(
                "GOINSECURE glob patterns of module paths that may be fetched over plain HTTP or with an "
                "unverified certificate. Prefer caBundle for TLS-intercepting proxies."
            ),
        ),
        AfterValidator(unique),
        SET,
    ] = ()
    goflags: Annotated[
        tuple[GoFlag, ...],
        Field(
            max_length=32,
            description=(
                'GOFLAGS, one flag per entry, e.g. ["-mod=mod", "-modcacherw"]. Entries are joined with '
                "spaces, so a flag value cannot contain whitespace. The operator accepts only the build "
                "flags and values docs/security.md lists (-mod, -trimpath, -tags, -ldflags=-s, ...; "
                "-toolexec, -modfile and the like only where its admin allows them)."
            ),
        ),
    ] = ()
    env: Annotated[
        tuple[EnvEntry, ...],
        Field(
            max_length=64,
            description=(
                "Extra environment variables for the selected containers (e.g. CGO_ENABLED, GOOS), "
                "with the same precedence as the injected Go variables: the workload's own value wins "
                "unless overrideEnv. Refused: variables a field of this spec owns (GOPROXY, GOSUMDB, "
                "GOPRIVATE, GONOPROXY, GONOSUMDB, GOINSECURE, GOFLAGS, HTTP(S)_PROXY, NO_PROXY and their "
                "lowercase twins), git's GIT_CONFIG_COUNT/KEY_n/VALUE_n, and, while the block that sets "
                "them is configured, GOMODCACHE/GOCACHE (cache), GIT_SSH_COMMAND (privateModules.ssh), "
                "NETRC (privateModules.netrc) and SSL_CERT_DIR/GIT_SSL_CAINFO/GIT_SSL_CAPATH (caBundle). "
                "The operator accepts only the Go build settings docs/security.md lists (names that "
                "could make the build run code, such as GOTOOLCHAIN, HOME or LD_PRELOAD, only where its "
                "admin allows them)."
            ),
        ),
        map_list("name"),
    ] = ()
    corporate_proxy: Annotated[
        CorporateProxy,
        Field(
            description=(
                "An outbound HTTP(S) proxy that builds must use. Sets HTTP_PROXY, HTTPS_PROXY and NO_PROXY "
                "and their lowercase twins (read by go, git and curl)."
            )
        ),
    ] = CorporateProxy()
    private_modules: Annotated[
        PrivateModules,
        Field(
            description=(
                "Credentials for modules that live in private repositories. The token or key never appears "
                "in environment variables or in the Pod spec: it is mounted from the Secret."
            )
        ),
    ] = PrivateModules()
    ca_bundle: Annotated[
        CABundle | None,
        Field(
            description=(
                "Extra certificate authorities to trust (TLS-intercepting corporate proxies, private module "
                "proxies or git servers), added to the image's system trust, not replacing it. Set exactly "
                "one of configMapName and secretName."
            )
        ),
    ] = None
    cache: Annotated[
        Cache,
        Field(
            description=(
                "A module cache, so modules are downloaded once: by default an in-cluster GOPROXY cache "
                "the builds only read (mode Proxy), or a volume every build mounts (mode SharedVolume)."
            )
        ),
        Default({}),
    ] = Cache()
    reporting: Annotated[
        Reporting,
        Field(description="What the operator observes and reports on the status."),
        Default({}),
    ] = Reporting()
    image_builds: Annotated[
        ImageBuilds,
        Field(
            description=(
                "In-cluster image builds: the build arguments and ssh/secret flags added to builder "
                "containers so a Dockerfile's RUN steps see the settings (docs/image-builds.md)."
            )
        ),
        Default({}),
    ] = ImageBuilds()

    @model_validator(mode="after")
    def _env_names_unique_and_free(self) -> GoBuildConfigSpec:
        owners = self._env_owned_by_blocks()
        names = [entry.name for entry in self.env]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise FieldError(f".env[{index}].name", f"{name} is listed twice")
            if name in owners:
                raise FieldError(
                    f".env[{index}].name", f"{name} is set by spec.{owners[name]} while it is configured"
                )
        return self

    def _env_owned_by_blocks(self) -> dict[str, str]:
        """Variables a configured block sets; without the block they are the user's to set."""
        owners: dict[str, str] = {}
        if self.cache.enabled:
            owners["GOMODCACHE"] = "cache"
            if self.cache.build_cache:
                owners["GOCACHE"] = "cache.buildCache"
        if self.private_modules.ssh is not None:
            owners["GIT_SSH_COMMAND"] = "privateModules.ssh"
        if self.private_modules.netrc is not None:
            owners["NETRC"] = "privateModules.netrc"
        if self.ca_bundle is not None:
            owners.update(dict.fromkeys(("SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH"), "caBundle"))
        return owners


# --- parsing ---------------------------------------------------------------------------------


def parse_spec(spec: Mapping[str, Any]) -> GoBuildConfigSpec:
    """Validate and default a GoBuildConfig `.spec`; raise SpecError naming every bad field."""
    if not isinstance(spec, Mapping):
        raise SpecError([f"spec: must be an object, not {type(spec).__name__}"])
    try:
        return GoBuildConfigSpec.model_validate(dict(spec))
    except ValidationError as error:
        details = error.errors()
        # A list whose bad entry was reported is also "too short" after dropping it: say it once.
        below = {detail["loc"][:-1] for detail in details if detail["loc"]}
        kept = [
            detail for detail in details if not (detail["type"] == "too_short" and detail["loc"] in below)
        ]
        raise SpecError([redact_text(_describe(detail)) for detail in kept]) from None


def _describe(detail: ErrorDetails) -> str:
    loc = detail["loc"]
    if loc[-1:] == ("[key]",):
        # A bad map key: name the map, as the API server does; the message quotes the key.
        loc = loc[:-2]
    path = "spec" + "".join(_path_element(part) for part in loc)
    if detail["type"] == "extra_forbidden":
        return f"{path}: unknown field"
    if detail["type"] == "value_error":
        error = detail.get("ctx", {}).get("error")
        if isinstance(error, FieldError):
            path += error.path
        return f"{path}: {error if error is not None else detail['msg']}"
    return f"{path}: {detail['msg']}"


def _path_element(part: int | str) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if part.isidentifier():
        return f".{part}"
    return f"[{json.dumps(part)}]"
