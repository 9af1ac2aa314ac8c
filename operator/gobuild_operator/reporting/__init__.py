"""What the operator observes after admission, and writes on GoBuildConfig status and Events.

- downloads.py: outcomes of injected Pods, batched into few status writes, counted exactly once;
- missed.py: Pods admitted without the injection they asked for (webhook unavailable);
- checks.py: GOPROXY probes, referenced Secrets/ConfigMaps, the cache claim, per GoBuildConfig;
- namespaces.py: the cheap metadata watches that feed the two above, only where configs live;
- registry.py: the GoBuildConfigs they all read, kept in memory from kopf events;
- service.py: builds them, starts and stops them together.

Decisions are in core/ (pure); API calls in k8s/. These modules orchestrate and keep state.
"""
