"""go's `h1:` hash of a module zip or go.mod (golang.org/x/mod/sumdb/dirhash.Hash1).

It is what go.sum and the checksum database record, so the cache computes the same value from the
same bytes: a SHA-256 over lines "<hex sha256 of a file>  <file name>\\n", names sorted bytewise.
Reading the zip is the server's job; here are only the names and per-file digests.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable


class DirHashError(ValueError):
    pass


def hash1(files: Iterable[tuple[bytes, bytes]]) -> str:
    """`h1:` over (file name, SHA-256 digest of its content) pairs, in any order."""
    summary = hashlib.sha256()
    for name, digest in sorted(files):
        if b"\n" in name:
            raise DirHashError("dirhash: filenames with newlines are not supported")
        summary.update(digest.hex().encode() + b"  " + name + b"\n")
    return "h1:" + base64.b64encode(summary.digest()).decode()


def hash1_go_mod(content: bytes) -> str:
    """The `/go.mod h1:` hash: go hashes a .mod file as a one-file tree named go.mod."""
    return hash1([(b"go.mod", hashlib.sha256(content).digest())])
