"""`make generate` (python -m gobuild_operator.generate [--check]): write what derives from the model.

- crds/gobuildconfigs.gobuild.dev.yaml from the API model (api/crd/schema.py), and the chart's copy of it;
- the chart's MutatingWebhookConfiguration template from the one the operator registers itself
  (k8s/webhookconfig.py), with the release's names and values in place of the operator's settings;
- the field table of README.md from the same model (descriptions and defaults);
- the reason table of docs/diagnosis.md from the reason registry (core/diagnosis/reasons/), with the lines
  the classifier finds in the recorded logs of tests/fixtures/gofailures as examples;
- the allow lists of docs/security.md from the operator's policy (api/configspec/policy.py).

Generated parts of Markdown files sit between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
the rest of those files is prose and stays hand-written. `--check` writes nothing and exits 1 naming
the files that differ; tests/unit/test_generated.py runs the same comparison.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gobuild_operator.api.configspec import policy
from gobuild_operator.api.crd import schema
from gobuild_operator.constants import SYSTEM_NAMESPACES
from gobuild_operator.core.diagnosis.diagnose import diagnose
from gobuild_operator.core.diagnosis.reasons import registry
from gobuild_operator.core.diagnosis.routes import GoSettings

CRD_FILE = Path("crds") / "gobuildconfigs.gobuild.dev.yaml"
#: The chart ships the same CRD (Helm installs crds/ once and never upgrades it; see the README).
CHART_CRD_FILE = Path("helm") / "gobuild-operator" / "crds" / "gobuildconfigs.gobuild.dev.yaml"
README = Path("README.md")
DIAGNOSIS_DOC = Path("docs") / "diagnosis.md"
SECURITY_DOC = Path("docs") / "security.md"
FIXTURES = Path("tests") / "fixtures" / "gofailures"
CHART_WEBHOOK_FILE = Path("helm") / "gobuild-operator" / "templates" / "webhook.yaml"
#: Example lines per reason in the docs table.
EXAMPLES_PER_REASON = 2


def outputs(root: Path) -> dict[Path, str]:
    """Every generated file (relative to `root`) with the content it must have."""
    return {
        CRD_FILE: schema.render(),
        CHART_CRD_FILE: schema.render(),
        CHART_WEBHOOK_FILE: chart_webhook_template(),
        README: splice(
            (root / README).read_text(encoding="utf-8"), "spec-fields", field_table(schema.openapi_schema())
        ),
        DIAGNOSIS_DOC: splice(
            (root / DIAGNOSIS_DOC).read_text(encoding="utf-8"), "reasons", reason_table(root / FIXTURES)
        ),
        SECURITY_DOC: splice(
            (root / SECURITY_DOC).read_text(encoding="utf-8"), "allowlist", allowlist_table()
        ),
    }


def stale(root: Path) -> list[Path]:
    """The generated files whose committed content differs from what the sources generate."""
    return [
        path
        for path, text in outputs(root).items()
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text
    ]


def splice(document: str, name: str, content: str) -> str:
    """`document` with the block between the markers of `name` replaced by `content`."""
    begin, end = f"<!-- generated: {name} -->", f"<!-- end: {name} -->"
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
    if not pattern.search(document):
        raise ValueError(f"no {begin} ... {end} block")
    note = "<!-- `make generate` writes this table from the source; edit that instead -->\n"
    return pattern.sub(lambda _: f"{begin}\n{note}{content}{end}", document)


# --- README: the spec fields ---------------------------------------------------------------------


def field_table(schema: dict[str, Any]) -> str:
    """| field | default | meaning |, one row per spec field, from the generated schema."""
    rows = ["| field | default | meaning |", "| --- | --- | --- |"]
    for path, node in _fields(schema["properties"]["spec"], ""):
        default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
        meaning = _first_sentence(node.get("description", ""))
        rows.append(f"| `{path}` | {_cell(default)} | {_cell(meaning)} |")
    return "\n".join(rows) + "\n"


def _fields(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, child
        if child.get("type") == "object" and "properties" in child and name != "podSelector":
            yield from _fields(child, f"{path}.")


def _first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence ("e.g." does not)."""
    masked = text.replace("e.g.", "e\0g\0")
    sentence = re.split(r"\.\s+(?=[A-Za-z\"])", masked, maxsplit=1)[0].rstrip(".")
    return sentence.replace("e\0g\0", "e.g.")


# --- docs/diagnosis.md: the reasons --------------------------------------------------------------


