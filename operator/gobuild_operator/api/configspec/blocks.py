"""The blocks of a GoBuildConfig spec: selector, env, corporate proxy, private modules, CA, cache,
reporting and image builds (SPEC "GoBuildConfig spec").

Optional blocks (privateModules.ssh, privateModules.netrc, caBundle) are None when absent: their
presence is what turns them on, and the CRD requires their names once they are written. Values
that end up inside shell snippets (the SSH user) or file names (Secret keys) are restricted to
safe character sets, so the plan can embed them without quoting surprises.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from gobuild_operator.api.fields.markers import INT32, SET, Rule, Schema
from gobuild_operator.api.fields.values import (
    BUILD_ID,
    ENV_NAME,
    ENV_OWNER_MAP,
    LABEL_KEY,
    LABEL_KEY_FORM,
    LABEL_KEY_MAX,
    MODULE_PATH,
    SSH_USER,
    DataKey,
    FieldError,
    LabelValue,
    NoProxyEntry,
    ObjectName,
    OptionalObjectName,
    ProxyURL,
    SpecModel,
    SSHHost,
    cel_matches,
    check_build_id,
    check_env_name,
    check_label_key,
    check_module_path,
    check_ssh_user,
    unique,
)

# --- spec blocks ---------------------------------------------------------------------------------


class LabelSelectorRequirement(SpecModel):
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
        Field(
            min_length=1, max_length=LABEL_KEY_MAX, description="The label key the requirement applies to."
        ),
        AfterValidator(check_label_key),
        Rule(
            cel_matches(LABEL_KEY),
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


class LabelSelector(SpecModel):
    """metav1.LabelSelector; unlike Kubernetes, an empty selector here selects nothing (SPEC)."""

    crd_schema = {"x-kubernetes-map-type": "atomic"}

    match_labels: Annotated[
        dict[Annotated[str, AfterValidator(check_label_key)], LabelValue],
        Field(
            max_length=64,
            description=(
                "Labels that must all be present with these values. Same as a matchExpressions entry "
                "with operator In and a single value."
            ),
        ),
        Schema({"maxProperties": 64}),
        Rule(
            f"self.all(k, k.size() <= {LABEL_KEY_MAX} && k.matches(r'{LABEL_KEY}'))",
            f"keys must be label keys: {LABEL_KEY_FORM}",
        ),
    ] = Field(default_factory=dict)
    match_expressions: Annotated[
        tuple[LabelSelectorRequirement, ...],
        Field(max_length=32, description="Requirements that must all hold."),
    ] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


class EnvEntry(SpecModel):
    """An environment variable."""

    name: Annotated[
        str,
        AfterValidator(check_env_name),
        Field(min_length=1, max_length=256, description="The variable's name, e.g. CGO_ENABLED."),
        Rule(
            cel_matches(ENV_NAME),
            'must be an environment variable name: letters, digits and "_", not starting with a digit',
        ),
        Rule(
            f"!(self in {ENV_OWNER_MAP})",
            message_expression=f"self + ' is set from ' + {ENV_OWNER_MAP}[self] + '; set that field instead "
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


class CorporateProxy(SpecModel):
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
        AfterValidator(unique),
        SET,
    ] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.http_proxy or self.https_proxy or self.no_proxy)


class SSHAuth(SpecModel):
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
        AfterValidator(unique),
        SET,
    ]
    user: Annotated[
        str,
        AfterValidator(check_ssh_user),
        Field(
            min_length=1, max_length=32, description="The SSH user in the rewritten URLs (ssh://USER@HOST/)."
        ),
        Rule(
            cel_matches(SSH_USER),
            'must be an SSH user name: letters, digits, "-", "_" and ".", starting with a letter or "_"',
        ),
    ] = "git"


class NetrcAuth(SpecModel):
    # Present means enabled.
    secret_name: Annotated[
        ObjectName,
        Field(description="A Secret in this namespace with the netrc file under the key .netrc."),
    ]


class PrivateModules(SpecModel):
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


class CABundle(SpecModel):
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
            raise FieldError(".secretName", "must not be set together with configMapName; set exactly one")
        if not self.config_map_name and not self.secret_name:
            raise ValueError("set exactly one of configMapName and secretName")
        return self


class Reporting(SpecModel):
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
        AfterValidator(check_module_path),
        Field(
            min_length=1,
            max_length=512,
            description=(
                "The module path whose version list (MODULE/@v/list) the probes ask each goproxy URL for. "
                "Use a module your proxies must serve."
            ),
        ),
        Rule(cel_matches(MODULE_PATH), "must be a module path such as golang.org/x/mod"),
    ] = "golang.org/x/mod"


def forbid_env_while(block: str, names: str, *, condition: str, exists: str, why: str) -> Rule:
    """spec.env may not set a variable that a configured block sets."""
    return Rule(
        f"!({condition} && has(self.env) && self.env.exists(e, {exists}))",
        f"must not set {names} while {block}: {why}",
        field_path=".env",
        reason="FieldValueForbidden",
    )


_BUILD_ID_RULE = Rule(
    cel_matches(BUILD_ID), "must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
)


def _build_id_field(description: str) -> Any:
    return Field(min_length=1, max_length=63, description=description)


BuildId = Annotated[str, AfterValidator(check_build_id), _BUILD_ID_RULE]


class ImageBuilds(SpecModel):
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
            raise FieldError(".caSecretId", f"{self.ca_secret_id!r} is already used by another secret id")
        if self.netrc_secret_id == self.known_hosts_secret_id:
            raise FieldError(".netrcSecretId", f"{self.netrc_secret_id!r} is already knownHostsSecretId")
        return self
