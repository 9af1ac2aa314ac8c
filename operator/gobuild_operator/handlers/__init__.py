"""The thin layer that speaks kopf and HTTP: each module translates one kind of event or request
into calls to core/, the store, reporting/, reconciler/ and k8s/.

- admission.py: the mutating webhook's answers (Pods, Jobs, CronJobs), AdmissionReview bytes in and out;
- webhook.py: the HTTPS server around it, on its own thread and event loop;
- gobuildconfigs.py: GoBuildConfig events (the store, the checks) and the spec part of their status;
- namespaces.py: namespace labels into the store;
- startup.py: start-up and shut-down (API client, webhook TLS and registration, metrics, reporting,
  whose own watch of injected Pods feeds the download reporter).
"""
