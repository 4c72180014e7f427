"""The proof bundle, public format `mcledger-proof/1` (docs/formats.md "The proof bundle").

One model writes and reads it. Parsing is strict: every field is checked for
type and shape, and unknown fields are refused, so a verifier never acts on a
bundle it half understood. An optional ``revocation`` member (an addition to version 1)
carries the digest's proof of (non-)membership in its issuer's committed revocation set,
and an optional ``anchor.contractVersion`` the anchor's contract version (2 or more); a
bundle without them is written byte for byte as before.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils import is_checksum_address

from mcledger.anchoring.errors import MerkleError, RevocationSetError
from mcledger.anchoring.merkle import InclusionProof
from mcledger.anchoring.revocation_proof import EMPTY, RevocationProof

BUNDLE_VERSION = "mcledger-proof/1"
LEDGER_TARGET = "ledger"  # the project's MicroCredentialLedger: `anchor(root, size)`
EBSI_TIMESTAMP_TARGET = "ebsi-timestamp"  # EBSI's Timestamp interface: `timestampHashes`
ANCHOR_TARGETS = (LEDGER_TARGET, EBSI_TIMESTAMP_TARGET)
PROOF_FIELDS = ("leafIndex", "treeSize", "auditPath", "root")
FIRST_RECORDED_VERSION = 2  # `anchor.contractVersion`: absent for version 1 (no `version()`)
MAX_CONTRACT_VERSION = (1 << 16) - 1  # `version()` returns a uint16
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TX32 = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


class BundleError(MerkleError):
    """A proof bundle is malformed; the message names the field."""


def _require(condition: bool, field: str, expected: str) -> None:
    if not condition:
        raise BundleError(f"proof bundle field {field!r}: expected {expected}")


def _int(value: Any, field: str, minimum: int = 0) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        field,
        f"an integer >= {minimum}",
    )
    return int(value)


def _address(value: Any, field: str) -> str:
    _require(isinstance(value, str) and bool(_ADDRESS.match(value)), field, "0x + 40 hex")
    if value != value.lower() and not is_checksum_address(value):
        raise BundleError(f"proof bundle field {field!r}: bad EIP-55 checksum")
    return value.lower()


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second, as the bundle writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, field: str) -> datetime:
    _require(
        isinstance(value, str) and bool(_TIME.match(value)), field, "YYYY-MM-DDTHH:MM:SSZ (UTC)"
    )
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise BundleError(f"proof bundle field {field!r}: not a time: {value!r}") from None


@dataclass(frozen=True)
class AnchorInfo:
    """Where the bundle's root was anchored, as the node recorded it. Hex is lower case
    throughout the bundle (docs/formats.md), addresses included; mixed-case input must carry
    a valid EIP-55 checksum.

    ``target`` says how: ``ledger`` (the MicroCredentialLedger at ``contract``; the bundle
    then has no ``target`` member, as every bundle before targets had) or
    ``ebsi-timestamp`` (EBSI's Timestamp interface at ``contract``, the root timestamped
    with hash algorithm ``hash_algorithm_id``; ``ledger``, when given, is a
    MicroCredentialLedger beside it that holds the issuer registry and on-chain
    revocations).

    ``contract_version`` is what ``version()`` of that MicroCredentialLedger (``contract``,
    or ``ledger`` beside a timestamp) returns, 2 or more; None for version 1 and for the
    bundles written before versions were recorded, which have no ``contractVersion``."""

    chain_id: int
    contract: str
    transaction_hash: str
    block_number: int
    block_hash: str
    anchored_at: datetime
    issuer: str
    target: str = LEDGER_TARGET
    hash_algorithm_id: int | None = None
    ledger: str | None = None
    contract_version: int | None = None

    def __post_init__(self) -> None:
        if self.target not in ANCHOR_TARGETS:
            raise BundleError(f"unknown anchor target {self.target!r}")
        timestamped = self.target == EBSI_TIMESTAMP_TARGET
        if timestamped != (self.hash_algorithm_id is not None):
            raise BundleError("anchor.hashAlgorithmId goes with target ebsi-timestamp, and only")
        if self.ledger is not None and not timestamped:
            raise BundleError("anchor.ledger goes with target ebsi-timestamp only")
        if self.contract_version is not None:
            if timestamped and self.ledger is None:
                raise BundleError("anchor.contractVersion needs anchor.ledger when timestamped")
            if not FIRST_RECORDED_VERSION <= self.contract_version <= MAX_CONTRACT_VERSION:
                raise BundleError(
                    f"anchor.contractVersion must be {FIRST_RECORDED_VERSION} to"
                    f" {MAX_CONTRACT_VERSION} (version 1 is written as no member)"
                )

    @property
    def timestamped(self) -> bool:
        """Whether the root was timestamped through EBSI's Timestamp interface."""
        return self.target == EBSI_TIMESTAMP_TARGET

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.timestamped:
            body["target"] = self.target
        body |= {
            "chainId": self.chain_id,
            "contract": self.contract.lower(),
        }
        if self.hash_algorithm_id is not None:
            body["hashAlgorithmId"] = self.hash_algorithm_id
        if self.ledger is not None:
            body["ledger"] = self.ledger.lower()
        if self.contract_version is not None:
            body["contractVersion"] = self.contract_version
        body |= {
            "transactionHash": self.transaction_hash,
            "blockNumber": self.block_number,
            "blockHash": self.block_hash,
            "anchoredAt": format_time(self.anchored_at),
            "issuer": self.issuer.lower(),
        }
        return body

    @classmethod
    def from_json(cls, data: Any) -> AnchorInfo:
        fields = ("chainId", "contract", "transactionHash", "blockNumber", "blockHash")
        names = (*fields, "anchoredAt", "issuer")
        _require(isinstance(data, dict), "anchor", "an object")
        target = data.get("target", LEDGER_TARGET)
        _require(
            "target" not in data or target == EBSI_TIMESTAMP_TARGET,
            "anchor.target",
            f"{EBSI_TIMESTAMP_TARGET!r}, or no target (the MicroCredentialLedger)",
        )
        if target == EBSI_TIMESTAMP_TARGET:
            optional: tuple[str, ...] = ("ledger", "contractVersion")
            _exact_keys(data, (*names, "target", "hashAlgorithmId"), "anchor", optional)
            _require(
                "contractVersion" not in data or data.get("ledger") is not None,
                "anchor.contractVersion",
                "no contractVersion without anchor.ledger (the version is the ledger's)",
            )
        else:
            _exact_keys(data, names, "anchor", ("contractVersion",))
        for key in ("transactionHash", "blockHash"):
            _require(bool(_TX32.match(str(data[key]))), f"anchor.{key}", "0x + 64 lower-case hex")
        timestamped = target == EBSI_TIMESTAMP_TARGET
        ledger = data.get("ledger")
        version = None
        if "contractVersion" in data:
            version = _int(
                data["contractVersion"], "anchor.contractVersion", FIRST_RECORDED_VERSION
            )
            _require(version <= MAX_CONTRACT_VERSION, "anchor.contractVersion", "at most 65535")
        return cls(
            chain_id=_int(data["chainId"], "anchor.chainId", 1),
            contract=_address(data["contract"], "anchor.contract"),
            transaction_hash=data["transactionHash"],
            block_number=_int(data["blockNumber"], "anchor.blockNumber"),
            block_hash=data["blockHash"],
            anchored_at=parse_time(data["anchoredAt"], "anchor.anchoredAt"),
            issuer=_address(data["issuer"], "anchor.issuer"),
            target=target,
            hash_algorithm_id=(
                _int(data["hashAlgorithmId"], "anchor.hashAlgorithmId") if timestamped else None
            ),
            ledger=None if ledger is None else _address(ledger, "anchor.ledger"),
            contract_version=version,
        )


