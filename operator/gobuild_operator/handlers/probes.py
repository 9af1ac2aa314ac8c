"""GoBuildConfig watch events -> the reporting registry, the per-config checks (GOPROXY probes,
referenced Secrets/ConfigMaps, cache claim) and the namespace watches that follow the configs."""

from __future__ import annotations

from typing import Any

import kopf

from gobuild_operator.constants import GROUP, PLURAL, VERSION
from gobuild_operator.reporting.service import Reporting


@kopf.on.event(GROUP, VERSION, PLURAL)
async def gobuildconfig_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reporting: Reporting = memo.reporting
    reporting.on_config(event.get("type"), body)
