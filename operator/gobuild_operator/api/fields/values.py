"""The values a GoBuildConfig spec is made of, each validated once for both sides of the API.

A value type here carries its Python validator and its CEL rule side by side, built from the same
pattern, so the API server (through the generated CRD) and the operator's own parse refuse the same
input with the same message naming the field. `SpecModel` is the base of every spec block.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gobuild_operator import constants as c
from gobuild_operator.api.fields.markers import DATE_TIME, Rule, Schema
from gobuild_operator.redact import has_userinfo

#: A TCP port, 1 to 65535 (a regular expression, so the CEL rules can share it).
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SSH_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:" + _PORT + r")?$")
SSH_USER = re.compile(r"^[A-Za-z_][-A-Za-z0-9_.]*$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
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
MOUNT_PATH = re.compile(r"^(/[A-Za-z0-9._~+@-]+)+$")
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
SYSTEM_DIRS_TEXT = ", ".join(SYSTEM_DIRS)
SHADOWED_DIRS_TEXT = ", ".join(SHADOWED_DIRS)
#: GOSUMDB as go parses it: "sum.golang.google.cn" alone (go's one alias), or sum.golang.org (the one
#: name go knows the key of) or NAME+HASH+KEY (an Ed25519 verifier key: 8 hex digits, then 33 bytes in
#: base64), optionally followed by the database's http(s) URL (host and port only, then a path).
GOSUMDB_PATTERN = re.compile(
    r"^(sum\.golang\.google\.cn|(sum\.golang\.org|[A-Za-z0-9][-A-Za-z0-9.]*[A-Za-z0-9]\+[0-9a-f]{8}\+"
    r"[A-Za-z0-9+/]{44})( +https?://([A-Za-z0-9][-A-Za-z0-9.]*|\[[0-9A-Fa-f:.]+\])(:" + _PORT + r")?"
    r"(/[^\s?#@]*)?)?)$"
)
#: A module path as go checks it: a domain-like first element, then elements that neither start nor
#: end with "." (so no "." or ".." that would move the probe off <module>/@v/list).
MODULE_PATH = re.compile(
    r"^[a-z0-9][-a-z0-9]*(\.[a-z0-9][-a-z0-9]*)+(/[A-Za-z0-9_~+-]([A-Za-z0-9._~+-]*[A-Za-z0-9_~+-])?)*$"
)
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_KEY = re.compile(LABEL_KEY)
#: A label key's longest: a 253-character prefix, "/", a 63-character name.
LABEL_KEY_MAX = 317
#: What a label key is, as the CRD's rules and the model say it.
LABEL_KEY_FORM = (
    'an optional DNS-subdomain prefix and "/", then a name of at most 63 letters, digits, "-", "_" '
    'or "." that starts and ends with a letter or digit'
)
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE)
#: A BuildKit ssh or secret id: it travels inside CSV flag values (`--secret id=X,src=...`), so no
#: comma, "=", quote or space.
BUILD_ID = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$")

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


class FieldError(ValueError):
    """A validator's complaint about a part of the value it checks (`[2]`, `.env[1]`)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


# --- validators of single values ---------------------------------------------------------------


def _no_space_or_comma(value: str) -> str:
    if not value or any(ch.isspace() or ch == "," for ch in value):
        raise ValueError(f"{value!r} must be non-empty without spaces or commas")
    return value


def check_label_key(value: str) -> str:
    """A label key as the CRD's rule checks it; the length comes first, so the pattern runs on at
    most LABEL_KEY_MAX characters of a tenant's text."""
    if len(value) > LABEL_KEY_MAX or not _LABEL_KEY.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a label key: {LABEL_KEY_FORM}")
    return value


def _label_value(value: str) -> str:
    if not _LABEL_VALUE_RE.fullmatch(value):
        raise ValueError(
            f'{value!r} is not a label value: letters, digits, "-", "_" or ".", starting and ending '
            "with a letter or digit"
        )
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
NO_CREDENTIALS = (
    "must not carry credentials (USER[:PASSWORD]@): a URL is shown in every injected Pod spec and on the "
    "status; put tokens for module proxies and git in a .netrc Secret named by spec.privateModules.netrc"
)
_NO_PROXY_CREDENTIALS = (
    NO_CREDENTIALS + "; a corporate proxy that needs credentials is set by the workload itself from a "
    "Secret (env valueFrom.secretKeyRef), which overrideEnv: false keeps"
)


_NO_QUERY = (
    'must not contain "?" or "#": go appends <module>/@v/... to the URL\'s path, and so does the probe, '
    "which asks only <url>/<module>/@v/list"
)


def _no_credentials(value: str, message: str = NO_CREDENTIALS) -> None:
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


def check_gosumdb(value: str) -> str:
    for field in value.split():
        _no_credentials(field)
    if value not in ("", "off") and not GOSUMDB_PATTERN.fullmatch(value):
        raise ValueError(
            f'{value!r} must be "off", "sum.golang.org [URL]", "sum.golang.google.cn" or '
            '"NAME+HASH+KEY [URL]" with an http(s) URL'
        )
    return value


def is_dns_label(value: str) -> bool:
    """An RFC 1123 label, as container and namespace names are."""
    return len(value) <= 63 and _DNS_LABEL.fullmatch(value) is not None


