"""Typed model of the GoBuildConfig spec (SPEC "GoBuildConfig spec"), parsed once and trusted after.

The API server refuses most bad input at `kubectl apply` through the CRD schema and its CEL rules.
This model repeats those checks because the operator must not trust that the CRD installed in a
cluster is the one it shipped with, and because the pure core (selection, plan, mutate) wants typed,
defaulted, immutable values instead of dicts. A config that does not parse is reported on its own
status with the message of `SpecError`, which names the field path the user has to fix
(`spec.goproxy[1]: ...`).

Optional blocks (privateModules.ssh, privateModules.netrc, caBundle) are None when absent: their
presence is what turns them on, as in the CRD, which requires their names once they are written.
`spec.env` additionally may not carry GIT_CONFIG_* (the operator numbers its own git entries after
the workload's).

Values that end up inside shell snippets (the SSH user) or file names (Secret keys) are restricted
to safe character sets here, so the plan can embed them without quoting surprises.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from gobuild_operator import constants as c

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SSH_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?$")
_SSH_USER = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]{0,63}$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_GOSUMDB = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9.]*[A-Za-z0-9](\+[^\s]+)?( +https?://[^\s]+)?$")
_MODULE_PATH = re.compile(r"^[a-z0-9][-a-z0-9]*(\.[a-z0-9][-a-z0-9]*)+(/[A-Za-z0-9._~+-]+)*$")
#: A BuildKit ssh or secret id: it travels inside CSV flag values (`--secret id=X,src=...`), so no
#: comma, "=", quote or space.
_BUILD_ID = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")

#: Variables the operator sets from a dedicated field; `spec.env` may not set them too (as the CRD).
_ENV_OWNED_BY_FIELD: Mapping[str, str] = {
    "GOPROXY": "goproxy",
    "GOSUMDB": "gosumdb",
    "GOPRIVATE": "goprivate",
    "GONOPROXY": "gonoproxy",
    "GONOSUMDB": "gonosumdb",
    "GOINSECURE": "goinsecure",
    "GOFLAGS": "goflags",
    **dict.fromkeys(("HTTP_PROXY", "http_proxy"), "corporateProxy.httpProxy"),
    **dict.fromkeys(("HTTPS_PROXY", "https_proxy"), "corporateProxy.httpsProxy"),
    **dict.fromkeys(("NO_PROXY", "no_proxy"), "corporateProxy.noProxy"),
}
#: git's environment config (GIT_CONFIG_COUNT/KEY_n/VALUE_n) carries the operator's URL rewrites and
#: credential helper, appended after the workload's own entries; a fixed set in spec.env would break
#: that numbering.
_ENV_GIT_CONFIG = re.compile(r"^GIT_CONFIG_(COUNT|KEY_[0-9]+|VALUE_[0-9]+)$")
#: Size of the claim the operator creates when `cache.size` is empty.
DEFAULT_CACHE_SIZE = "10Gi"


class SpecError(ValueError):
    """A GoBuildConfig spec the operator cannot use; every message starts with the field path."""

    def __init__(self, errors: list[str] | tuple[str, ...]) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        super().__init__("; ".join(self.errors))


class _At(ValueError):
    """A validator's complaint about a part of the value it checks (`[2]`, `.env[1]`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


# --- single values ---------------------------------------------------------------------------


def _no_space_or_comma(value: str) -> str:
    if not value or any(ch.isspace() or ch == "," for ch in value):
        raise ValueError(f"{value!r} must be non-empty without spaces or commas")
    return value


def _dns_subdomain(value: str) -> str:
    if value and (len(value) > 253 or not _DNS_SUBDOMAIN.match(value)):
        raise ValueError(f"{value!r} is not a valid Kubernetes object name")
    return value


def _data_key(value: str) -> str:
    if not _DATA_KEY.match(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a valid Secret/ConfigMap key")
    return value


def _goproxy_entry(value: str) -> str:
    if value in ("direct", "off"):
        return value
    parts = urlsplit(value)
    if any(ch.isspace() or ch in ",|" for ch in value) or parts.scheme not in ("http", "https", "file"):
        raise ValueError(f"{value!r} must be an http(s):// or file:// URL, 'direct' or 'off'")
    if parts.scheme != "file" and not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    return value


def _proxy_url(value: str) -> str:
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ValueError(f"{value!r} must be an http://, https:// or socks5:// URL with a host")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} must not contain spaces")
    return value


def _goflag(value: str) -> str:
    if not value.startswith("-") or any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} must be one flag starting with '-' and without spaces")
    return value


def _gosumdb(value: str) -> str:
    if value not in ("", "off") and not _GOSUMDB.match(value):
        raise ValueError(f'{value!r} must be "off" or "NAME[+KEY] [URL]" with an http(s) URL')
    return value


