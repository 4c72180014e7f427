"""Exceptions of the anchoring package: one base, specific subclasses that say what to do."""


class AnchoringError(Exception):
    """Base of every error raised by ``anchoring``."""


class MerkleError(AnchoringError):
    """A Merkle tree, proof or stored tree is malformed or does not verify."""


class InvalidProofError(MerkleError):
    """An inclusion or consistency proof does not verify; the message says what differed."""


class RevocationSetError(MerkleError):
    """A revocation set entry (digest, reason, time) or a revocation proof is malformed; the
    message names the field. Nothing was changed."""


class InvalidRevocationProofError(RevocationSetError):
    """A well-formed revocation proof does not lead to the expected root (or is not for the
    digest asked about): it proves nothing; the message says what was computed."""


class ChainError(AnchoringError):
    """Talking to the chain failed (RPC unreachable, transaction failed, timeout)."""


class ContractRevertError(ChainError):
    """The contract refused a call; ``error_name`` is the Solidity custom error's name."""

    def __init__(self, error_name: str, args: tuple[object, ...] = (), message: str = "") -> None:
        self.error_name = error_name
        self.error_args = args
        detail = f"{error_name}({', '.join(map(str, args))})"
        super().__init__(f"the contract refused: {detail}" + (f": {message}" if message else ""))


class ToolchainError(AnchoringError):
    """A chain tool (Anvil, solc) is missing or failed to start; run `make setup`."""


class TimestampDataError(AnchoringError):
    """The timestampData of an EBSI-interface timestamp is not the `mcl` encoding this node
    reads or writes (docs/formats.md); the message says which byte or field is wrong."""
