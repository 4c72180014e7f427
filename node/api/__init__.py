"""The node's HTTP API (DESIGN.md "The HTTP API")."""

from mcledger.node.api.app import create_app
from mcledger.node.api.deps import AnchoringControl

__all__ = ["AnchoringControl", "create_app"]
