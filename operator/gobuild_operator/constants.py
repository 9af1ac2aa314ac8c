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

# --- Written by the operator on namespaces ---
#: Namespace label the operator keeps on every namespace that holds a GoBuildConfig (and removes when
#: the last one goes). The webhook configuration's namespaceSelector requires it, so the API server
#: does not call the webhook at all for objects in other namespaces. Its value says which objects
#: there can be injected, and so which of the two webhooks per resource is called:
LABEL_NAMESPACE_CONFIGS: Final = "gobuild.dev/configs"
#: ... only objects that opt in by annotation (`gobuild.dev/config`, `gobuild.dev/inject`);
NAMESPACE_CONFIGS_ANNOTATED: Final = "annotated"
#: ... also objects a config's `podSelector` may match: every object.
NAMESPACE_CONFIGS_SELECTED: Final = "selected"

# --- Written by the operator on what it injected ---
#: Marker annotation: `gobuild.dev/injected: NAME`; makes reinvocation a no-op.
ANNOTATION_INJECTED: Final = "gobuild.dev/injected"
#: Label `gobuild.dev/config: NAME` on injected Pods and pod templates; the Pod watch selects on it.
LABEL_CONFIG: Final = "gobuild.dev/config"
#: Comma-separated names of variables the workload already set and that were therefore not injected.
ANNOTATION_SKIPPED_ENV: Final = "gobuild.dev/skipped-env"
#: JSON object {container name: [arguments]}: what builder-aware injection added to the command lines
#: of image builder containers (kaniko, buildctl, buildah, docker/buildx; docs/image-builds.md).
ANNOTATION_BUILD_ARGS: Final = "gobuild.dev/build-args"
#: Set on a finished Pod once its outcome is counted, so restarts never count it twice.
ANNOTATION_RECORDED: Final = "gobuild.dev/recorded"

# --- Set by `preflight` on its Job and Pod, read by the operator ---
#: Label `gobuild.dev/preflight: "true"`: a preflight Pod, not a build. The operator records its
#: outcome as status.lastPreflight and does not count it in status.downloads.
LABEL_PREFLIGHT: Final = "gobuild.dev/preflight"
#: The first line of the summary a preflight Pod's script writes as its termination message
#: (core/preflight/job.py writes it, core/downloads/preflight.py reads it).
PREFLIGHT_SUMMARY: Final = "gobuild-preflight/v1"

#: Every volume the operator injects is named with this prefix.
VOLUME_PREFIX: Final = "gobuild-"

#: Namespaces the webhook never touches, whatever they are labelled.
SYSTEM_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease"})
#: Annotation the kubelet puts on mirror Pods of static Pods: never mutated.
ANNOTATION_MIRROR_POD: Final = "kubernetes.io/config.mirror"

#: Finalizer-free field manager name used for the operator's own writes.
FIELD_MANAGER: Final = "gobuild-operator"

# --- What an injected workload carries (visible in users' Pod specs; see SPEC) ---
#: Volume holding the SSH key and known_hosts of `privateModules.ssh`.
VOLUME_SSH: Final = f"{VOLUME_PREFIX}ssh"
#: Volume holding the `.netrc` of `privateModules.netrc`.
VOLUME_NETRC: Final = f"{VOLUME_PREFIX}netrc"
#: Volume holding the extra CA certificates of `caBundle`.
VOLUME_CA: Final = f"{VOLUME_PREFIX}ca"
#: Volume of the module (and build) cache claim of `cache`.
VOLUME_CACHE: Final = f"{VOLUME_PREFIX}cache"

#: Everything the operator mounts from Secrets and ConfigMaps sits below this directory.
MOUNT_ROOT: Final = "/etc/gobuild"
SSH_MOUNT_PATH: Final = f"{MOUNT_ROOT}/ssh"
#: File names inside SSH_MOUNT_PATH (Secret items map the user's keys to these fixed names).
SSH_KEY_FILE: Final = "identity"
SSH_KNOWN_HOSTS_FILE: Final = "known_hosts"
NETRC_MOUNT_PATH: Final = f"{MOUNT_ROOT}/netrc"
NETRC_FILE: Final = ".netrc"
CA_MOUNT_PATH: Final = f"{MOUNT_ROOT}/ca"
CA_FILE: Final = "ca.crt"
#: Where GOCACHE is mounted when `cache.buildCache` shares it on the cache claim.
GOCACHE_MOUNT_PATH: Final = "/var/cache/gobuild/gocache"
#: Directories on the cache claim: the module cache and the build cache never see each other, so
#: `go clean -modcache` cannot wipe the shared build cache.
CACHE_SUBPATH_MODCACHE: Final = "gomodcache"
CACHE_SUBPATH_GOCACHE: Final = "gocache"
#: The claim the operator creates when `cache.existingClaim` is empty is `<config name>-gomodcache`;
#: the Proxy cache's Deployment, Service, ConfigMap and PodDisruptionBudget share that name.
CACHE_CLAIM_SUFFIX: Final = "-gomodcache"
#: The port of the Proxy cache's Service (GOPROXY protocol, /metrics, /healthz, /readyz).
CACHE_PORT: Final = 8080
#: `app.kubernetes.io/component` of everything the operator runs for a Proxy cache.
CACHE_COMPONENT: Final = "gomodcache"

#: Key of the private key in a Secret of type kubernetes.io/ssh-auth.
SECRET_KEY_SSH_PRIVATE: Final = "ssh-privatekey"  # noqa: S105 (a key name, not a secret)
#: Key of the netrc file in the `privateModules.netrc` Secret.
SECRET_KEY_NETRC: Final = ".netrc"  # noqa: S105 (a key name, not a secret)
#: Mode of every file the operator mounts: readable by whatever user the build runs as.
MOUNTED_FILE_MODE: Final = 0o444

#: Set on injected containers that do not choose one, so a failed build's log tail reaches the API.
TERMINATION_MESSAGE_POLICY: Final = "FallbackToLogsOnError"
#: Cluster DNS domain used to complete NO_PROXY when the operator is not told otherwise.
DEFAULT_CLUSTER_DOMAIN: Final = "cluster.local"
