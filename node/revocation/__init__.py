"""Revocation and audit: revoking and suspending credentials (the records and
their public history) and the auditor's reconciliation of the chain's events
with the index.

May import: ``mcledger.node.pipeline``, ``mcledger.node.issuing``,
``mcledger.node.index``, ``mcledger.node.verifier`` (the chain reads), the
node's base modules and ``mcledger.anchoring``; never the runtime or the API.
"""
