"""When the self-managed webhook certificate is made anew, and that renewal keeps the CA."""

from __future__ import annotations

import datetime

import pytest

from gobuild_operator.serving import pki
from gobuild_operator.serving.tls import plan, split_pem

NAMES = (
    "gobuild-operator-webhook.gobuild-system.svc",
    "gobuild-operator-webhook.gobuild-system.svc.cluster.local",
)
NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def _secret(*, leaf_days: int = 365, ca_days: int = 3650, names: tuple[str, ...] = NAMES) -> dict[str, bytes]:
    ca = pki.make_ca("test CA", validity=ca_days * DAY)
    leaf = pki.issue(ca, common_name=names[0], dns_names=names, server=True, validity=leaf_days * DAY)
    return {"ca.crt": ca.cert_pem, "ca.key": ca.key_pem, "tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem}


def _plan(data: dict[str, bytes] | None, **kwargs: bool) -> tuple[bool, bool]:
    todo = plan(data, names=NAMES, now=NOW, renew_before=30 * DAY, ca_renew_before=300 * DAY, **kwargs)
    return todo.new_ca, todo.new_leaf


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(None, (True, True), id="no-secret"),
        pytest.param({"ca.crt": b"x"}, (True, True), id="keys-missing"),
        pytest.param(
            {"ca.crt": b"x", "ca.key": b"x", "tls.crt": b"x", "tls.key": b"x"}, (True, True), id="garbage"
        ),
        pytest.param(_secret(), (False, False), id="fresh"),
        pytest.param(_secret(leaf_days=20), (False, True), id="leaf-expiring-keeps-ca"),
        pytest.param(_secret(ca_days=200), (True, True), id="ca-expiring"),
        pytest.param(_secret(names=("other.svc",)), (False, True), id="leaf-for-other-names"),
    ],
)
def test_plan(data: dict[str, bytes] | None, expected: tuple[bool, bool]) -> None:
    assert _plan(data) == expected


def test_a_forced_renewal_keeps_the_ca() -> None:
    assert _plan(_secret(), forced=True) == (False, True)


def test_a_leaf_from_another_ca_is_reissued() -> None:
    data = _secret()
    data["tls.crt"] = _secret()["tls.crt"]
    assert _plan(data) == (False, True)


def test_split_pem_keeps_each_certificate_whole() -> None:
    first, second = pki.make_ca("a").cert_pem, pki.make_ca("b").cert_pem
    assert split_pem(first + second) == [first, second]
