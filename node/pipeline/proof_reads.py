"""A digest's proof read from the index: its row, its batch and the tiles on its leaf's path.

A proof needs the digest's row, the batch that holds it (state and anchor, read every
time: a reorg or a new broadcast rewrites them), and one tile a tile level on the leaf's
path: the level-0 tile rebuilt from the 2**tile_height digests around the leaf, the
others stored (tree_tile). How it reads them depends on the database:

- on PostgreSQL in **one statement**: the row, the batch, the level-0 tile's digests
  (``string_agg``) and the stored path tiles (an array, one probe of tree_tile's key a
  level), so a proof costs one round trip whatever the index's size, and the process
  keeps no tiles;
- on SQLite, where a statement costs no round trip, the row and batch first, then each
  tile from this process's `TileCache` or the database.

Both go through the driver's own cursor, not SQLAlchemy's execution (about 0.16 ms of CPU
a statement, more than the statement itself), converting values with the columns' own
result processors. Every proof is verified against the batch's root before it is served:
a damaged tile or digest is an error, never a wrong proof.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Column, Connection, Dialect

from mcledger.anchoring.bundle import AnchorInfo, ProofBundle, recorded_version
from mcledger.anchoring.errors import InvalidProofError, MerkleError
from mcledger.anchoring.merkle import InclusionProof, verify_inclusion
from mcledger.anchoring.tiles import TileLayout, TreeMeta
from mcledger.anchoring.tree import leaf_tile, path_tiles, prove_from_tiles
from mcledger.node.errors import NodeError
from mcledger.node.index.models import BatchState, batch_t, issuer_t, submission_t, tree_tile_t
from mcledger.node.pipeline.tree_reads import read_digests, read_tile

TILE_CACHE_BYTES = 64 << 20  # a process's tiles on SQLite: 64 MiB


@dataclass(frozen=True)
class ProofRow:
    """The digest's row and its batch's, converted; ``tiles`` (PostgreSQL) are the path's."""

    digest: str
    credential_id: str | None
    issuer_id: str
    seq: int
    batch_id: int | None
    first_seq: int | None
    state: str | None
    tree_size: int | None
    root: str | None
    tile_height: int | None
    # the anchor: set once the batch is confirmed (the only state a bundle is made in)
    chain_id: Any
    contract: Any
    transaction_hash: Any
    block_number: Any
    block_hash: Any
    block_time: Any
    target: Any
    hash_algorithm_id: int | None
    ledger_contract: str | None
    contract_version: int | None
    chain_address: str
    tiles: dict[tuple[int, int], bytes] | None = None

    @property
    def confirmed(self) -> bool:
        return self.batch_id is not None and self.state == BatchState.CONFIRMED

    def bundle(self, proof: InclusionProof) -> ProofBundle:
        return ProofBundle(
            digest=bytes.fromhex(self.digest),
            proof=proof,
            anchor=AnchorInfo(
                chain_id=self.chain_id,
                contract=self.contract,
                transaction_hash=self.transaction_hash,
                block_number=self.block_number,
                block_hash=self.block_hash,
                anchored_at=self.block_time,
                issuer=self.chain_address,
                target=self.target,
                hash_algorithm_id=self.hash_algorithm_id,
                ledger=self.ledger_contract,
                contract_version=recorded_version(self.contract_version),
            ),
            credential_id=self.credential_id,
        )


