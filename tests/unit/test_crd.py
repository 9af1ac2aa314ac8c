"""Pure checks of the GoBuildConfig CRD file against the product contract (SPEC.md).

The API server is the real judge of the schema (tests/integration/test_crd_validation.py); these
tests catch, without a cluster, what a user would notice first: a SPEC field missing from the schema
(the API server would prune it silently), a wrong default, a missing printer column, a schema the API
server would refuse as non-structural, and examples that use fields the schema does not know.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "gobuildconfigs.gobuild.dev.yaml"
EXAMPLES = ROOT / "examples"

Schema = dict[str, Any]


def _load_crd() -> dict[str, Any]:
    with CRD_PATH.open() as f:
        crd: dict[str, Any] = yaml.safe_load(f)
    return crd


CRD = _load_crd()
VERSION = CRD["spec"]["versions"][0]
ROOT_SCHEMA: Schema = VERSION["schema"]["openAPIV3Schema"]


def node(path: str) -> Schema:
    """The schema node of a dotted path below the root ("spec.cache.size"); "[]" steps into items."""
    current = ROOT_SCHEMA
    for part in path.split("."):
        if part == "[]":
            current = current["items"]
        elif part == "{}":
            current = current["additionalProperties"]
        else:
            assert current.get("type") == "object", f"{path}: {part!r} is below a non-object"
            assert part in current.get("properties", {}), f"{path}: no property {part!r}"
            current = current["properties"][part]
    return current


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its dotted path (the root is "")."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from walk(schema["items"], f"{path}.[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}.{{}}")


# --- identity --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(("apiVersion",), "apiextensions.k8s.io/v1", id="apiVersion"),
        pytest.param(("kind",), "CustomResourceDefinition", id="kind"),
        pytest.param(("metadata", "name"), "gobuildconfigs.gobuild.dev", id="name"),
        pytest.param(("spec", "group"), "gobuild.dev", id="group"),
        pytest.param(("spec", "scope"), "Namespaced", id="scope"),
        pytest.param(("spec", "names", "kind"), "GoBuildConfig", id="kind-name"),
        pytest.param(("spec", "names", "listKind"), "GoBuildConfigList", id="listKind"),
        pytest.param(("spec", "names", "plural"), "gobuildconfigs", id="plural"),
        pytest.param(("spec", "names", "singular"), "gobuildconfig", id="singular"),
        pytest.param(("spec", "names", "shortNames"), ["gbc"], id="shortNames"),
        pytest.param(("spec", "names", "categories"), ["gobuild"], id="categories"),
    ],
)
def test_identity(path: tuple[str, ...], expected: object) -> None:
    value: Any = CRD
    for key in path:
        value = value[key]
    assert value == expected


def test_no_unknown_top_level_keys() -> None:
    assert set(CRD) <= {"apiVersion", "kind", "metadata", "spec"}
    assert set(CRD["spec"]) <= {"group", "scope", "names", "versions", "conversion", "preserveUnknownFields"}


def test_one_served_storage_version_with_status_subresource() -> None:
    assert [v["name"] for v in CRD["spec"]["versions"]] == ["v1alpha1"]
    assert VERSION["served"] is True
    assert VERSION["storage"] is True
    assert VERSION["subresources"] == {"status": {}}


# --- printer columns -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "json_path", "column_type", "priority"),
    [
        pytest.param("Proxy", ".status.goproxy", "string", 0, id="Proxy"),
        pytest.param("Ready", '.status.conditions[?(@.type=="Ready")].status', "string", 0, id="Ready"),
        pytest.param("Failed", ".status.downloads.failed", "integer", 0, id="Failed"),
        pytest.param("Age", ".metadata.creationTimestamp", "date", 0, id="Age"),
        pytest.param("Reason", '.status.conditions[?(@.type=="Ready")].reason', "string", 1, id="Reason"),
        pytest.param("Default", ".spec.default", "boolean", 1, id="Default"),
    ],
)
def test_printer_column(name: str, json_path: str, column_type: str, priority: int) -> None:
    columns = {c["name"]: c for c in VERSION["additionalPrinterColumns"]}
    assert name in columns, f"no printer column {name}"
    column = columns[name]
    assert column["jsonPath"] == json_path
    assert column["type"] == column_type
    assert column.get("priority", 0) == priority


def test_default_printer_columns_in_spec_order() -> None:
    shown = [c["name"] for c in VERSION["additionalPrinterColumns"] if c.get("priority", 0) == 0]
    assert shown == ["Proxy", "Ready", "Failed", "Age"]


# --- every SPEC field is in the schema -------------------------------------------------------------

SPEC_FIELDS = [
    ("spec.default", "boolean"),
    ("spec.podSelector", "object"),
    ("spec.podSelector.matchLabels", "object"),
    ("spec.podSelector.matchLabels.{}", "string"),
    ("spec.podSelector.matchExpressions", "array"),
    ("spec.podSelector.matchExpressions.[].key", "string"),
    ("spec.podSelector.matchExpressions.[].operator", "string"),
    ("spec.podSelector.matchExpressions.[].values", "array"),
    ("spec.podSelector.matchExpressions.[].values.[]", "string"),
    ("spec.containers", "array"),
    ("spec.containers.[]", "string"),
    ("spec.overrideEnv", "boolean"),
    ("spec.goproxy", "array"),
    ("spec.goproxy.[]", "string"),
    ("spec.proxyFallback", "string"),
    ("spec.gosumdb", "string"),
    ("spec.goprivate.[]", "string"),
    ("spec.gonoproxy.[]", "string"),
    ("spec.gonosumdb.[]", "string"),
    ("spec.goinsecure.[]", "string"),
    ("spec.goflags.[]", "string"),
    ("spec.env.[].name", "string"),
    ("spec.env.[].value", "string"),
    ("spec.corporateProxy.httpProxy", "string"),
    ("spec.corporateProxy.httpsProxy", "string"),
    ("spec.corporateProxy.noProxy.[]", "string"),
    ("spec.privateModules.ssh.secretName", "string"),
    ("spec.privateModules.ssh.knownHostsKey", "string"),
    ("spec.privateModules.ssh.hosts.[]", "string"),
    ("spec.privateModules.ssh.user", "string"),
    ("spec.privateModules.netrc.secretName", "string"),
    ("spec.caBundle.configMapName", "string"),
    ("spec.caBundle.secretName", "string"),
    ("spec.caBundle.key", "string"),
    ("spec.cache.enabled", "boolean"),
    ("spec.cache.existingClaim", "string"),
    ("spec.cache.size", "string"),
    ("spec.cache.storageClassName", "string"),
    ("spec.cache.accessModes.[]", "string"),
    ("spec.cache.mountPath", "string"),
    ("spec.cache.buildCache", "boolean"),
    ("spec.reporting.enabled", "boolean"),
    ("spec.reporting.probeIntervalSeconds", "integer"),
    ("spec.reporting.probeModule", "string"),
    ("spec.imageBuilds.enabled", "boolean"),
    ("spec.imageBuilds.sshId", "string"),
    ("spec.imageBuilds.knownHostsSecretId", "string"),
    ("spec.imageBuilds.netrcSecretId", "string"),
    ("spec.imageBuilds.caSecretId", "string"),
    ("status.observedGeneration", "integer"),
    ("status.goproxy", "string"),
    ("status.gosumdb", "string"),
    ("status.conditions.[].type", "string"),
    ("status.conditions.[].status", "string"),
    ("status.conditions.[].reason", "string"),
    ("status.conditions.[].message", "string"),
    ("status.conditions.[].lastTransitionTime", "string"),
    ("status.conditions.[].observedGeneration", "integer"),
    ("status.proxies.[].url", "string"),
    ("status.proxies.[].reachable", "boolean"),
    ("status.proxies.[].latencyMs", "integer"),
    ("status.proxies.[].lastProbeTime", "string"),
    ("status.proxies.[].error", "string"),
    ("status.cache.claimName", "string"),
    ("status.cache.phase", "string"),
    ("status.cache.capacity", "string"),
    ("status.cache.accessModes.[]", "string"),
    ("status.downloads.injected", "integer"),
    ("status.downloads.succeeded", "integer"),
    ("status.downloads.failed", "integer"),
    ("status.downloads.missedInjections", "integer"),
    ("status.downloads.byReason.{}", "integer"),
    *[
        (f"status.downloads.{where}.{field}", "string")
        for where in ("lastFailure", "recentFailures.[]")
        for field in ("pod", "container", "reason", "summary", "remedy", "time")
    ],
]


@pytest.mark.parametrize(("path", "field_type"), [pytest.param(p, t, id=p) for p, t in SPEC_FIELDS])
def test_spec_field_in_schema(path: str, field_type: str) -> None:
    assert node(path).get("type") == field_type


def test_no_spec_field_beyond_the_contract() -> None:
    """A field the schema has but SPEC does not is an undocumented API: add it to SPEC first."""
    listed = {p for p, _ in SPEC_FIELDS}
    parents = {p.rsplit(".", i)[0] for p in listed for i in range(1, p.count(".") + 1)}
    extra = [
        path
        for path, schema in walk(node("spec"), "spec")
        if schema.get("type") != "object" and path not in listed and path not in parents
    ]
    assert extra == []


# --- defaults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "default"),
    [
        pytest.param("spec", {}, id="spec"),
        pytest.param("spec.default", False, id="default"),
        pytest.param("spec.overrideEnv", False, id="overrideEnv"),
        pytest.param("spec.goproxy", ["https://proxy.golang.org", "direct"], id="goproxy"),
        pytest.param("spec.proxyFallback", "OnNotFound", id="proxyFallback"),
        pytest.param("spec.privateModules.ssh.knownHostsKey", "known_hosts", id="knownHostsKey"),
        pytest.param("spec.privateModules.ssh.user", "git", id="ssh-user"),
        pytest.param("spec.caBundle.key", "ca.crt", id="caBundle-key"),
        pytest.param("spec.cache", {}, id="cache"),
        pytest.param("spec.cache.enabled", False, id="cache-enabled"),
        pytest.param("spec.cache.accessModes", ["ReadWriteMany"], id="accessModes"),
        pytest.param("spec.cache.mountPath", "/go/pkg/mod", id="mountPath"),
        pytest.param("spec.cache.buildCache", False, id="buildCache"),
        pytest.param("spec.reporting", {}, id="reporting"),
        pytest.param("spec.reporting.enabled", True, id="reporting-enabled"),
        pytest.param("spec.reporting.probeIntervalSeconds", 300, id="probeIntervalSeconds"),
        pytest.param("spec.reporting.probeModule", "golang.org/x/mod", id="probeModule"),
        pytest.param("spec.imageBuilds", {}, id="imageBuilds"),
        pytest.param("spec.imageBuilds.enabled", True, id="imageBuilds-enabled"),
        pytest.param("spec.imageBuilds.sshId", "default", id="imageBuilds-sshId"),
        pytest.param("spec.imageBuilds.knownHostsSecretId", "known_hosts", id="imageBuilds-knownHosts"),
        pytest.param("spec.imageBuilds.netrcSecretId", "netrc", id="imageBuilds-netrc"),
        pytest.param("spec.imageBuilds.caSecretId", "gobuild-ca", id="imageBuilds-ca"),
    ],
)
def test_default(path: str, default: object) -> None:
    assert node(path).get("default") == default


@pytest.mark.parametrize(
    "path",
    [
        # 10Gi is applied by the operator when it creates the claim: a schema default would make
        # every object carrying existingClaim violate "existingClaim together with size".
        pytest.param("spec.cache.size", id="cache-size"),
        # Objects that must name something: a default {} would fail their own required fields.
        pytest.param("spec.caBundle", id="caBundle"),
        pytest.param("spec.privateModules", id="privateModules"),
        pytest.param("spec.corporateProxy", id="corporateProxy"),
    ],
)
def test_no_default(path: str) -> None:
    assert "default" not in node(path)


def test_size_description_says_who_applies_10gi() -> None:
    assert "10Gi" in node("spec.cache.size")["description"]


# --- enums, required fields, list semantics ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "values"),
    [
        pytest.param("spec.proxyFallback", ["OnNotFound", "OnAnyError"], id="proxyFallback"),
        pytest.param(
            "spec.cache.accessModes.[]",
            ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"],
            id="accessModes",
        ),
        pytest.param(
            "spec.podSelector.matchExpressions.[].operator",
            ["In", "NotIn", "Exists", "DoesNotExist"],
            id="selector-operator",
        ),
        pytest.param("status.conditions.[].status", ["True", "False", "Unknown"], id="condition-status"),
    ],
)
def test_enum(path: str, values: list[str]) -> None:
    assert node(path)["enum"] == values


@pytest.mark.parametrize(
    ("path", "required"),
    [
        pytest.param("spec.privateModules.ssh", {"secretName", "hosts"}, id="ssh"),
        pytest.param("spec.privateModules.netrc", {"secretName"}, id="netrc"),
        pytest.param("spec.env.[]", {"name"}, id="env"),
        pytest.param("spec.podSelector.matchExpressions.[]", {"key", "operator"}, id="selector-requirement"),
        pytest.param(
            "status.conditions.[]",
            {"type", "status", "lastTransitionTime", "reason", "message"},
            id="condition",
        ),
    ],
)
def test_required(path: str, required: set[str]) -> None:
    assert set(node(path).get("required", [])) == required


@pytest.mark.parametrize(
    ("path", "list_type", "keys"),
    [
        pytest.param("status.conditions", "map", ["type"], id="conditions"),
        pytest.param("spec.env", "map", ["name"], id="env"),
        pytest.param("spec.goproxy", "set", None, id="goproxy"),
        pytest.param("spec.privateModules.ssh.hosts", "set", None, id="ssh-hosts"),
        pytest.param("spec.containers", "set", None, id="containers"),
    ],
)
def test_list_type(path: str, list_type: str, keys: list[str] | None) -> None:
    schema = node(path)
    assert schema.get("x-kubernetes-list-type") == list_type
    assert schema.get("x-kubernetes-list-map-keys") == keys


def test_ssh_hosts_must_not_be_empty() -> None:
    assert node("spec.privateModules.ssh.hosts").get("minItems") == 1


def test_recent_failures_bounded_to_ten() -> None:
    assert node("status.downloads.recentFailures")["maxItems"] == 10


def test_probe_interval_has_a_floor() -> None:
    assert node("spec.reporting.probeIntervalSeconds").get("minimum", 0) >= 10


@pytest.mark.parametrize(
    ("path", "words"),
    [
        pytest.param("spec.goproxy.[]", ['"direct"', '"off"', "URL"], id="goproxy"),
        pytest.param("spec.privateModules.ssh.hosts.[]", ["hostname"], id="ssh-hosts"),
        pytest.param("spec.goflags.[]", ['"-"'], id="goflags"),
        pytest.param("spec.corporateProxy.httpProxy", ["http://", "https://"], id="httpProxy"),
        pytest.param("spec.corporateProxy.httpsProxy", ["http://", "https://"], id="httpsProxy"),
        pytest.param("spec.cache.size", ["quantity"], id="size"),
        pytest.param("spec.cache.mountPath", ["absolute"], id="mountPath"),
        pytest.param("spec.caBundle", ["configMapName", "secretName"], id="caBundle"),
        pytest.param("spec.cache", ["existingClaim"], id="cache"),
    ],
)
def test_rule_message_tells_what_to_write(path: str, words: list[str]) -> None:
    rules = node(path).get("x-kubernetes-validations", [])
    assert rules, f"{path} has no CEL rule"
    text = " ".join(r.get("message", "") + r.get("messageExpression", "") for r in rules)
    for word in words:
        assert word in text


# --- structural: what the API server requires before it accepts the CRD ----------------------------

ALL_NODES = [(path or "<root>", schema) for path, schema in walk(ROOT_SCHEMA) if path != "metadata"]


@pytest.mark.parametrize(("path", "schema"), [pytest.param(p, s, id=p) for p, s in ALL_NODES])
def test_structural_node(path: str, schema: Schema) -> None:
    assert "type" in schema or schema.get("x-kubernetes-int-or-string"), "every node needs a type"
    scalar_element = path.endswith(("[]", "{}")) and schema.get("type") not in {"object", "array"}
    assert scalar_element or schema.get("description"), "kubectl explain needs a description"
    if schema.get("type") == "array":
        assert "items" in schema
    if schema.get("type") == "object":
        assert "properties" in schema or "additionalProperties" in schema
        assert not ("properties" in schema and "additionalProperties" in schema)
    for rule in schema.get("x-kubernetes-validations", []):
        assert rule.get("message") or rule.get("messageExpression"), "a rule without a message"
        assert set(rule) <= {"rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf"}


SPEC_NODES = [(path, schema) for path, schema in walk(node("spec"), "spec")]


@pytest.mark.parametrize(("path", "schema"), [pytest.param(p, s, id=p) for p, s in SPEC_NODES])
def test_spec_node_bounded_for_cel_cost(path: str, schema: Schema) -> None:
    """Unbounded strings and lists make the API server's CEL cost estimate reject the CRD."""
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema:
        assert "maxLength" in schema
    elif kind == "array":
        assert "maxItems" in schema
    elif kind == "object" and "additionalProperties" in schema:
        assert "maxProperties" in schema