def _container_name(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(f"{value!r} is not a valid container name")
    return value


def _ssh_host(value: str) -> str:
    if len(value) > 259 or not _SSH_HOST.fullmatch(value):
        raise ValueError(
            f"{value!r} must be a lowercase host name, optionally with :PORT (no scheme, user or path)"
        )
    return value


def check_ssh_user(value: str) -> str:
    if not SSH_USER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid SSH user name")
    return value


def check_env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    if value in _ENV_OWNED_BY_FIELD:
        raise ValueError(f"{value} is set from spec.{_ENV_OWNED_BY_FIELD[value]}; set that field instead")
    if _ENV_GIT_CONFIG.fullmatch(value):
        raise ValueError(
            f"{value} carries the operator's git settings (spec.privateModules); set it in the workload"
        )
    return value


def check_quantity(value: str) -> str:
    if value and (not QUANTITY.fullmatch(value) or not any(ch in "123456789" for ch in value)):
        raise ValueError(f"{value!r} must be a positive quantity such as 10Gi or 500Mi")
    if value and not bytes_of(CACHE_SIZE_MIN) <= bytes_of(value) <= bytes_of(CACHE_SIZE_MAX):
        raise ValueError(f"{value!r} must be between {CACHE_SIZE_MIN} and {CACHE_SIZE_MAX}")
    return value


def bytes_of(quantity: str) -> Decimal:
    """The number of bytes a storage quantity (as QUANTITY accepts it) stands for."""
    number = quantity.rstrip("KMGTPEikm")
    return Decimal(number) * _QUANTITY_UNITS[quantity[len(number) :]]


def check_mount_path(value: str) -> str:
    normal = posixpath.normpath(value)
    if not value.startswith("/") or normal == "/" or ":" in value or ".." in value.split("/"):
        raise ValueError(f"{value!r} must be an absolute path other than '/', without '..' or ':'")
    if not MOUNT_PATH.fullmatch(normal):
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


def check_module_path(value: str) -> str:
    if not MODULE_PATH.fullmatch(value):
        raise ValueError(f"{value!r} is not a Go module path")
    return value


def check_build_id(value: str) -> str:
    if not BUILD_ID.match(value):
        raise ValueError(
            f"{value!r} must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return value


def unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise FieldError(f"[{index}]", f"{value!r} is listed twice")
        seen.add(value)
    return values


# --- CEL rules, built from the same patterns as the validators above ----------------------------


def cel_matches(pattern: re.Pattern[str] | str, *, optional: bool = False) -> str:
    source = pattern if isinstance(pattern, str) else pattern.pattern
    rule = f"self.matches(r'{source}')"
    return f"self == '' || {rule}" if optional else rule


def cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


_OBJECT_NAME_MESSAGE = (
    'must be a valid object name: lowercase letters, digits, "-" and ".", starting and ending with a '
    "letter or digit"
)
_DATA_KEY_RULE = Rule(
    f"{cel_matches(_DATA_KEY)} && self != '.' && self != '..'",
    'must be a valid data key: letters, digits, "-", "_" and ".", not "." or ".."',
)
_PROXY_URL_RULE = Rule(
    "self == '' || (isURL(self) && !self.matches(r'[\\s,]') && "
    "url(self).getScheme() in ['http', 'https', 'socks5', 'socks5h'] && url(self).getHostname() != '')",
    'must be an http:// or https:// (or socks5://) URL with a host, e.g. "http://proxy.corp.example:3128"',
)


def no_credentials_rule(message: str, *, anywhere: bool = False) -> Rule:
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
ENV_OWNER_MAP = (
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
    Rule(cel_matches(_DNS_SUBDOMAIN), _OBJECT_NAME_MESSAGE),
]
#: An object name where "" means unset (the SPEC template writes unset names as "").
OptionalObjectName = Annotated[
    str,
    AfterValidator(_dns_subdomain),
    Field(max_length=253),
    Rule(cel_matches(_DNS_SUBDOMAIN, optional=True), _OBJECT_NAME_MESSAGE),
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
    no_credentials_rule(NO_CREDENTIALS),
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
        cel_matches(_GOFLAG),
        'must be -NAME, --NAME, -NAME=VALUE or --NAME=VALUE, as go reads GOFLAGS, e.g. "-mod=mod"',
    ),
]
ContainerName = Annotated[
    str,
    AfterValidator(_container_name),
    Field(max_length=63),
    Rule(
        cel_matches(_DNS_LABEL),
        'must be a container name: lowercase letters, digits and "-", starting and ending with a letter '
        "or digit",
    ),
]
SSHHost = Annotated[
    str,
    AfterValidator(_ssh_host),
    Field(min_length=1, max_length=259),
    Rule(
        cel_matches(_SSH_HOST),
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
    no_credentials_rule(_NO_PROXY_CREDENTIALS),
]
NoProxyEntry = Annotated[
    str,
    AfterValidator(_no_space_or_comma),
    Field(min_length=1, max_length=253),
    Rule(
        "!self.matches(r'[\\s,]')", 'must be a single host, domain suffix, IP or CIDR without spaces or ","'
    ),
]
LabelValue = Annotated[
    str, Field(max_length=63), AfterValidator(_label_value), Schema({"pattern": _LABEL_VALUE})
]
AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
#: An RFC 3339 time as the API server writes it.
Time = Annotated[str, DATE_TIME]


class SpecModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")
    #: CEL rules on the object itself (cross-field rules), wherever the class is used.
    crd_rules: ClassVar[tuple[Rule, ...]] = ()
    #: Further schema keywords on the object itself.
    crd_schema: ClassVar[Mapping[str, Any]] = {}
    #: The model's defaults are the schema's (the API server stores them; status has none).
    crd_defaults: ClassVar[bool] = True
