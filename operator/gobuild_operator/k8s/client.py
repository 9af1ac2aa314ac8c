"""One configured kubernetes ApiClient for the operator's own calls (kopf has its own)."""

from __future__ import annotations

import os

from kubernetes import client, config


def make_api_client() -> client.ApiClient:
    """In a Pod: the ServiceAccount; elsewhere: KUBECONFIG or ~/.kube/config."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    configuration.proxy = None
    return client.ApiClient(configuration)