def recorded_version(version: int | None) -> int | None:
    """``anchor.contractVersion`` for a contract of ``version`` (None: unknown): None for
    version 1, which bundles write as no member."""
    return version if version is not None and version >= FIRST_RECORDED_VERSION else None


def _exact_keys(
    data: dict[str, Any], names: tuple[str, ...], where: str, optional: tuple[str, ...] = ()
) -> None:
    missing = [n for n in names if n not in data]
    unknown = sorted(set(data) - set(names) - set(optional))
    if missing:
        raise BundleError(f"{where} is missing {', '.join(missing)}")
    if unknown:
        raise BundleError(f"{where} has unknown fields: {', '.join(unknown)}")


_MAX_SIZE = (1 << 64) - 1


@dataclass(frozen=True)
class RevocationMember:
    """The bundle's ``revocation`` member: the digest's proof (``mcledger-revocation-proof/1``)
    against ``root``, the issuer's revocation set as committed on the anchor's ledger with
    ``size`` entries, by transaction ``transaction_hash`` in block ``block_number``. The
    empty set (never committed) has root zero, size 0 and no transaction."""

    root: bytes
    size: int
    transaction_hash: str | None
    block_number: int | None
    proof: RevocationProof

    def __post_init__(self) -> None:
        empty = self.root == EMPTY
        if (self.size == 0) != empty or (self.transaction_hash is None) != empty:
            raise BundleError(
                "revocation: root zero, size 0 and no transaction go together (the empty set)"
            )
        if (self.block_number is None) != (self.transaction_hash is None):
            raise BundleError("revocation: transactionHash and blockNumber go together")

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root.hex(),
            "size": self.size,
            "transactionHash": self.transaction_hash,
            "blockNumber": self.block_number,
            "proof": self.proof.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> RevocationMember:
        _require(isinstance(data, dict), "revocation", "an object")
        names = ("root", "size", "transactionHash", "blockNumber", "proof")
        _exact_keys(data, names, "revocation")
        _require(
            isinstance(data["root"], str) and bool(_HEX64.match(data["root"])),
            "revocation.root",
            "64 lower-case hex",
        )
        size = _int(data["size"], "revocation.size")
        _require(size <= _MAX_SIZE, "revocation.size", "an integer below 2**64")
        tx, block = data["transactionHash"], data["blockNumber"]
        _require(
            tx is None or (isinstance(tx, str) and bool(_TX32.match(tx))),
            "revocation.transactionHash",
            "0x + 64 lower-case hex, or null",
        )
        if block is not None:
            block = _int(block, "revocation.blockNumber")
        try:
            proof = RevocationProof.from_json(data["proof"])
        except RevocationSetError as exc:
            raise BundleError(f"revocation.proof: {exc}") from None
        return cls(bytes.fromhex(data["root"]), size, tx, block, proof)


