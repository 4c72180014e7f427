"""The node's HTTP API (docs/formats.md "The HTTP API")."""

from mcledger.node.api.app import create_app
from mcledger.node.api.deps import AnchoringControl

__all__ = ["AnchoringControl", "create_app"]
