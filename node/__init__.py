"""The node: everything an issuer runs, in floors that import only downwards.

``errors``, ``settings``   the base every floor may use
``credentials``            W3C VC 2.0, Data Integrity, Annex I, status-list bits (pure)
``verifier``               the checks of ``mcledger verify``; no database, no server
``index``                  the SQL index: tables, migrations, operations log, leases
``issuing``                issuers, keys, tokens, catalogue, issuance, status lists
``pipeline``               intake, sealing, the transaction machine, anchoring, flush
``revocation``             revoking and suspending, and the auditor's reconciliation
``runtime``                opening the chain and the index; assembling the node
``api``                    the HTTP API

``tests/test_architecture.py`` fails when a module imports a floor above its own.
"""
