"""A module fetched with one namespace's credentials is never served to another namespace.

Two namespaces each have a GoBuildConfig named `corp` with a Proxy cache in front of the same
HTTPS module proxy (private CA, Basic auth: a private mirror such as Artifactory). Only namespace
A's config has the netrc Secret. Each config runs its own cache, which fetches with its own
config's credentials, so what A's cache holds never reaches B's builds: B's build, injected with
B's config, gets B's cache, whose fetches the proxy refuses, and then fails as it would without any
cache (401). The proxy's request log carries the client address and the authenticated user, so the
test sees exactly who was given what. (A Pod of B addressing A's cache Service by hand is what the
cache's NetworkPolicy stops on clusters whose CNI enforces it; this cluster's does not, see
docs/cache.md.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Cluster

from .servers import HttpsGitServer
from .stored import fresh_namespace
from .test_injected_pods import env_of, pod_ip, project_files
from .test_module_cache import build_on, cache_pod_ip

pytestmark = pytest.mark.usefixtures("operator")


@pytest.mark.timeout(900)  # two caches start, two builds
def test_a_module_fetched_with_one_namespaces_credentials_is_not_served_to_another(
    cluster: Cluster, images: dict[str, str], https_git: HttpsGitServer, consumer_project: Path
) -> None:
    from localcluster.operator_image import ensure_operator_image

    if cluster.local is not None:
        cluster.local.import_images([ensure_operator_image().path])  # the caches run the operator's image
    spec = {
        "goproxy": [https_git.proxy_url],
        "gosumdb": "off",
        "caBundle": {"configMapName": "mirror-ca"},
        "cache": {"enabled": True},
    }
    with (
        fresh_namespace(cluster.kubectl, "e2e-tenant-a") as a,
        fresh_namespace(cluster.kubectl, "e2e-tenant-b") as b,
    ):
        for ns in (a, b):
            ns.create_config_map("mirror-ca", {"ca.crt": https_git.ca_pem.decode()})
            ns.create_config_map("project", project_files(consumer_project))
        a.create_secret("mirror-netrc", {".netrc": https_git.netrc()})
        a.apply_config("corp", {**spec, "privateModules": {"netrc": {"secretName": "mirror-netrc"}}})
        b.apply_config("corp", spec)
        a_cache, b_cache = cache_pod_ip(a, "corp"), cache_pod_ip(b, "corp")

        def build(name: str) -> dict[str, object]:
            return build_on(cluster, images, name, script="go mod download && go run .")

        first = a.run_pod(build("first"))

        assert first.phase == "Succeeded", str(first)
        assert "Hello, world." in first.logs
        served_to_a = [r for r in https_git.requests if r.status == 200 and r.path.endswith(".zip")]
        assert {(r.client, r.user) for r in served_to_a} == {(a_cache, https_git.username)}
        assert len(served_to_a) == 5  # the consumer's five modules, fetched by A's cache alone

        stored, _ = b.create_pod(build("second"))
        assert env_of(stored["spec"]["containers"][0])["GOPROXY"] == (
            f"http://corp-gomodcache.{b.name}.svc.cluster.local:8080|{https_git.proxy_url}"
        )  # B's own cache, then the proxy itself
        second = b.wait_finished("second")

        assert second.phase == "Failed", str(second)
        assert "401 Unauthorized" in second.logs
        assert "Hello, world." not in second.logs
        b_clients = {b_cache, pod_ip(second)}
        asked_by_b = [r for r in https_git.requests if r.client in b_clients]
        assert asked_by_b, "B's cache and build asked the proxy themselves"
        assert {r.status for r in asked_by_b} == {401}  # and were given nothing
        assert {r.client for r in https_git.requests if r.status == 200} == {a_cache}
        done = b.wait_downloads("corp", lambda d: d.get("failed") == 1, what="B's failed build")
        assert "AuthenticationFailed" in (done.get("byReason") or {}), done
