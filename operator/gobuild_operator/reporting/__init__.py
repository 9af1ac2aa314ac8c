"""What the operator observes after admission, and writes on GoBuildConfig status and Events.

- downloads.py: outcomes of injected Pods, batched into few status writes, counted exactly once;
- missed.py: Pods admitted without the injection they asked for (webhook unavailable);
- checker.py: per GoBuildConfig, GOPROXY probes, referenced Secrets/ConfigMaps, the cache claim;
- proxyprobe.py: one GOPROXY probe (plain HTTP to the proxy, not the Kubernetes API);
- namespaces.py: the cheap metadata watches that feed the two above, only where configs live;
- service.py: builds them, starts and stops them together.

They read GoBuildConfigs from the one store (gobuild_operator/store.py). Decisions are in core/
(pure); API calls in k8s/. These modules orchestrate and keep state.
"""
