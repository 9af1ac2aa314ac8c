"""The thin kopf layer: each module translates one kind of kopf event into calls to core/, the
store, reporting/ and k8s/.

- admission.py: the mutating webhook (Pods, Jobs, CronJobs);
- gobuildconfigs.py: GoBuildConfig events (the store, the checks) and reconciling their status;
- namespaces.py: namespace labels into the store;
- pods.py: injected Pods' events into the download reporter;
- startup.py: start-up and shut-down (API client, webhook server and TLS, metrics, reporting).
"""
