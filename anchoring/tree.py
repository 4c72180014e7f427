"""Building RFC 6962 trees fast, level by level, and holding them in memory.

``build_levels`` hashes the leaves and then each level from the one below,
carrying an odd last node up unchanged; the result is the tree of RFC 9162
§2.1.1 (split at the largest power of two below n), in 2n-1 hashes. 32-byte leaf
data goes through the C accelerator when it is built; other leaf data, or
``accelerate=False``, uses ``hashlib``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_PREFIX,
    NODE_PREFIX,
    ConsistencyProof,
    InclusionProof,
    NodeReader,
    accelerator,
    prove_consistency,
    prove_inclusion,
)
from mcledger.anchoring.tiles import DEFAULT_TILE_HEIGHT, TileLayout, TileStore, TreeMeta

_sha256 = hashlib.sha256


def _levels_above(level0: bytes) -> list[bytes]:
    """Pure-Python levels over packed leaf hashes: a node's children are one 64-byte slice."""
    levels = [level0]
    level = level0
    while len(level) > HASH_SIZE:
        even = len(level) - len(level) % (2 * HASH_SIZE)
        parents = [_sha256(NODE_PREFIX + level[i : i + 64]).digest() for i in range(0, even, 64)]
        if even != len(level):
            parents.append(level[even:])  # the odd last node is carried up unchanged
        level = b"".join(parents)
        levels.append(level)
    return levels


def build_levels(leaves: Sequence[bytes], *, accelerate: bool | None = None) -> list[bytes]:
    """The levels (bottom first, each packed 32 bytes a node) of the tree over ``leaves``."""
    if not leaves:
        return []
    c = accelerator(accelerate)
    if c is not None and set(map(len, leaves)) == {HASH_SIZE}:  # no per-leaf Python loop
        levels: list[bytes] = c.build_levels(b"".join(leaves))
        return levels
    return _levels_above(b"".join([_sha256(LEAF_PREFIX + data).digest() for data in leaves]))


def build_levels_packed(digests: bytes, *, accelerate: bool | None = None) -> list[bytes]:
    """The levels of the tree whose leaf data are the 32-byte values packed in ``digests``."""
    if len(digests) % HASH_SIZE:
        raise MerkleError(f"packed digests must be a multiple of 32 bytes, got {len(digests)}")
    c = accelerator(accelerate)
    if c is not None:
        levels: list[bytes] = c.build_levels(digests)
        return levels
    leaves = [digests[i : i + HASH_SIZE] for i in range(0, len(digests), HASH_SIZE)]
    return build_levels(leaves, accelerate=False)


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """A whole tree in memory: its levels, bottom (leaf hashes) first, root last."""

    levels: tuple[bytes, ...]

    @classmethod
    def from_leaves(cls, leaves: Sequence[bytes], *, accelerate: bool | None = None) -> MerkleTree:
        """The tree whose leaves hash ``leaves`` (any bytes each)."""
        return cls(tuple(build_levels(leaves, accelerate=accelerate)))

    @classmethod
    def from_digests(cls, digests: bytes, *, accelerate: bool | None = None) -> MerkleTree:
        """The tree whose leaf data are the 32-byte values packed in ``digests``."""
        return cls(tuple(build_levels_packed(digests, accelerate=accelerate)))

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self.levels[0]) // HASH_SIZE if self.levels else 0

    @property
    def root(self) -> bytes:
        """MTH of the leaves; SHA-256 of nothing for the empty tree."""
        return self.levels[-1] if self.levels else EMPTY_ROOT

    def node(self, level: int, index: int) -> bytes:
        """The hash of the node covering leaves [index * 2**level, (index + 1) * 2**level)."""
        start = index * HASH_SIZE
        row = self.levels[level] if 0 <= level < len(self.levels) else b""
        value = row[start : start + HASH_SIZE]
        if len(value) != HASH_SIZE or index < 0:
            raise MerkleError(f"no node ({level}, {index}) in a tree of {self.size} leaves")
        return value

    def inclusion_proof(self, index: int) -> InclusionProof:
        """The audit path of leaf ``index`` (RFC 9162 §2.1.3.1)."""
        return prove_inclusion(self.node, self.size, self.root, index)

    def consistency_proof(self, old_size: int) -> ConsistencyProof:
        """The proof that the first ``old_size`` leaves' tree is a prefix (RFC 9162 §2.1.4.1)."""
        return prove_consistency(self.node, self.size, self.root, old_size)


