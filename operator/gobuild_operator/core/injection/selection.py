"""Decide whether an admitted Pod, Job or CronJob gets a GoBuildConfig, and which one.

One pure function walks SPEC "Opting in" in its order and stops at the first rule that decides, so
the order users read in the contract is the order the code runs. It returns the reason in words:
the webhook logs it and tests compare it, and "why was my Pod (not) injected?" has one answer.

Warnings are for the admission response (kubectl prints them): they must name what the user can fix
and never contain anything but names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gobuild_operator import constants as c
from gobuild_operator.api.configspec.blocks import LabelSelector, LabelSelectorRequirement
from gobuild_operator.api.configspec.model import GoBuildConfigSpec
from gobuild_operator.core.injection import workload

#: The longest name a Kubernetes object can have (a DNS subdomain).
MAX_NAME_LENGTH: Final = 253


def shown_name(value: str) -> str:
    """A name a tenant wrote, as the operator may quote it: cut short when no object could have it."""
    if len(value) <= MAX_NAME_LENGTH:
        return value
    return f"{value[:40]}... ({len(value)} characters)"


@dataclass(frozen=True)
class Decision:
    """The chosen GoBuildConfig name (None: admit unchanged), why, and warnings for the user."""

    config: str | None
    reason: str
    warnings: tuple[str, ...] = ()

    @property
    def inject(self) -> bool:
        return self.config is not None


@dataclass
class _Subject:
    """What the rules look at, read once from the untrusted object; rules add warnings to it."""

    kind: str
    namespace: str
    own: Mapping[str, str]  # annotations on the object itself
    template: Mapping[str, str]  # annotations on its pod template (the object itself for a Pod)
    labels: Mapping[str, str]  # labels of the pod template (of the Pod)
    warnings: list[str] = field(default_factory=list)

    def annotation(self, key: str) -> str | None:
        """The object's own annotation, else its pod template's."""
        return self.own.get(key, self.template.get(key))


def should_inject(
    obj: Mapping[str, Any],
    *,
    kind: str,
    namespace: str,
    namespace_labels: Mapping[str, str],
    operator_namespace: str,
    configs: Mapping[str, GoBuildConfigSpec | None],
) -> Decision:
    """SPEC "Opting in", first match wins.

    `configs` are the GoBuildConfigs of `namespace` by name; None marks one whose spec does not
    parse (it exists, but cannot be used).
    """
    if kind not in workload.POD_TEMPLATE_PATH:
        return Decision(None, f"kind {kind} is not handled")
    never = _never(obj, namespace=namespace, labels=namespace_labels, operator_namespace=operator_namespace)
    if never:
        return Decision(None, never)
    template = workload.pod_template(obj, kind)
    subject = _Subject(
        kind=kind,
        namespace=namespace,
        own=workload.annotations_of(obj),
        template=workload.annotations_of(template),
        labels=workload.labels_of(template),
    )
    decision = _already_injected(subject) or _opted_out(subject) or _named(subject, configs)
    decision = decision or _namespace_default(subject, configs) or _selected(subject, configs)
    return decision or Decision(None, "not opted in", tuple(subject.warnings))


def namespace_label_value(specs: Iterable[GoBuildConfigSpec | None]) -> str:
    """The `gobuild.dev/configs` label of a namespace holding these configs (k8s/webhookconfig.py):
    `selected` when one has a podSelector, so any object there may be injected, else `annotated`."""
    if any(
        spec is not None and spec.pod_selector is not None and not spec.pod_selector.is_empty
        for spec in specs
    ):
        return c.NAMESPACE_CONFIGS_SELECTED
    return c.NAMESPACE_CONFIGS_ANNOTATED


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics, except that an empty or absent selector matches nothing."""
    if selector is None or selector.is_empty:
        return False
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    return all(_requirement_holds(requirement, labels) for requirement in selector.match_expressions)