def reason_table(fixtures: Path) -> str:
    """| Reason | Tier | What it means | A line that shows it | Remedy |, in the registry's order."""
    examples = recorded_examples(fixtures)
    rows = [
        "| Reason | Tier | What it means | A line that shows it (recorded) | Remedy |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in registry.REGISTRY:
        lines = "; ".join(_code(line) for line in examples.get(entry.name, [])) or "—"
        tier = "—" if entry.tier is None else str(entry.tier)
        rows.append(
            f"| `{entry.name}` | {tier} | {_cell(entry.summary)} | {_cell(lines)} | {_cell(entry.remedy)} |"
        )
    return "\n".join(rows) + "\n"


def recorded_examples(fixtures: Path) -> dict[str, list[str]]:
    """reason -> the evidence lines the classifier finds in the recorded logs of that reason."""
    manifest = json.loads((fixtures / "manifest.json").read_text(encoding="utf-8"))["cases"]
    found: dict[str, list[str]] = {}
    for case in sorted(manifest):
        injected = manifest[case].get("injected")  # builds record the Go settings they were given
        settings = GoSettings.from_env(injected) if isinstance(injected, dict) else None
        diagnosis = diagnose((fixtures / f"{case}.txt").read_text(encoding="utf-8"), settings=settings)
        lines = found.setdefault(diagnosis.reason, [])
        if diagnosis.evidence and diagnosis.evidence not in lines and len(lines) < EXAMPLES_PER_REASON:
            lines.append(diagnosis.evidence)
    return found


# --- docs/security.md: the allow lists ----------------------------------------------------------


def allowlist_table() -> str:
    """| allowed by default | what it does |, env names grouped by what they do, then GOFLAGS with
    the values each may take."""
    rows = ["| Allowed by default | What it does, or the values it may take |", "| --- | --- |"]
    by_reason: dict[str, list[str]] = {}
    for name, why in policy.ALLOWED_ENV.items():
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        rows.append(f"| env {', '.join(f'`{name}`' for name in names)} | {_cell(why)} |")
    for name, (check, expected) in policy.ALLOWED_GOFLAGS.items():
        shown = f"`-{name}`" if check is None else f"`-{name}=VALUE`"
        rows.append(f"| GOFLAGS {shown} | {_cell(expected) if check else 'no value'} |")
    return "\n".join(rows) + "\n"


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gobuild_operator.generate", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    root: Path = args.root
    if args.check:
        bad = stale(root)
        for path in bad:
            print(f"{path} is stale: run `make generate`", file=sys.stderr)
        return 1 if bad else 0
    for path, text in outputs(root).items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


#: Stand-ins in the operator's own webhook configuration for what the chart's template fills in.
_SENTINELS = {
    "__NAMESPACE__": "{{ $.Release.Namespace }}",
    "__SERVICE__": '{{ include "gobuild-operator.webhookService" $ }}',
    "__CONFIGURATION__": '{{ include "gobuild-operator.webhookConfiguration" . }}',
    "__FAILURE_POLICY__": "{{ $.Values.webhook.failurePolicy }}",
    "__TIMEOUT__": "{{ $.Values.webhook.timeoutSeconds }}",
}


def chart_webhook_template() -> str:
    """helm/gobuild-operator/templates/webhook.yaml: the operator's webhook configuration, templated."""
    from gobuild_operator.k8s.webhookconfig import build_configuration
    from gobuild_operator.settings import Settings, WebhookSettings

    settings = Settings(
        operator_namespace="__NAMESPACE__",
        webhook=WebhookSettings(service_name="__SERVICE__", configuration_name="__CONFIGURATION__"),
    )
    body = build_configuration(settings, ca_bundle=b"", url_base=None)
    hooks = []
    for hook in body["webhooks"]:
        hook = copy.deepcopy(hook)
        hook["clientConfig"].pop("caBundle")  # the operator (self-managed TLS) or cert-manager sets it
        hook["failurePolicy"] = "__FAILURE_POLICY__"
        hook["timeoutSeconds"] = "__TIMEOUT__"
        expressions = hook["namespaceSelector"]["matchExpressions"]
        assert expressions[0]["key"] == "kubernetes.io/metadata.name"
        expressions[0]["values"] = "__EXCLUDED__"
        text = yaml.safe_dump([hook], sort_keys=False, width=1000)
        # The chart's extra namespaceSelector expressions go after the operator's own.
        text = text.replace(
            "  matchConditions:",
            "    {{- with $.Values.webhook.namespaceSelectorExpressions }}\n"
            "    {{- toYaml . | nindent 4 }}\n"
            "    {{- end }}\n"
            "  matchConditions:",
        )
        hooks.append(text)
    text = "".join(hooks)
    text = text.replace("values: __EXCLUDED__", "values: {{ toJson $excluded }}")
    for sentinel, expression in _SENTINELS.items():
        text = text.replace(sentinel, expression)
    excluded = " ".join(f'"{name}"' for name in sorted(SYSTEM_NAMESPACES))
    return (
        "# Generated by `make generate` from the configuration the operator registers itself on local\n"
        "# runs (operator/gobuild_operator/k8s/webhookconfig.py says why each field is what it is); edit\n"
        "# that, not this. Owned by Helm, so `helm uninstall` removes it first. With webhook.tls.mode=self\n"
        "# the operator fills in each clientConfig.caBundle; with certManager, cert-manager's CA injector.\n"
        f"{{{{- $excluded := list {excluded} .Release.Namespace | uniq | sortAlpha }}}}\n"
        "apiVersion: admissionregistration.k8s.io/v1\n"
        "kind: MutatingWebhookConfiguration\n"
        "metadata:\n"
        "  name: __CONFIGURATION__\n".replace("__CONFIGURATION__", _SENTINELS["__CONFIGURATION__"])
        + "  labels:\n"
        '    {{- include "gobuild-operator.labels" . | nindent 4 }}\n'
        '  {{- if eq .Values.webhook.tls.mode "certManager" }}\n'
        "  annotations:\n"
        "    cert-manager.io/inject-ca-from: "
        '{{ printf "%s/%s" .Release.Namespace (include "gobuild-operator.tlsSecret" .) }}\n'
        "  {{- end }}\n"
        "webhooks:\n" + text
    )


if __name__ == "__main__":
    sys.exit(main())
