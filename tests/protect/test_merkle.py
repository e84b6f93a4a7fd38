"""The RFC 9162 Merkle Tree Hash: hand-built small trees, the Certificate Transparency
reference roots, and properties over random leaves (pure, no I/O)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huddle.protect.merkle import MerkleTreeBuilder, leaf_hash, merkle_root, node_hash


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, word for word: split at the largest power of two below n."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(reference_root(leaves[:k]), reference_root(leaves[k:]))


A, B, C, D, E = b"a", b"b", b"c", b"d", b"e"

HAND_BUILT = [
    pytest.param([], sha256(b""), id="0 leaves"),
    pytest.param([A], leaf(A), id="1 leaf"),
    pytest.param([A, B], node(leaf(A), leaf(B)), id="2 leaves"),
    pytest.param([A, B, C], node(node(leaf(A), leaf(B)), leaf(C)), id="3 leaves"),
    pytest.param(
        [A, B, C, D, E],
        node(node(node(leaf(A), leaf(B)), node(leaf(C), leaf(D))), leaf(E)),
        id="5 leaves",
    ),
]


@pytest.mark.parametrize(("leaves", "expected"), HAND_BUILT)
def test_root_of_hand_built_trees(leaves: list[bytes], expected: bytes) -> None:
    assert merkle_root(leaves) == expected


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == sha256(b"\x00x")
    assert node_hash(b"l", b"r") == sha256(b"\x01lr")
    # A two-leaf tree's root is not the leaf hash of the two hashes joined.
    assert merkle_root([A, B]) != leaf_hash(leaf(A) + leaf(B))


# The test vectors every Certificate Transparency implementation checks against
# (certificate-transparency, Trillian): roots of the first n of these leaves.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_matches_the_certificate_transparency_reference_roots(size: int) -> None:
    assert merkle_root(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


leaf_lists = st.lists(st.binary(max_size=8), max_size=70)


@settings(max_examples=60, deadline=None)
@given(leaf_lists)
def test_every_prefix_root_matches_the_rfc_recursion(leaves: list[bytes]) -> None:
    builder = MerkleTreeBuilder()
    assert builder.root() == reference_root([])
    for size, item in enumerate(leaves, start=1):
        builder.append(item)
        assert builder.size == size
        assert builder.root() == reference_root(leaves[:size])


distinct_leaves = st.lists(st.binary(max_size=8), min_size=2, max_size=40, unique=True)


@settings(max_examples=50, deadline=None)
@given(distinct_leaves, st.data())
def test_changing_any_leaf_changes_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1), label="index")
    replacement = data.draw(st.binary(max_size=9).filter(lambda b: b != leaves[index]))
    changed = [*leaves[:index], replacement, *leaves[index + 1 :]]
    assert merkle_root(changed) != merkle_root(leaves)


@settings(max_examples=50, deadline=None)
@given(distinct_leaves, st.data())
def test_reordering_leaves_changes_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    reordered = data.draw(st.permutations(leaves).filter(lambda p: p != leaves))
    assert merkle_root(reordered) != merkle_root(leaves)


@settings(max_examples=30, deadline=None)
@given(distinct_leaves)
def test_dropping_the_last_leaf_changes_the_root(leaves: list[bytes]) -> None:
    assert merkle_root(leaves[:-1]) != merkle_root(leaves)
