"""The Merkle engine against RFC 9162 written out a second time, by hand and by pymerkle."""

from __future__ import annotations

import contextlib
import hashlib
import random

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcledger.anchoring import merkle, tree
from mcledger.anchoring.errors import InvalidProofError, MerkleError
from mcledger.anchoring.merkle import (
    EMPTY_ROOT,
    ConsistencyProof,
    InclusionProof,
    consistency_path_length,
    inclusion_path_length,
    root_from_inclusion_path,
    verify_consistency,
    verify_inclusion,
)
from mcledger.anchoring.tree import MerkleTree, build_levels, build_levels_packed, merkle_root


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digests(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(32) for _ in range(n)]


# --- RFC 9162 §2.1, written out recursively: the reference, not the code under test -----


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = split(len(d))
    return sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = split(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = split(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(d)) else ref_subproof(m, d, True)


def rfc_verify_inclusion(leaf: bytes, index: int, size: int, path: tuple[bytes, ...]) -> bytes:
    """RFC 9162 §2.1.3.2 step by step; returns the computed root or raises ValueError."""
    if index >= size:
        raise ValueError("index")
    fn, sn, r = index, size - 1, sha(b"\x00" + leaf)
    for p in path:
        if sn == 0:
            raise ValueError("too long")
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("too short")
    return r


# --- fixed vectors, every node spelled out -----------------------------------------------

A, B, C, D, E, F, G = (bytes([i]) * 32 for i in range(1, 8))
LA, LB, LC, LD, LE, LF, LG = (sha(b"\x00" + x) for x in (A, B, C, D, E, F, G))
AB = sha(b"\x01" + LA + LB)
CD = sha(b"\x01" + LC + LD)
EF = sha(b"\x01" + LE + LF)
ABCD = sha(b"\x01" + AB + CD)
EFG = sha(b"\x01" + EF + LG)
ROOT = {
    0: sha(b""),
    1: LA,
    2: AB,
    3: sha(b"\x01" + AB + LC),
    5: sha(b"\x01" + ABCD + LE),
    7: sha(b"\x01" + ABCD + EFG),
}
SEVEN = [A, B, C, D, E, F, G]


@pytest.mark.parametrize("size", sorted(ROOT))
@pytest.mark.parametrize("accelerate", [False, True])
def test_fixed_roots(size: int, accelerate: bool) -> None:
    assert merkle_root(SEVEN[:size], accelerate=accelerate) == ROOT[size]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleTree.from_leaves([]).root == EMPTY_ROOT


@pytest.mark.parametrize(
    ("size", "index", "path"),
    [
        (1, 0, []),
        (2, 1, [LA]),
        (3, 2, [AB]),
        (3, 0, [LB, LC]),
        (5, 4, [ABCD]),
        (5, 2, [LD, AB, LE]),
        (7, 6, [EF, ABCD]),
        (7, 4, [LF, LG, ABCD]),
        (7, 3, [LC, AB, EFG]),
    ],
)
def test_fixed_inclusion_paths(size: int, index: int, path: list[bytes]) -> None:
    proof = MerkleTree.from_leaves(SEVEN[:size]).inclusion_proof(index)
    assert proof == InclusionProof(index, size, tuple(path), ROOT[size])
    verify_inclusion(SEVEN[index], proof)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (1, 2, [LB]),
        (2, 3, [LC]),
        (3, 5, [LC, LD, AB, LE]),
        (2, 7, [CD, EFG]),
        (5, 7, [LE, LF, LG, ABCD]),
        (3, 7, [LC, LD, AB, EFG]),
    ],
)
def test_fixed_consistency_paths(old: int, new: int, path: list[bytes]) -> None:
    proof = MerkleTree.from_leaves(SEVEN[:new]).consistency_proof(old)
    assert proof == ConsistencyProof(old, new, tuple(path), ROOT[old], ROOT[new])
    verify_consistency(proof)


# --- the fast builder equals the recursive definition ------------------------------------


def test_levels_equal_recursive_reference_for_every_size_to_300() -> None:
    leaves = digests(300)
    for n in range(301):
        expected = ref_mth(leaves[:n])
        assert merkle_root(leaves[:n], accelerate=False) == expected, n
        assert merkle_root(leaves[:n], accelerate=True) == expected, n


@pytest.mark.skipif(not merkle.HAVE_C_ACCELERATOR, reason="C accelerator not built")
def test_c_and_pure_levels_are_identical() -> None:
    packed = b"".join(digests(5000, seed=3))
    sizes = [*range(0, 130), 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097, 5000]
    for n in sizes:
        data = packed[: 32 * n]
        assert build_levels_packed(data, accelerate=True) == build_levels_packed(
            data, accelerate=False
        ), n