@dataclass(frozen=True)
class ProofBundle:
    """A digest's inclusion proof in an anchored batch, with the anchor (and, optionally, its
    place in the issuer's committed revocation set)."""

    digest: bytes
    proof: InclusionProof
    anchor: AnchorInfo
    credential_id: str | None = None
    revocation: RevocationMember | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": BUNDLE_VERSION}
        if self.credential_id is not None:
            body["credentialId"] = self.credential_id
        body["digest"] = self.digest.hex()
        body |= self.proof.to_json()
        body["anchor"] = self.anchor.to_json()
        if self.revocation is not None:
            body["revocation"] = self.revocation.to_json()
        return body

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: Any) -> ProofBundle:
        _require(isinstance(data, dict), "(bundle)", "a JSON object")
        required = ("version", "digest", *PROOF_FIELDS, "anchor")
        _exact_keys(data, required, "proof bundle", optional=("credentialId", "revocation"))
        _require(data["version"] == BUNDLE_VERSION, "version", repr(BUNDLE_VERSION))
        _require(
            isinstance(data["digest"], str) and bool(_HEX64.match(data["digest"])),
            "digest",
            "64 lower-case hex",
        )
        credential_id = data.get("credentialId")
        _require(
            credential_id is None or isinstance(credential_id, str), "credentialId", "a string"
        )
        try:
            proof = InclusionProof.from_json({k: data[k] for k in PROOF_FIELDS})
        except BundleError:
            raise
        except MerkleError as exc:
            raise BundleError(f"proof bundle: {exc}") from None
        anchor = AnchorInfo.from_json(data["anchor"])
        revocation = (
            RevocationMember.from_json(data["revocation"]) if "revocation" in data else None
        )
        return cls(
            digest=bytes.fromhex(data["digest"]),
            proof=proof,
            anchor=anchor,
            credential_id=credential_id,
            revocation=revocation,
        )

    @classmethod
    def loads(cls, text: str | bytes) -> ProofBundle:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
            raise BundleError(f"the proof bundle is not JSON: {exc}") from None
        return cls.from_json(data)
