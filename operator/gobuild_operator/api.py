"""The GoBuildConfig API (SPEC "GoBuildConfig spec" and "status"): the one source of its schema.

The pydantic models below are what `kubectl explain` shows and what the API server enforces:
crd.py generates the CRD's openAPIV3Schema from them (names, types, defaults, enums, bounds,
descriptions, and the CEL rules and list semantics given with markers.py), `make generate` writes
crds/ and the generated docs tables, and a test fails when the committed files differ. Changing a
default or adding a field is an edit here.

The operator parses every spec with the same model, because the CRD installed in a cluster may be
older than the operator and because the pure core (selection, plan, mutate) wants typed, defaulted,
immutable values instead of dicts. A spec that does not parse is reported on its own status with
the message of `SpecError`, which names the field path to fix (`spec.goproxy[1]: ...`). Where a
check is both a Python validator and a CEL rule, both sit on the same field and share their
pattern.

Optional blocks (privateModules.ssh, privateModules.netrc, caBundle) are None when absent: their
presence is what turns them on, and the CRD requires their names once they are written. Values
that end up inside shell snippets (the SSH user) or file names (Secret keys) are restricted to
safe character sets, so the plan can embed them without quoting surprises.

The status models describe what the operator writes (the API server prunes whatever its schema
does not declare); the writers in core/ assemble plain dicts, and the tests validate those dicts
against these models.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from gobuild_operator import constants as c
from gobuild_operator.core.reasons import NAMES as REASON_NAMES
from gobuild_operator.core.redact import has_userinfo, redact_text
from gobuild_operator.markers import DATE_TIME, INT32, SET, Default, Rule, Schema, map_list

#: A TCP port, 1 to 65535 (a regular expression, so the CEL rules can share it).
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SSH_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:" + _PORT + r")?$")
_SSH_USER = re.compile(r"^[A-Za-z_][-A-Za-z0-9_.]*$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY_UNITS: Mapping[str, int] = {
    "": 1,
    **{suffix: 1024 ** (power + 1) for power, suffix in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{suffix: 1000 ** (power + 1) for power, suffix in enumerate(("k", "M", "G", "T", "P", "E"))},
}
#: The cache claim's size bounds: smaller holds no module cache, larger is no volume anyone has.
CACHE_SIZE_MIN = "1Mi"
CACHE_SIZE_MAX = "1Pi"
#: GOFLAGS entries as go reads them: -name, --name, -name=value or --name=value.
_GOFLAG = re.compile(r"^--?[A-Za-z0-9][-A-Za-z0-9_.]*(=[^\s]*)?$")
#: A cache mountPath: absolute, of plain path elements (nothing the shell, the kubelet's $(VAR)
#: expansion or a YAML reader could misread).
_MOUNT_PATH = re.compile(r"^(/[A-Za-z0-9._~+@-]+)+$")
#: Directories of the image's system and toolchain: a cache mounted on or below them hides what the
#: build runs (the shell, go itself, CA certificates, /proc).
SYSTEM_DIRS: tuple[str, ...] = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/run",
)
#: Directories a build keeps its own files in: a cache mounted exactly there hides them (GOPATH's
#: bin and src, HOME, temporary files).
SHADOWED_DIRS: tuple[str, ...] = ("/go", "/home", "/root", "/tmp", "/var", "/var/lib", "/var/tmp")  # noqa: S108
_SYSTEM_DIRS_TEXT = ", ".join(SYSTEM_DIRS)
_SHADOWED_DIRS_TEXT = ", ".join(SHADOWED_DIRS)
#: GOSUMDB as go parses it: "sum.golang.google.cn" alone (go's one alias), or sum.golang.org (the one
#: name go knows the key of) or NAME+HASH+KEY (an Ed25519 verifier key: 8 hex digits, then 33 bytes in
#: base64), optionally followed by the database's http(s) URL (host and port only, then a path).
_GOSUMDB = re.compile(
    r"^(sum\.golang\.google\.cn|(sum\.golang\.org|[A-Za-z0-9][-A-Za-z0-9.]*[A-Za-z0-9]\+[0-9a-f]{8}\+"
    r"[A-Za-z0-9+/]{44})( +https?://([A-Za-z0-9][-A-Za-z0-9.]*|\[[0-9A-Fa-f:.]+\])(:" + _PORT + r")?"
    r"(/[^\s?#@]*)?)?)$"
)
#: A module path as go checks it: a domain-like first element, then elements that neither start nor
#: end with "." (so no "." or ".." that would move the probe off <module>/@v/list).
_MODULE_PATH = re.compile(
    r"^[a-z0-9][-a-z0-9]*(\.[a-z0-9][-a-z0-9]*)+(/[A-Za-z0-9_~+-]([A-Za-z0-9._~+-]*[A-Za-z0-9_~+-])?)*$"
)
_LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
#: A BuildKit ssh or secret id: it travels inside CSV flag values (`--secret id=X,src=...`), so no
#: comma, "=", quote or space.
_BUILD_ID = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")

#: Variables the operator sets from a dedicated field; `spec.env` may not set them too.
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
#: A GoBuildConfig's name is the value of the label gobuild.dev/config on injected Pods, and label
#: values have at most 63 characters (object names may have 253).
MAX_NAME_LENGTH = 63
NAME_TOO_LONG = (
    f"metadata.name must have at most {MAX_NAME_LENGTH} characters: injected Pods carry it as the value of "
    "the label gobuild.dev/config, and the API server refuses longer label values (so every Pod asking for "
    "this config would be refused)"
)
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


# --- validators of single values ---------------------------------------------------------------


def _no_space_or_comma(value: str) -> str:
    if not value or any(ch.isspace() or ch == "," for ch in value):
        raise ValueError(f"{value!r} must be non-empty without spaces or commas")
    return value


def _dns_subdomain(value: str) -> str:
    if value and (len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value)):
        raise ValueError(f"{value!r} is not a valid Kubernetes object name")
    return value


def _data_key(value: str) -> str:
    if not _DATA_KEY.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a valid Secret/ConfigMap key")
    return value


#: Why a URL field refuses USER[:PASSWORD]@ (SPEC: credentials never live in URLs).
_NO_CREDENTIALS = (
    "must not carry credentials (USER[:PASSWORD]@): a URL is shown in every injected Pod spec and on the "
    "status; put tokens for module proxies and git in a .netrc Secret named by spec.privateModules.netrc"
)
_NO_PROXY_CREDENTIALS = (
    _NO_CREDENTIALS + "; a corporate proxy that needs credentials is set by the workload itself from a "
    "Secret (env valueFrom.secretKeyRef), which overrideEnv: false keeps"
)


_NO_QUERY = (
    'must not contain "?" or "#": go appends <module>/@v/... to the URL\'s path, and so does the probe, '
    "which asks only <url>/<module>/@v/list"
)


def _no_credentials(value: str, message: str = _NO_CREDENTIALS) -> None:
    # The value is not quoted: it holds the credentials.
    if has_userinfo(value) or "@" in urlsplit(value).netloc:
        raise ValueError(message)


def _goproxy_entry(value: str) -> str:
    if value in ("direct", "off"):
        return value
    _no_credentials(value)
    if "?" in value or "#" in value:
        raise ValueError(_NO_QUERY)
    parts = urlsplit(value)
    if any(ch.isspace() or ch in ",|" for ch in value) or parts.scheme not in ("http", "https", "file"):
        raise ValueError(f"{value!r} must be an http(s):// or file:// URL, 'direct' or 'off'")
    if parts.scheme != "file" and not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    if parts.scheme == "file" and (parts.netloc not in ("", "localhost") or not parts.path.startswith("/")):
        raise ValueError(
            f"{value!r} must be file:///ABSOLUTE/PATH: go reads file:// URLs in the build container and "
            "refuses a host (file://etc/passwd names the host 'etc')"
        )
    _check_port(value, parts)
    return value


def _check_port(value: str, parts: SplitResult) -> None:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"{value!r} must have a port from 1 to 65535, or none")


def _proxy_url(value: str) -> str:
    if not value:
        return value
    _no_credentials(value, _NO_PROXY_CREDENTIALS)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ValueError(f"{value!r} must be an http://, https:// or socks5:// URL with a host")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} must not contain spaces")
    _check_port(value, parts)
    return value


def _goflag(value: str) -> str:
    if not value.startswith("-") or any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} must be one flag starting with '-' and without spaces")
    if not _GOFLAG.fullmatch(value):
        raise ValueError(f"{value!r} must be -NAME, --NAME, -NAME=VALUE or --NAME=VALUE, as go reads GOFLAGS")
    return value


def _gosumdb(value: str) -> str:
    for field in value.split():
        _no_credentials(field)
    if value not in ("", "off") and not _GOSUMDB.fullmatch(value):
        raise ValueError(
            f'{value!r} must be "off", "sum.golang.org [URL]", "sum.golang.google.cn" or '
            '"NAME+HASH+KEY [URL]" with an http(s) URL'
        )
    return value


def _container_name(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid container name")
    return value


def _ssh_host(value: str) -> str:
    if len(value) > 259 or not _SSH_HOST.fullmatch(value):
        raise ValueError(
            f"{value!r} must be a lowercase host name, optionally with :PORT (no scheme, user or path)"
        )
    return value


def _ssh_user(value: str) -> str:
    if not _SSH_USER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid SSH user name")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    if value in _ENV_OWNED_BY_FIELD:
        raise ValueError(f"{value} is set from spec.{_ENV_OWNED_BY_FIELD[value]}; set that field instead")
    if _ENV_GIT_CONFIG.fullmatch(value):
        raise ValueError(
            f"{value} carries the operator's git settings (spec.privateModules); set it in the workload"
        )
    return value


def _quantity(value: str) -> str:
    if value and (not _QUANTITY.fullmatch(value) or not any(ch in "123456789" for ch in value)):
        raise ValueError(f"{value!r} must be a positive quantity such as 10Gi or 500Mi")
    if value and not bytes_of(CACHE_SIZE_MIN) <= bytes_of(value) <= bytes_of(CACHE_SIZE_MAX):
        raise ValueError(f"{value!r} must be between {CACHE_SIZE_MIN} and {CACHE_SIZE_MAX}")
    return value


def bytes_of(quantity: str) -> Decimal:
    """The number of bytes a storage quantity (as _QUANTITY accepts it) stands for."""
    number = quantity.rstrip("KMGTPEikm")
    return Decimal(number) * _QUANTITY_UNITS[quantity[len(number) :]]


def _mount_path(value: str) -> str:
    normal = posixpath.normpath(value)
    if not value.startswith("/") or normal == "/" or ":" in value or ".." in value.split("/"):
        raise ValueError(f"{value!r} must be an absolute path other than '/', without '..' or ':'")
    if not _MOUNT_PATH.fullmatch(normal):
        raise ValueError(
            f"{value!r} must consist of path elements of letters, digits and '._~+@-' (no spaces, "
            "control characters or '$')"
        )
    for reserved in (c.MOUNT_ROOT, posixpath.dirname(c.GOCACHE_MOUNT_PATH)):
        if normal == reserved or normal.startswith(reserved + "/") or reserved.startswith(normal + "/"):
            raise ValueError(f"{value!r} overlaps {reserved}, where the operator mounts its own files")
    for system in SYSTEM_DIRS:
        if normal == system or normal.startswith(system + "/"):
            raise ValueError(f"{value!r} is on or below {system}: the cache would hide what the build runs")
    if normal in SHADOWED_DIRS:
        raise ValueError(f"{value!r} would hide the build's own files there; mount the cache below it")
    return normal


def _module_path(value: str) -> str:
    if not _MODULE_PATH.fullmatch(value):
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


# --- CEL rules, built from the same patterns as the validators above ----------------------------


def _matches(pattern: re.Pattern[str] | str, *, optional: bool = False) -> str:
    source = pattern if isinstance(pattern, str) else pattern.pattern
    rule = f"self.matches(r'{source}')"
    return f"self == '' || {rule}" if optional else rule


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


_OBJECT_NAME_MESSAGE = (
    'must be a valid object name: lowercase letters, digits, "-" and ".", starting and ending with a '
    "letter or digit"
)
_DATA_KEY_RULE = Rule(
    f"{_matches(_DATA_KEY)} && self != '.' && self != '..'",
    'must be a valid data key: letters, digits, "-", "_" and ".", not "." or ".."',
)
_PROXY_URL_RULE = Rule(
    "self == '' || (isURL(self) && !self.matches(r'[\\s,]') && "
    "url(self).getScheme() in ['http', 'https', 'socks5', 'socks5h'] && url(self).getHostname() != '')",
    'must be an http:// or https:// (or socks5://) URL with a host, e.g. "http://proxy.corp.example:3128"',
)


def _no_credentials_rule(message: str, *, anywhere: bool = False) -> Rule:
    start = "" if anywhere else "^[A-Za-z][-A-Za-z0-9+.]*"
    return Rule(f"!self.matches(r'{start}://[^/?#\\s]*@')", message, reason="FieldValueForbidden")


#: A URL's port, if it has one, is 1-65535 (a regular expression over the whole value: CEL's
#: url(self).getPort() has no length bound, so a rule using it costs too much for the API server).
_URL_PORT = (
    r"^[A-Za-z][-A-Za-z0-9+.]*://([^/?#@]*@)?(\[[^/?#\]]*\]|[^/?#:\[@]*)(:" + _PORT + r"?)?([/?#].*)?$"
)
_URL_PORT_RULE = Rule(
    f"!self.contains('://') || self.matches(r'{_URL_PORT}')",
    "must have a port from 1 to 65535, or none",
)
_GLOB_RULE = Rule(
    "!self.matches(r'[\\s,]')",
    'must be a single glob pattern without spaces or "," (the entries are joined with ",")',
)
#: spec.env names a field owns, for the CEL rule: the message names the field to set instead.
_ENV_OWNER_MAP = (
    "{"
    + ", ".join(
        f"'{name}': 'spec.{owner}'"
        for name, owner in {**_ENV_OWNED_BY_FIELD, "GIT_CONFIG_COUNT": "privateModules"}.items()
    )
    + "}"
)

# --- single values -----------------------------------------------------------------------------

Pattern = Annotated[str, AfterValidator(_no_space_or_comma), Field(min_length=1, max_length=512), _GLOB_RULE]
ObjectName = Annotated[
    str,
    AfterValidator(_dns_subdomain),
    Field(min_length=1, max_length=253),
    Rule(_matches(_DNS_SUBDOMAIN), _OBJECT_NAME_MESSAGE),
]
#: An object name where "" means unset (the SPEC template writes unset names as "").
OptionalObjectName = Annotated[
    str,
    AfterValidator(_dns_subdomain),
    Field(max_length=253),
    Rule(_matches(_DNS_SUBDOMAIN, optional=True), _OBJECT_NAME_MESSAGE),
]
DataKey = Annotated[str, AfterValidator(_data_key), Field(min_length=1, max_length=253), _DATA_KEY_RULE]
GoproxyEntry = Annotated[
    str,
    AfterValidator(_goproxy_entry),
    Field(min_length=1, max_length=2048),
    Rule(
        "self == 'direct' || self == 'off' || (isURL(self) && !self.matches(r'[\\s,|]') && "
        "((url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != '') || "
        "(url(self).getScheme() == 'file' && url(self).getEscapedPath().startsWith('/'))))",
        'must be "direct", "off", or an http://, https:// or file:/// URL (without "," or "|", which '
        "join GOPROXY entries)",
    ),
    Rule(
        "!isURL(self) || url(self).getScheme() != 'file' || url(self).getHostname() in ['', 'localhost']",
        "must be file:///ABSOLUTE/PATH: go reads file:// URLs in the build container and refuses a host "
        '(file://etc/passwd names the host "etc")',
    ),
    _URL_PORT_RULE,
    _no_credentials_rule(_NO_CREDENTIALS),
    Rule("self == 'direct' || self == 'off' || !self.matches(r'[?#]')", _NO_QUERY),
]
GoFlag = Annotated[
    str,
    AfterValidator(_goflag),
    Field(min_length=2, max_length=1024),
    Rule(
        "self.startsWith('-') && !self.matches(r'\\s')",
        'must be one flag that starts with "-" and contains no whitespace, e.g. "-mod=mod"',
    ),
    Rule(
        _matches(_GOFLAG),
        'must be -NAME, --NAME, -NAME=VALUE or --NAME=VALUE, as go reads GOFLAGS, e.g. "-mod=mod"',
    ),
]
ContainerName = Annotated[
    str,
    AfterValidator(_container_name),
    Field(max_length=63),
    Rule(
        _matches(_DNS_LABEL),
        'must be a container name: lowercase letters, digits and "-", starting and ending with a letter '
        "or digit",
    ),
]
SSHHost = Annotated[
    str,
    AfterValidator(_ssh_host),
    Field(min_length=1, max_length=259),
    Rule(
        _matches(_SSH_HOST),
        'must be a lowercase hostname, optionally with ":PORT" (1 to 65535), e.g. "git.corp.example" or '
        '"gitlab.corp.example:2222" (no scheme, user or path)',
    ),
]
ProxyURL = Annotated[
    str,
    AfterValidator(_proxy_url),
    Field(max_length=2048),
    _PROXY_URL_RULE,
    _URL_PORT_RULE,
    _no_credentials_rule(_NO_PROXY_CREDENTIALS),
]
NoProxyEntry = Annotated[
    str,
    AfterValidator(_no_space_or_comma),
    Field(min_length=1, max_length=253),
    Rule(
        "!self.matches(r'[\\s,]')", 'must be a single host, domain suffix, IP or CIDR without spaces or ","'
    ),
]
LabelValue = Annotated[str, Field(max_length=63), Schema({"pattern": _LABEL_VALUE})]
AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
#: An RFC 3339 time as the API server writes it.
Time = Annotated[str, DATE_TIME]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")
    #: CEL rules on the object itself (cross-field rules), wherever the class is used.
    crd_rules: ClassVar[tuple[Rule, ...]] = ()
    #: Further schema keywords on the object itself.
    crd_schema: ClassVar[Mapping[str, Any]] = {}
    #: The model's defaults are the schema's (the API server stores them; status has none).
    crd_defaults: ClassVar[bool] = True


# --- spec blocks ---------------------------------------------------------------------------------


class LabelSelectorRequirement(_Model):
    """A label selector requirement."""

    crd_rules = (
        Rule(
            "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
            "operator In and NotIn need at least one value",
            field_path=".values",
            reason="FieldValueRequired",
        ),
        Rule(
            "self.operator in ['In', 'NotIn'] || !has(self.values) || size(self.values) == 0",
            "must be empty for operator Exists and DoesNotExist",
            field_path=".values",
            reason="FieldValueForbidden",
        ),
    )

    key: Annotated[
        str,
        Field(min_length=1, max_length=317, description="The label key the requirement applies to."),
        Rule(
            _matches(_LABEL_KEY),
            'must be a label key: an optional DNS-subdomain prefix and "/", then a name of at most 63 '
            'letters, digits, "-", "_" or "."',
        ),
    ]
    operator: Annotated[
        Literal["In", "NotIn", "Exists", "DoesNotExist"],
        Field(description="How the key's value is compared with values."),
    ]
    values: Annotated[
        tuple[LabelValue, ...],
        Field(
            max_length=64,
            description="The values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.",
        ),
    ] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values must be non-empty for operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values must be empty for operator {self.operator}")
        return self


class LabelSelector(_Model):
    """metav1.LabelSelector; unlike Kubernetes, an empty selector here selects nothing (SPEC)."""

    crd_schema = {"x-kubernetes-map-type": "atomic"}

    match_labels: Annotated[
        dict[str, LabelValue],
        Field(
            description=(
                "Labels that must all be present with these values. Same as a matchExpressions entry "
                "with operator In and a single value."
            )
        ),
        Schema({"maxProperties": 64}),
        Rule(
            f"self.all(k, k.size() <= 317 && k.matches(r'{_LABEL_KEY}'))",
            'keys must be label keys: an optional DNS-subdomain prefix and "/", then a name of at most 63 '
            'letters, digits, "-", "_" or "." that starts and ends with a letter or digit',
        ),
    ] = Field(default_factory=dict)
    match_expressions: Annotated[
        tuple[LabelSelectorRequirement, ...],
        Field(max_length=32, description="Requirements that must all hold."),
    ] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


class EnvEntry(_Model):
    """An environment variable."""

    name: Annotated[
        str,
        AfterValidator(_env_name),
        Field(min_length=1, max_length=256, description="The variable's name, e.g. CGO_ENABLED."),
        Rule(
            _matches(_ENV_NAME),
            'must be an environment variable name: letters, digits and "_", not starting with a digit',
        ),
        Rule(
            f"!(self in {_ENV_OWNER_MAP})",
            message_expression=f"self + ' is set from ' + {_ENV_OWNER_MAP}[self] + '; set that field instead "
            "of spec.env'",
            reason="FieldValueForbidden",
        ),
        Rule(
            "!self.matches(r'^GIT_CONFIG_(KEY|VALUE)_[0-9]+$')",
            "GIT_CONFIG_KEY_n and GIT_CONFIG_VALUE_n carry the operator's git settings "
            "(spec.privateModules), numbered after the workload's own; set them in the workload instead",
            reason="FieldValueForbidden",
        ),
    ]
    value: Annotated[
        str,
        Field(
            max_length=32768,
            description=(
                "The variable's value. Absent means the empty string. Injected literally: unlike a Pod's "
                "own env, $(VAR) is not expanded (a config must not pull a workload's variables, such as "
                "a token from a Secret, into its values)."
            ),
        ),
    ] = ""


class CorporateProxy(_Model):
    http_proxy: Annotated[
        ProxyURL,
        Field(
            description=(
                "HTTP_PROXY: proxy URL for plain-HTTP requests, e.g. http://proxy.corp.example:3128. An "
                "http://, https://, socks5:// or socks5h:// URL with a host, without credentials (a proxy "
                "that needs them is set by the workload from a Secret)."
            )
        ),
    ] = ""
    https_proxy: Annotated[
        ProxyURL,
        Field(
            description=(
                "HTTPS_PROXY: proxy URL for HTTPS requests (module proxies, sum databases, git over "
                "HTTPS); usually the same as httpProxy. An http://, https://, socks5:// or socks5h:// URL "
                "with a host."
            )
        ),
    ] = ""
    no_proxy: Annotated[
        tuple[NoProxyEntry, ...],
        Field(
            max_length=128,
            description=(
                'NO_PROXY: hosts, domain suffixes (".corp.example"), IP addresses or CIDRs reached without '
                "the proxy. Cluster-internal names (.svc, .cluster.local, the API server) are added "
                "automatically."
            ),
        ),
        SET,
    ] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.http_proxy or self.https_proxy or self.no_proxy)


class SSHAuth(_Model):
    # Present means enabled: the schema requires secretName and at least one host.
    secret_name: Annotated[
        ObjectName,
        Field(
            description=(
                "A Secret of type kubernetes.io/ssh-auth in this namespace: the private key under "
                "ssh-privatekey and the known_hosts lines under knownHostsKey."
            )
        ),
    ]
    known_hosts_key: Annotated[
        DataKey,
        Field(
            description=(
                "The key of the Secret that holds the known_hosts lines for hosts (e.g. the output of "
                "ssh-keyscan). Host keys are always verified."
            )
        ),
    ] = "known_hosts"
    hosts: Annotated[
        tuple[SSHHost, ...],
        Field(
            min_length=1,
            max_length=32,
            description=(
                "The git hosts reached over SSH, as hostnames, optionally with an SSH port: "
                '["git.corp.example", "github.com", "gitlab.corp.example:2222"].'
            ),
        ),
        AfterValidator(_unique),
        SET,
    ]
    user: Annotated[
        str,
        AfterValidator(_ssh_user),
        Field(
            min_length=1, max_length=32, description="The SSH user in the rewritten URLs (ssh://USER@HOST/)."
        ),
        Rule(
            _matches(_SSH_USER),
            'must be an SSH user name: letters, digits, "-", "_" and ".", starting with a letter or "_"',
        ),
    ] = "git"


class NetrcAuth(_Model):
    # Present means enabled.
    secret_name: Annotated[
        ObjectName,
        Field(description="A Secret in this namespace with the netrc file under the key .netrc."),
    ]


class PrivateModules(_Model):
    ssh: Annotated[
        SSHAuth | None,
        Field(
            description=(
                "Fetch private modules over SSH: for every host, git rewrites https://HOST/ to "
                "ssh://USER@HOST/, the host joins GOPRIVATE, and the key from the Secret is used whatever "
                "user the container runs as."
            )
        ),
    ] = None
    netrc: Annotated[
        NetrcAuth | None,
        Field(
            description=(
                "Fetch private modules over HTTPS with tokens: a .netrc file used by go (NETRC) and by git."
            )
        ),
    ] = None


class CABundle(_Model):
    # Present means enabled: exactly one of configMapName and secretName.
    crd_rules = (
        Rule(
            "!(has(self.configMapName) && self.configMapName != '' && "
            "has(self.secretName) && self.secretName != '')",
            "must not be set together with spec.caBundle.configMapName; set exactly one of them",
            field_path=".secretName",
            reason="FieldValueForbidden",
        ),
        Rule(
            "(has(self.configMapName) && self.configMapName != '') || "
            "(has(self.secretName) && self.secretName != '')",
            "set exactly one of spec.caBundle.configMapName and spec.caBundle.secretName",
            reason="FieldValueRequired",
        ),
    )

    config_map_name: Annotated[
        OptionalObjectName,
        Field(description="A ConfigMap in this namespace holding PEM certificates under key."),
    ] = ""
    secret_name: Annotated[
        OptionalObjectName,
        Field(description="A Secret in this namespace holding PEM certificates under key."),
    ] = ""
    key: Annotated[DataKey, Field(description="The key that holds one or more PEM certificates.")] = "ca.crt"

    @model_validator(mode="after")
    def _exactly_one_source(self) -> CABundle:
        if self.config_map_name and self.secret_name:
            raise _At(".secretName", "must not be set together with configMapName; set exactly one")
        if not self.config_map_name and not self.secret_name:
            raise ValueError("set exactly one of configMapName and secretName")
        return self


class Cache(_Model):
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
            "has(self.accessModes) && self.accessModes != ['ReadWriteMany'])",
            "must be left at its default with spec.cache.existingClaim: accessModes applies only to the "
            "claim the operator creates",
            field_path=".accessModes",
            reason="FieldValueForbidden",
        ),
    )

    enabled: Annotated[
        bool,
        Field(description="Mount the cache into the selected containers and set GOMODCACHE to mountPath."),
    ] = False
    existing_claim: Annotated[
        OptionalObjectName,
        Field(
            description=(
                "Use this PersistentVolumeClaim of the namespace. Empty or absent: the operator creates the "
                "claim NAME-gomodcache, owned by (and deleted with) this GoBuildConfig. Not allowed "
                "together with size or storageClassName."
            )
        ),
    ] = ""
    size: Annotated[
        str,
        AfterValidator(_quantity),
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
            f"self == '' || ({_matches(_QUANTITY)} && quantity(self).isGreaterThan(quantity('0')))",
            "must be a positive quantity such as 10Gi or 500Mi",
        ),
        Rule(
            f"self == '' || !{_matches(_QUANTITY)} || "
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
            min_length=1,
            max_length=4,
            description=(
                "The access modes of the claim the operator creates. ReadWriteMany lets builds on "
                "different nodes share the cache; ReadWriteOnce works only for builds on one node. Leave "
                "it at the default with existingClaim."
            ),
        ),
        AfterValidator(_unique),
        SET,
    ] = ("ReadWriteMany",)
    mount_path: Annotated[
        str,
        AfterValidator(_mount_path),
        Field(
            min_length=2,
            max_length=1024,
            description=(
                "Where the cache is mounted in the containers; GOMODCACHE is set to it. An absolute path "
                'of letters, digits and "._~+@-", not "/", not on or around '
                f"{c.MOUNT_ROOT} or {posixpath.dirname(c.GOCACHE_MOUNT_PATH)}, where the operator mounts its "
                f"own files, not on or below a system directory ({_SYSTEM_DIRS_TEXT}) and not "
                f"exactly {_SHADOWED_DIRS_TEXT}, whose files builds need."
            ),
        ),
        Rule(
            "self.startsWith('/') && !self.endsWith('/') && !self.contains(':') && !self.contains('//') && "
            "!self.split('/').exists(p, p == '..' || p == '.')",
            'must be an absolute path other than "/", without a trailing "/", "//", ".", ".." or ":"',
        ),
        Rule(
            _matches(_MOUNT_PATH),
            'must consist of path elements of letters, digits and "._~+@-" (no spaces, control characters '
            'or "$")',
        ),
        Rule(
            f"!{_cel_list(SYSTEM_DIRS)}.exists(d, self == d || self.startsWith(d + '/'))",
            "must not be on or below a system directory ("
            + ", ".join(SYSTEM_DIRS)
            + "): the cache would hide what the build runs",
            reason="FieldValueForbidden",
        ),
        Rule(
            f"!(self in {_cel_list(SHADOWED_DIRS)})",
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
                "Also share the build cache: GOCACHE is set to a subPath of the same claim. Worth it when "
                "the same code is built repeatedly."
            )
        ),
    ] = False

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
        if self.existing_claim and self.access_modes != ("ReadWriteMany",):
            raise _At(
                ".accessModes",
                "must stay ReadWriteMany with existingClaim: it applies to the claim the operator creates",
            )
        return self


class Reporting(_Model):
    enabled: Annotated[
        bool,
        Field(
            description=(
                "Probe the goproxy URLs and record the outcome of injected builds (status.proxies, "
                "status.downloads, events)."
            )
        ),
    ] = True
    probe_interval_seconds: Annotated[
        int,
        Field(ge=30, le=86400, description="Seconds between two probes of each goproxy URL (30 to 86400)."),
        INT32,
    ] = 300
    probe_module: Annotated[
        str,
        AfterValidator(_module_path),
        Field(
            min_length=1,
            max_length=512,
            description=(
                "The module path whose version list (MODULE/@v/list) the probes ask each goproxy URL for. "
                "Use a module your proxies must serve."
            ),
        ),
        Rule(_matches(_MODULE_PATH), "must be a module path such as golang.org/x/mod"),
    ] = "golang.org/x/mod"


def _forbid_env_while(block: str, names: str, *, condition: str, exists: str, why: str) -> Rule:
    """spec.env may not set a variable that a configured block sets."""
    return Rule(
        f"!({condition} && has(self.env) && self.env.exists(e, {exists}))",
        f"must not set {names} while {block}: {why}",
        field_path=".env",
        reason="FieldValueForbidden",
    )


_BUILD_ID_RULE = Rule(
    _matches(_BUILD_ID), "must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
)


def _build_id_field(description: str) -> Any:
    return Field(min_length=1, max_length=63, description=description)


BuildId = Annotated[str, AfterValidator(_build_id), _BUILD_ID_RULE]


class ImageBuilds(_Model):
    """Builder-aware injection (docs/image-builds.md): what opted-in image builders get as arguments."""

    crd_rules = (
        Rule(
            "!has(self.caSecretId) || "
            "((!has(self.netrcSecretId) || self.caSecretId != self.netrcSecretId) && "
            "(!has(self.knownHostsSecretId) || self.caSecretId != self.knownHostsSecretId))",
            "must differ from netrcSecretId and knownHostsSecretId",
            field_path=".caSecretId",
        ),
        Rule(
            "!has(self.netrcSecretId) || !has(self.knownHostsSecretId) || "
            "self.netrcSecretId != self.knownHostsSecretId",
            "must differ from knownHostsSecretId",
            field_path=".netrcSecretId",
        ),
    )

    enabled: Annotated[
        bool,
        Field(
            description=(
                "Add build arguments to recognised builder containers (kaniko executor, buildctl, "
                "buildctl-daemonless.sh, buildah, docker/buildx) so the Dockerfile's RUN steps get the Go "
                "and proxy settings, and private-module credentials through the builder's ssh/secret "
                "flags. false: only the environment is injected."
            )
        ),
    ] = True
    ssh_id: Annotated[
        BuildId,
        _build_id_field(
            "The ssh id the key of privateModules.ssh is forwarded under (--ssh ID=KEY); the Dockerfile "
            "mounts it with RUN --mount=type=ssh (id 'default') or --mount=type=ssh,id=ID."
        ),
    ] = "default"
    known_hosts_secret_id: Annotated[
        BuildId,
        _build_id_field(
            "The secret id of the known_hosts of privateModules.ssh; mount it with "
            "RUN --mount=type=secret,id=ID,target=/root/.ssh/known_hosts."
        ),
    ] = "known_hosts"  # noqa: S105 - an id, not a secret
    netrc_secret_id: Annotated[
        BuildId,
        _build_id_field(
            "The secret id of the .netrc of privateModules.netrc; mount it with "
            "RUN --mount=type=secret,id=ID,target=/root/.netrc."
        ),
    ] = "netrc"  # noqa: S105 - an id, not a secret
    ca_secret_id: Annotated[
        BuildId,
        _build_id_field(
            "The secret id of the caBundle certificates; mount it with "
            "RUN --mount=type=secret,id=ID,target=/etc/ssl/certs/gobuild-ca.pem."
        ),
    ] = "gobuild-ca"  # noqa: S105 - an id, not a secret

    @model_validator(mode="after")
    def _secret_ids_distinct(self) -> ImageBuilds:
        if self.ca_secret_id in (self.known_hosts_secret_id, self.netrc_secret_id):
            raise _At(".caSecretId", f"{self.ca_secret_id!r} is already used by another secret id")
        if self.netrc_secret_id == self.known_hosts_secret_id:
            raise _At(".netrcSecretId", f"{self.netrc_secret_id!r} is already knownHostsSecretId")
        return self


class GoBuildConfigSpec(_Model):
    """SPEC "GoBuildConfig spec", field for field; defaults are the SPEC's."""

    crd_rules = (
        _forbid_env_while(
            "spec.cache.enabled is true",
            "GOMODCACHE (or GOCACHE with cache.buildCache)",
            condition="has(self.cache) && self.cache.enabled",
            exists="e.name == 'GOMODCACHE' || "
            "(e.name == 'GOCACHE' && has(self.cache.buildCache) && self.cache.buildCache)",
            why="the cache sets them to spec.cache.mountPath",
        ),
        _forbid_env_while(
            "spec.privateModules.ssh is set",
            "GIT_SSH_COMMAND",
            condition="has(self.privateModules) && has(self.privateModules.ssh)",
            exists="e.name == 'GIT_SSH_COMMAND'",
            why="the operator sets it to use the mounted key and known_hosts",
        ),
        _forbid_env_while(
            "spec.privateModules.netrc is set",
            "NETRC",
            condition="has(self.privateModules) && has(self.privateModules.netrc)",
            exists="e.name == 'NETRC'",
            why="the operator points it at the mounted .netrc",
        ),
        _forbid_env_while(
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
        AfterValidator(_unique),
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
        AfterValidator(_unique),
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
        AfterValidator(_gosumdb),
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
            f"self == '' || self == 'off' || {_matches(_GOSUMDB)}",
            'must be "off", "sum.golang.org [URL]", "sum.golang.google.cn" or "NAME+HASH+KEY [URL]" with an '
            'http(s) URL, e.g. "sum.golang.org https://goproxy.cn/sumdb/sum.golang.org"',
        ),
        _no_credentials_rule(_NO_CREDENTIALS, anywhere=True),
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
        SET,
    ] = ()
    goflags: Annotated[
        tuple[GoFlag, ...],
        Field(
            max_length=32,
            description=(
                'GOFLAGS, one flag per entry, e.g. ["-mod=mod", "-modcacherw"]. Entries are joined with '
                "spaces, so a flag value cannot contain whitespace. Flags that make go run other programs "
                "(-toolexec, -exec, ...) are refused by the operator unless its admin allows them "
                "(docs/security.md)."
            ),
        ),
    ] = ()
    env: Annotated[
        tuple[EnvEntry, ...],
        Field(
            max_length=64,
            description=(
                "Extra environment variables for the selected containers (e.g. CGO_ENABLED, GOTOOLCHAIN), "
                "with the same precedence as the injected Go variables: the workload's own value wins "
                "unless overrideEnv. Refused: variables a field of this spec owns (GOPROXY, GOSUMDB, "
                "GOPRIVATE, GONOPROXY, GONOSUMDB, GOINSECURE, GOFLAGS, HTTP(S)_PROXY, NO_PROXY and their "
                "lowercase twins), git's GIT_CONFIG_COUNT/KEY_n/VALUE_n, and, while the block that sets "
                "them is configured, GOMODCACHE/GOCACHE (cache), GIT_SSH_COMMAND (privateModules.ssh), "
                "NETRC (privateModules.netrc) and SSL_CERT_DIR/GIT_SSL_CAINFO/GIT_SSL_CAPATH (caBundle). "
                "Names that make the build run code (LD_PRELOAD, BASH_ENV, GIT_CONFIG_PARAMETERS, PATH, "
                "...) are refused by the operator unless its admin allows them (docs/security.md)."
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
                "A module cache (GOMODCACHE) shared by the builds on a PersistentVolumeClaim, so modules "
                "are downloaded once."
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


# --- status --------------------------------------------------------------------------------------


class _Status(BaseModel):
    """What the operator writes; validation only catches fields the API server would prune."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    crd_rules: ClassVar[tuple[Rule, ...]] = ()
    crd_schema: ClassVar[Mapping[str, Any]] = {}


class Condition(_Status):
    """A metav1.Condition."""

    type: Annotated[
        str,
        Field(max_length=316, description="The condition type, e.g. Ready."),
        Schema(
            {
                "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
            }
        ),
    ]
    status: Annotated[Literal["True", "False", "Unknown"], Field(description="True, False or Unknown.")]
    observed_generation: Annotated[
        int | None, Field(ge=0, description="The metadata.generation the condition was set for.")
    ] = None
    last_transition_time: Annotated[Time, Field(description="When status last changed.")]
    reason: Annotated[
        str,
        Field(
            min_length=1,
            max_length=1024,
            description="A CamelCase reason for the last transition, e.g. ProxyUnreachable.",
        ),
        Schema({"pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"}),
    ]
    message: Annotated[
        str, Field(max_length=32768, description="What happened and how to fix it, for humans.")
    ]


class ProxyStatus(_Status):
    """One goproxy URL's latest probe."""

    url: Annotated[str, Field(description="The goproxy entry probed.")] = ""
    reachable: Annotated[
        bool | None, Field(description="Whether the proxy answered the probe for reporting.probeModule.")
    ] = None
    latency_ms: Annotated[int | None, Field(description="How long the probe took, in milliseconds.")] = None
    last_probe_time: Annotated[Time, Field(description="When the probe ran.")] = ""
    error: Annotated[str, Field(description="Why the probe failed; empty when reachable.")] = ""


class CacheStatus(_Status):
    claim_name: Annotated[
        str, Field(description="The PersistentVolumeClaim mounted as the module cache.")
    ] = ""
    phase: Annotated[str, Field(description="The claim's phase (Pending, Bound, Lost).")] = ""
    capacity: Annotated[str, Field(description="The claim's bound capacity, e.g. 10Gi.")] = ""
    access_modes: Annotated[list[str], Field(description="The claim's bound access modes.")] = Field(
        default_factory=list
    )


class Failure(_Status):
    """A failed build (the same shape in lastFailure and recentFailures)."""

    pod: Annotated[str, Field(description="The Pod's name.")] = ""
    container: Annotated[str, Field(description="The container whose build failed.")] = ""
    reason: Annotated[
        Literal[REASON_NAMES],  # type: ignore[valid-type]
        Field(description="One of the fixed failure reasons (see byReason)."),
    ] = "Unknown"
    summary: Annotated[str, Field(description="What went wrong, in one line.")] = ""
    remedy: Annotated[str, Field(description="The GoBuildConfig field or build change that fixes it.")] = ""
    time: Annotated[Time, Field(description="When the failure was recorded.")] = ""


class PendingEntry(_Status):
    """One counted Pod awaiting its annotation."""

    uid: Annotated[str, Field(description="The Pod's uid.")] = ""
    pod: Annotated[str, Field(description="The Pod's name.")] = ""
    stage: Annotated[
        Literal["injected", "succeeded", "failed", "missed"],
        Field(description="What was counted for the Pod."),
    ] = "injected"
    time: Annotated[Time, Field(description="When it was counted.")] = ""


class Downloads(_Status):
    injected: Annotated[int, Field(description="Pods injected with this config.")] = 0
    succeeded: Annotated[int, Field(description="Injected Pods whose builds succeeded.")] = 0
    failed: Annotated[int, Field(description="Injected Pods whose builds failed.")] = 0
    missed_injections: Annotated[
        int,
        Field(
            description=(
                "Pods that asked for this config but were admitted without it (the webhook was down or "
                "timed out)."
            )
        ),
    ] = 0
    by_reason: Annotated[
        dict[str, int], Field(description="Failed builds per reason: " + ", ".join(REASON_NAMES) + ".")
    ] = Field(default_factory=dict)
    last_failure: Annotated[
        Failure | None,
        Field(description="A failed build (the same shape in lastFailure and recentFailures)."),
    ] = None
    recent_failures: Annotated[
        list[Failure], Field(max_length=10, description="The latest failed builds, newest first, at most 10.")
    ] = Field(default_factory=list)
    pending: Annotated[
        list[PendingEntry],
        Field(
            description=(
                "Bookkeeping, usually empty: Pods counted above whose gobuild.dev/recorded annotation the "
                "operator has not written yet. Counting and listing a Pod here happen in one status write, "
                "so an operator restart neither loses nor double-counts an outcome."
            )
        ),
    ] = Field(default_factory=list)
    running: Annotated[
        str,
        Field(
            description=(
                "Bookkeeping: the injected Pods still running, counted in injected, as space-separated "
                "uid/name words. A new Pod is counted without writing to it: this is its record until it "
                "finishes or is deleted, so an operator restart does not count it twice."
            )
        ),
    ] = ""


class GoBuildConfigStatus(_Status):
    observed_generation: Annotated[
        int | None, Field(description="The metadata.generation of the spec this status describes.")
    ] = None
    goproxy: Annotated[
        str, Field(description='The GOPROXY value injected, e.g. "https://goproxy.cn,direct".')
    ] = ""
    gosumdb: Annotated[
        str, Field(description="The GOSUMDB value injected; empty when go's default applies.")
    ] = ""
    conditions: Annotated[
        list[Condition],
        Field(
            description=(
                "Ready (spec valid and everything it references resolved), ProxiesReachable, "
                "SecretsResolved, CacheReady and DownloadsHealthy."
            )
        ),
        map_list("type"),
    ] = Field(default_factory=list)
    proxies: Annotated[
        list[ProxyStatus], Field(description="The outcome of the latest probe of each goproxy URL.")
    ] = Field(default_factory=list)
    cache: Annotated[CacheStatus | None, Field(description="The module cache claim in use.")] = None
    downloads: Annotated[
        Downloads | None, Field(description="What happened to `go mod download` in the injected Pods.")
    ] = None


class GoBuildConfig(_Status):
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