def test_any_leaf_length_uses_the_pure_path() -> None:
    leaves = [b"", b"x", bytes(33), bytes(32), b"a longer leaf of any length"]
    for n in range(len(leaves) + 1):
        assert merkle_root(leaves[:n]) == ref_mth(leaves[:n])


def test_module_flag_forces_the_pure_path(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refuse:
        def __getattr__(self, name: str) -> None:
            raise AssertionError("the C path was used")

    monkeypatch.setattr(merkle, "_c", Refuse())
    monkeypatch.setattr(merkle, "ACCELERATE", False)
    leaves = digests(33)
    assert merkle_root(leaves) == ref_mth(leaves)
    proof = tree.inclusion_proof(leaves, 7)
    verify_inclusion(leaves[7], proof)
    with pytest.raises(AssertionError, match="C path"):
        merkle_root(leaves, accelerate=True)


@pytest.mark.skipif(not merkle.HAVE_C_ACCELERATOR, reason="C accelerator not built")
def test_c_fold_equals_pure_fold() -> None:
    rng = random.Random(5)
    for _ in range(300):
        length = rng.randrange(0, 40)
        path = tuple(rng.randbytes(32) for _ in range(length))
        mask, seed = rng.getrandbits(length or 1), rng.randbytes(32)
        assert merkle._c is not None
        assert merkle._c.fold_path(seed, mask, path) == merkle._fold_path_pure(seed, mask, path)


def test_packed_digests_must_be_whole() -> None:
    with pytest.raises(MerkleError, match="multiple of 32"):
        build_levels_packed(bytes(33))
    assert build_levels([]) == []


# --- inclusion -------------------------------------------------------------------------------


def test_every_leaf_verifies_for_every_size_to_300() -> None:
    leaves = digests(300, seed=1)
    for n in range(1, 301):
        t = MerkleTree.from_leaves(leaves[:n])
        for i in range(n):
            proof = t.inclusion_proof(i)
            verify_inclusion(leaves[i], proof)
            if n <= 70:
                assert list(proof.audit_path) == ref_path(i, leaves[:n])
                verify_inclusion(leaves[i], proof, accelerate=False)
                assert rfc_verify_inclusion(leaves[i], i, n, proof.audit_path) == t.root


def test_path_length_follows_from_index_and_size() -> None:
    for n in range(1, 41):
        for i in range(n):
            inner, border = inclusion_path_length(i, n)
            assert inner + border == len(ref_path(i, [b""] * n))


def flip(value: bytes, bit: int) -> bytes:
    b = bytearray(value)
    b[bit // 8 % len(b)] ^= 1 << bit % 8
    return bytes(b)


@settings(max_examples=400, deadline=None)
@given(
    size=st.integers(1, 300),
    data=st.data(),
    target=st.sampled_from(["leaf", "path", "index", "size", "root"]),
    bit=st.integers(0, 255),
)
def test_any_flipped_bit_fails(size: int, data: st.DataObject, target: str, bit: int) -> None:
    leaves = digests(size, seed=size)
    index = data.draw(st.integers(0, size - 1))
    proof = MerkleTree.from_leaves(leaves).inclusion_proof(index)
    leaf, path = leaves[index], list(proof.audit_path)
    i, n, root = proof.leaf_index, proof.tree_size, proof.root
    if target == "leaf":
        leaf = flip(leaf, bit)
    elif target == "path":
        if not path:
            return
        k = data.draw(st.integers(0, len(path) - 1))
        path[k] = flip(path[k], bit)
    elif target == "index":
        i ^= 1 << (bit % 10)
    elif target == "size":
        n ^= 1 << (bit % 10)
    else:
        root = flip(root, bit)
    if not 0 <= i < n:
        with pytest.raises(MerkleError):
            InclusionProof(i, n, tuple(path), root)
        return
    tampered = InclusionProof(i, n, tuple(path), root)
    for accelerate in (False, True):
        with pytest.raises(InvalidProofError):  # against the trusted (anchored) root and size
            verify_inclusion(leaf, tampered, root=proof.root, tree_size=size, accelerate=accelerate)
        if target != "size":  # a path does not bind the size: e.g. leaf 0 of 5 and of 7
            with pytest.raises(InvalidProofError):
                verify_inclusion(leaf, tampered, accelerate=accelerate)
    with contextlib.suppress(ValueError):  # the RFC algorithm may reject it outright
        assert rfc_verify_inclusion(leaf, i, n, tampered.audit_path) != root or target == "size"


def test_size_is_bound_only_by_the_trusted_size() -> None:
    proof = MerkleTree.from_leaves(SEVEN[:5]).inclusion_proof(0)
    resized = InclusionProof(0, 7, proof.audit_path, proof.root)
    verify_inclusion(A, resized)  # RFC 9162 accepts it: the same path shape
    with pytest.raises(InvalidProofError, match="tree size 7, expected 5"):
        verify_inclusion(A, resized, tree_size=5)


def test_wrong_length_is_refused_before_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    leaves = digests(11)
    proof = MerkleTree.from_leaves(leaves).inclusion_proof(4)

    def no_hashing(*_: object) -> bytes:
        raise AssertionError("hashed before checking the length")

    monkeypatch.setattr(merkle, "_fold_path_pure", no_hashing)
    for path in (proof.audit_path[:-1], (*proof.audit_path, proof.root), ()):
        with pytest.raises(InvalidProofError, match=f"must have {len(proof.audit_path)} hashes"):
            root_from_inclusion_path(merkle.leaf_hash(leaves[4]), 4, 11, path, accelerate=False)


def test_failure_says_expected_and_computed() -> None:
    leaves = digests(6)
    proof = MerkleTree.from_leaves(leaves).inclusion_proof(2)
    with pytest.raises(InvalidProofError) as exc:
        verify_inclusion(leaves[3], proof)
    assert f"expected root {proof.root.hex()}" in str(exc.value)
    assert "computed" in str(exc.value)
    with pytest.raises(InvalidProofError, match="expected"):
        verify_inclusion(leaves[2], proof, root=bytes(32))
    verify_inclusion(leaves[2], proof, root=proof.root)


# --- consistency -----------------------------------------------------------------------------


def test_consistency_for_every_pair_to_64() -> None:
    leaves = digests(64, seed=2)
    for n in range(1, 65):
        t = MerkleTree.from_leaves(leaves[:n])
        for m in range(0, n + 1):
            proof = t.consistency_proof(m)
            assert list(proof.path) == ref_proof(m, leaves[:n]), (m, n)
            assert len(proof.path) == consistency_path_length(m, n)
            assert proof.old_root == ref_mth(leaves[:m])
            verify_consistency(proof, old_root=ref_mth(leaves[:m]), new_root=t.root)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), data=st.data())
