"""Checking a module against the checksum database before the cache keeps it.

go checks every zip it downloads against go.sum or the checksum database; the cache checks first,
so that a tampered zip from a compromised or misbehaving upstream is never stored and so never
served to the next build. The checksum database's answer for module@version (a "lookup") is only
worth something when it is authentic: its tree head must carry a valid signature by the configured
key (golang.org/x/mod/sumdb/note) and the record must be proven to be in that tree with hashes read
from the database's tiles (golang.org/x/mod/sumdb/tlog). Both are ported here over bytes; fetching
the lookup and the tiles is the server's job. What the cache does not do is fork detection (that
two tree heads it has seen are consistent): that stays with go, which keeps the latest tree it saw.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gobuild_operator.core.modcache.paths import Tile

#: The go command's built-in keys (cmd/go/internal/modfetch/key.go).
KNOWN_GOSUMDB = {"sum.golang.org": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"}
#: The tile height go's checksum database client uses.
TILE_HEIGHT = 8
HASH_SIZE = 32
_MAX_NOTE = 1_000_000
_ALG_ED25519 = 1
_SIG_PREFIX = "\u2014 ".encode()


class SumDBError(ValueError):
    """The checksum database's answer could not be trusted or used; the message says why."""


@dataclass(frozen=True)
class SumDB:
    """A GOSUMDB setting: the database's name, its verifier key, and an explicit URL if any."""

    name: str
    vkey: str
    key_hash: int
    public_key: bytes
    url: str  # "" = reach it as go would: through the proxies that support it, else https://<name>

    @property
    def storage_dir(self) -> str:
        """A directory name per key, so a new key never reads tiles stored for an old one."""
        return hashlib.sha256(self.vkey.encode()).hexdigest()[:16]

    @property
    def direct_url(self) -> str:
        return self.url or f"https://{self.name}"


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _key_hash(name: str, key: bytes) -> int:
    value: int = struct.unpack(">I", hashlib.sha256(name.encode() + b"\n" + key).digest()[:4])[0]
    return value


def parse_gosumdb(value: str) -> SumDB | None:
    """A GOSUMDB value as go reads it; None for `off`. Raises SumDBError for a bad value."""
    value = value.strip()
    if value == "sum.golang.google.cn":
        value = "sum.golang.org https://sum.golang.google.cn"
    if value == "off":
        return None
    fields = value.split()
    if not fields:
        raise SumDBError("missing GOSUMDB")
    if len(fields) > 2:
        raise SumDBError("invalid GOSUMDB: too many fields")
    vkey = KNOWN_GOSUMDB.get(fields[0], fields[0])
    name, _, rest = vkey.partition("+")
    hash16, _, key64 = rest.partition("+")
    try:
        key = base64.b64decode(key64, validate=True)
        declared = int(hash16, 16)
    except ValueError as exc:
        raise SumDBError("invalid GOSUMDB: malformed verifier key") from exc
    if len(hash16) != 8 or not _valid_name(name) or not key:
        raise SumDBError("invalid GOSUMDB: malformed verifier key")
    if declared != _key_hash(name, key):
        raise SumDBError("invalid GOSUMDB: verifier key hash does not match the key")
    if key[0] != _ALG_ED25519 or len(key) != 33:
        raise SumDBError("invalid GOSUMDB: unknown verifier algorithm")
    if name.endswith("/") or "//" in name or name.startswith("/"):
        raise SumDBError("invalid sumdb name (must be host[/path])")
    url = fields[1].rstrip("/") if len(fields) == 2 else ""
    if url and not url.startswith(("http://", "https://")):
        raise SumDBError("invalid GOSUMDB URL: not http(s)")
    return SumDB(name=name, vkey=vkey, key_hash=declared, public_key=key[1:], url=url)


# --- notes ----------------------------------------------------------------------------------------


