"""The anchoring pipeline: digest intake, sealing batches into RFC 6962 trees,
the crash-safe transaction machine, the anchorer and the revocation flush that
drive it, and the scheduler that runs them.

May import: ``mcledger.node.index``, ``mcledger.node.issuing`` (issuer rows),
the node's base modules and ``mcledger.anchoring``; never revocation records,
the runtime or the API.
"""
