"""Merkle Tree Hash of RFC 9162 (Certificate Transparency v2), the same tree as RFC 6962.

A leaf hashes as SHA-256(0x00 || leaf) and an inner node as SHA-256(0x01 || left ||
right), so a leaf can never pass for a node. A tree of n > 1 leaves splits at the largest
power of two below n; the tree of no leaves hashes as SHA-256 of the empty string.

Pure: no I/O. The incremental form keeps only O(log n) hashes, so a log of any length
can be hashed while it streams past, taking the root at any size on the way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || leaf)."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class MerkleTreeBuilder:
    """Appends leaves one at a time; `root()` is the Merkle Tree Hash of the leaves so far.

    Keeps the roots of the perfect subtrees that make up the tree (one per set bit of the
    size, largest first), which is all the RFC's split-at-a-power-of-two rule needs.
    """

    def __init__(self) -> None:
        self._size = 0
        # (height, root) of each perfect subtree, left to right; heights strictly fall.
        self._subtrees: list[tuple[int, bytes]] = []

    @property
    def size(self) -> int:
        """How many leaves have been appended."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add one leaf (its raw bytes, not its hash) at the right-hand end."""
        height, digest = 0, leaf_hash(leaf)
        while self._subtrees and self._subtrees[-1][0] == height:
            _, left = self._subtrees.pop()
            height, digest = height + 1, node_hash(left, digest)
        self._subtrees.append((height, digest))
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append each leaf in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The Merkle Tree Hash of every leaf appended so far (32 bytes)."""
        if not self._subtrees:
            return EMPTY_ROOT
        digest = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            digest = node_hash(left, digest)
        return digest


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The RFC 9162 Merkle Tree Hash of `leaves` (raw leaf bytes), 32 bytes."""
    builder = MerkleTreeBuilder()
    builder.extend(leaves)
    return builder.root()