def open_note(msg: bytes, db: SumDB) -> bytes:
    """The text of a signed note after checking db's signature on it (note.Open with one key)."""
    if len(msg) > _MAX_NOTE:
        raise SumDBError("signed note too large")
    try:
        decoded = msg.decode()
    except UnicodeDecodeError as exc:
        raise SumDBError("malformed note") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in decoded):
        raise SumDBError("malformed note")
    split = msg.rfind(b"\n\n")
    if split < 0:
        raise SumDBError("malformed note")
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs or not sigs.endswith(b"\n"):
        raise SumDBError("malformed note")
    key = Ed25519PublicKey.from_public_bytes(db.public_key)
    verified = False
    for count, line in enumerate(sigs[:-1].split(b"\n"), 1):
        if count > 100 or not line.startswith(_SIG_PREFIX):
            raise SumDBError("malformed note")
        name, _, b64 = line[len(_SIG_PREFIX) :].decode().partition(" ")
        try:
            sig = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise SumDBError("malformed note") from exc
        if not _valid_name(name) or len(sig) < 5:
            raise SumDBError("malformed note")
        if name != db.name or struct.unpack(">I", sig[:4])[0] != db.key_hash:
            continue  # someone else's signature: go ignores it too
        try:
            key.verify(sig[4:], text)
        except InvalidSignature as exc:
            raise SumDBError(f"invalid signature for key {db.name}") from exc
        verified = True
    if not verified:
        raise SumDBError(f"note has no signature by {db.name}")
    return text


@dataclass(frozen=True)
class Lookup:
    """A checksum database's answer for one module version, its signature checked."""

    record_id: int
    text: bytes  # the record: "<module> <version> h1:...\n<module> <version>/go.mod h1:...\n"
    tree_size: int
    tree_hash: bytes


def _valid_record_text(text: bytes) -> bool:
    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        return False
    return (
        decoded.endswith("\n")
        and "\n\n" not in decoded
        and not any(ord(c) < 0x20 and c != "\n" for c in decoded)
    )


def open_lookup(body: bytes, db: SumDB) -> Lookup:
    """Parse a /lookup answer (tlog.ParseRecord, then the signed tree head) and check its signature."""
    newline = body.find(b"\n")
    head = body[:newline]
    if newline <= 0 or newline > 20 or not head.isdigit():
        raise SumDBError("malformed lookup record")
    rest = body[newline + 1 :]
    end = rest.find(b"\n\n")
    if end < 0:
        raise SumDBError("malformed lookup record")
    text, signed = rest[: end + 1], rest[end + 2 :]
    if not _valid_record_text(text):
        raise SumDBError("malformed lookup record")
    tree = open_note(signed, db)
    lines = tree.split(b"\n")
    if not tree.startswith(b"go.sum database tree\n") or len(lines) < 4:
        raise SumDBError("malformed tree note")
    size_text, hash_text = lines[1], lines[2]
    if not size_text.isdigit() or str(int(size_text)).encode() != size_text:
        raise SumDBError("malformed tree note")
    try:
        tree_hash = base64.b64decode(hash_text, validate=True)
    except ValueError as exc:
        raise SumDBError("malformed tree note") from exc
    if len(tree_hash) != HASH_SIZE:
        raise SumDBError("malformed tree note")
    record_id, tree_size = int(head), int(size_text)
    if record_id >= tree_size:
        raise SumDBError("lookup record is not in the signed tree")
    return Lookup(record_id=record_id, text=text, tree_size=tree_size, tree_hash=tree_hash)


def record_hashes(lookup: Lookup, module: str, version: str) -> tuple[str, str]:
    """(zip hash, go.mod hash) the record states for module@version; SumDBError if it has neither."""
    zip_hash = mod_hash = ""
    for line in lookup.text.decode().split("\n"):
        fields = line.split(" ")
        if len(fields) != 3 or fields[0] != module:
            continue
        if fields[1] == version:
            zip_hash = fields[2]
        elif fields[1] == version + "/go.mod":
            mod_hash = fields[2]
    if not zip_hash and not mod_hash:
        raise SumDBError(f"lookup record does not mention {module} {version}")
    return zip_hash, mod_hash


