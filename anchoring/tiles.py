"""A stored tree as fixed-size tiles of hashes, and proofs that read only the tiles they need.

Tiles (tile height H, default 8). Tile level t holds tree levels t*H .. t*H+H-1.
Tile (t, k) covers the 2**H nodes k*2**H .. (k+1)*2**H - 1 of level t*H and
everything above them up to level t*H+H-1: row j (0 <= j < H) is the
2**(H-j) nodes of level t*H+j under the tile, left to right, 32 bytes each.
Every tile is exactly (2**(H+1) - 2) * 32 bytes; nodes past the tree's right
edge (or above its root) are zero bytes. A proof needs, per tile level, the
one tile above its leaf, so it reads ceil(height / H) tiles.

``TileStore`` is the seam: an in-memory dict here, a single file here, an SQL
table later (rows ``(level, index, data)`` plus one row of ``TreeMeta``).

Single-file format, version 1 (integers big-endian)::

    offset  size  field
         0     8  magic b"MCLTILES"
         8     2  format version = 1
        10     1  hash algorithm = 1 (SHA-256, RFC 6962 prefixes 0x00 / 0x01)
        11     1  tile height H (1..16)
        12     4  reserved, zero
        16     8  tree size n
        24    32  root
        56    32  SHA-256 of bytes 0..55 (detects a damaged header)
        88     -  the tiles: tile level 0 first, then 1, ...; within a level by
                  index; tile level t has ((n-1) >> ((t+1)*H)) + 1 tiles.

The file's length must be exactly 88 + tiles * tile size (detects truncation).
A writer builds the file under a temporary name and renames it when complete.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.merkle import EMPTY_ROOT, HASH_SIZE

DEFAULT_TILE_HEIGHT = 8
MAGIC = b"MCLTILES"
FORMAT_VERSION = 1
_SHA256_RFC6962 = 1
_HEADER = struct.Struct(">8sHBBIQ32s")  # all fields up to the checksum: 56 bytes
HEADER_SIZE = _HEADER.size + HASH_SIZE


@dataclass(frozen=True, slots=True)
class TreeMeta:
    """What a store says about its tree: size, root and how it is cut into tiles."""

    tree_size: int
    root: bytes
    tile_height: int = DEFAULT_TILE_HEIGHT

    def __post_init__(self) -> None:
        if not 1 <= self.tile_height <= 16:
            raise MerkleError(f"tile height must be 1..16, got {self.tile_height}")
        if not 0 <= self.tree_size < 1 << 64:
            raise MerkleError(f"tree size must be in [0, 2**64), got {self.tree_size}")
        if len(self.root) != HASH_SIZE:
            raise MerkleError("root must be 32 bytes")
        if self.tree_size == 0 and self.root != EMPTY_ROOT:
            raise MerkleError("an empty tree's root must be SHA-256 of nothing")


class TileStore(Protocol):
    """Where a stored tree's metadata and tiles live; ``level`` is the tile level."""

    def put_meta(self, meta: TreeMeta) -> None:
        """Record the tree's metadata; comes before any tile."""

    def get_meta(self) -> TreeMeta:
        """The tree's metadata; raises ``MerkleError`` if none or damaged."""

    def put_tile(self, level: int, index: int, data: bytes) -> None:
        """Store tile ``(level, index)``: exactly ``TileLayout.tile_bytes`` bytes."""

    def get_tile(self, level: int, index: int) -> bytes:
        """Tile ``(level, index)``; raises ``MerkleError`` if it is missing."""


class TileLayout:
    """Where the nodes of a tree of ``tree_size`` leaves lie in tiles of ``tile_height`` levels."""

    __slots__ = ("tree_size", "tile_height", "tile_bytes", "height", "tile_levels", "row_starts")

    def __init__(self, tree_size: int, tile_height: int) -> None:
        self.tree_size = tree_size
        self.tile_height = h = tile_height
        self.tile_bytes = ((2 << h) - 2) * HASH_SIZE  # rows of 2**H, 2**(H-1), ..., 2 hashes
        self.height = (tree_size - 1).bit_length() if tree_size else 0  # the root's level
        self.tile_levels = self.height // h + 1 if tree_size else 0
        # byte offset of each row in a tile
        self.row_starts = tuple(((2 << h) - (2 << (h - row))) * HASH_SIZE for row in range(h))

    def tiles_at(self, tile_level: int) -> int:
        """How many tiles tile level ``tile_level`` has."""
        return ((self.tree_size - 1) >> ((tile_level + 1) * self.tile_height)) + 1

    def tile_from_levels(self, levels: tuple[bytes, ...], tile_level: int, index: int) -> bytes:
        """Cut tile (tile_level, index) out of a tree's in-memory levels."""
        rows = []
        for row in range(self.tile_height):
            level = tile_level * self.tile_height + row
            width = (1 << (self.tile_height - row)) * HASH_SIZE
            row_nodes = levels[level] if level < len(levels) else b""
            data = row_nodes[index * width : (index + 1) * width]
            rows.append(data.ljust(width, b"\0"))
        return b"".join(rows)


class MemoryTileStore:
    """A ``TileStore`` in a dict, for tests and small trees."""

    def __init__(self) -> None:
        self._meta: TreeMeta | None = None
        self._tiles: dict[tuple[int, int], bytes] = {}

    def put_meta(self, meta: TreeMeta) -> None:
        self._meta = meta

    def get_meta(self) -> TreeMeta:
        if self._meta is None:
            raise MerkleError("the store holds no tree yet")
        return self._meta

    def put_tile(self, level: int, index: int, data: bytes) -> None:
        self._tiles[level, index] = bytes(data)

    def get_tile(self, level: int, index: int) -> bytes:
        try:
            return self._tiles[level, index]
        except KeyError:
            raise MerkleError(f"tile ({level}, {index}) is not in the store") from None


