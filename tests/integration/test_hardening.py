"""Attacks a hostile tenant or a careless admin can make, reproduced on the real API server.

Each test is named after what it proves a tenant or an admin can no longer do.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from kubernetes import client

from conftest import Cluster
from support.gbc import condition, downloads, make_config, status
from support.hostile import CREDENTIALS, PROBE_TRICKS, UNUSABLE, USABLE, Refused
from support.httpserver import LocalHTTPServer
from support.kubelet import NOT_SCHEDULED, finish_pod
from support.operator_process import OperatorProcess
from support.podpolicy import refuse_pod_updates
from support.waiting import wait_for

SSH_SPEC: dict[str, Any] = {
    "privateModules": {"ssh": {"secretName": "git-ssh", "hosts": ["git.corp.example"]}}
}


def _pod(name: str, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "build", "image": "golang:1.26", "command": ["go", "version"]}
    if env:
        container["env"] = env
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"gobuild.dev/config": "corp"}},
        "spec": {"restartPolicy": "Never", "containers": [container], **NOT_SCHEDULED},
    }


def _create(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    result = cluster.kubectl("create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(obj))
    stored: dict[str, Any] = json.loads(result.stdout)
    return stored


def _injected(pod: dict[str, Any]) -> bool:
    return pod["metadata"].get("annotations", {}).get("gobuild.dev/injected") == "corp"


def test_a_pod_with_a_hostile_git_config_count_does_not_stop_the_operator(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, "corp", **SSH_SPEC)
    hostile = _create(
        cluster, namespace, _pod("hostile", [{"name": "GIT_CONFIG_COUNT", "value": "99999999999999999999"}])
    )
    assert _injected(hostile)
    assert "GIT_CONFIG_COUNT" in hostile["metadata"]["annotations"]["gobuild.dev/skipped-env"]
    assert _injected(_create(cluster, namespace, _pod("after")))

    # After a restart the operator re-reads the stored hostile Pod (missed-injection check) and
    # still admits the next one in time.
    operator.restart()
    assert _injected(_create(cluster, namespace, _pod("after-restart")))


def test_an_object_over_a_mebibyte_is_injected(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    """The API server stores objects up to 1.5 MiB and sends them to the webhook; kopf's server
    refused AdmissionReviews over 1 MiB, so such a Pod was admitted unchanged, uncounted, unwarned."""
    make_config(cluster, namespace, "corp", **SSH_SPEC)
    big = _pod("big", [{"name": "BLOB", "value": "x" * (1200 * 1024)}])
    assert _injected(_create(cluster, namespace, big))


def test_a_tenants_long_text_stalls_neither_admission_nor_a_restart(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    """Quadratic patterns over a tenant's text once froze the whole operator (the GIL is held while
    `re` runs): a 200 KB config annotation in a dry run, and a stored Pod whose `sh -c` script
    repeats a builder's name, which the missed-injection check read again at every start."""
    make_config(cluster, namespace, "corp")
    other = f"other-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", other)
    try:
        make_config(cluster, other, "corp")
        named = _pod("long-name")
        named["metadata"]["annotations"]["gobuild.dev/config"] = "a-" * 100_000
        dry = cluster.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(named), check=False
        )
        assert dry.returncode == 0, dry.stderr
        assert "200000 characters" in dry.stderr, "the warning says why, without quoting the name"
        script = _pod("long-script")
        script["spec"]["containers"][0]["command"] = ["sh", "-c", "buildctl " * 50_000]
        assert _injected(_create(cluster, namespace, script))
        assert all(_injected(_create(cluster, other, _pod(f"next-{i}"))) for i in range(5))

        operator.restart()  # the missed-injection check reads the stored Pods again
        assert all(_injected(_create(cluster, other, _pod(f"after-{i}"))) for i in range(5))
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


# --- the API server refuses what builds cannot use (specs from support/hostile.py) ---------------


