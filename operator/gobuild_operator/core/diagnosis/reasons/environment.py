"""Tier 0, the environment's failures: a full disk, a file lock that does not work, a module cache
go may not write. They break every download, so they rank first."""

from __future__ import annotations

from typing import Final

from gobuild_operator.api.status.reasons import ReasonName
from gobuild_operator.core.diagnosis.reasons.entry import Reason, Rule

ENVIRONMENT: Final[tuple[Reason, ...]] = (
    Reason(
        ReasonName.DiskFull,
        tier=0,
        summary=(
            "The disk holding the module cache, build cache or temporary files is full (no space left on "
            "device)."
        ),
        remedy=(
            "Give the cache room: raise spec.cache.size (or use a larger spec.cache.existingClaim) and "
            "clean old modules from it; without a shared cache, raise the Pod's ephemeral-storage."
        ),
        # Bare errno names (ENOSPC) also come from unrelated tools: only strerror text counts.
        # go prints strerror text, git capitalises it ("No space left on device").
        rules=(Rule(("o space left on device", "isk quota exceeded")),),
    ),
    Reason(
        ReasonName.CacheLockFailed,
        tier=0,
        summary=(
            'go could not lock a file in the module cache or the module ("no locks available": e.g. an '
            "NFS volume without a lock manager)."
        ),
        remedy=(
            "Put the module cache on a volume with working file locks: spec.cache.storageClassName of a "
            "class that supports flock (NFSv4, or NFSv3 with lockd), or spec.cache.existingClaim on such a "
            "volume; or turn the shared cache off (spec.cache.enabled: false)."
        ),
        rules=(
            Rule(("no locks available",)),
            Rule(
                ("ock /",),
                r"\b(?:RLock|Lock|Unlock) /\S+: (?:function not implemented|operation not supported)",
            ),
        ),
    ),
    Reason(
        ReasonName.CacheNotWritable,
        tier=0,
        summary=(
            "go could not write to the module cache (or the build cache): it is mounted read-only or "
            "belongs to another user."
        ),
        remedy=(
            "Give go a writable GOMODCACHE (spec.cache.mountPath): a volume mounted read-write and "
            "writable for the user the build runs as (fsGroup), since go writes lock and download files "
            "even for modules it already has; a cache meant to be read only belongs behind a GOPROXY "
            "(spec.goproxy), not in GOMODCACHE."
        ),
        rules=(
            Rule(
                ("read-only file system", "permission denied"),
                r"(?:cache|pkg/mod)\S*: (?:read-only file system|permission denied)"
                r"|(?:module|build) cache\b.*?(?:read-only file system|permission denied)",
            ),
        ),
    ),
)