def _requirement_holds(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    match requirement.operator:
        case "In":
            return present and labels[requirement.key] in requirement.values
        case "NotIn":
            return not present or labels[requirement.key] not in requirement.values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present


def _never(
    obj: Mapping[str, Any], *, namespace: str, labels: Mapping[str, str], operator_namespace: str
) -> str | None:
    if namespace in c.SYSTEM_NAMESPACES:
        return f"namespace {namespace} is a system namespace"
    if namespace == operator_namespace:
        return f"namespace {namespace} is the operator's own"
    if labels.get(c.LABEL_NAMESPACE_INJECTION) == c.NAMESPACE_INJECTION_DISABLED:
        label = f"{c.LABEL_NAMESPACE_INJECTION}={c.NAMESPACE_INJECTION_DISABLED}"
        return f"namespace {namespace} is labelled {label}"
    if c.ANNOTATION_MIRROR_POD in workload.annotations_of(obj):
        return "mirror Pod of a static Pod"
    return None


def _already_injected(subject: _Subject) -> Decision | None:
    name = subject.annotation(c.ANNOTATION_INJECTED)
    if name is None:
        return None
    warnings: tuple[str, ...] = ()
    wanted = subject.annotation(c.ANNOTATION_CONFIG)
    if wanted is not None and wanted != name:
        # A CronJob (UPDATE) whose annotation now names another config keeps its first injection:
        # taking one config's settings out again is not something the webhook can do safely.
        warnings = (
            f"already injected with GoBuildConfig {shown_name(name)}; "
            f"{c.ANNOTATION_CONFIG}={shown_name(wanted)} is not applied: "
            f"recreate the {subject.kind} to switch configs",
        )
    return Decision(None, f"already injected with GoBuildConfig {shown_name(name)}", warnings)


def _inject_flags(subject: _Subject) -> set[str]:
    """The `gobuild.dev/inject` values on the object and its template, normalised."""
    sources = (subject.own, subject.template)
    return {
        source[c.ANNOTATION_INJECT].strip().lower() for source in sources if c.ANNOTATION_INJECT in source
    }


def _opted_out(subject: _Subject) -> Decision | None:
    if "false" in _inject_flags(subject):
        return Decision(None, f"annotation {c.ANNOTATION_INJECT}=false")
    return None


def _named(subject: _Subject, configs: Mapping[str, GoBuildConfigSpec | None]) -> Decision | None:
    name = subject.annotation(c.ANNOTATION_CONFIG)
    if name is None:
        return None
    if len(name) > MAX_NAME_LENGTH:
        # No object has such a name; quoting it would put a tenant's megabyte into every warning
        # and log line this request makes.
        subject.warnings.append(
            f"{c.ANNOTATION_CONFIG} has {len(name)} characters, more than an object name "
            f"({MAX_NAME_LENGTH}); admitted without Go build settings"
        )
        return Decision(None, f"annotation {c.ANNOTATION_CONFIG} is not a name", tuple(subject.warnings))
    other = subject.template.get(c.ANNOTATION_CONFIG, name)
    if other != name:
        subject.warnings.append(
            f"{c.ANNOTATION_CONFIG} is {name!r} on the {subject.kind} and {shown_name(other)!r} on its "
            f"pod template; using {name!r}"
        )
    return _use(subject, name, configs, reason=f"annotation {c.ANNOTATION_CONFIG}={name}")


def _namespace_default(subject: _Subject, configs: Mapping[str, GoBuildConfigSpec | None]) -> Decision | None:
    flags = _inject_flags(subject)
    unknown = sorted(flags - {"true", "false"})
    if unknown:
        subject.warnings.append(
            f'{c.ANNOTATION_INJECT}={shown_name(unknown[0])!r} ignored: use "true" or "false"'
        )
    if "true" not in flags:
        return None
    defaults = sorted(name for name, spec in configs.items() if spec is not None and spec.default)
    if not defaults:
        subject.warnings.append(
            f"{c.ANNOTATION_INJECT}=true but namespace {subject.namespace} has no GoBuildConfig with "
            "default: true; admitted without Go build settings"
        )
        return Decision(None, "no default GoBuildConfig", tuple(subject.warnings))
    if len(defaults) > 1:
        subject.warnings.append(
            f"several GoBuildConfigs are default: true in namespace {subject.namespace} "
            f"({', '.join(defaults)}); using {defaults[0]}"
        )
    return _use(subject, defaults[0], configs, reason=f"annotation {c.ANNOTATION_INJECT}=true (default)")


def _selected(subject: _Subject, configs: Mapping[str, GoBuildConfigSpec | None]) -> Decision | None:
    matching = sorted(
        name
        for name, spec in configs.items()
        if spec is not None and selector_matches(spec.pod_selector, subject.labels)
    )
    if not matching:
        return None
    if len(matching) > 1:
        subject.warnings.append(
            f"podSelectors of several GoBuildConfigs match ({', '.join(matching)}); using {matching[0]}"
        )
    return _use(subject, matching[0], configs, reason=f"podSelector of GoBuildConfig {matching[0]}")


def _use(
    subject: _Subject, name: str, configs: Mapping[str, GoBuildConfigSpec | None], *, reason: str
) -> Decision:
    if name not in configs:
        subject.warnings.append(
            f"GoBuildConfig {name!r} not found in namespace {subject.namespace}; "
            "admitted without Go build settings"
        )
        return Decision(None, f"{reason}: not found", tuple(subject.warnings))
    if configs[name] is None:
        subject.warnings.append(
            f"GoBuildConfig {name!r} in namespace {subject.namespace} is invalid (see its status); "
            "admitted without Go build settings"
        )
        return Decision(None, f"{reason}: invalid spec", tuple(subject.warnings))
    return Decision(name, reason, tuple(subject.warnings))
