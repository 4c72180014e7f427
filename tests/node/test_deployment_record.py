"""deployment.json records the ledger's version (`ledger_version`) when the node deploys it;
a file written before versions were recorded still loads, and the version is then read from
the chain (a real Anvil)."""

from __future__ import annotations

import json
from pathlib import Path

from mcledger.anchoring.anvil import AnvilProcess
from mcledger.node.runtime.chain_setup import (
    DEPLOYMENT_FILE,
    Deployment,
    deploy_contract,
    fund_dev_accounts,
    ledger_version_of,
    open_chain,
)
from mcledger.node.settings import Settings


def test_the_version_is_recorded_and_an_old_record_still_loads(
    tmp_path: Path, anvil: AnvilProcess
) -> None:
    settings = Settings(data_dir=tmp_path, rpc_url=anvil.rpc_url, dev=True)
    context = open_chain(settings)
    try:
        fund_dev_accounts(context, context.admin)
        ledger = deploy_contract(context)
        path = settings.chain_dir / DEPLOYMENT_FILE
        record = json.loads(path.read_text())
        assert record["ledger_version"] == 2 and record["contract"] == ledger.address
        assert ledger_version_of(context) == 2

        del record["ledger_version"]  # as written before versions were recorded
        path.write_text(json.dumps(record, indent=2) + "\n")
        old = Deployment.load(path)
        assert old is not None and old.ledger_version is None
        assert ledger_version_of(context) == 2  # read from the chain
    finally:
        context.close()