# The row's columns, in ProofRow's order: (SQL, the column whose type converts it).
_SELECTED: tuple[tuple[str, Column[Any]], ...] = (
    ("s.digest", submission_t.c.digest),
    ("s.credential_id", submission_t.c.credential_id),
    ("s.issuer_id", submission_t.c.issuer_id),
    ("s.seq", submission_t.c.seq),
    ("b.id", batch_t.c.id),
    ("b.first_seq", batch_t.c.first_seq),
    ("b.state", batch_t.c.state),
    ("b.tree_size", batch_t.c.tree_size),
    ("b.root", batch_t.c.root),
    ("b.tile_height", batch_t.c.tile_height),
    ("b.chain_id", batch_t.c.chain_id),
    ("b.contract", batch_t.c.contract),
    ("b.transaction_hash", batch_t.c.transaction_hash),
    ("b.block_number", batch_t.c.block_number),
    ("b.block_hash", batch_t.c.block_hash),
    ("b.block_time", batch_t.c.block_time),
    ("b.target", batch_t.c.target),
    ("b.hash_algorithm_id", batch_t.c.hash_algorithm_id),
    ("b.ledger_contract", batch_t.c.ledger_contract),
    ("b.contract_version", batch_t.c.contract_version),
    ("i.chain_address", issuer_t.c.chain_address),
)
_FROM = (
    f" FROM {submission_t.name} s JOIN {issuer_t.name} i ON i.id = s.issuer_id"
    # the batch holding the row (node/index/sequence.py): the issuer's last starting at or
    # before its seq (one probe of uq_batch_first_seq), if its range reaches the seq
    f" LEFT JOIN {batch_t.name} b ON b.id = (SELECT h.id FROM {batch_t.name} h"
    " WHERE h.issuer_id = s.issuer_id AND h.first_seq <= s.seq"
    " ORDER BY h.first_seq DESC LIMIT 1) AND s.seq < b.first_seq + b.tree_size"
)
# PostgreSQL: a confirmed batch's level-0 tile digests and stored path tiles with the row.
# The leaf's level-0 tile starts at first_seq + ((seq - first_seq) >> H << H); its stored
# tile at level L (1 <= L <= the tree's height // H) is (L, (seq - first_seq) >> H(L+1)).
_LEAF_TILE_START = "(b.first_seq + (((s.seq - b.first_seq) >> b.tile_height) << b.tile_height))"
_POSTGRES_PATH = (
    f", CASE WHEN b.state = '{BatchState.CONFIRMED}' THEN"
    " (SELECT string_agg(d.digest, ''::bytea ORDER BY d.seq)"
    f" FROM {submission_t.name} d WHERE d.issuer_id = s.issuer_id"
    f" AND d.seq >= {_LEAF_TILE_START}"
    f" AND d.seq < LEAST({_LEAF_TILE_START} + (1::bigint << b.tile_height),"
    " b.first_seq + b.tree_size)) END,"
    f" CASE WHEN b.state = '{BatchState.CONFIRMED}' THEN ARRAY("
    # a scalar subquery a level: one probe of tree_tile's key each (a join would let the
    # planner hash every tile of the batch); NULL where a tile is missing
    f"SELECT (SELECT t.data FROM {tree_tile_t.name} t WHERE t.batch_id = b.id"
    " AND t.level = g.level"
    " AND t.idx = ((s.seq - b.first_seq) >> (b.tile_height * (g.level + 1))))"
    " FROM generate_series(1, 63 / b.tile_height) AS g(level)"
    " WHERE ((b.tree_size - 1) >> (b.tile_height * g.level - 1)) > 0"
    " ORDER BY g.level) END"
)


def _statement(dialect: str, key: str) -> str:
    columns = ", ".join(sql for sql, _ in _SELECTED)
    if dialect == "postgresql":
        return f"SELECT {columns}{_POSTGRES_PATH}{_FROM} WHERE s.{key} = %s"
    return f"SELECT {columns}{_FROM} WHERE s.{key} = ?"


_STATEMENTS = {
    (dialect, key): _statement(dialect, key)
    for dialect in ("postgresql", "sqlite")
    for key in ("digest", "credential_id")
}
_PROCESSORS: dict[str, tuple[Callable[[Any], Any] | None, ...]] = {}


def _processors(dialect: Dialect) -> tuple[Callable[[Any], Any] | None, ...]:
    found = _PROCESSORS.get(dialect.name)
    if found is None:
        found = tuple(
            # what SQLAlchemy's own results apply: the dialect's, then a decorator's
            column.type._cached_result_processor(dialect, None)
            for _, column in _SELECTED
        )
        _PROCESSORS[dialect.name] = found
    return found


def read_proof_row(
    conn: Connection, *, digest: str | None, credential_id: str | None
) -> ProofRow | None:
    """The row of a digest (hex) or credential id, with its batch's; None if unknown."""
    dialect = conn.dialect
    key, value = (
        ("digest", bytes.fromhex(digest))
        if digest is not None
        else ("credential_id", credential_id)
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STATEMENTS[dialect.name, key], (value,))
        raw = cursor.fetchone()
    finally:
        cursor.close()
    if raw is None:
        return None
    width = len(_SELECTED)
    values = [
        convert(value) if convert is not None and value is not None else value
        for convert, value in zip(_processors(dialect), raw[:width], strict=True)
    ]
    row = ProofRow(*values)
    if dialect.name == "postgresql" and row.confirmed:
        row = _with_postgres_tiles(row, raw[width], raw[width + 1])
    return row


