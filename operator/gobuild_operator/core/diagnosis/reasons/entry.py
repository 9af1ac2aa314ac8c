"""One registry entry: a reason, and the rules by which the classifier finds it in a log."""

from __future__ import annotations

from dataclasses import dataclass, field

from gobuild_operator.api.status.reasons import ReasonName


@dataclass(frozen=True)
class Rule:
    """Lines holding one of `anchors` (and matching `pattern`, when given) show the reason.

    `request`: the line must belong to a module download (go's module proxy, checksum database or
    go-get request, or git/ssh reaching a repository); a network error of anything else (a test
    dialing its database) is not a download failure.
    """

    anchors: tuple[str, ...]
    pattern: str | None = None
    in_proxy_detail: bool = False
    request: bool = False


@dataclass(frozen=True)
class Reason:
    """One fixed failure reason (SPEC "Download failure reasons")."""

    name: ReasonName
    #: Lower wins; None for Unknown, which no rule finds.
    tier: int | None
    #: What went wrong, in one line.
    summary: str
    #: The GoBuildConfig field (spec.…) or the build change ("Build change: …") that fixes it.
    remedy: str
    rules: tuple[Rule, ...] = field(default=())
