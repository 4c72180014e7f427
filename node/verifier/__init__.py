"""The verifier library: every check of ``mcledger verify``, with no server.

Proof bundles (format, Merkle inclusion, the anchor and revocation reads on
chain), credentials (Data Integrity signature, issuer, digest, id, did:key and
did:web), Bitstring Status Lists read over HTTP, and stacks of components.

May import: ``mcledger.anchoring``, ``mcledger.contracts``,
``mcledger.node.credentials`` and the node's base modules (``errors``). Never
the SQL index, the pipeline, the API or the scheduler, and none of
``sqlalchemy``, ``sqlmodel``, ``fastapi`` or ``apscheduler`` (a test checks).
"""
