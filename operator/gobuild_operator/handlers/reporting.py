"""Start and stop what reports on GoBuildConfigs after admission (see gobuild_operator.reporting).

Also narrows kopf's Pod watch to injected Pods, server-side: kopf's `labels=` filters on handlers
are applied by the operator after the API server has sent every Pod of the cluster; a watching
label selector makes the API server send only Pods labelled `gobuild.dev/config`. It applies to
every kopf watch of Pods in this operator: a Pod handler for other Pods must not be added.
"""

from __future__ import annotations

from typing import Any

import kopf

from gobuild_operator.constants import LABEL_CONFIG
from gobuild_operator.reporting.service import Reporting
from gobuild_operator.settings import Settings


def select_injected_pods(settings: kopf.OperatorSettings) -> None:
    """kopf lists and watches only Pods labelled `gobuild.dev/config` (filtered by the API server)."""
    settings.watching.label_selectors["", "v1", "pods"] = LABEL_CONFIG


@kopf.on.startup()
async def start_reporting(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    if getattr(memo, "api", None) is None or getattr(memo, "metrics", None) is None:
        raise kopf.TemporaryError("waiting for the API client and metrics", delay=0.1)
    select_injected_pods(settings)
    ours: Settings = memo.settings
    memo.reporting = Reporting(api=memo.api, metrics=memo.metrics, settings=ours)
    memo.reporting.start()
    logger.info("reporting started (Pods selected by label %s)", LABEL_CONFIG)


@kopf.on.cleanup()
async def stop_reporting(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    reporting: Reporting | None = getattr(memo, "reporting", None)
    if reporting is not None:
        await reporting.close()
        logger.info("reporting stopped; queued outcomes written")