def _with_postgres_tiles(row: ProofRow, leaves: Any, stored: Sequence[Any] | None) -> ProofRow:
    layout = _layout(row)
    index = row.seq - _int(row.first_seq)
    keys = path_tiles(layout, index)
    if leaves is None or stored is None or len(stored) != len(keys) - 1 or None in stored:
        raise NodeError(
            f"the index lacks tiles or digests of batch {row.batch_id} for seq {row.seq}: "
            "it is damaged"
        )
    leaves = bytes(leaves)
    start = keys[0][1] << layout.tile_height
    count = min(1 << layout.tile_height, layout.tree_size - start)
    if len(leaves) != 32 * count:  # what read_digests says on SQLite
        first = _int(row.first_seq) + start
        raise NodeError(
            f"the index holds {len(leaves) // 32} digests of issuer {row.issuer_id!r} in seqs "
            f"[{first}, {first + count}), not {count}: it is damaged"
        )
    tiles = {keys[0]: _leaf_tile(row, layout, index, leaves)}
    tiles.update(zip(keys[1:], (bytes(data) for data in stored), strict=True))
    return replace(row, tiles=tiles)


def _int(value: int | None) -> int:
    assert value is not None  # a confirmed batch's columns
    return value


def _layout(row: ProofRow) -> TileLayout:
    return TileLayout(_int(row.tree_size), _int(row.tile_height))


def _leaf_tile(row: ProofRow, layout: TileLayout, index: int, digests: bytes) -> bytes:
    try:
        return leaf_tile(digests, layout.tree_size, tile_height=layout.tile_height)
    except MerkleError as exc:
        raise NodeError(
            f"the index holds {len(digests) // 32} digests around seq {row.seq} of batch "
            f"{row.batch_id}, not its level-0 tile's: it is damaged ({exc})"
        ) from None


def prove_row(conn: Connection, row: ProofRow) -> ProofBundle:
    """The verified proof bundle of a confirmed row."""
    layout = _layout(row)
    index = row.seq - _int(row.first_seq)
    tiles = row.tiles if row.tiles is not None else _sqlite_tiles(conn, row, layout, index)
    root = bytes.fromhex(row.root or "")
    meta = TreeMeta(layout.tree_size, root, layout.tile_height)
    try:
        proof = prove_from_tiles(meta, index, tiles)
        verify_inclusion(bytes.fromhex(row.digest), proof, root=root, tree_size=meta.tree_size)
    except (MerkleError, InvalidProofError) as exc:
        raise NodeError(
            f"the index's tiles of batch {row.batch_id} do not prove seq {row.seq} under its "
            f"root: it is damaged ({exc})"
        ) from None
    return row.bundle(proof)


def _sqlite_tiles(
    conn: Connection, row: ProofRow, layout: TileLayout, index: int
) -> dict[tuple[int, int], bytes]:
    tree = (row.root or "", layout.tree_size, layout.tile_height)
    tiles = {}
    for level, k in path_tiles(layout, index):
        key = (*tree, level, k)
        data = tile_cache.get(key)
        if data is None:
            if level == 0:
                start = k << layout.tile_height
                count = min(1 << layout.tile_height, layout.tree_size - start)
                digests = read_digests(conn, row.issuer_id, _int(row.first_seq) + start, count)
                data = _leaf_tile(row, layout, index, digests)
            else:
                data = read_tile(conn, _int(row.batch_id), level, k)
            tile_cache.put(key, data)
        tiles[level, k] = data
    return tiles


class TileCache:
    """The most recently used tiles of a process, at most ``max_bytes`` of them. Keyed by
    the tree's root, size and tile height with the tile's place: the root names the tree's
    contents, so no entry can serve another tree (whatever its batch id or database)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._tiles: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is None:
                self.misses += 1
                return None
            self._tiles.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: tuple[Any, ...], data: bytes) -> None:
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._tiles[key] = data
            self.bytes += len(data)
            while self.bytes > self.max_bytes:
                _, dropped = self._tiles.popitem(last=False)
                self.bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self.bytes = self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._tiles)


tile_cache = TileCache(TILE_CACHE_BYTES)


def clear_caches() -> None:
    """Forget every cached tile of this process (tests, benchmarks: a cold start)."""
    tile_cache.clear()
