"""Level-0 tiles rebuilt from the leaf data they cover (`leaf_tile`) are the bytes
`save_tree` stores, so a store that keeps only tile levels 1 and up proves the same."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.tiles import MemoryTileStore, TileLayout, TreeMeta
from mcledger.anchoring.tree import MerkleTree, StoredTree, leaf_tile, save_tree


class LeavesBelow(MemoryTileStore):
    """Tiles from level 1 up in memory; level 0 rebuilt from the digests on each read."""

    def __init__(self, digests: bytes, tile_height: int) -> None:
        super().__init__()
        self.digests, self.height = digests, tile_height

    def get_tile(self, level: int, index: int) -> bytes:
        if level > 0:
            return super().get_tile(level, index)
        width = 32 << self.height
        part = self.digests[index * width : (index + 1) * width]
        return leaf_tile(part, len(self.digests) // 32, tile_height=self.height)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 3_000), tile_height=st.integers(1, 9), seed=st.integers(0, 9))
def test_a_rebuilt_leaf_tile_is_the_stored_one(size: int, tile_height: int, seed: int) -> None:
    digests = random.Random(seed).randbytes(32 * size)
    tree = MerkleTree.from_digests(digests)
    layout = TileLayout(size, tile_height)
    width = 32 << tile_height
    for k in range(layout.tiles_at(0)):
        rebuilt = leaf_tile(digests[k * width : (k + 1) * width], size, tile_height=tile_height)
        assert rebuilt == layout.tile_from_levels(tree.levels, 0, k), k


@pytest.mark.parametrize("size", [1, 5, 256, 257, 600, 70_000])
def test_proofs_from_a_store_without_leaf_tiles(size: int) -> None:
    digests = random.Random(size).randbytes(32 * size)
    tree = MerkleTree.from_digests(digests)
    store = LeavesBelow(digests, 8)
    save_tree(store, tree, tile_height=8, from_tile_level=1)
    assert all(level > 0 for level, _ in store._tiles)
    stored = StoredTree(store)
    for i in random.Random(1).sample(range(size), min(size, 50)) + [size - 1]:
        assert stored.inclusion_proof(i) == tree.inclusion_proof(i)
    assert stored.consistency_proof(size // 2) == tree.consistency_proof(size // 2)


def test_a_changed_digest_shows_as_a_damaged_store() -> None:
    digests = bytearray(random.Random(3).randbytes(32 * 100))
    tree = MerkleTree.from_digests(bytes(digests))
    digests[40] ^= 1
    store = LeavesBelow(bytes(digests), 8)
    store.put_meta(TreeMeta(tree.size, tree.root, 8))
    with pytest.raises(MerkleError, match="disagree with the stored root"):
        StoredTree(store)


@pytest.mark.parametrize(
    ("count", "size"), [(0, 10), (257, 1000), (5, 4)], ids=["none", "too many", "past the end"]
)
def test_a_leaf_tile_of_the_wrong_width_is_refused(count: int, size: int) -> None:
    with pytest.raises(MerkleError, match="level-0 tile covers"):
        leaf_tile(bytes(32 * count), size, tile_height=8)
