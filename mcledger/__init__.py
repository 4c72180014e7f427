"""mcledger: a ledger node for European micro-credentials.

Every module lives under this one namespace: ``mcledger.anchoring`` (the Merkle
engine, the chain client, the contract wrapper), ``mcledger.contracts`` (the
Solidity source and its compiled artifact), ``mcledger.node`` (the verifier
library, the SQL index, the anchoring pipeline, issuance, revocation, the HTTP
API) and ``mcledger.cli`` (the ``mcledger`` command). In the repository the four
folders stay at its root; the entries here are links to them.
"""
