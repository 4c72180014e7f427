"""anchoring: RFC 6962 Merkle trees (pure), batches, the chain client and anchoring.

The names below are imported from their modules on first use (``anchoring.lazy``), so
importing ``mcledger.anchoring.errors`` alone costs nothing more.
"""

from typing import TYPE_CHECKING

from mcledger.anchoring.lazy import lazy_exports

if TYPE_CHECKING:
    from mcledger.anchoring.merkle import (
        EMPTY_ROOT,
        ConsistencyProof,
        InclusionProof,
        consistency_path,
        inclusion_path,
        leaf_hash,
        node_hash,
        verify_consistency,
        verify_inclusion,
    )
    from mcledger.anchoring.tiles import FileTileStore, MemoryTileStore, TileStore, TreeMeta
    from mcledger.anchoring.tree import (
        MerkleTree,
        StoredTree,
        consistency_proof,
        inclusion_proof,
        merkle_root,
        save_tree,
    )

__all__ = [
    "EMPTY_ROOT",
    "ConsistencyProof",
    "FileTileStore",
    "InclusionProof",
    "MemoryTileStore",
    "MerkleTree",
    "StoredTree",
    "TileStore",
    "TreeMeta",
    "consistency_path",
    "consistency_proof",
    "inclusion_path",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "save_tree",
    "verify_consistency",
    "verify_inclusion",
]

_MODULES = {
    "merkle": (
        "EMPTY_ROOT",
        "ConsistencyProof",
        "InclusionProof",
        "consistency_path",
        "inclusion_path",
        "leaf_hash",
        "node_hash",
        "verify_consistency",
        "verify_inclusion",
    ),
    "tiles": ("FileTileStore", "MemoryTileStore", "TileStore", "TreeMeta"),
    "tree": (
        "MerkleTree",
        "StoredTree",
        "consistency_proof",
        "inclusion_proof",
        "merkle_root",
        "save_tree",
    ),
}
__getattr__ = lazy_exports(__name__, _MODULES)
