"""Every download failure reason, once: its name, tier, summary, remedy and the log lines that show it.

This registry is the one source of the reasons. The classifier (core/diagnosis/diagnose.py) runs its rules,
the CRD's `status.downloads` reason enum and descriptions, the reason table of docs/diagnosis.md
and the tests all read it, so adding a reason is one entry in the module of its kind
(environment.py, causes.py, outcomes.py) plus a recorded fixture (tests/fixtures/gofailures,
scripts/record_go_failures.py).

The order of the entries is the classifier's precedence:

1. `tier`: environment failures (disk full, broken file locks) first, then the network, TLS,
   credential and integrity failures that *cause* a download to fail, then the outcomes that are
   often consequences of those (unknown revision, module not found, missing go.sum entry, no go.mod)
   and last "lookup disabled", which is nearly always an offline retry;
2. within a tier the earliest line of the log wins (the first root cause, not its last echo);
3. on one line the rule listed first wins, so a more specific reason comes before a general one (a
   checksum-database URL refused is SumDBUnreachable, not ProxyUnreachable; a `proxyconnect`
   failure is the corporate proxy's, not the GOPROXY's).

One reason has no rules of its own: BuildSettingsNotPassed is found by comparing the servers go
asked (module proxy and checksum database URLs in its errors) with the Go settings the build was
given (core/diagnosis/routes.py's `GoSettings`; the operator reads them from the failed container). It is
only ever reported when those settings are known, and it ranks first in its tier: go asking
proxy.golang.org when the injected GOPROXY names another proxy is the cause of whatever that
request then ran into (no DNS answer outside the cluster, a firewall, a 404 for a private module).

A rule has anchors, literal strings of which a matching line holds one (candidate lines are found
with str.find, fast on multi-megabyte logs), and optionally a pattern that must match on the
anchor's line (it never crosses a newline). `in_proxy_detail` lets a rule match text a module proxy
sent back ("server response:"), which otherwise is never read as this build's own failure: there it
is the proxy's failure to read the module's origin. `request` rules (network, TLS, DNS) only count on
lines that belong to a module download (see entry.py's `Rule`).

Where the Go settings of the build are known, the route a failed request took can change the reason
(core/diagnosis/routes.py): with GOPROXY="mirror,off" go reports "lookup disabled by
GOPROXY=off" only after the mirror answered 404/410, so the mirror lacks the module (ModuleNotFound).

Pure data: no I/O.
"""

from __future__ import annotations

from typing import Final

from gobuild_operator.api.status.reasons import NAMES
from gobuild_operator.core.diagnosis.reasons.causes import CAUSES
from gobuild_operator.core.diagnosis.reasons.entry import Reason
from gobuild_operator.core.diagnosis.reasons.environment import ENVIRONMENT
from gobuild_operator.core.diagnosis.reasons.outcomes import OUTCOMES

#: Every reason, in the classifier's order of precedence; Unknown last.
REGISTRY: Final[tuple[Reason, ...]] = (*ENVIRONMENT, *CAUSES, *OUTCOMES)

BY_NAME: Final[dict[str, Reason]] = {reason.name: reason for reason in REGISTRY}


def reason(name: str) -> Reason:
    """The registry entry of `name`; ValueError naming the known reasons for anything else."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown reason {name!r}; expected one of {', '.join(NAMES)}") from None