def test_consistency_for_random_larger_pairs(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(0, n))
    leaves = digests(n, seed=n)
    proof = MerkleTree.from_leaves(leaves).consistency_proof(m)
    verify_consistency(proof, old_root=merkle_root(leaves[:m]), new_root=merkle_root(leaves))


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(2, 200),
    data=st.data(),
    target=st.sampled_from(["path", "old_root", "new_root", "old_size", "new_size", "drop", "add"]),
    bit=st.integers(0, 255),
)
def test_tampered_consistency_fails(n: int, data: st.DataObject, target: str, bit: int) -> None:
    m = data.draw(st.integers(1, n - 1))
    leaves = digests(n, seed=n)
    good = MerkleTree.from_leaves(leaves).consistency_proof(m)
    path, old, new = list(good.path), good.old_root, good.new_root
    old_size, new_size = good.old_size, good.new_size
    if target == "path":
        k = data.draw(st.integers(0, len(path) - 1))
        path[k] = flip(path[k], bit)
    elif target == "old_root":
        old = flip(old, bit)
    elif target == "new_root":
        new = flip(new, bit)
    elif target == "old_size":
        old_size = data.draw(st.integers(1, n).filter(lambda s: s != m))
    elif target == "new_size":
        new_size = data.draw(st.integers(m, 2 * n).filter(lambda s: s != n))
    elif target == "drop":
        path.pop(data.draw(st.integers(0, len(path) - 1)))
    else:
        path.insert(data.draw(st.integers(0, len(path))), bytes(32))
    if old_size > new_size:
        with pytest.raises(MerkleError):
            ConsistencyProof(old_size, new_size, tuple(path), old, new)
        return
    tampered = ConsistencyProof(old_size, new_size, tuple(path), old, new)
    with pytest.raises(InvalidProofError):  # against the trusted (anchored) roots and sizes
        verify_consistency(
            tampered, old_root=good.old_root, new_root=good.new_root, old_size=m, new_size=n
        )
    if target not in ("old_size", "new_size"):  # a path does not bind the sizes
        with pytest.raises(InvalidProofError):
            verify_consistency(tampered)


def test_consistency_edge_cases() -> None:
    leaves = digests(5)
    root = merkle_root(leaves)
    verify_consistency(ConsistencyProof(5, 5, (), root, root))
    verify_consistency(ConsistencyProof(0, 5, (), EMPTY_ROOT, root))
    with pytest.raises(InvalidProofError, match="equal roots"):
        verify_consistency(ConsistencyProof(5, 5, (), root, bytes(32)))
    with pytest.raises(InvalidProofError, match="empty tree"):
        verify_consistency(ConsistencyProof(0, 5, (), root, root))
    with pytest.raises(InvalidProofError, match="must have 0 hashes"):
        verify_consistency(ConsistencyProof(5, 5, (root,), root, root))
    with pytest.raises(InvalidProofError, match="expected"):
        good = tree.consistency_proof(leaves, 3)
        verify_consistency(good, new_root=bytes(32))
    with pytest.raises(MerkleError, match="old size"):
        tree.consistency_proof(leaves, 6)


