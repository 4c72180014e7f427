"""The revocation set (anchoring.revocation_set, anchoring.revocation_proof): roots against a
naive reference written here from docs/formats.md, proofs for members and non-members, any
bit flip in a proof or a wrong root refused, order independence, strict parsing, and bad input
that changes nothing."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mcledger.anchoring.errors import InvalidRevocationProofError, RevocationSetError
from mcledger.anchoring.revocation_proof import (
    EMPTY,
    PROOF_VERSION,
    RevocationLeaf,
    RevocationProof,
    RevocationRecord,
    verify,
)
from mcledger.anchoring.revocation_set import RevocationSet

# -- the reference: the definition in docs/formats.md, as directly as it can be written -------


def reference_root(entries: dict[bytes, tuple[int, int]], prefix: str = "") -> bytes:
    """Root over {digest: (reason, revokedAt)}, keys as bit strings: no buckets, no bisect."""
    inside = {d: r for d, r in entries.items() if bits(d).startswith(prefix)}
    if not inside:
        return bytes(32)
    if len(inside) == 1:
        ((digest, (reason, at)),) = inside.items()
        return hashlib.sha256(
            bytes([2]) + digest + bytes([reason]) + at.to_bytes(8, "big")
        ).digest()
    left, right = reference_root(inside, prefix + "0"), reference_root(inside, prefix + "1")
    return hashlib.sha256(bytes([3]) + left + right).digest()


def bits(digest: bytes) -> str:
    return bin(int.from_bytes(digest, "big"))[2:].zfill(256)


# -- strategies --------------------------------------------------------------------------------

records = st.builds(RevocationRecord, st.integers(0, 5), st.integers(1, 2**64 - 1))


@st.composite
def digests(draw: st.DrawFn) -> bytes:
    """Random digests, and digests that share long prefixes (neighbours deep in the tree)."""
    shared = draw(st.sampled_from([0, 0, 1, 2, 16, 30, 31]))
    head = draw(st.sampled_from([b"\x5a" * 31, b"\x00" * 31, b"\xff" * 31]))[:shared]
    tail = draw(st.binary(min_size=32 - shared, max_size=32 - shared))
    digest = head + tail
    assume(digest != bytes(32))
    return digest


entry_maps = st.dictionaries(digests(), records, max_size=40)


def as_reference(entries: dict[bytes, RevocationRecord]) -> dict[bytes, tuple[int, int]]:
    return {d: (r.reason, r.revoked_at) for d, r in entries.items()}


# -- roots -------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(entries=entry_maps)
def test_root_and_size_agree_with_the_reference(entries: dict[bytes, RevocationRecord]) -> None:
    revoked = RevocationSet.build(entries.items())
    assert revoked.root == reference_root(as_reference(entries))
    assert revoked.size == len(revoked) == len(entries)


@settings(max_examples=100, deadline=None)
@given(entries=entry_maps, data=st.data())
def test_insertion_order_and_flush_boundaries_do_not_change_the_root(
    entries: dict[bytes, RevocationRecord], data: st.DataObject
) -> None:
    items = data.draw(st.permutations(list(entries.items())))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=4)))
    revoked = RevocationSet()
    for start, end in zip([0, *cuts], [*cuts, len(items)], strict=True):
        revoked.insert(items[start:end])
    assert revoked.root == RevocationSet.build(entries.items()).root
    assert revoked.size == len(entries)


@settings(max_examples=50, deadline=None)
@given(entries=entry_maps, more=st.dictionaries(digests(), records, max_size=8))
def test_a_copy_grows_apart_from_its_original(
    entries: dict[bytes, RevocationRecord], more: dict[bytes, RevocationRecord]
) -> None:
    original = RevocationSet.build(entries.items())
    root, size = original.root, original.size
    grown = original.copy()
    grown.insert(more.items())
    assert (original.root, original.size) == (root, size)  # the original is untouched
    assert grown.root == reference_root(
        {d: (r.reason, r.revoked_at) for d, r in ({**more, **entries}).items()}
    )
    for digest in more:
        verify(grown.root, digest, grown.prove(digest))
        verify(original.root, digest, original.prove(digest))


def test_known_answer() -> None:
    """Pins the format: an implementation elsewhere must reach this root (docs/formats.md)."""
    one, two, three = (hashlib.sha256(bytes([i])).digest() for i in (1, 2, 3))
    revoked = RevocationSet()
    assert revoked.root == EMPTY
    revoked.insert_many([one], RevocationRecord(2, 1_767_225_600))
    assert revoked.root.hex() == (
        hashlib.sha256(b"\x02" + one + b"\x02" + (1_767_225_600).to_bytes(8, "big")).hexdigest()
    )
    revoked.insert_many([two, three], RevocationRecord(1, 1_767_312_000))
    # one = 0x4b…, two = 0xdb…, three = 0x08…: root = node(node(leaf(three), leaf(one)), leaf(two))
    assert revoked.root.hex() == "4093311b58bcdd7f906b796fe1926adef96dc3d1201e1016ae7aa4d6f34255bb"


def test_a_digest_keeps_its_first_record() -> None:
    digest, later = hashlib.sha256(b"d").digest(), hashlib.sha256(b"e").digest()
    revoked = RevocationSet()
    assert revoked.insert_many([digest, digest], RevocationRecord(1, 10)) == 1
    root = revoked.root
    assert revoked.insert_many([digest], RevocationRecord(5, 20)) == 0
    assert (revoked.root, revoked.record_of(digest)) == (root, RevocationRecord(1, 10))
    assert (
        revoked.insert([(later, RevocationRecord(3, 30)), (digest, RevocationRecord(4, 40))]) == 1
    )
    assert revoked.record_of(digest) == RevocationRecord(1, 10)
    assert dict(revoked.entries()) == {
        digest: RevocationRecord(1, 10),
        later: RevocationRecord(3, 30),
    }


@pytest.mark.parametrize(
    "bad",
    [bytes(32), b"\x01" * 31, b"\x01" * 33, "ab" * 32, None, bytearray(32)],
    ids=["zero", "short", "long", "hex-string", "none", "bytearray"],
)
def test_a_bad_digest_refuses_the_whole_flush(bad: object) -> None:
    revoked = RevocationSet.build([(b"\x01" * 32, RevocationRecord(0, 1))])
    root = revoked.root
    with pytest.raises(RevocationSetError, match=r"digests\[1\]"):
        revoked.insert_many([b"\x02" * 32, bad, b"\x03" * 32], RevocationRecord(0, 1))  # type: ignore[list-item]
    assert (revoked.root, revoked.size, b"\x02" * 32 in revoked) == (root, 1, False)
    with pytest.raises(RevocationSetError, match=r"entries\[0\]"):
        revoked.insert([(b"\x02" * 32, (0, 1))])  # type: ignore[list-item]
    assert revoked.size == 1


@pytest.mark.parametrize(
    ("reason", "at"), [(6, 1), (-1, 1), (True, 1), (0, 0), (0, 2**64), (0, 1.5)]
)
def test_a_bad_record_is_refused(reason: object, at: object) -> None:
    with pytest.raises(RevocationSetError, match="reason|revokedAt"):
        RevocationRecord(reason, at)  # type: ignore[arg-type]


# -- proofs ------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(entries=entry_maps, others=st.lists(digests(), max_size=8))
def test_proofs_verify_for_members_and_non_members(
    entries: dict[bytes, RevocationRecord], others: list[bytes]
) -> None:
    revoked = RevocationSet.build(entries.items())
    for digest in [*entries, *others]:
        proof = revoked.prove(digest)
        assert verify(revoked.root, digest, proof) == (
            digest in entries,
            entries.get(digest),
        )
        assert RevocationProof.loads(proof.dumps()) == proof
        # The compressed form: a sibling listed only where the bitmap says it is non-empty.
        assert len(proof.bitmap) == (proof.depth + 7) // 8
        assert EMPTY not in proof.siblings


@settings(max_examples=100, deadline=None)
@given(entries=entry_maps, asked=digests(), other=digests())
def test_a_proof_never_lies_about_another_digest(
    entries: dict[bytes, RevocationRecord], asked: bytes, other: bytes
) -> None:
    """A proof made for one digest, checked for another, either fails or tells the truth (a
    non-membership proof ending at an empty subtree or at another entry holds for every
    digest on that path)."""
    revoked = RevocationSet.build(entries.items())
    proof = revoked.prove(asked)
    try:
        verdict = verify(revoked.root, other, proof)
    except InvalidRevocationProofError:
        return
    assert verdict == (other in entries, entries.get(other))


@settings(max_examples=8, deadline=None)
@given(entries=st.dictionaries(digests(), records, min_size=1, max_size=12), data=st.data())
def test_every_bit_flip_of_a_proof_and_a_wrong_root_are_refused(
    entries: dict[bytes, RevocationRecord], data: st.DataObject
) -> None:
    revoked = RevocationSet.build(entries.items())
    member = data.draw(st.sampled_from(sorted(entries)))
    absent = data.draw(digests().filter(lambda d: d not in entries))
    for digest in (member, absent):
        text = revoked.prove(digest).dumps().encode()
        for position in range(len(text)):
            for bit in range(8):
                flipped = bytearray(text)
                flipped[position] ^= 1 << bit
                with pytest.raises(RevocationSetError):
                    verify(revoked.root, digest, RevocationProof.loads(bytes(flipped)))
        proof = RevocationProof.loads(text)
        for wrong in (EMPTY, bytes([revoked.root[0] ^ 1]) + revoked.root[1:]):
            with pytest.raises(InvalidRevocationProofError, match="not to the committed root"):
                verify(wrong, digest, proof)


def test_empty_and_single_entry_sets() -> None:
    digest = hashlib.sha256(b"only").digest()
    empty = RevocationSet()
    proof = empty.prove(digest)
    assert (proof.depth, proof.bitmap, proof.siblings, proof.leaf) == (0, b"", (), None)
    assert verify(EMPTY, digest, proof) == (False, None)
    single = RevocationSet.build([(digest, RevocationRecord(4, 99))])
    proof = single.prove(digest)
    assert (proof.depth, proof.leaf) == (0, RevocationLeaf(digest, RevocationRecord(4, 99)))
    assert verify(single.root, digest, proof) == (True, RevocationRecord(4, 99))
    other = hashlib.sha256(b"other").digest()
    assert verify(single.root, other, single.prove(other)) == (False, None)


# -- the JSON form, parsed strictly -----------------------------------------------------------


def _sample() -> dict[str, object]:
    revoked = RevocationSet.build(
        [(hashlib.sha256(bytes([i])).digest(), RevocationRecord(1, 5)) for i in range(20)]
    )
    return revoked.prove(hashlib.sha256(b"\x00").digest()).to_json()


def _with(**change: object) -> dict[str, object]:
    body = _sample()
    body.update(change)
    return body


def test_the_json_form() -> None:
    body = _sample()
    assert list(body) == ["version", "depth", "bitmap", "siblings", "leaf"]
    assert body["version"] == PROOF_VERSION == "mcledger-revocation-proof/1"
    assert list(body["leaf"]) == ["digest", "reason", "revokedAt"]  # type: ignore[arg-type]
    assert RevocationProof.from_json(body).to_json() == body


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown fields"),
        ({"version": "mcledger-revocation-proof/2"}, "version"),
        ({"depth": True}, "depth"),
        ({"depth": 257}, "depth"),
        ({"bitmap": "FF"}, "bitmap"),
        ({"siblings": "00"}, "siblings"),
        ({"leaf": {"digest": "00" * 32, "reason": 1, "revokedAt": 5}}, "zero"),
        ({"leaf": {"digest": "11" * 32, "reason": 1, "revokedAt": 5, "note": 1}}, "unknown"),
        ({"leaf": {"digest": "11" * 32, "reason": 1.0, "revokedAt": 5}}, "reason"),
    ],
)
def test_strict_parsing_refuses(change: dict[str, object], message: str) -> None:
    with pytest.raises(RevocationSetError, match=message):
        RevocationProof.from_json(_with(**change))


def test_strict_parsing_refuses_a_missing_field_and_a_repeated_one() -> None:
    body = _sample()
    del body["leaf"]
    with pytest.raises(RevocationSetError, match="missing fields"):
        RevocationProof.from_json(body)
    text = json.dumps(_sample())
    with pytest.raises(RevocationSetError, match="repeats a field"):
        RevocationProof.loads(text[:-1] + ', "depth": 1}')
    with pytest.raises(RevocationSetError, match="not JSON"):
        RevocationProof.loads(b"\xff{}")


def test_non_canonical_bitmaps_and_siblings_are_refused() -> None:
    body = _sample()
    depth, bitmap = int(body["depth"]), bytes.fromhex(str(body["bitmap"]))  # type: ignore[call-overload]
    padding = 8 * len(bitmap) - depth
    assert padding > 0  # the sample's depth is not a multiple of 8: there are padding bits
    with pytest.raises(RevocationSetError, match="beyond the proof's depth"):
        RevocationProof.from_json(
            _with(bitmap=(int.from_bytes(bitmap, "big") | 1).to_bytes(len(bitmap), "big").hex())
        )
    with pytest.raises(RevocationSetError, match="bitmap must be"):
        RevocationProof.from_json(_with(bitmap=str(body["bitmap"]) + "00"))
    siblings = list(body["siblings"])  # type: ignore[call-overload]
    with pytest.raises(RevocationSetError, match="non-zero"):
        RevocationProof.from_json(_with(siblings=["00" * 32, *siblings[1:]]))
    with pytest.raises(RevocationSetError, match="names"):
        RevocationProof.from_json(_with(siblings=siblings[1:]))
    # The deepest sibling left out (its bit cleared, its hash dropped): not canonical.
    last = 1 << padding
    cleared = (int.from_bytes(bitmap, "big") & ~last).to_bytes(len(bitmap), "big").hex()
    with pytest.raises(RevocationSetError, match="at the proof's depth must be non-empty"):
        RevocationProof.from_json(_with(bitmap=cleared, siblings=siblings[:-1]))
