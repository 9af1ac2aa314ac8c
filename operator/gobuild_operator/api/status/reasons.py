"""The names of download failure reasons (SPEC "Download failure reasons"): a public contract.

They are keys of `status.downloads.byReason`, values of a failure's `reason`, metric labels and
Event reasons, so a name, once released, is never renamed. What each means, how it is found in a
log and what fixes it is the diagnosis registry's (core/diagnosis/reasons/), which refers to
these names; a test checks that the two list the same reasons.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ReasonName(StrEnum):
    """Every reason, in the order the classifier ranks them (earlier wins); Unknown last."""

    DiskFull = "DiskFull"
    CacheLockFailed = "CacheLockFailed"
    CacheNotWritable = "CacheNotWritable"
    BuildSettingsNotPassed = "BuildSettingsNotPassed"
    HTTPProxyError = "HTTPProxyError"
    CertificateUntrusted = "CertificateUntrusted"
    SumDBModuleNotFound = "SumDBModuleNotFound"
    SumDBUnreachable = "SumDBUnreachable"
    TLSHandshakeTimeout = "TLSHandshakeTimeout"
    DNSResolutionFailed = "DNSResolutionFailed"
    HostKeyVerificationFailed = "HostKeyVerificationFailed"
    AuthenticationFailed = "AuthenticationFailed"
    ProxyUnreachable = "ProxyUnreachable"
    ProxyInvalidResponse = "ProxyInvalidResponse"
    ProxyServerError = "ProxyServerError"
    ChecksumMismatch = "ChecksumMismatch"
    VCSCommandMissing = "VCSCommandMissing"
    ToolchainNotAvailable = "ToolchainNotAvailable"
    UnknownRevision = "UnknownRevision"
    ModulePathMismatch = "ModulePathMismatch"
    ModuleNotFound = "ModuleNotFound"
    GoModInGoPath = "GoModInGoPath"
    NoGoMod = "NoGoMod"
    InconsistentVendoring = "InconsistentVendoring"
    GoModUpdateNeeded = "GoModUpdateNeeded"
    MissingGoSum = "MissingGoSum"
    LookupDisabled = "LookupDisabled"
    Unknown = "Unknown"


#: Reason names, in the classifier's order.
NAMES: Final[tuple[str, ...]] = tuple(name.value for name in ReasonName)
UNKNOWN: Final = ReasonName.Unknown.value
