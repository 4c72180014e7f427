"""Exceptions of the node package: one base, specific subclasses that say what to do."""


class NodeError(Exception):
    """Base of every error raised by ``node``."""


class KeyStoreError(NodeError):
    """A key cannot be loaded: wrong passphrase, damaged file, or no passphrase configured."""


class ChainSetupError(NodeError):
    """The chain is not usable as configured (no RPC URL, wrong chain id, no contract)."""
