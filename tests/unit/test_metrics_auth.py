"""Who may read /metrics with --metrics-auth (serving/metrics_server.py), as the decisions go:
accepted and refused tokens are remembered, and tokens never seen are reviewed at a bounded rate,
so random tokens cannot make the operator load the API server with TokenReviews."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gobuild_operator.serving import metrics_server
from gobuild_operator.serving.metrics_server import REVIEW_BURST, REVIEW_RATE, MetricsServer

GOOD = "scraper-token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reviews(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the API server was asked about; only GOOD belongs to a user."""
    asked: list[str] = []

    async def review_token(_: Any, *, token: str) -> str | None:
        asked.append(token)
        return "system:serviceaccount:monitoring:prometheus" if token == GOOD else None

    async def may_get(_: Any, *, user: str, path: str) -> bool:
        return path == "/metrics"

    monkeypatch.setattr(metrics_server, "review_token", review_token)
    monkeypatch.setattr(metrics_server, "may_get", may_get)
    return asked


def _server(clock: Clock) -> MetricsServer:
    return MetricsServer(registry=CollectorRegistry(), addr="127.0.0.1", port=0, api=object(), clock=clock)  # type: ignore[arg-type]


def _ask(server: MetricsServer, token: str) -> int:
    return asyncio.run(server._authorize(f"Bearer {token}"))


def test_random_tokens_make_a_bounded_number_of_token_reviews(reviews: list[str]) -> None:
    clock = Clock()
    server = _server(clock)
    assert _ask(server, GOOD) == 200
    answers = [_ask(server, secrets.token_hex(16)) for _ in range(300)]
    assert answers.count(401) == REVIEW_BURST - 1  # the scraper's review came from the same bucket
    assert answers.count(429) == 300 - (REVIEW_BURST - 1)
    assert len(reviews) == REVIEW_BURST
    assert _ask(server, GOOD) == 200  # the known scraper is not held up by the flood
    assert len(reviews) == REVIEW_BURST
    clock.now += 1.0
    fresh = [_ask(server, secrets.token_hex(16)) for _ in range(20)]
    assert fresh.count(401) == int(REVIEW_RATE)


def test_a_refused_token_is_refused_again_without_asking(reviews: list[str]) -> None:
    server = _server(Clock())
    assert [_ask(server, "stolen") for _ in range(50)] == [401] * 50
    assert reviews == ["stolen"]
