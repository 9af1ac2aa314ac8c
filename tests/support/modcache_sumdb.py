"""A checksum database's answers, made in Python, for tests that tamper with one byte of them.

The tree hash is computed here by RFC 6962's own recursion, not by the cache's code, and the tiles
by laying out each level's hashes; the note is signed with a fresh Ed25519 key in go's note
format. (tests/support/go/sumdb is the reference server; this one exists to forge.)
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gobuild_operator.core.modcache.paths import Tile


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def tiles(records: list[bytes], height: int) -> dict[Tile, bytes]:
    """Every full and partial tile of the tree over `records` (each partial at its current width)."""
    levels = [[_leaf(r) for r in records]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    out: dict[Tile, bytes] = {}
    for tile_level in range(0, len(levels), height):
        hashes = levels[tile_level]
        for number in range(0, (len(hashes) + (1 << height) - 1) >> height):
            chunk = hashes[number << height : (number + 1) << height]
            if chunk:
                out[Tile(height, tile_level // height, number, len(chunk))] = b"".join(chunk)
    return out


@dataclass(frozen=True)
class Signer:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def new(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def _public(self) -> bytes:
        return b"\x01" + self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_hash(self) -> int:
        value: int = struct.unpack(
            ">I", hashlib.sha256(self.name.encode() + b"\n" + self._public).digest()[:4]
        )[0]
        return value

    @property
    def vkey(self) -> str:
        """The verifier key, as GOSUMDB carries it."""
        return f"{self.name}+{self.key_hash:08x}+{base64.b64encode(self._public).decode()}"

    def sign(self, text: bytes) -> bytes:
        sig = struct.pack(">I", self.key_hash) + self.key.sign(text)
        return text + b"\n" + f"\u2014 {self.name} {base64.b64encode(sig).decode()}\n".encode()


def tree_note(records: list[bytes]) -> bytes:
    root = merkle_root([_leaf(r) for r in records])
    return f"go.sum database tree\n{len(records)}\n{base64.b64encode(root).decode()}\n".encode()


def lookup_body(signer: Signer, records: list[bytes], record_id: int) -> bytes:
    """The /lookup answer for records[record_id] in the tree of all `records`."""
    return f"{record_id}\n".encode() + records[record_id] + b"\n" + signer.sign(tree_note(records))


def record(module: str, version: str, zip_hash: str, mod_hash: str) -> bytes:
    return f"{module} {version} {zip_hash}\n{module} {version}/go.mod {mod_hash}\n".encode()
