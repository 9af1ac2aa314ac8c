"""The recorded failures of real go, git, ssh and image builders (tests/fixtures/gofailures).

scripts/record_go_failures.py and scripts/record_builder_failures.py write them: each case's output
(`<case>.txt`, or `<go version>/<case>.txt` for the Go versions other than the installed one) and
its manifest entry: the expected reason (knowing the Go settings the run had, as the operator knows
a container's), the reason the log alone shows when that differs, the settings (`injected`) and the
tool and version that printed it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gobuild_operator.core.diagnosis.routes import IMAGE_BUILD, POD, GoSettings, Workload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gofailures"


@dataclass(frozen=True)
class Recorded:
    case: str  # the manifest key: "proxy_404", "go1.21.13/proxy_404"
    entry: dict[str, Any]

    @property
    def text(self) -> str:
        return (FIXTURES / f"{self.case}.txt").read_text(encoding="utf-8")

    @property
    def reason(self) -> str:
        return str(self.entry["reason"])

    @property
    def reason_without_settings(self) -> str:
        return str(self.entry.get("reason_without_settings", self.entry["reason"]))

    @property
    def settings(self) -> GoSettings | None:
        injected = self.entry.get("injected")
        return GoSettings.from_env(injected) if isinstance(injected, dict) else None

    @property
    def workload(self) -> Workload:
        return IMAGE_BUILD if self.builder else POD

    @property
    def builder(self) -> bool:
        return "builder" in self.entry

    @property
    def origin(self) -> str:
        """What printed it: "go1.21.13", "git 2.39.5", "OpenSSH_9.2p1", "buildkit v0.34.2"..."""
        if "go_version" in self.entry:
            return str(self.entry["go_version"]).split()[2]
        if self.builder:
            words = str(self.entry["builder"]).split()
            return f"buildkit {words[-1]}" if words[0] == "buildctl" else f"{words[0]} {words[2]}"
        tool = str(self.entry.get("tool", ""))
        m = re.match(r"(git) version (\S+)|(OpenSSH_\S+?)[, ]", tool)
        if m is None:
            return tool
        return f"git {m.group(2)}" if m.group(1) else str(m.group(3))


@cache
def manifest() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))[
        "cases"
    ]
    return cases


def recorded(case: str) -> Recorded:
    return Recorded(case, manifest()[case])


def all_recorded() -> list[Recorded]:
    return [Recorded(case, entry) for case, entry in sorted(manifest().items())]


def go_versions() -> list[str]:
    """The Go versions fixtures were recorded with, oldest first."""
    found = {r.origin for r in all_recorded() if "go_version" in r.entry}
    return sorted(found, key=lambda v: tuple(int(part) for part in v.removeprefix("go").split(".")))
