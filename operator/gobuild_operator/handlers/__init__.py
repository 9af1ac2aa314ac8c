"""The thin kopf layer: handlers translate events into calls to the core and to k8s/."""
