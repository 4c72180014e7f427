"""The node's HTTP API (DESIGN.md "The HTTP API")."""

from node.api.app import create_app
from node.api.deps import AnchoringControl

__all__ = ["AnchoringControl", "create_app"]