# --- the tree (golang.org/x/mod/sumdb/tlog) -------------------------------------------------------

Node = tuple[int, int]  # (level, index): the complete subtree over records [index<<level, (index+1)<<level)


def record_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _maxpow2(n: int) -> int:
    """The largest power of two strictly below n (1 for n <= 2), as tlog's maxpow2."""
    return 1 << max((n - 1).bit_length() - 1, 0)


def _subtree_nodes(lo: int, hi: int) -> list[Node]:
    nodes: list[Node] = []
    while lo < hi:
        k = _maxpow2(hi - lo + 1)
        level = k.bit_length() - 1
        if lo & (k - 1):
            raise SumDBError("bad tree math")
        nodes.append((level, lo >> level))
        lo += k
    return nodes


def _walk(lo: int, hi: int, n: int) -> list[tuple[bool, int, int]]:
    """The path from the root of [lo, hi) to record n: (went left, sibling lo, sibling hi) per step."""
    steps: list[tuple[bool, int, int]] = []
    while lo + 1 != hi:
        k = _maxpow2(hi - lo)
        if n < lo + k:
            steps.append((True, lo + k, hi))
            hi = lo + k
        else:
            steps.append((False, lo, lo + k))
            lo = lo + k
    return steps


def proof_nodes(lookup: Lookup) -> list[Node]:
    """The subtree hashes an inclusion proof of the record needs (tlog.leafProofIndex)."""
    return [
        node for _, lo, hi in _walk(0, lookup.tree_size, lookup.record_id) for node in _subtree_nodes(lo, hi)
    ]


def tile_for_node(node: Node, tree_size: int, height: int = TILE_HEIGHT) -> tuple[Tile, int, int]:
    """The tile (at its width for `tree_size`) holding `node`, and the node's hash range in it."""
    level, index = node
    tile_level = level // height
    sub = level - tile_level * height
    first = index << sub
    number = first >> height
    start = first - (number << height)
    end = start + (1 << sub)
    width = min(1 << height, (tree_size >> (tile_level * height)) - (number << height))
    if end > width:
        raise SumDBError("node is not in the tree")
    return Tile(height, tile_level, number, width), start * HASH_SIZE, end * HASH_SIZE


def tiles_needed(lookup: Lookup, height: int = TILE_HEIGHT) -> list[Tile]:
    """The tiles to read to prove the record, each once."""
    seen: dict[Tile, None] = {}
    for node in proof_nodes(lookup):
        seen.setdefault(tile_for_node(node, lookup.tree_size, height)[0])
    return list(seen)


def _tile_hash(data: bytes) -> bytes:
    if len(data) == HASH_SIZE:
        return data
    half = len(data) // 2
    return node_hash(_tile_hash(data[:half]), _tile_hash(data[half:]))


def check_inclusion(lookup: Lookup, tiles: Mapping[Tile, bytes], height: int = TILE_HEIGHT) -> None:
    """Prove the record is in the signed tree using hashes from `tiles`; SumDBError if it is not.

    Whatever the tiles contain, only the signed tree hash decides: a forged tile or record gives
    another root.
    """

    def stored(node: Node) -> bytes:
        tile, start, end = tile_for_node(node, lookup.tree_size, height)
        data = tiles.get(tile)
        if data is None or len(data) != tile.w * HASH_SIZE:
            raise SumDBError(f"tile {tile.path()} missing or of the wrong size")
        return _tile_hash(data[start:end])

    def subtree(lo: int, hi: int) -> bytes:
        nodes = _subtree_nodes(lo, hi)
        h = stored(nodes[-1])
        for node in reversed(nodes[:-1]):
            h = node_hash(stored(node), h)
        return h

    h = record_hash(lookup.text)
    for went_left, lo, hi in reversed(_walk(0, lookup.tree_size, lookup.record_id)):
        sibling = subtree(lo, hi)
        h = node_hash(h, sibling) if went_left else node_hash(sibling, h)
    if h != lookup.tree_hash:
        raise SumDBError("record is not in the signed tree (inclusion proof failed)")
