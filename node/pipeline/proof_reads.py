"""A digest's proof read from the index: its row, its batch and the tiles on its leaf's path.

A proof needs the digest's row, the batch that holds it (state and anchor, read every
time: a reorg or a new broadcast rewrites them), and one tile a tile level on the leaf's
path: the level-0 tile rebuilt from the 2**tile_height digests around the leaf, the
others stored (tree_tile). How it reads them depends on the database:

- on PostgreSQL in **one statement**: the row, the batch, the level-0 tile's digests
  (``string_agg``) and the stored path tiles of the levels with many tiles (an array, one
  probe of tree_tile's key a level), so a proof costs one round trip whatever the index's
  size; the levels of at most CACHED_LEVEL_TILES tiles above them are read whole once a
  process and batch, and kept in `tile_cache` (they serve every proof of the batch);
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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnClause, Connection, Dialect, bindparam, literal_column, select

from mcledger.anchoring.bundle import AnchorInfo, ProofBundle, recorded_version
from mcledger.anchoring.errors import InvalidProofError, MerkleError
from mcledger.anchoring.merkle import InclusionProof, verify_inclusion
from mcledger.anchoring.tiles import TileLayout, TreeMeta
from mcledger.anchoring.tree import leaf_tile, path_tiles, prove_from_tiles
from mcledger.node.errors import NodeError
from mcledger.node.index.models import BatchState, batch_t, issuer_t, submission_t, tree_tile_t
from mcledger.node.index.sequence import holds_submission
from mcledger.node.pipeline.tree_reads import checked_digests, read_digests, read_tile

TILE_CACHE_BYTES = 64 << 20  # a process's cached tiles: 64 MiB
# PostgreSQL: a tile level of at most this many tiles is read whole, once a process, when a
# proof first needs it, and kept (`tile_cache`); the proof statement reads only the path's
# tiles of the levels below (at 10^7 leaves in tiles of 4 levels: levels 1 and 2 a proof,
# levels 3 to 5, 164 tiles or 157 KB, once).
CACHED_LEVEL_TILES = 256


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


# The row's columns, in ProofRow's order.
_SELECTED: tuple[Column[Any], ...] = (
    submission_t.c.digest,
    submission_t.c.credential_id,
    submission_t.c.issuer_id,
    submission_t.c.seq,
    batch_t.c.id,
    batch_t.c.first_seq,
    batch_t.c.state,
    batch_t.c.tree_size,
    batch_t.c.root,
    batch_t.c.tile_height,
    batch_t.c.chain_id,
    batch_t.c.contract,
    batch_t.c.transaction_hash,
    batch_t.c.block_number,
    batch_t.c.block_hash,
    batch_t.c.block_time,
    batch_t.c.target,
    batch_t.c.hash_algorithm_id,
    batch_t.c.ledger_contract,
    batch_t.c.contract_version,
    issuer_t.c.chain_address,
)
# The row with its issuer and the batch holding it (node/index/sequence.py).
_FROM = submission_t.join(issuer_t, issuer_t.c.id == submission_t.c.issuer_id).outerjoin(
    batch_t, holds_submission()
)
# PostgreSQL: a confirmed batch's level-0 tile digests and stored path tiles with the row.
# The leaf's level-0 tile starts at first_seq + ((seq - first_seq) >> H << H); its stored
# tile at level L (1 <= L <= the tree's height // H) is (L, (seq - first_seq) >> H(L+1)).
_S, _B, _CONFIRMED = submission_t.name, batch_t.name, f"'{BatchState.CONFIRMED}'"
_LEAF_TILE_START = (
    f"({_B}.first_seq + ((({_S}.seq - {_B}.first_seq) >> {_B}.tile_height) << {_B}.tile_height))"
)
_POSTGRES_PATH: tuple[ColumnClause[Any], ...] = (
    literal_column(
        f"CASE WHEN {_B}.state = {_CONFIRMED} THEN"
        f" (SELECT string_agg(d.digest, ''::bytea ORDER BY d.seq)"
        f" FROM {_S} d WHERE d.issuer_id = {_S}.issuer_id"
        f" AND d.seq >= {_LEAF_TILE_START}"
        f" AND d.seq < LEAST({_LEAF_TILE_START} + (1::bigint << {_B}.tile_height),"
        f" {_B}.first_seq + {_B}.tree_size)) END"
    ),
    literal_column(
        f"CASE WHEN {_B}.state = {_CONFIRMED} THEN ARRAY("
        # a scalar subquery a level: one probe of tree_tile's key each (a join would let
        # the planner hash every tile of the batch); NULL where a tile is missing
        f"SELECT (SELECT t.data FROM {tree_tile_t.name} t WHERE t.batch_id = {_B}.id"
        " AND t.level = g.level"
        f" AND t.idx = (({_S}.seq - {_B}.first_seq) >> ({_B}.tile_height * (g.level + 1))))"
        # the levels of more than CACHED_LEVEL_TILES tiles (`read_levels`); none shifted by
        # 64 or more (bigint's >> takes the count modulo 64)
        f" FROM generate_series(1, 63 / {_B}.tile_height - 1) AS g(level)"
        f" WHERE (({_B}.tree_size - 1) >> ({_B}.tile_height * (g.level + 1)))"
        f" >= {CACHED_LEVEL_TILES}"
        " ORDER BY g.level) END"
    ),
)


@dataclass(frozen=True)
class _Statement:
    """The proof statement compiled for one dialect and key column, run on the driver's
    cursor: its SQL, and how to lay out its parameters."""

    sql: str
    names: tuple[str, ...] | None  # positional: the parameters' order; else by name
    fixed: dict[str, Any]  # the parameters other than the key (holds_submission's LIMIT)
    processors: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, value: Any) -> Any:
        given = {**self.fixed, "key": value}
        return given if self.names is None else tuple(given[n] for n in self.names)


_STATEMENTS: dict[tuple[str, str], _Statement] = {}


def _statement(dialect: Dialect, key: str) -> _Statement:
    found = _STATEMENTS.get((dialect.name, key))
    if found is None:
        extra = _POSTGRES_PATH if dialect.name == "postgresql" else ()
        query = (
            select(*_SELECTED, *extra)
            .select_from(_FROM)
            .where(submission_t.c[key] == bindparam("key"))
        )
        compiled = query.compile(dialect=dialect)
        fixed = {name: v for name, v in compiled.params.items() if name != "key"}
        found = _STATEMENTS[dialect.name, key] = _Statement(
            compiled.string,
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None,
            fixed,
            # what SQLAlchemy's own results apply: the dialect's, then a decorator's
            tuple(column.type._cached_result_processor(dialect, None) for column in _SELECTED),
        )
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
    statement = _statement(dialect, key)
    driver: Any = conn.connection.driver_connection
    # PostgreSQL's results in binary: no bytea or array as hex text to write and parse
    # (about 30 µs less of a worker's CPU a proof)
    cursor = driver.cursor(binary=True) if dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(statement.sql, statement.parameters(value))
        raw = cursor.fetchone()
    finally:
        cursor.close()
    if raw is None:
        return None
    width = len(_SELECTED)
    values = [
        convert(value) if convert is not None and value is not None else value
        for convert, value in zip(statement.processors, raw[:width], strict=True)
    ]
    row = ProofRow(*values)
    if dialect.name == "postgresql" and row.confirmed:
        tiles = _postgres_tiles(conn, row, raw[width], raw[width + 1])
        # a new row (dataclasses.replace costs twice as much); mypy cannot count *values
        row = ProofRow(*values, tiles=tiles)  # type: ignore[misc]
    return row


def read_levels(layout: TileLayout) -> int:
    """PostgreSQL: how many stored tile levels (from level 1) a proof reads with its row;
    those above have at most CACHED_LEVEL_TILES tiles and are kept (`_kept_tiles`)."""
    top = layout.tile_levels - 1
    return sum(1 for level in range(1, top + 1) if layout.tiles_at(level) > CACHED_LEVEL_TILES)


def _postgres_tiles(
    conn: Connection, row: ProofRow, leaves: Any, stored: Sequence[Any] | None
) -> dict[tuple[int, int], bytes]:
    layout = _layout(row)
    index = row.seq - _int(row.first_seq)
    keys = path_tiles(layout, index)
    read = read_levels(layout)
    if leaves is None or stored is None or len(stored) != read or None in stored:
        raise NodeError(
            f"the index lacks tiles or digests of batch {row.batch_id} for seq {row.seq}: "
            "it is damaged"
        )
    start = keys[0][1] << layout.tile_height
    count = min(1 << layout.tile_height, layout.tree_size - start)
    leaves = checked_digests(bytes(leaves), row.issuer_id, _int(row.first_seq) + start, count)
    tiles = {keys[0]: _leaf_tile(layout, leaves)}
    tiles.update(zip(keys[1 : read + 1], (bytes(data) for data in stored), strict=True))
    if len(keys) > read + 1:
        tiles.update(_kept_tiles(conn, row, layout, keys[read + 1 :], above=read))
    return tiles


def _int(value: int | None) -> int:
    assert value is not None  # a confirmed batch's columns
    return value


def _layout(row: ProofRow) -> TileLayout:
    return TileLayout(_int(row.tree_size), _int(row.tile_height))


def _leaf_tile(layout: TileLayout, digests: bytes) -> bytes:
    """Level-0 tile from its digests, already counted (`checked_digests`)."""
    return leaf_tile(digests, layout.tree_size, tile_height=layout.tile_height)


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
        # what this process kept of the tree may be the damage: read again once repaired
        tile_cache.forget_tree(_tree_key(row, layout))
        raise NodeError(
            f"the index's tiles of batch {row.batch_id} do not prove seq {row.seq} under its "
            f"root: it is damaged ({exc})"
        ) from None
    return row.bundle(proof)


def _kept_tiles(
    conn: Connection,
    row: ProofRow,
    layout: TileLayout,
    keys: Sequence[tuple[int, int]],
    *,
    above: int,
) -> dict[tuple[int, int], bytes]:
    """PostgreSQL: the path's tiles ``keys`` of the levels above ``above`` from `tile_cache`;
    on a miss, every tile of those levels is read and kept (one statement, once a process
    and batch unless the cache dropped them), then any tile still missing alone."""
    tree = _tree_key(row, layout)
    cached = {key: tile_cache.get((*tree, *key)) for key in keys}
    tiles = {key: data for key, data in cached.items() if data is not None}
    if len(tiles) == len(keys):
        return tiles
    batch_id = _int(row.batch_id)
    if tile_cache.get((*tree, "levels above", above)) is None:
        found = conn.execute(_TILES_ABOVE, {"batch_id": batch_id, "above": above}).all()
        for level, k, data in found:
            tile_cache.put((*tree, level, k), bytes(data))
        tile_cache.put((*tree, "levels above", above), b"")
    for key in keys:  # any dropped meanwhile, or missing (NodeError), read alone
        if key not in tiles:
            tiles[key] = _stored_tile(conn, tree, batch_id, *key)
    return tiles


_TILES_ABOVE = select(tree_tile_t.c.level, tree_tile_t.c.idx, tree_tile_t.c.data).where(
    tree_tile_t.c.batch_id == bindparam("batch_id"), tree_tile_t.c.level > bindparam("above")
)


def _sqlite_tiles(
    conn: Connection, row: ProofRow, layout: TileLayout, index: int
) -> dict[tuple[int, int], bytes]:
    tree = _tree_key(row, layout)
    tiles = {}
    for level, k in path_tiles(layout, index):
        if level:
            tiles[level, k] = _stored_tile(conn, tree, _int(row.batch_id), level, k)
            continue
        data = tile_cache.get((*tree, level, k))
        if data is None:
            start = k << layout.tile_height
            count = min(1 << layout.tile_height, layout.tree_size - start)
            digests = read_digests(conn, row.issuer_id, _int(row.first_seq) + start, count)
            data = _leaf_tile(layout, digests)
            tile_cache.put((*tree, level, k), data)
        tiles[level, k] = data
    return tiles


def _tree_key(row: ProofRow, layout: TileLayout) -> tuple[str, int, int]:
    """What `tile_cache` keys a tree's tiles by: its root, size and tile height."""
    return (row.root or "", layout.tree_size, layout.tile_height)


def _stored_tile(
    conn: Connection, tree: tuple[str, int, int], batch_id: int, level: int, k: int
) -> bytes:
    """Stored tile (level, k) from `tile_cache`, else read and kept (NodeError if missing)."""
    data = tile_cache.get((*tree, level, k))
    if data is None:
        data = read_tile(conn, batch_id, level, k)
        tile_cache.put((*tree, level, k), data)
    return data


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

    def forget_tree(self, tree: tuple[Any, ...]) -> None:
        """Drop every entry of one tree (keys that begin with ``tree``)."""
        width = len(tree)
        with self._lock:
            for key in [key for key in self._tiles if key[:width] == tree]:
                self.bytes -= len(self._tiles.pop(key))

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
