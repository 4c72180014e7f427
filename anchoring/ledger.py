"""The MicroCredentialLedger contract, spoken to through ChainClient.

Write methods send locally signed transactions and raise ContractRevertError
naming the contract's custom error when it refuses; read methods are calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.contract import (
    ZERO_ADDRESS,
    ContractBinding,
    deploy_artifact,
    event_topic,
)
from mcledger.anchoring.contract import bytes32 as _bytes32

ROOT_ANCHORED_TOPIC = event_topic("RootAnchored(bytes32,address,uint64)")
CREDENTIAL_REVOKED_TOPIC = event_topic("CredentialRevoked(address,bytes32,uint8)")


class RevocationReason(IntEnum):
    """Reasons as the contract and docs/formats.md number them."""

    UNSPECIFIED = 0
    ISSUED_IN_ERROR = 1
    FRAUD_OR_MISCONDUCT = 2
    SUPERSEDED = 3
    WITHDRAWN_BY_LEARNER = 4
    KEY_COMPROMISE = 5


@dataclass(frozen=True)
class AnchorRecord:
    """What `anchorOf(root)` returns; ``issuer`` is the zero address when not anchored."""

    issuer: str
    tree_size: int
    anchored_at: int

    @property
    def exists(self) -> bool:
        return self.issuer != ZERO_ADDRESS


class LedgerContract(ContractBinding):
    """One deployed MicroCredentialLedger at ``address`` on ``client``'s chain."""

    # -- encoding --------------------------------------------------------------------------
    def anchor_calldata(self, root: bytes, tree_size: int) -> bytes:
        return self.encode("anchor", _bytes32(root), tree_size)

    def revoke_calldata(self, digests: Sequence[bytes], reason: int) -> bytes:
        return self.encode("revoke", [_bytes32(d) for d in digests], int(reason))

    # -- writes ----------------------------------------------------------------------------
    def anchor(
        self,
        account: LocalAccount,
        root: bytes,
        tree_size: int,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        return self._transact(
            account, self.anchor_calldata(root, tree_size), confirmations, timeout
        )

    def revoke(
        self,
        account: LocalAccount,
        digests: Sequence[bytes],
        reason: int,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        return self._transact(
            account, self.revoke_calldata(digests, reason), confirmations, timeout
        )

    def register_issuer(
        self,
        admin: LocalAccount,
        issuer: str,
        did: str,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        data = self.encode("registerIssuer", to_checksum_address(issuer), did)
        return self._transact(admin, data, confirmations, timeout)

    def suspend_issuer(
        self, admin: LocalAccount, issuer: str, *, confirmations: int = 1, timeout: float = 60.0
    ) -> Receipt:
        data = self.encode("suspendIssuer", to_checksum_address(issuer))
        return self._transact(admin, data, confirmations, timeout)

    # -- reads -----------------------------------------------------------------------------
    def anchor_of(self, root: bytes, *, block: int | str = "latest") -> AnchorRecord:
        issuer, size, at = self._call("anchorOf", _bytes32(root), block=block)
        return AnchorRecord(to_checksum_address(issuer), int(size), int(at))

    def revoked_at(self, issuer: str, digest: bytes, *, block: int | str = "latest") -> int:
        return int(
            self._call("revokedAt", to_checksum_address(issuer), _bytes32(digest), block=block)
        )

    def is_issuer(self, issuer: str, *, block: int | str = "latest") -> bool:
        return bool(self._call("isIssuer", to_checksum_address(issuer), block=block))


def deploy_ledger(
    client: ChainClient,
    deployer: LocalAccount,
    artifact: Mapping[str, Any],
    *,
    confirmations: int = 1,
    timeout: float = 60.0,
) -> tuple[LedgerContract, Receipt]:
    """Deploy the compiled contract; the deployer becomes its admin. Returns the
    contract and the deployment's receipt."""
    address, receipt = deploy_artifact(
        client, deployer, artifact, confirmations=confirmations, timeout=timeout
    )
    return LedgerContract(client, address, artifact["abi"]), receipt
