"""The webhook's HTTPS server (handlers/webhook.py), as the API server talks to it.

Runs the real server on a loopback port in its own thread: an AdmissionReview over TLS gets its
patch, a body larger than the webhook reads is answered with a warning (not a refused connection),
anything else gets a 400, and a rotated certificate is served without a restart.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from gobuild_operator.handlers.admission import MAX_REVIEW_BYTES, Admission
from gobuild_operator.handlers.webhook import LARGE_REVIEW_BYTES, TLSFiles, WebhookServer
from gobuild_operator.metrics import Metrics
from gobuild_operator.serving import pki
from gobuild_operator.settings import Settings
from gobuild_operator.store import Store
from support.waiting import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _issue(directory: Path, common_name: str) -> TLSFiles:
    ca = pki.make_ca(f"{common_name} CA")
    leaf = pki.issue(
        ca, common_name=common_name, dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True
    )
    cert, key = leaf.write(directory, "tls")
    return TLSFiles(cert, key)


class Served:
    def __init__(self, port: int, metrics: Metrics, server: WebhookServer) -> None:
        self.port = port
        self.metrics = metrics
        self.server = server
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{path}", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def common_name(self) -> str:
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
            self.context.wrap_socket(raw) as tls,
        ):
            der = tls.getpeercert(binary_form=True)

        assert der is not None
        return str(x509.load_der_x509_certificate(der).subject.rfc4514_string())

    def count(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "gobuild_admission_requests_total", {"kind": "Pod", "outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = Store()
    store.put_config(
        {
            "metadata": {"namespace": "builds", "name": "go", "uid": "u", "generation": 1},
            "spec": {"goproxy": ["https://goproxy.cn", "direct"]},
        }
    )
    metrics = Metrics()
    port = _free_port()
    server = WebhookServer(
        admission=Admission(settings=Settings(), store=store, metrics=metrics),
        addr="127.0.0.1",
        port=port,
        tls=_issue(tmp_path, "first"),
        reload_interval=0.05,
    )
    server.start()
    yield Served(port, metrics, server)
    server.stop()


def _review(obj: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": str(uuid.uuid4()), "namespace": "builds", "operation": "CREATE", "object": obj},
    }


POD = {
    "metadata": {"name": "b", "annotations": {"gobuild.dev/config": "go"}},
    "spec": {"containers": [{"name": "build", "image": "golang"}]},
}


def test_a_review_over_tls_gets_its_patch(served: Served) -> None:
    request = _review(POD)
    status, body = served.post("/inject-pods", json.dumps(request).encode())
    assert status == 200
    response = json.loads(body)["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == (
        request["request"]["uid"],
        True,
        "JSONPatch",
    )


def test_a_body_over_the_limit_is_answered_counted_and_warned(served: Served) -> None:
    big = json.loads(json.dumps(POD))
    big["spec"]["containers"][0]["env"] = [{"name": "BLOB", "value": "x" * (MAX_REVIEW_BYTES + 10)}]
    request = _review(big)
    status, body = served.post("/inject-pods", json.dumps(request).encode())
    assert status == 200
    response = json.loads(body)["response"]
    assert response["uid"] == request["request"]["uid"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert "more than the webhook reads" in response["warnings"][0]
    assert served.count("too_large") == 1


def test_what_is_not_an_admission_review_gets_a_400(served: Served) -> None:
    status, _ = served.post("/inject-pods", b"hello")
    assert status == 400
    assert served.count("malformed") == 1


def test_a_rotated_certificate_is_served_without_a_restart(served: Served, tmp_path: Path) -> None:
    assert "CN=first" in served.common_name()
    (tmp_path / "next").mkdir()
    rotated = _issue(tmp_path / "next", "second")
    # Rotation tools write the new files over the old ones (a Secret volume swaps a symlink).
    (tmp_path / "tls.crt").write_bytes(rotated.certfile.read_bytes())
    (tmp_path / "tls.key").write_bytes(rotated.keyfile.read_bytes())
    wait_for(lambda: "CN=second" in served.common_name(), timeout=5, what="the rotated certificate")
    status, _ = served.post("/inject-pods", json.dumps(_review(POD)).encode())
    assert status == 200


# --- the large-review lane: a few large bodies cannot starve ordinary reviews -----------------------


def _serve(tmp_path: Path, *, request_timeout: float) -> tuple[WebhookServer, Served]:
    store = Store()
    store.put_config(
        {"metadata": {"namespace": "builds", "name": "go", "uid": "u", "generation": 1}, "spec": {}}
    )
    metrics, port = Metrics(), _free_port()
    server = WebhookServer(
        admission=Admission(settings=Settings(), store=store, metrics=metrics),
        addr="127.0.0.1",
        port=port,
        tls=_issue(tmp_path, "lane"),
        request_timeout=request_timeout,
    )
    server.start()
    return server, Served(port, metrics, server)


def _open(served: Served, *, length: int, body: bytes) -> ssl.SSLSocket:
    """A connection that has sent a review's headers claiming `length` bytes, and `body` of them."""
    raw = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    tls = served.context.wrap_socket(raw)
    head = (
        f"POST /inject-pods HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    tls.sendall(head.encode() + body)
    return tls


def _large_review() -> bytes:
    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"][0]["env"] = [{"name": "BLOB", "value": "x" * (LARGE_REVIEW_BYTES + 10)}]
    return json.dumps(_review(pod)).encode()


def _status_line(tls: ssl.SSLSocket) -> bytes:
    return tls.recv(64).split(b"\r\n", 1)[0]


def _waiting(served: Served) -> float:
    return served.metrics.registry.get_sample_value("gobuild_admission_large_waiting") or 0.0


def test_large_reviews_take_turns_while_ordinary_ones_pass(tmp_path: Path) -> None:
    server, served = _serve(tmp_path, request_timeout=60)
    try:
        stalled = _open(served, length=1_000_000, body=b'{"apiVersion"')  # holds the lane
        large = _large_review()
        queued = _open(served, length=len(large), body=large)
        wait_for(lambda: _waiting(served) == 1, timeout=10, what="the second large review to queue")
        status, _ = served.post("/inject-pods", json.dumps(_review(POD)).encode())
        assert status == 200  # answered while both large ones wait
        stalled.close()  # the lane is free: the queued one is read and answered
        assert _status_line(queued) == b"HTTP/1.1 200 OK"
        assert _waiting(served) == 0
        queued.close()
    finally:
        server.stop()


def test_a_slow_sender_gives_up_the_lane_when_the_api_server_would_have(tmp_path: Path) -> None:
    server, served = _serve(tmp_path, request_timeout=0.5)
    try:
        stalled = _open(served, length=1_000_000, body=b'{"apiVersion"')
        large = _large_review()
        queued = _open(served, length=len(large), body=large)
        assert _status_line(stalled) == b"HTTP/1.1 503 Service Unavailable"
        # The queued review waited up to its own timeout, then got the lane or gave up likewise.
        assert _status_line(queued) in (b"HTTP/1.1 200 OK", b"HTTP/1.1 503 Service Unavailable")
        after = _open(served, length=len(large), body=large)
        assert _status_line(after) == b"HTTP/1.1 200 OK"
        for tls in (stalled, queued, after):
            tls.close()
    finally:
        server.stop()


# --- client certificates: only the API server gets answers ---------------------------------------


def test_with_a_client_ca_only_callers_it_signed_get_an_answer(tmp_path: Path) -> None:
    """The webhook answered anyone who reached it with a namespace's injected settings; with a
    client CA, the TLS handshake completes only for a certificate that CA signed."""
    apiserver_ca, stranger_ca = pki.make_ca("API server's webhook client CA"), pki.make_ca("someone else")
    apiserver_ca.write(tmp_path, "client-ca")
    for ca, stem in ((apiserver_ca, "apiserver"), (stranger_ca, "stranger")):
        pki.issue(ca, common_name=stem, client=True).write(tmp_path, stem)
    store = Store()
    store.put_config(
        {"metadata": {"namespace": "builds", "name": "go", "uid": "u", "generation": 1}, "spec": {}}
    )
    port = _free_port()
    server = WebhookServer(
        admission=Admission(settings=Settings(), store=store, metrics=Metrics()),
        addr="127.0.0.1",
        port=port,
        tls=_issue(tmp_path, "served"),
        client_ca=tmp_path / "client-ca.crt",
    )
    server.start()
    try:
        served = Served(port, Metrics(), server)
        body = json.dumps(_review(POD)).encode()
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            served.post("/inject-pods", body)  # no certificate
        served.context.load_cert_chain(tmp_path / "stranger.crt", tmp_path / "stranger.key")
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            served.post("/inject-pods", body)
        served.context.load_cert_chain(tmp_path / "apiserver.crt", tmp_path / "apiserver.key")
        status, answer = served.post("/inject-pods", body)
        assert status == 200
        assert json.loads(answer)["response"]["allowed"] is True
    finally:
        server.stop()
