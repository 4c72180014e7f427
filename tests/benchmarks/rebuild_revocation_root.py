"""Rebuild an issuer's revocation root from the chain alone, with none of mcledger's code.

    python tests/benchmarks/rebuild_revocation_root.py --rpc URL --contract ADDRESS --issuer ADDRESS

An auditor's check written from docs/formats.md ("The revocation set", "The contract") with
JSON-RPC over the standard library, eth_abi and eth_utils (keccak) for the ABI, and hashlib:

1. `revocationRootOf(issuer)` by a hand-built `eth_call`: the committed root, size and block;
2. from that block, back along each RevocationsCommitted event's `previousBlock`, one
   `eth_getLogs` of one block at a time, following `previousRoot`, down to the first commitment
   (previous root zero, previous block 0);
3. forwards again: the set rebuilt digest by digest (a digest's first revocation is kept),
   and after every commitment its root and size recomputed and compared with the event's.

Prints one line a commitment and exits 0 when every root and size match the chain, 1 when any
differs (naming the transaction), 2 on a usage or RPC error. The root is recomputed from the
whole set after each commitment: simple, and fast enough for the sets of the tests and the
benchmark (tens of thousands of digests).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import keccak

EVENT = "RevocationsCommitted(address,bytes32,bytes32,uint64,uint64,uint64,uint8,bytes32[])"
EVENT_TOPIC = "0x" + keccak(text=EVENT).hex()
DATA_TYPES = ["bytes32", "uint64", "uint64", "uint64", "uint8", "bytes32[]"]
ZERO = bytes(32)


class RpcError(Exception):
    pass


def rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the given RPC)
        reply = json.loads(response.read())
    if "error" in reply:
        raise RpcError(f"{method}: {reply['error']}")
    return reply["result"]


@dataclass
class Commitment:
    new_root: bytes
    previous_root: bytes
    new_size: int
    previous_block: int
    revoked_at: int
    reason: int
    digests: list[bytes]
    block: int
    transaction: str


def committed_root(url: str, contract: str, issuer: str) -> tuple[bytes, int, int]:
    """(root, size, block of the last commitment) from revocationRootOf(issuer)."""
    data = keccak(text="revocationRootOf(address)")[:4] + bytes.fromhex(issuer[2:]).rjust(32, b"\0")
    out = bytes.fromhex(
        rpc(url, "eth_call", [{"to": contract, "data": "0x" + data.hex()}, "latest"])[2:]
    )
    root, size, _at, block = decode(["bytes32", "uint64", "uint64", "uint64"], out)
    return root, size, block


def commitments_in(url: str, contract: str, issuer: str, block: int) -> list[Commitment]:
    topic = "0x" + bytes.fromhex(issuer[2:]).rjust(32, b"\0").hex()
    query = {"address": contract, "fromBlock": hex(block), "toBlock": hex(block)}
    logs = rpc(url, "eth_getLogs", [query | {"topics": [EVENT_TOPIC, topic]}])
    found = []
    for log in logs:
        previous, size, previous_block, at, reason, digests = decode(
            DATA_TYPES, bytes.fromhex(log["data"][2:])
        )
        new_root = bytes.fromhex(log["topics"][2][2:])
        found.append(
            Commitment(
                new_root,
                previous,
                size,
                previous_block,
                at,
                reason,
                list(digests),
                block,
                log["transactionHash"],
            )
        )
    return found


def walk_back(url: str, contract: str, issuer: str, root: bytes, block: int) -> list[Commitment]:
    """Every commitment of the issuer, oldest first, found from the last one backwards."""
    chain: list[Commitment] = []
    while block:
        step = [c for c in commitments_in(url, contract, issuer, block) if c.new_root == root]
        if not step:
            raise RpcError(f"no commitment of root {root.hex()} in block {block}")
        chain.append(step[-1])
        root, block = step[-1].previous_root, step[-1].previous_block
    if root != ZERO:
        raise RpcError(f"the first commitment builds on {root.hex()}, not on the empty set")
    chain.reverse()
    return chain


def set_root(leaves: dict[bytes, bytes], depth: int = 0) -> bytes:
    """The compact sparse Merkle tree's root over {digest: leaf hash}: empty is zero, one
    entry is its leaf hash, more split on bit `depth` (0 = left) under SHA-256(0x03 ‖ L ‖ R)."""
    if not leaves:
        return ZERO
    if len(leaves) == 1:
        return next(iter(leaves.values()))
    left = {d: h for d, h in leaves.items() if not d[depth // 8] & (0x80 >> depth % 8)}
    right = {d: h for d, h in leaves.items() if d not in left}
    return hashlib.sha256(b"\x03" + set_root(left, depth + 1) + set_root(right, depth + 1)).digest()


def rebuild(url: str, contract: str, issuer: str) -> int:
    root, size, block = committed_root(url, contract, issuer)
    print(f"revocationRootOf({issuer}) = {root.hex()}, size {size}, block {block}")
    leaves: dict[bytes, bytes] = {}
    failures = 0
    for c in walk_back(url, contract, issuer, root, block):
        for digest in c.digests:
            if digest not in leaves:  # the first revocation of a digest is kept
                record = bytes([c.reason]) + c.revoked_at.to_bytes(8, "big")
                leaves[digest] = hashlib.sha256(b"\x02" + digest + record).digest()
        rebuilt = set_root(leaves)
        ok = rebuilt == c.new_root and len(leaves) == c.new_size
        failures += not ok
        claimed = "" if rebuilt == c.new_root else f" (event {c.new_root.hex()})"
        print(
            f"{'ok ' if ok else 'BAD'} block {c.block} {c.transaction}: "
            f"{len(c.digests)} digests, size {len(leaves)} (event {c.new_size}), "
            f"root {rebuilt.hex()}{claimed}"
        )
    if set_root(leaves) != root or len(leaves) != size:
        failures += 1
        print("BAD the rebuilt set differs from revocationRootOf")
    print("rebuilt root matches the chain" if not failures else f"{failures} mismatch(es)")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--contract", required=True)
    parser.add_argument("--issuer", required=True)
    args = parser.parse_args(argv)
    try:
        return rebuild(args.rpc, args.contract.lower(), args.issuer.lower())
    except (OSError, ValueError, RpcError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
