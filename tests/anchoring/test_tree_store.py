"""Stored trees: tiles in memory or in one file give the in-memory proofs, reading little."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.merkle import EMPTY_ROOT, verify_consistency, verify_inclusion
from mcledger.anchoring.tiles import (
    HEADER_SIZE,
    FileTileStore,
    MemoryTileStore,
    TileLayout,
    TreeMeta,
)
from mcledger.anchoring.tree import MerkleTree, StoredTree, save_tree


def digests(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(32 * n)


class CountingStore(MemoryTileStore):
    """A real store that counts the tiles read from it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    def get_tile(self, level: int, index: int) -> bytes:
        self.reads.append((level, index))
        return super().get_tile(level, index)


def saved_file(path: Path, tree: MerkleTree, tile_height: int = 8) -> Path:
    with FileTileStore.create(path) as store:
        save_tree(store, tree, tile_height=tile_height)
    return path


@pytest.mark.parametrize("tile_height", [1, 2, 3, 8])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 255, 256, 257, 1000])
def test_memory_store_gives_the_in_memory_proofs(size: int, tile_height: int) -> None:
    tree = MerkleTree.from_digests(digests(size, seed=size))
    store = MemoryTileStore()
    save_tree(store, tree, tile_height=tile_height)
    stored = StoredTree(store)
    assert (stored.size, stored.root) == (tree.size, tree.root)
    indexes = range(size) if size <= 64 else random.Random(1).sample(range(size), 64)
    for i in indexes:
        assert stored.inclusion_proof(i) == tree.inclusion_proof(i)
    for m in range(0, size + 1, max(1, size // 40)):
        assert stored.consistency_proof(m) == tree.consistency_proof(m)
    for level, nodes in enumerate(tree.levels):
        for index in (0, len(nodes) // 32 - 1):
            assert stored.node(level, index) == tree.node(level, index)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 100, 70_000])
def test_file_store_round_trip(tmp_path: Path, size: int) -> None:
    data = digests(size, seed=size)
    tree = MerkleTree.from_digests(data)
    path = saved_file(tmp_path / "tree.tiles", tree)
    assert not (tmp_path / "tree.tiles.partial").exists()
    with FileTileStore.open(path) as store:
        assert store.get_meta() == TreeMeta(size, tree.root)
        stored = StoredTree(store)
        assert stored.root == (tree.root if size else EMPTY_ROOT)
        for i in random.Random(2).sample(range(size), min(size, 200)):
            proof = stored.inclusion_proof(i)
            assert proof == tree.inclusion_proof(i)
            verify_inclusion(data[32 * i : 32 * i + 32], proof, root=tree.root, tree_size=size)
        for m in random.Random(3).sample(range(size + 1), min(size + 1, 50)):
            proof_c = stored.consistency_proof(m)
            assert proof_c == tree.consistency_proof(m)
            verify_consistency(proof_c)


def test_one_proof_reads_one_tile_per_tile_level() -> None:
    size, tile_height = 100_003, 4
    tree = MerkleTree.from_digests(digests(size))
    store = CountingStore()
    save_tree(store, tree, tile_height=tile_height)
    layout = TileLayout(size, tile_height)
    assert layout.tile_levels == 5  # 17 levels above the leaves, 4 a tile
    for cache_tiles in (0, 64):
        stored = StoredTree(store, cache_tiles=cache_tiles)
        for i in random.Random(4).sample(range(size), 20):
            store.reads.clear()
            stored.inclusion_proof(i)
            assert len(set(store.reads)) <= layout.tile_levels  # O(log n): one per tile level
    stored = StoredTree(store)
    store.reads.clear()
    stored.consistency_proof(77_777)
    assert len(set(store.reads)) <= 2 * layout.tile_levels


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = saved_file(tmp_path / "tree.tiles", MerkleTree.from_digests(digests(1000)))
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    with pytest.raises(MerkleError, match="truncated"):
        FileTileStore.open(path)
    path.write_bytes(data + b"\0")
    with pytest.raises(MerkleError, match="trailing bytes"):
        FileTileStore.open(path)
    path.write_bytes(data[: HEADER_SIZE - 5])
    with pytest.raises(MerkleError, match="truncated header"):
        FileTileStore.open(path)


@pytest.mark.parametrize(
    ("offset", "message"),
    [(0, "not a tree file"), (9, "version"), (20, "header is corrupted"), (60, "corrupted")],
)
def test_damaged_header_is_refused(tmp_path: Path, offset: int, message: str) -> None:
    path = saved_file(tmp_path / "tree.tiles", MerkleTree.from_digests(digests(50)))
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(MerkleError, match=message):
        FileTileStore.open(path)


def test_damaged_root_tile_is_refused(tmp_path: Path) -> None:
    tree = MerkleTree.from_digests(digests(50))
    path = saved_file(tmp_path / "tree.tiles", tree)
    data = bytearray(path.read_bytes())
    at = data.index(tree.root, HEADER_SIZE)  # the root's node in its tile
    data[at] ^= 0x80
    path.write_bytes(bytes(data))
    with FileTileStore.open(path) as store, pytest.raises(MerkleError, match="disagree"):
        StoredTree(store)


def test_missing_file_and_incomplete_writer(tmp_path: Path) -> None:
    with pytest.raises(MerkleError, match="cannot read"):
        FileTileStore.open(tmp_path / "absent.tiles")
    tree = MerkleTree.from_digests(digests(600))
    target = tmp_path / "tree.tiles"
    store = FileTileStore.create(target)
    store.put_meta(TreeMeta(tree.size, tree.root))
    store.put_tile(0, 0, TileLayout(tree.size, 8).tile_from_levels(tree.levels, 0, 0))
    with pytest.raises(MerkleError, match="incomplete"):
        store.close()
    assert not target.exists() and not (tmp_path / "tree.tiles.partial").exists()
    with pytest.raises(RuntimeError), FileTileStore.create(target) as failing:
        failing.put_meta(TreeMeta(tree.size, tree.root))
        raise RuntimeError("the writer failed half way")
    assert list(tmp_path.iterdir()) == []


def test_store_misuse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MerkleError, match="no tree yet"):
        StoredTree(MemoryTileStore())
    tree = MerkleTree.from_digests(digests(10))
    store = MemoryTileStore()
    save_tree(store, tree)
    stored = StoredTree(store)
    with pytest.raises(MerkleError, match="no node"):
        stored.node(0, 10)
    with pytest.raises(MerkleError, match="outside"):
        stored.inclusion_proof(10)
    with pytest.raises(MerkleError, match="not in the store"):
        store.get_tile(5, 0)
    with FileTileStore.create(tmp_path / "t.tiles") as writer:
        with pytest.raises(MerkleError, match="metadata before"):
            writer.put_tile(0, 0, b"")
        save_tree(writer, tree)
        with pytest.raises(MerkleError, match="once"):
            writer.put_meta(TreeMeta(tree.size, tree.root))
    with FileTileStore.open(tmp_path / "t.tiles") as reader, pytest.raises(MerkleError):
        reader.get_tile(0, 1)
    with pytest.raises(MerkleError, match="tile height"):
        TreeMeta(1, tree.root, tile_height=0)