# --- examples use only fields the schema knows (the API server would refuse or prune the rest) -----


def unknown_fields(value: Any, schema: Schema, path: str) -> list[str]:
    if isinstance(value, dict):
        if "properties" in schema:
            found = [f"{path}.{k}" for k in value if k not in schema["properties"]]
            for k, v in value.items():
                if k in schema["properties"]:
                    found += unknown_fields(v, schema["properties"][k], f"{path}.{k}")
            return found
        if isinstance(schema.get("additionalProperties"), dict):
            return [
                f
                for k, v in value.items()
                for f in unknown_fields(v, schema["additionalProperties"], f"{path}.{k}")
            ]
    if isinstance(value, list) and "items" in schema:
        return [f for i, v in enumerate(value) for f in unknown_fields(v, schema["items"], f"{path}[{i}]")]
    return []


def gobuildconfigs(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "GoBuildConfig"]


EXAMPLE_FILES = sorted(EXAMPLES.glob("gobuildconfig-*.yaml")) + sorted((EXAMPLES / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(EXAMPLES))) for p in EXAMPLE_FILES])
def test_example_uses_known_fields(path: Path) -> None:
    configs = gobuildconfigs(path)
    assert configs, "no GoBuildConfig in the example"
    for config in configs:
        assert config["apiVersion"] == "gobuild.dev/v1alpha1"
        body = {k: v for k, v in config.items() if k not in {"apiVersion", "kind", "metadata"}}
        assert unknown_fields(body, ROOT_SCHEMA, "") == []
