"""The SQL index: tables, engine and migrations, the operations log, leases.

Owns: ``models*`` (SQLModel tables), ``db`` (engines, Alembic migrations),
``oplog`` (the audit trail of writes), ``lease`` (one holder of a job at a time).
May import: ``mcledger.node.errors`` and the libraries; nothing else of the node.
"""