def merkle_root(leaves: Sequence[bytes], *, accelerate: bool | None = None) -> bytes:
    """MTH(leaves) of RFC 9162 §2.1.1; the empty tree's root is SHA-256 of nothing."""
    return MerkleTree.from_leaves(leaves, accelerate=accelerate).root


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """The inclusion proof of leaf ``index`` in the tree over ``leaves``."""
    return MerkleTree.from_leaves(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> ConsistencyProof:
    """The consistency proof from the tree over ``leaves[:old_size]`` to the one over ``leaves``."""
    return MerkleTree.from_leaves(leaves).consistency_proof(old_size)


def save_tree(
    store: TileStore,
    tree: MerkleTree,
    *,
    tile_height: int = DEFAULT_TILE_HEIGHT,
    from_tile_level: int = 0,
) -> None:
    """Write ``tree`` into ``store``: its metadata, then every tile from tile level
    ``from_tile_level`` up (1: the store rebuilds level-0 tiles with `leaf_tile`)."""
    layout = TileLayout(tree.size, tile_height)
    store.put_meta(TreeMeta(tree.size, tree.root, tile_height))
    for t in range(from_tile_level, layout.tile_levels):
        for k in range(layout.tiles_at(t)):
            store.put_tile(t, k, layout.tile_from_levels(tree.levels, t, k))


def leaf_tile(digests: bytes, tree_size: int, *, tile_height: int = DEFAULT_TILE_HEIGHT) -> bytes:
    """Level-0 tile k of a tree of ``tree_size`` leaves, rebuilt from the leaf data it
    covers (the packed 32-byte values of leaves k*2**H .. (k+1)*2**H - 1, or to the end):
    the very bytes `save_tree` stores for it, so a store may keep no level-0 tile."""
    count, rest = divmod(len(digests), HASH_SIZE)
    if rest or not 0 < count <= 1 << tile_height or count > tree_size:
        raise MerkleError(
            f"a level-0 tile covers 1..{1 << tile_height} leaves of 32 bytes, "
            f"got {len(digests)} bytes for a tree of {tree_size}"
        )
    levels = build_levels_packed(digests)
    if tree_size > 1 << tile_height:
        # The tree goes on above this tile: a short last tile's top node is carried up
        # unchanged through the tile's remaining rows (RFC 9162's split, level by level).
        levels += [levels[-1]] * (tile_height - len(levels))
    return TileLayout(tree_size, tile_height).tile_from_levels(tuple(levels), 0, 0)


class StoredTree:
    """A tree read from a ``TileStore``: proofs read only the tiles they need, never rebuild.

    The ``cache_tiles`` most recently used tiles are kept (the upper ones serve every proof).
    """

    def __init__(self, store: TileStore, *, cache_tiles: int = 64) -> None:
        meta = store.get_meta()
        self.store = store
        self.size = meta.tree_size
        self.root = meta.root
        self._layout = TileLayout(meta.tree_size, meta.tile_height)
        self._tile = functools.lru_cache(maxsize=cache_tiles)(self._read_tile)
        self._node = self._node_reader()
        if self.size and self.node(self._layout.height, 0) != self.root:
            raise MerkleError("stored tiles disagree with the stored root: the store is damaged")

    def _read_tile(self, tile_level: int, index: int) -> bytes:
        tile = self.store.get_tile(tile_level, index)
        if len(tile) != self._layout.tile_bytes:
            expected = self._layout.tile_bytes
            raise MerkleError(
                f"stored tile ({tile_level}, {index}) has {len(tile)} bytes, not {expected}"
            )
        return tile

    def node(self, level: int, index: int) -> bytes:
        """The hash of node (level, index), read from its tile."""
        if not (0 <= level <= self._layout.height and 0 <= index <= (self.size - 1) >> level):
            raise MerkleError(f"no node ({level}, {index}) in a tree of {self.size} leaves")
        return self._node(level, index)

    def _node_reader(self) -> NodeReader:
        return tile_node_reader(self._layout, self._tile)

    def inclusion_proof(self, index: int) -> InclusionProof:
        """The audit path of leaf ``index`` (RFC 9162 §2.1.3.1)."""
        return prove_inclusion(self._node, self.size, self.root, index)

    def consistency_proof(self, old_size: int) -> ConsistencyProof:
        """The proof that the first ``old_size`` leaves' tree is a prefix (RFC 9162 §2.1.4.1)."""
        return prove_consistency(self._node, self.size, self.root, old_size)


@functools.lru_cache(maxsize=256)
def _node_spots(tree_size: int, tile_height: int) -> tuple[tuple[int, int, int, int], ...]:
    """Per tree level: (tile level, row offset in the tile, index shift to the tile, index
    mask), for a tree of ``tree_size`` leaves in tiles of ``tile_height`` levels."""
    layout = TileLayout(tree_size, tile_height)
    h, starts = tile_height, layout.row_starts
    return tuple(
        (level // h, starts[level % h], h - level % h, (1 << (h - level % h)) - 1)
        for level in range(layout.height + 1)
    )


def tile_node_reader(layout: TileLayout, tile: Callable[[int, int], bytes]) -> NodeReader:
    """An unchecked node reader for proof construction (which names only nodes that exist)
    over ``tile(tile level, index)``. Hot (about 20 calls a proof): a closure over a
    per-level table."""
    spots = _node_spots(layout.tree_size, layout.tile_height)

    def node(level: int, index: int) -> bytes:
        tile_level, start, shift, mask = spots[level]
        start += (index & mask) * HASH_SIZE
        return tile(tile_level, index >> shift)[start : start + HASH_SIZE]

    return node


def path_tiles(layout: TileLayout, index: int) -> list[tuple[int, int]]:
    """The tiles (tile level, index) an inclusion proof of leaf ``index`` reads: one a tile
    level, the one above the leaf (every node of its audit path lies in them)."""
    h = layout.tile_height
    return [(t, index >> (h * (t + 1))) for t in range(layout.tile_levels)]


def prove_from_tiles(
    meta: TreeMeta, index: int, tiles: Mapping[tuple[int, int], bytes]
) -> InclusionProof:
    """The inclusion proof of leaf ``index`` from ``tiles``, the leaf's `path_tiles`
    (MerkleError if one is missing or of the wrong length). Unchecked against the root:
    the caller verifies the proof."""
    layout = TileLayout(meta.tree_size, meta.tile_height)
    if not 0 <= index < meta.tree_size:
        raise MerkleError(f"no leaf {index} in a tree of {meta.tree_size}")
    for key in path_tiles(layout, index):
        data = tiles.get(key)
        if data is None or len(data) != layout.tile_bytes:
            found = "missing" if data is None else f"{len(data)} bytes, not {layout.tile_bytes}"
            raise MerkleError(f"tile {key} of the leaf's path: {found}")
    node = tile_node_reader(layout, lambda level, k: tiles[level, k])
    return prove_inclusion(node, meta.tree_size, meta.root, index)