@pytest.fixture(scope="module")
def dry_runs(cluster: Cluster) -> Iterator[str]:
    """A namespace for server-side dry runs of GoBuildConfigs (nothing is stored)."""
    name = f"hardening-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _dry_run(
    cluster: Cluster, namespace: str, spec: dict[str, Any], *, name: str = "x"
) -> subprocess.CompletedProcess[str]:
    body = {"apiVersion": "gobuild.dev/v1alpha1", "kind": "GoBuildConfig", "metadata": {"name": name}}
    manifest = json.dumps({**body, "spec": spec})
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest, check=False
    )


def _assert_refused(cluster: Cluster, namespace: str, case: Refused) -> None:
    result = _dry_run(cluster, namespace, case.spec)
    assert result.returncode != 0, "accepted"
    assert case.field in result.stderr
    assert case.says in result.stderr


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in UNUSABLE.items()])
def test_values_no_build_can_use_are_refused_by_the_api_server(
    cluster: Cluster, dry_runs: str, case: Refused
) -> None:
    _assert_refused(cluster, dry_runs, case)


@pytest.mark.parametrize("spec", [pytest.param(s, id=name) for name, s in USABLE.items()])
def test_the_usable_edges_stay_accepted(cluster: Cluster, dry_runs: str, spec: dict[str, Any]) -> None:
    result = _dry_run(cluster, dry_runs, spec)
    assert result.returncode == 0, result.stderr


def test_a_config_name_no_label_value_can_hold_is_refused(cluster: Cluster, dry_runs: str) -> None:
    for name, accepted in (("b" * 63, True), ("c" * 64, False)):
        result = _dry_run(cluster, dry_runs, {}, name=name)
        assert (result.returncode == 0) is accepted, result.stderr
        if not accepted:
            assert "metadata.name must have at most 63 characters" in result.stderr


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in CREDENTIALS.items()])
def test_the_api_server_refuses_credentials_in_every_url_field(
    cluster: Cluster, dry_runs: str, case: Refused
) -> None:
    _assert_refused(cluster, dry_runs, case)


# --- the proxy probes as a way into the operator's network position ---------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in PROBE_TRICKS.items()])
def test_the_api_server_refuses_urls_that_move_the_probe(
    cluster: Cluster, dry_runs: str, case: Refused
) -> None:
    _assert_refused(cluster, dry_runs, case)


@dataclass
class ForwardProxy:
    """A corporate HTTP proxy on loopback that forwards nothing: it records each request line and
    answers for the upstream (a redirect to a metadata address for /redirect/..., else a version
    list). The operator's probes go through it, so no probe leaves this machine, before the fix or
    after it."""

    requests: list[str] = field(default_factory=list)
    server: LocalHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                if "/redirect/" in self.path:
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"v0.1.0\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = LocalHTTPServer(("127.0.0.1", 0), Handler)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    proxy.start()
    yield proxy
    proxy.stop()


METADATA_ENTRIES = [
    "http://169.254.169.254/latest/meta-data",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://[fd00:ec2::254]/latest",
    "http://0xa9fea9fe/latest",
]


def test_probes_reach_no_metadata_service_directly_or_by_redirect(
    cluster: Cluster, namespace: str, operator: OperatorProcess, forward_proxy: ForwardProxy
) -> None:
    redirector = "http://127.0.0.1:9/redirect"  # answered by the forward proxy
    make_config(
        cluster,
        namespace,
        "corp",
        goproxy=[*METADATA_ENTRIES, redirector, "http://127.0.0.1:9/mirror", "direct"],
        proxyFallback="OnAnyError",
        corporateProxy={"httpProxy": forward_proxy.url},
    )
    probed = wait_for(
        lambda: len(p := status(cluster, namespace, "corp").get("proxies") or []) == 6 and p,
        timeout=15,
        what="the first probe round",
    )
    by_url = {p["url"]: p for p in probed}
    for entry in METADATA_ENTRIES:
        assert by_url[entry]["reachable"] is False, entry
        assert "refused before connecting" in by_url[entry]["error"], by_url[entry]
    assert by_url[redirector]["reachable"] is False
    assert "redirect refused before connecting" in by_url[redirector]["error"]
    assert by_url["http://127.0.0.1:9/mirror"]["reachable"] is True, "an ordinary proxy is still probed"
    # The metadata entries never reached the (corporate) proxy; the redirect was not followed.
    assert sorted(forward_proxy.requests) == [
        "http://127.0.0.1:9/mirror/golang.org/x/mod/@v/list",
        "http://127.0.0.1:9/redirect/golang.org/x/mod/@v/list",
    ]
    reachable = condition(cluster, namespace, "ProxiesReachable", "corp")
    assert "169.254.169.254 is a link-local or cloud metadata address" in reachable["message"]


