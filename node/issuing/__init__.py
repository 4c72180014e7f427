"""Issuers and what they issue: issuer rows, keys, API tokens, the offering
catalogue, credential issuance and the status lists credentials point into.

May import: ``mcledger.node.index``, ``mcledger.node.credentials``, the node's
base modules (``errors``, ``settings``) and ``mcledger.anchoring``'s formats;
never the pipeline, revocation, runtime or API.
"""
