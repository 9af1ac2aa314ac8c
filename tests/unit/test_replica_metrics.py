"""What each replica says about itself on /metrics: the certificate its webhook serves and whether it
leads, the two things a platform team's alerts need from every replica (docs/monitoring.md)."""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gobuild_operator.metrics import Metrics
from gobuild_operator.serving import pki
from gobuild_operator.serving.tls import CertificateExpiry


def _sample(metrics: Metrics, name: str) -> float:
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not on the page")


def _certificate(directory: Path, days: int) -> Path:
    ca = pki.make_ca("test CA")
    leaf = pki.issue(
        ca, common_name="webhook", dns_names=("webhook",), server=True, validity=datetime.timedelta(days=days)
    )
    cert, _ = leaf.write(directory, "tls")
    return cert


def test_the_expiry_of_the_served_certificate_follows_the_file(tmp_path: Path) -> None:
    metrics = Metrics()
    certfile = tmp_path / "tls.crt"
    metrics.follow_certificate(CertificateExpiry(certfile))
    assert math.isnan(_sample(metrics, "gobuild_webhook_certificate_expiry_timestamp_seconds"))

    _certificate(tmp_path, days=30)
    first = _sample(metrics, "gobuild_webhook_certificate_expiry_timestamp_seconds")
    now = datetime.datetime.now(datetime.UTC).timestamp()
    assert 29 * 86400 < first - now <= 30 * 86400

    renewed = tmp_path / "renewed"
    renewed.mkdir()
    _certificate(renewed, days=365)
    os.replace(renewed / "tls.crt", certfile)  # as the webhook's files are replaced on renewal
    second = _sample(metrics, "gobuild_webhook_certificate_expiry_timestamp_seconds")
    assert 364 * 86400 < second - now <= 365 * 86400


def test_a_damaged_certificate_file_reads_as_unknown(tmp_path: Path) -> None:
    metrics = Metrics()
    certfile = tmp_path / "tls.crt"
    certfile.write_text("not a certificate")
    metrics.follow_certificate(CertificateExpiry(certfile))
    assert math.isnan(_sample(metrics, "gobuild_webhook_certificate_expiry_timestamp_seconds"))


def test_leadership_is_read_at_each_scrape() -> None:
    metrics = Metrics()
    leading = [False]
    metrics.follow_leadership(lambda: leading[0])
    assert _sample(metrics, "gobuild_leader") == 0
    leading[0] = True
    assert _sample(metrics, "gobuild_leader") == 1
