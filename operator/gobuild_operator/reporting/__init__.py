"""What the operator observes after admission; it hands what it finds to reconciler/.

- downloads.py: outcomes of injected Pods, batched and handed to the status writer, counted exactly
  once; it marks the Pods and posts their Events;
- missed.py: Pods admitted without the injection they asked for (webhook unavailable);
- checker.py: per GoBuildConfig, GOPROXY probes, referenced Secrets/ConfigMaps, the cache claim;
- proxyprobe.py: one GOPROXY probe (plain HTTP to the proxy, not the Kubernetes API);
- namespaces.py: the cheap metadata watches that feed the two above, only where configs live;
- namespacelabels.py: the namespace label the webhook's matchConditions read;
- service.py: builds them (and the status writer), starts and stops them together.

They read GoBuildConfigs from the one store (gobuild_operator/store.py). Decisions are in core/
(pure), API calls in k8s/, status writes in reconciler/. These modules orchestrate and keep state.
"""