def _container_name(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a valid container name")
    return value


def _ssh_host(value: str) -> str:
    if len(value) > 259 or not _SSH_HOST.match(value):
        raise ValueError(
            f"{value!r} must be a lowercase host name, optionally with :PORT (no scheme, user or path)"
        )
    return value


def _ssh_user(value: str) -> str:
    if not _SSH_USER.match(value):
        raise ValueError(f"{value!r} is not a valid SSH user name")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    if value in _ENV_OWNED_BY_FIELD:
        raise ValueError(f"{value} is set from spec.{_ENV_OWNED_BY_FIELD[value]}; set that field instead")
    if _ENV_GIT_CONFIG.match(value):
        raise ValueError(
            f"{value} carries the operator's git settings (spec.privateModules); set it in the workload"
        )
    return value


def _quantity(value: str) -> str:
    if value and (not _QUANTITY.match(value) or not any(ch in "123456789" for ch in value)):
        raise ValueError(f"{value!r} must be a positive quantity such as 10Gi or 500Mi")
    return value


def _mount_path(value: str) -> str:
    normal = posixpath.normpath(value)
    if not value.startswith("/") or normal == "/" or ":" in value or ".." in value.split("/"):
        raise ValueError(f"{value!r} must be an absolute path other than '/', without '..' or ':'")
    for reserved in (c.MOUNT_ROOT, posixpath.dirname(c.GOCACHE_MOUNT_PATH)):
        if normal == reserved or normal.startswith(reserved + "/") or reserved.startswith(normal + "/"):
            raise ValueError(f"{value!r} overlaps {reserved}, where the operator mounts its own files")
    return normal


def _module_path(value: str) -> str:
    if not _MODULE_PATH.match(value):
        raise ValueError(f"{value!r} is not a Go module path")
    return value


def _build_id(value: str) -> str:
    if not _BUILD_ID.match(value):
        raise ValueError(
            f"{value!r} must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return value


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise _At(f"[{index}]", f"{value!r} is listed twice")
        seen.add(value)
    return values


Pattern = Annotated[str, AfterValidator(_no_space_or_comma)]
ObjectName = Annotated[str, AfterValidator(_dns_subdomain)]
DataKey = Annotated[str, AfterValidator(_data_key)]
GoproxyEntry = Annotated[str, AfterValidator(_goproxy_entry)]
GoFlag = Annotated[str, AfterValidator(_goflag)]
ContainerName = Annotated[str, AfterValidator(_container_name)]
SSHHost = Annotated[str, AfterValidator(_ssh_host)]
AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


# --- blocks ----------------------------------------------------------------------------------


class LabelSelectorRequirement(_Model):
    key: Annotated[str, Field(min_length=1)]
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values must be non-empty for operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values must be empty for operator {self.operator}")
        return self


class LabelSelector(_Model):
    """metav1.LabelSelector; unlike Kubernetes, an empty selector here selects nothing (SPEC)."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


class EnvEntry(_Model):
    name: Annotated[str, AfterValidator(_env_name)]
    value: str = ""


class CorporateProxy(_Model):
    http_proxy: Annotated[str, AfterValidator(_proxy_url)] = ""
    https_proxy: Annotated[str, AfterValidator(_proxy_url)] = ""
    no_proxy: tuple[Pattern, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.http_proxy or self.https_proxy or self.no_proxy)


class SSHAuth(_Model):
    """Present means enabled: the CRD requires secretName and at least one host."""

    secret_name: Annotated[str, Field(min_length=1), AfterValidator(_dns_subdomain)]
    known_hosts_key: DataKey = "known_hosts"
    hosts: Annotated[tuple[SSHHost, ...], Field(min_length=1), AfterValidator(_unique)]
    user: Annotated[str, AfterValidator(_ssh_user)] = "git"


class NetrcAuth(_Model):
    """Present means enabled."""

    secret_name: Annotated[str, Field(min_length=1), AfterValidator(_dns_subdomain)]


class PrivateModules(_Model):
    ssh: SSHAuth | None = None
    netrc: NetrcAuth | None = None


class CABundle(_Model):
    """Present means enabled: exactly one of configMapName and secretName."""

    config_map_name: ObjectName = ""
    secret_name: ObjectName = ""
    key: DataKey = "ca.crt"

    @model_validator(mode="after")
    def _exactly_one_source(self) -> CABundle:
        if self.config_map_name and self.secret_name:
            raise _At(".secretName", "must not be set together with configMapName; set exactly one")
        if not self.config_map_name and not self.secret_name:
            raise ValueError("set exactly one of configMapName and secretName")
        return self


class Cache(_Model):
    enabled: bool = False
    existing_claim: ObjectName = ""
    size: Annotated[str, AfterValidator(_quantity)] = ""
    storage_class_name: ObjectName = ""
    access_modes: Annotated[tuple[AccessMode, ...], Field(min_length=1), AfterValidator(_unique)] = (
        "ReadWriteMany",
    )
    mount_path: Annotated[str, AfterValidator(_mount_path)] = "/go/pkg/mod"
    build_cache: bool = False

    @property
    def claim_size(self) -> str:
        """The storage request of the claim the operator creates."""
        return self.size or DEFAULT_CACHE_SIZE

    @model_validator(mode="after")
    def _existing_claim_alone(self) -> Cache:
        if self.existing_claim and self.size:
            raise _At(
                ".size",
                "must not be set together with existingClaim: it sizes the claim the operator creates",
            )
        if self.existing_claim and self.storage_class_name:
            raise _At(
                ".storageClassName",
                "must not be set together with existingClaim: it applies to the claim the operator creates",
            )
        return self


class Reporting(_Model):
    enabled: bool = True
    probe_interval_seconds: Annotated[int, Field(ge=30, le=86400)] = 300
    probe_module: Annotated[str, AfterValidator(_module_path)] = "golang.org/x/mod"


BuildId = Annotated[str, AfterValidator(_build_id)]


class ImageBuilds(_Model):
    """Builder-aware injection (docs/image-builds.md): what opted-in image builders get as arguments."""

    enabled: bool = Field(
        default=True,
        description=(
            "Add build arguments to recognised builder containers (kaniko executor, buildctl, "
            "buildctl-daemonless.sh, buildah, docker/buildx) so the Dockerfile's RUN steps get the Go "
            "and proxy settings, and private-module credentials through the builder's ssh/secret flags. "
            "false: only the environment is injected."
        ),
    )
    ssh_id: BuildId = Field(
        default="default",
        description=(
            "The ssh id the key of privateModules.ssh is forwarded under (--ssh ID=KEY); the Dockerfile "
            "mounts it with RUN --mount=type=ssh (id 'default') or --mount=type=ssh,id=ID."
        ),
    )
    known_hosts_secret_id: BuildId = Field(
        default="known_hosts",
        description=(
            "The secret id of the known_hosts of privateModules.ssh; mount it with "
            "RUN --mount=type=secret,id=ID,target=/root/.ssh/known_hosts."
        ),
    )
    netrc_secret_id: BuildId = Field(
        default="netrc",
        description=(
            "The secret id of the .netrc of privateModules.netrc; mount it with "
            "RUN --mount=type=secret,id=ID,target=/root/.netrc."
        ),
    )
    ca_secret_id: BuildId = Field(
        default="gobuild-ca",
        description=(
            "The secret id of the caBundle certificates; mount it with "
            "RUN --mount=type=secret,id=ID,target=/etc/ssl/certs/gobuild-ca.pem."
        ),
    )

    @model_validator(mode="after")
    def _secret_ids_distinct(self) -> ImageBuilds:
        ids = {"knownHostsSecretId": self.known_hosts_secret_id, "netrcSecretId": self.netrc_secret_id}
        if self.ca_secret_id in ids.values():
            raise _At(".caSecretId", f"{self.ca_secret_id!r} is already used by another secret id")
        if self.netrc_secret_id == self.known_hosts_secret_id:
            raise _At(".netrcSecretId", f"{self.netrc_secret_id!r} is already knownHostsSecretId")
        return self


class GoBuildConfigSpec(_Model):
    """SPEC "GoBuildConfig spec", field for field; defaults are the SPEC's."""

    default: bool = False
    pod_selector: LabelSelector | None = None
    containers: Annotated[tuple[ContainerName, ...], AfterValidator(_unique)] = ()
    override_env: bool = False
    goproxy: Annotated[tuple[GoproxyEntry, ...], Field(min_length=1), AfterValidator(_unique)] = (
        "https://proxy.golang.org",
        "direct",
    )
    proxy_fallback: Literal["OnNotFound", "OnAnyError"] = "OnNotFound"
    gosumdb: Annotated[str, AfterValidator(_gosumdb)] = ""
    goprivate: tuple[Pattern, ...] = ()
    gonoproxy: tuple[Pattern, ...] = ()
    gonosumdb: tuple[Pattern, ...] = ()
    goinsecure: tuple[Pattern, ...] = ()
    goflags: tuple[GoFlag, ...] = ()
    env: tuple[EnvEntry, ...] = ()
    corporate_proxy: CorporateProxy = CorporateProxy()
    private_modules: PrivateModules = PrivateModules()
    ca_bundle: CABundle | None = None
    cache: Cache = Cache()
    reporting: Reporting = Reporting()
    image_builds: ImageBuilds = Field(
        default=ImageBuilds(),
        description=(
            "In-cluster image builds: the build arguments and ssh/secret flags added to builder "
            "containers so a Dockerfile's RUN steps see the settings (docs/image-builds.md)."
        ),
    )

    @model_validator(mode="after")
    def _env_names_unique_and_free(self) -> GoBuildConfigSpec:
        owners = self._env_owned_by_blocks()
        names = [entry.name for entry in self.env]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise _At(f".env[{index}].name", f"{name} is listed twice")
            if name in owners:
                raise _At(
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
        raise SpecError([_describe(detail) for detail in kept]) from None


def _describe(detail: ErrorDetails) -> str:
    path = "spec" + "".join(_path_element(part) for part in detail["loc"])
    if detail["type"] == "extra_forbidden":
        return f"{path}: unknown field"
    if detail["type"] == "value_error":
        error = detail.get("ctx", {}).get("error")
        if isinstance(error, _At):
            path += error.path
        return f"{path}: {error if error is not None else detail['msg']}"
    return f"{path}: {detail['msg']}"


def _path_element(part: int | str) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if part.isidentifier():
        return f".{part}"
    return f"[{json.dumps(part)}]"
