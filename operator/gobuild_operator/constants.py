"""Every name the operator shares with its users, in one documented place.

Annotation and label keys are part of the product contract (../SPEC "Opting in" and "What an
injected workload carries"); changing one breaks users' manifests, so they live here and nowhere
else.
"""

from typing import Final

GROUP: Final = "gobuild.dev"
VERSION: Final = "v1alpha1"
KIND: Final = "GoBuildConfig"
PLURAL: Final = "gobuildconfigs"
SHORT_NAME: Final = "gbc"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# --- Opting in (on Pods, Jobs, CronJobs or their pod templates) ---
#: `gobuild.dev/config: NAME` injects the GoBuildConfig NAME of the object's own namespace.
ANNOTATION_CONFIG: Final = "gobuild.dev/config"
#: `gobuild.dev/inject: "true"` injects the namespace's default config; `"false"` never injects.
ANNOTATION_INJECT: Final = "gobuild.dev/inject"
#: Namespace label: `gobuild.dev/injection: disabled` keeps the webhook off the whole namespace.
LABEL_NAMESPACE_INJECTION: Final = "gobuild.dev/injection"
NAMESPACE_INJECTION_DISABLED: Final = "disabled"

# --- Written by the operator on what it injected ---
#: Marker annotation: `gobuild.dev/injected: NAME`; makes reinvocation a no-op.
ANNOTATION_INJECTED: Final = "gobuild.dev/injected"
#: Label `gobuild.dev/config: NAME` on injected Pods and pod templates; the Pod watch selects on it.
LABEL_CONFIG: Final = "gobuild.dev/config"
#: Comma-separated names of variables the workload already set and that were therefore not injected.
ANNOTATION_SKIPPED_ENV: Final = "gobuild.dev/skipped-env"
#: Set on a finished Pod once its outcome is counted, so restarts never count it twice.
ANNOTATION_RECORDED: Final = "gobuild.dev/recorded"

#: Every volume the operator injects is named with this prefix.
VOLUME_PREFIX: Final = "gobuild-"

#: Namespaces the webhook never touches, whatever they are labelled.
SYSTEM_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease"})
#: Annotation the kubelet puts on mirror Pods of static Pods: never mutated.
ANNOTATION_MIRROR_POD: Final = "kubernetes.io/config.mirror"

#: Finalizer-free field manager name used for the operator's own writes.
FIELD_MANAGER: Final = "gobuild-operator"
