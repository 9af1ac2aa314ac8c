"""On a failure, the operator's own account of it: the last lines of every operator Pod's log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "installed" not in getattr(item, "funcargs", {}):
        return
    cluster = item.funcargs["installed"]
    logs = cluster.kubectl(
        "logs", "-n", "gobuild-system", "-l", "app.kubernetes.io/name=gobuild-operator",
        "--prefix", "--tail=60", "--all-containers", check=False,
    )  # fmt: skip
    report.sections.append(("operator logs", logs.stdout + logs.stderr))
