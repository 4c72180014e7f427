"""A chain variant of tests/chains/ (see its conftest): where it answers and what the node
sends there."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChainVariant:
    name: str
    rpc_url: str
    tx_type: int  # the type of the transactions the node sends there (0 legacy, 2 EIP-1559)
    gas_free: bool
    env: dict[str, str] = field(default_factory=dict)  # MCLEDGER_* the node needs there

    def settings(self) -> dict[str, str]:
        """``env`` as keyword arguments of ``load_settings``."""
        return {k.removeprefix("MCLEDGER_").lower(): v for k, v in self.env.items()}