class FileTileStore:
    """A ``TileStore`` in one file (format in the module docstring).

    ``FileTileStore.create(path)`` writes (``put_meta`` first, then every tile,
    then ``close``); ``FileTileStore.open(path)`` reads through ``mmap``. Both are
    context managers.
    """

    def __init__(self, path: Path, meta: TreeMeta | None, *, writing: bool) -> None:
        self.path = path
        self._meta = meta
        self._writing = writing
        self._file = None if not writing else open(self._temp_path(), "wb")  # noqa: SIM115
        self._written: set[tuple[int, int]] = set()
        self._mm: mmap.mmap | None = None
        self._offsets: list[int] = []
        self._counts: list[int] = []
        if meta is not None:
            self._plan(meta)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> FileTileStore:
        """A writer; the file appears at ``path`` only when ``close`` finds it complete."""
        return cls(Path(path), None, writing=True)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FileTileStore:
        """A reader over an existing file; checks magic, version, header checksum and length."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                header = f.read(HEADER_SIZE)
                meta = _parse_header(path, header)
                store = cls(path, meta, writing=False)
                expected = store._offsets[-1]
                actual = os.fstat(f.fileno()).st_size
                if actual != expected:
                    problem = "truncated" if actual < expected else "has trailing bytes"
                    raise MerkleError(
                        f"{path}: tree file {problem}: {actual} bytes, expected {expected}"
                    )
                if expected > HEADER_SIZE:
                    store._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise MerkleError(f"{path}: cannot read tree file: {exc.strerror}") from None
        return store

    def _temp_path(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def _plan(self, meta: TreeMeta) -> None:
        self._layout = TileLayout(meta.tree_size, meta.tile_height)
        self._counts = [self._layout.tiles_at(t) for t in range(self._layout.tile_levels)]
        offsets, position = [], HEADER_SIZE
        for count in self._counts:
            offsets.append(position)
            position += count * self._layout.tile_bytes
        offsets.append(position)  # the end of the file
        self._offsets = offsets

    def _tile_offset(self, level: int, index: int) -> int:
        if not (0 <= level < len(self._counts) and 0 <= index < self._counts[level]):
            raise MerkleError(f"tile ({level}, {index}) is not in {self.path}")
        return self._offsets[level] + index * self._layout.tile_bytes

    def put_meta(self, meta: TreeMeta) -> None:
        if self._file is None or self._meta is not None:
            raise MerkleError(f"{self.path}: metadata is written once, by a writer")
        self._meta = meta
        self._plan(meta)
        fields = _HEADER.pack(
            MAGIC, FORMAT_VERSION, _SHA256_RFC6962, meta.tile_height, 0, meta.tree_size, meta.root
        )
        self._file.write(fields + hashlib.sha256(fields).digest())
        self._file.truncate(self._offsets[-1])

    def get_meta(self) -> TreeMeta:
        if self._meta is None:
            raise MerkleError(f"{self.path}: no metadata written yet")
        return self._meta

    def put_tile(self, level: int, index: int, data: bytes) -> None:
        if self._file is None or self._meta is None:
            raise MerkleError(f"{self.path}: write the metadata before the tiles")
        if len(data) != self._layout.tile_bytes:
            raise MerkleError(f"a tile is {self._layout.tile_bytes} bytes, got {len(data)}")
        self._file.seek(self._tile_offset(level, index))
        self._file.write(data)
        self._written.add((level, index))

    def get_tile(self, level: int, index: int) -> bytes:
        if self._mm is None:
            raise MerkleError(f"{self.path}: not open for reading, or the tree is empty")
        start = self._tile_offset(level, index)
        return self._mm[start : start + self._layout.tile_bytes]

    def close(self) -> None:
        """Release the file; a writer publishes it under ``path`` if every tile was written."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._file is None:
            return
        f, self._file = self._file, None
        with f:
            f.flush()
            os.fsync(f.fileno())
        if self._meta is None or len(self._written) != sum(self._counts):
            self._temp_path().unlink()
            raise MerkleError(f"{self.path}: incomplete tree not written")
        os.replace(self._temp_path(), self.path)

    def __enter__(self) -> FileTileStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None and self._file is not None:  # a failed write leaves nothing behind
            self._file.close()
            self._file = None
            self._temp_path().unlink(missing_ok=True)
        self.close()


def _parse_header(path: Path, header: bytes) -> TreeMeta:
    if len(header) < HEADER_SIZE:
        raise MerkleError(f"{path}: not a tree file (truncated header, {len(header)} bytes)")
    fields, checksum = header[: _HEADER.size], header[_HEADER.size :]
    magic, version, algorithm, tile_height, _, size, root = _HEADER.unpack(fields)
    if magic != MAGIC:
        raise MerkleError(f"{path}: not a tree file (magic {magic!r})")
    if version != FORMAT_VERSION:
        raise MerkleError(f"{path}: tree file version {version}, this code reads {FORMAT_VERSION}")
    if hashlib.sha256(fields).digest() != checksum:
        raise MerkleError(f"{path}: tree file header is corrupted (checksum mismatch)")
    if algorithm != _SHA256_RFC6962:
        raise MerkleError(f"{path}: unknown hash algorithm {algorithm}")
    return TreeMeta(size, root, tile_height)