# --- what writing a GoBuildConfig grants --------------------------------------------


def test_a_config_cannot_pull_a_workloads_secret_into_its_values(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    """On the real node: the kubelet expands $(VAR) in env values with the variables before them,
    the workload's secret-backed ones included. An injected value must reach the container as
    written."""
    if cluster.local is None:
        pytest.skip("the node's images are only made for the local cluster")
    image = cluster.load_images("golang-1.26")["golang-1.26"]
    cluster.kubectl(
        "create", "secret", "generic", "ci", "-n", namespace, "--from-literal=token=s3cr3t-ci-token"
    )
    make_config(
        cluster,
        namespace,
        "corp",
        goproxy=["https://goproxy.corp/$(CI_TOKEN)", "direct"],
        env=[{"name": "GODEBUG", "value": "token=$(CI_TOKEN) cost=$$5"}],  # a name the allow list has
    )
    container = {
        "name": "build",
        "image": image,
        "command": ["sh", "-c", 'printf "%s\\n%s\\n" "$GODEBUG" "$GOPROXY"'],
        "env": [{"name": "CI_TOKEN", "valueFrom": {"secretKeyRef": {"name": "ci", "key": "token"}}}],
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "leak", "annotations": {"gobuild.dev/config": "corp"}},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    created = _create(cluster, namespace, pod)
    assert created["metadata"]["annotations"].get("gobuild.dev/injected") == "corp"
    wait_for(
        lambda: (
            cluster.kubectl("get", "pod", "leak", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
            in ("Succeeded", "Failed")
        ),
        timeout=120,
        interval=0.5,
        what="the Pod to run",
    )
    logs = cluster.kubectl("logs", "leak", "-n", namespace).stdout
    assert logs.splitlines() == ["token=$(CI_TOKEN) cost=$$5", "https://goproxy.corp/$(CI_TOKEN),direct"]
    assert "s3cr3t-ci-token" not in logs


@contextlib.contextmanager
def operator_with(operator: OperatorProcess, *args: str) -> Iterator[None]:
    """Run the session's operator with extra flags, then restore it."""
    saved = operator.extra_args
    operator.stop()
    operator.extra_args = (*saved, *args)
    operator.start()
    try:
        yield
    finally:
        operator.stop()
        operator.extra_args = saved
        operator.start()


def _build_pod(name: str) -> dict[str, Any]:
    pod = _pod(name)
    pod["metadata"]["annotations"] = {"gobuild.dev/config": "corp"}
    return pod


def test_settings_that_run_code_are_refused_unless_the_admin_allows_them(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    make_config(
        cluster,
        namespace,
        "corp",
        env=[{"name": "LD_PRELOAD", "value": "/go/pkg/mod/cache/download/evil.so"}],
        goflags=["-mod=mod", "-toolexec=/go/pkg/mod/cache/download/evil"],
    )
    valid = wait_for(
        lambda: (c := condition(cluster, namespace, "SpecValid", "corp")).get("reason") == "NotAllowed" and c,
        timeout=15,
        what="SpecValid NotAllowed",
    )
    assert valid["status"] == "False"
    assert "spec.env[0].name: LD_PRELOAD" in valid["message"]
    assert "--allow-env=LD_PRELOAD" in valid["message"]
    assert "spec.goflags[1]: -toolexec" in valid["message"]
    assert condition(cluster, namespace, "Ready", "corp")["reason"] == "NotAllowed"
    refused = cluster.kubectl(
        "create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(_build_pod("refused"))
    )
    assert "is invalid (see its status)" in refused.stderr
    assert "gobuild.dev/injected" not in json.loads(refused.stdout)["metadata"]["annotations"]

    with operator_with(operator, "--allow-env=LD_PRELOAD", "--allow-goflag=toolexec"):
        wait_for(
            lambda: condition(cluster, namespace, "SpecValid", "corp").get("status") == "True",
            timeout=20,
            what="the config to be valid for this operator",
        )
        allowed = _create(cluster, namespace, _build_pod("allowed"))
        env = {e["name"]: e.get("value") for e in allowed["spec"]["containers"][0]["env"]}
        assert env["LD_PRELOAD"] == "/go/pkg/mod/cache/download/evil.so"
        assert env["GOFLAGS"] == "-mod=mod -toolexec=/go/pkg/mod/cache/download/evil"


# --- bookkeeping cleanup waits for nobody ------------------------------------------------


@contextlib.contextmanager
def pods_frozen(cluster: Cluster, namespace: str) -> Iterator[None]:
    """Refuse every update of the namespace's Pods (their metadata included; their status, which
    is another resource, not), as an API server that pauses or refuses writes would: a
    ValidatingAdmissionPolicy, effective once a probe Pod's annotation is refused."""
    name = f"freeze-{namespace}"
    refuse_pod_updates(
        cluster, name, namespace=namespace, expression="false", message="Pods are frozen", reason="Forbidden"
    )
    probe = _pod("freeze-probe")
    probe["metadata"]["annotations"] = {}
    _create(cluster, namespace, probe)
    wait_for(
        lambda: (
            cluster.kubectl(
                "annotate", "pod", "freeze-probe", "-n", namespace, "x=y", "--overwrite", check=False
            ).returncode
            != 0
        ),
        timeout=15,
        what="the freeze to take effect",
    )
    try:
        yield
    finally:
        cluster.kubectl(
            "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, check=False
        )
        wait_for(
            lambda: (
                cluster.kubectl(
                    "annotate", "pod", "freeze-probe", "-n", namespace, "x=z", "--overwrite", check=False
                ).returncode
                == 0
            ),
            timeout=15,
            what="the freeze to end",
        )


def _cleanup_failures(operator: OperatorProcess) -> int:
    log = operator.log()
    refused = "the gobuild.dev/recorded annotation was refused"  # by the API server: tried again
    return log.count("could not mark Pod") + log.count("could not settle pending Pod") + log.count(refused)


def test_pending_entries_and_pod_markers_are_cleaned_up_without_another_write(
    cluster: Cluster, api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    make_config(cluster, namespace, "corp")
    before = _cleanup_failures(operator)
    with pods_frozen(cluster, namespace):
        held = _create(cluster, namespace, _pod("held"))
        assert _injected(held)
        uid = held["metadata"]["uid"]
        finish_pod(api, namespace, "held", exit_code=0)  # the status is another resource: not frozen
        wait_for(
            lambda: (
                (d := downloads(cluster, namespace, "corp")).get("succeeded") == 1
                and [(e["uid"], e["stage"]) for e in d.get("pending") or []] == [(uid, "succeeded")]
            ),
            timeout=10,
            what="the outcome to be counted and left pending (its marker refused)",
        )
        # While the API refuses, the operator keeps retrying on its own.
        wait_for(
            lambda: _cleanup_failures(operator) >= before + 2, timeout=15, what="a second cleanup attempt"
        )
    # Nothing else happens to this config or its Pods; the cleanup still completes.
    wait_for(
        lambda: not downloads(cluster, namespace, "corp").get("pending"),
        timeout=40,
        what="the pending entry to be settled",
    )
    pod = json.loads(cluster.kubectl("get", "pod", "held", "-n", namespace, "-o", "json").stdout)
    assert pod["metadata"]["annotations"].get("gobuild.dev/recorded") == "succeeded"
    assert downloads(cluster, namespace, "corp")["succeeded"] == 1


def test_two_operators_count_once_and_a_stopping_one_removes_nothing(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second operator process beside the first (a second replica, or someone's `make run-local`)
    counted every injection again, and stopping either deleted the webhook configuration for both.
    Now one holds the Lease and counts; the other only serves admission; stopping the leader leaves
    the registration, and the other takes over and re-registers itself."""
    make_config(cluster, namespace, "corp", goproxy=["direct"])
    second = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("second-operator"),
        configuration_name=operator.configuration_name,
    )
    second.start(wait_for_registration=False)
    try:
        for i in range(20):
            assert _injected(_create(cluster, namespace, _pod(f"both-{i}")))
        wait_for(
            lambda: downloads(cluster, namespace, "corp").get("injected") == 20,
            timeout=30,
            what="20 injections",
        )
        operator.stop()  # the first one leads (it registered the configuration)
        configs = cluster.kubectl("get", "mutatingwebhookconfigurations", "-o", "name").stdout
        assert operator.configuration_name in configs
        wait_for(
            lambda: "registered MutatingWebhookConfiguration" in second.log(),
            timeout=30,
            what="the second operator to take over and register itself",
        )
        for i in range(5):
            assert _injected(_create(cluster, namespace, _pod(f"after-{i}")))
        wait_for(
            lambda: downloads(cluster, namespace, "corp").get("injected") == 25,
            timeout=30,
            what="25 injections",
        )
        assert downloads(cluster, namespace, "corp")["injected"] == 25  # and not more: nobody counted twice
    finally:
        second.stop()
        operator.restart()


def test_with_a_client_ca_the_webhook_answers_the_api_server_and_nobody_else(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The webhook answered anyone on the Pod network with a namespace's injected settings. With
    --webhook-client-ca (the chart's webhook.clientAuth) it completes TLS only for the certificate the
    API server presents from its admission configuration (the local cluster gives it one)."""
    import ssl
    import urllib.error
    import urllib.request

    if cluster.local is None:
        pytest.skip("needs the local cluster's webhook client CA")
    pki = cluster.local.state_dir / "pki"
    make_config(cluster, namespace, "corp", goproxy=["direct"])
    guarded = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("client-ca"),
        configuration_name=operator.configuration_name,
        extra_args=(f"--webhook-client-ca={cluster.local.webhook_client_ca}",),
        client_cert=(pki / "webhook-client.crt", pki / "webhook-client.key"),
    )
    operator.stop()
    try:
        guarded.start()
        assert _injected(_create(cluster, namespace, _pod("through-the-api-server")))
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {"uid": "u", "namespace": namespace, "operation": "CREATE", "object": _pod("x")},
        }
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        request = urllib.request.Request(
            f"https://127.0.0.1:{guarded.webhook_port}/inject-pods",
            data=json.dumps(review).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310 - loopback
    finally:
        guarded.stop()
        operator.restart()


def test_metrics_can_require_authentication(
    cluster: Cluster, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The metrics name namespaces, configs and failure reasons: with --metrics-auth they go only to
    a token the API server accepts, for a user RBAC lets GET /metrics."""
    import urllib.error
    import urllib.request

    guarded = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("metrics-auth"),
        extra_args=("--metrics-auth", "--leader-election-lease=metrics-auth-test"),
    )
    guarded.start(wait_for_registration=False)
    try:
        cluster.kubectl("create", "serviceaccount", "scraper", "-n", namespace)
        cluster.kubectl("create", "serviceaccount", "stranger", "-n", namespace)
        role = f"metrics-reader-{namespace}"
        cluster.kubectl("create", "clusterrole", role, "--verb=get", "--non-resource-url=/metrics")
        cluster.kubectl(
            "create",
            "clusterrolebinding",
            role,
            f"--clusterrole={role}",
            f"--serviceaccount={namespace}:scraper",
        )

        def scrape(token: str | None) -> int:
            request = urllib.request.Request(f"http://127.0.0.1:{guarded.metrics_port}/metrics")
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http to loopback
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        def token(account: str) -> str:
            return str(cluster.kubectl("create", "token", account, "-n", namespace).stdout.strip())

        wait_for(lambda: scrape(None) == 401, timeout=30, what="the metrics endpoint to answer")
        assert scrape("not-a-token") == 401
        assert scrape(token("stranger")) == 403
        assert scrape(token("scraper")) == 200
    finally:
        guarded.stop()
        cluster.kubectl("delete", "clusterrolebinding", f"metrics-reader-{namespace}", check=False)
        cluster.kubectl("delete", "clusterrole", f"metrics-reader-{namespace}", check=False)