# --- the public JSON form --------------------------------------------------------------------


def test_inclusion_proof_json_round_trip() -> None:
    proof = MerkleTree.from_leaves(SEVEN).inclusion_proof(5)
    data = proof.to_json()
    assert data == {
        "leafIndex": 5,
        "treeSize": 7,
        "auditPath": [LE.hex(), LG.hex(), ABCD.hex()],
        "root": ROOT[7].hex(),
    }
    assert InclusionProof.from_json(data) == proof
    consistency = MerkleTree.from_leaves(SEVEN).consistency_proof(3)
    assert ConsistencyProof.from_json(consistency.to_json()) == consistency


GOOD = {"leafIndex": 1, "treeSize": 2, "auditPath": [LA.hex()], "root": AB.hex()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root": AB.hex().upper()}, "lowercase"),
        ({"root": AB.hex()[:-2]}, "64 hex characters, got 62"),
        ({"root": "zz" * 32}, "not hex"),
        ({"root": 5}, "must be a string"),
        ({"auditPath": [LA.hex() + "00"]}, r"auditPath\[0\] must be 64 hex"),
        ({"auditPath": LA.hex()}, "must be a list"),
        ({"leafIndex": "1"}, "leafIndex must be an integer"),
        ({"leafIndex": True}, "leafIndex must be an integer"),
        ({"leafIndex": -1}, "leafIndex must be an integer"),
        ({"leafIndex": 2}, "must be below treeSize"),
        ({"treeSize": 1.5}, "treeSize must be an integer"),
        ({"extra": 1}, "unexpected fields"),
    ],
)
def test_strict_json_parsing(change: dict[str, object], message: str) -> None:
    with pytest.raises(MerkleError, match=message):
        InclusionProof.from_json(GOOD | change)


def test_json_missing_field_and_non_object() -> None:
    with pytest.raises(MerkleError, match="missing fields"):
        InclusionProof.from_json({k: v for k, v in GOOD.items() if k != "root"})
    with pytest.raises(MerkleError, match="JSON object"):
        InclusionProof.from_json([GOOD])


# --- interop: pymerkle 7 as an independent implementation ------------------------------------


def pymerkle_tree(leaves: list[bytes]) -> pymerkle.InmemoryTree:
    t = pymerkle.InmemoryTree(algorithm="sha256")
    assert (t.leaf_prefix, t.node_prefix) == (b"\x00", b"\x01")  # RFC 9162 prefixes
    for leaf in leaves:
        t.append_entry(leaf)
    return t


def test_pymerkle_agrees_on_roots_and_audit_paths() -> None:
    leaves = digests(70, seed=9)
    for n in range(1, 71):
        theirs = pymerkle_tree(leaves[:n])
        ours = MerkleTree.from_leaves(leaves[:n])
        assert theirs.get_root() == ours.root
        for i in range(n):
            proof = ours.inclusion_proof(i)
            their_proof = theirs.prove_inclusion(i + 1)  # pymerkle counts leaves from 1
            assert their_proof.path[1:] == list(proof.audit_path)
            # Our path, laid out the way pymerkle verifies it: bit 1 = sibling on the left.
            inner, border = inclusion_path_length(i, n)
            rule = [(i >> k) & 1 if k < inner else 1 for k in range(inner + border)] + [0]
            as_theirs = pymerkle.InclusionProof(
                "sha256", True, n, i + 1, rule, [merkle.leaf_hash(leaves[i]), *proof.audit_path]
            )
            pymerkle.verify_inclusion(merkle.leaf_hash(leaves[i]), ours.root, as_theirs)


def test_pymerkle_roots_anchor_our_consistency_proofs() -> None:
    # pymerkle's consistency paths have another layout (a subset mask, a deeper base), so
    # its proofs are not ours byte for byte; its roots are the independent check here.
    leaves = digests(40, seed=4)
    theirs = pymerkle_tree(leaves)
    for n in range(1, 41):
        ours = MerkleTree.from_leaves(leaves[:n])
        for m in range(1, n + 1):
            proof = ours.consistency_proof(m)
            verify_consistency(proof, old_root=theirs.get_root(m), new_root=theirs.get_root(n))
            theirs.prove_consistency(m, n).verify(theirs.get_root(m), theirs.get_root(n))
