"""Bring the node's chain up to a usable state: endpoint, keys, contract, registered issuer.

Development mode starts its own Anvil (state kept under the data directory)
or uses the development chain that `MCLEDGER_RPC_URL` names (Anvil or Hardhat
Network, told apart by their own RPC methods); it funds the node's keys with
`anvil_setBalance` or `hardhat_setBalance`, deploys the contract once and
registers the local issuer; with `MCLEDGER_ANCHOR_TARGET=ebsi-timestamp` it also deploys
our EbsiTimestamp once beside the ledger (unless `MCLEDGER_TIMESTAMP_CONTRACT` names one).
On a real network the operator funds the keys (none to fund on a gas-free one) and runs
`mcledger chain deploy`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from mcledger.anchoring.anvil import AnvilProcess, start_anvil
from mcledger.anchoring.bundle import EBSI_TIMESTAMP_TARGET
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.fees import GWEI, FeePolicy, TxType
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.anchoring.timestamp import TimestampContract, deploy_timestamp
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.errors import ChainSetupError
from mcledger.node.issuing.keys import KeyStore, open_keystore
from mcledger.node.settings import Settings

ADMIN_KEY = "admin"
DEV_FUNDING_WEI = 1000 * 10**18
ENDPOINT_FILE = "endpoint.json"
DEPLOYMENT_FILE = "deployment.json"


def issuer_key_name(issuer_id: str) -> str:
    return f"issuer-{issuer_id}"


@dataclass(frozen=True)
class Deployment:
    """Where the contracts live on one chain; stored as chain/deployment.json. The
    ``timestamp_*`` fields: the EbsiTimestamp the node deployed beside the ledger (for
    ``ebsi-timestamp``), absent from the file when there is none. ``ledger_version``: what
    the ledger's `version()` returned when deployed (1: the first version, which has no
    such function); absent from files written before it was recorded (then unknown: read
    it from the chain, `ledger_version_of`)."""

    chain_id: int
    contract: str
    admin: str
    transaction_hash: str
    block_number: int
    ledger_version: int | None = None
    timestamp_contract: str | None = None
    timestamp_transaction_hash: str | None = None
    timestamp_block_number: int | None = None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        record = {k: v for k, v in asdict(self).items() if v is not None}
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Deployment | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise ChainSetupError(f"{path} is damaged ({exc}); remove it to deploy again") from None


@dataclass
class ChainContext:
    """An open chain: client, contract, and the node's keys. ``anvil`` is set when the
    node started its own development chain (stop it with ``close``)."""

    settings: Settings
    client: ChainClient
    keys: KeyStore
    anvil: AnvilProcess | None = None
    ledger: LedgerContract | None = None
    timestamps: TimestampContract | None = None  # the Timestamp contract (ebsi-timestamp)

    @property
    def admin(self) -> LocalAccount:
        return self.keys.load_or_create(ADMIN_KEY)

    def issuer_account(self, issuer_id: str | None = None) -> LocalAccount:
        return self.keys.load_or_create(issuer_key_name(issuer_id or self.settings.issuer_id))

    def signing_key(self, issuer_id: str | None = None) -> Ed25519SigningKey:
        """The issuer's Ed25519 credential-signing key; its did:key is the issuer's DID."""
        return self.keys.signing_key(issuer_key_name(issuer_id or self.settings.issuer_id))

    def close(self) -> None:
        if self.anvil is not None:
            self.anvil.stop()
            _endpoint_path(self.settings).unlink(missing_ok=True)


def _endpoint_path(settings: Settings) -> Path:
    return settings.chain_dir / ENDPOINT_FILE


def running_dev_endpoint(settings: Settings) -> str | None:
    """The RPC URL of a dev Anvil that another `mcledger` process started, if it still runs."""
    try:
        record = json.loads(_endpoint_path(settings).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(record["rpcUrl"])


def _load_artifact(contract: str = "MicroCredentialLedger") -> dict[str, Any]:
    from mcledger.contracts.toolchain import load_artifact

    return load_artifact(contract)


def fee_policy(settings: Settings) -> FeePolicy:
    """The transaction type and fees the settings ask for (see `anchoring.fees`)."""
    cap = round(settings.max_fee_gwei * GWEI)
    price = None if settings.gas_price_gwei is None else round(settings.gas_price_gwei * GWEI)
    if price is not None and price > cap:
        raise ChainSetupError(
            f"MCLEDGER_GAS_PRICE_GWEI ({settings.gas_price_gwei}) is above "
            f"MCLEDGER_MAX_FEE_GWEI ({settings.max_fee_gwei}): raise the cap or lower the price"
        )
    return FeePolicy(max_fee_cap=cap, tx_type=TxType(settings.tx_type), gas_price=price)


def chain_client(settings: Settings, rpc_url: str, fees: FeePolicy | None = None) -> ChainClient:
    """A client for ``rpc_url`` with the settings' fees; the bearer token goes only to the
    configured endpoint (``MCLEDGER_RPC_URL`` or ``--rpc``), never to a local dev chain."""
    token = settings.rpc_token if rpc_url == settings.rpc_url else None
    return ChainClient(
        rpc_url,
        request_timeout=min(settings.tx_timeout, 30.0),
        fees=fees or fee_policy(settings),
        token=token.get_secret_value() if token else None,
    )


def open_chain(settings: Settings, *, start_dev_chain: bool = False) -> ChainContext:
    """Connect to the configured chain; in dev mode start Anvil if none is running."""
    anvil = None
    fees = fee_policy(settings)  # a bad fee setting fails before any chain is started
    rpc_url = settings.rpc_url or running_dev_endpoint(settings)
    if rpc_url is None and not (settings.dev and start_dev_chain):
        raise ChainSetupError(
            "no chain configured: set MCLEDGER_RPC_URL, or start the development chain "
            "with `mcledger chain up`"
        )
    keys = open_keystore(
        settings.keys_dir,
        settings.key_password.get_secret_value() if settings.key_password else None,
        dev=settings.dev,
    )
    if rpc_url is None:
        settings.chain_dir.mkdir(parents=True, exist_ok=True)
        anvil = start_anvil(
            port=settings.anvil_port,
            state_path=settings.chain_dir / "anvil-state.json",
            log_path=settings.chain_dir / "anvil.log",
        )
        rpc_url = anvil.rpc_url
        _endpoint_path(settings).write_text(
            json.dumps({"rpcUrl": rpc_url, "pid": anvil.process.pid}) + "\n"
        )
    client = chain_client(settings, rpc_url, fees)
    context = ChainContext(settings, client, keys, anvil)
    try:
        if settings.chain_id is not None and client.chain_id != settings.chain_id:
            raise ChainSetupError(
                f"{rpc_url} is chain {client.chain_id}, "
                f"but MCLEDGER_CHAIN_ID is {settings.chain_id}"
            )
        context.ledger = _existing_ledger(context)
        context.timestamps = _existing_timestamps(context)
    except BaseException:
        context.close()
        raise
    return context


def _existing_ledger(context: ChainContext) -> LedgerContract | None:
    settings, client = context.settings, context.client
    address = settings.contract_address
    if address is None:
        record = _recorded_deployment(context)
        if record is None:
            return None
        address = record.contract
    if not client.code_at(address):
        if settings.contract_address:
            raise ChainSetupError(f"no contract at {address} on chain {client.chain_id}")
        return None  # the dev chain was reset: the recorded deployment is gone
    return LedgerContract(client, address, _load_artifact()["abi"])


def _recorded_deployment(context: ChainContext) -> Deployment | None:
    record = Deployment.load(context.settings.chain_dir / DEPLOYMENT_FILE)
    return record if record is not None and record.chain_id == context.client.chain_id else None


def ledger_version_of(context: ChainContext) -> int | None:
    """The version of the node's ledger (None without one): as deployment.json records it
    for that contract, else read from the chain (a file written before versions were
    recorded, or a contract that MCLEDGER_CONTRACT_ADDRESS names)."""
    ledger = context.ledger
    if ledger is None:
        return None
    record = _recorded_deployment(context)
    if (
        record is not None
        and record.ledger_version is not None
        and record.contract.lower() == ledger.address.lower()
    ):
        return record.ledger_version
    return ledger.version()


def _existing_timestamps(context: ChainContext) -> TimestampContract | None:
    """The Timestamp contract: MCLEDGER_TIMESTAMP_CONTRACT (it must have code), else the
    one deployment.json records on this chain, if its code is still there."""
    settings, client = context.settings, context.client
    address = settings.timestamp_contract
    if address is None:
        record = _recorded_deployment(context)
        address = record.timestamp_contract if record is not None else None
        if address is None:
            return None
    if not client.code_at(address):
        if settings.timestamp_contract:
            raise ChainSetupError(
                f"no contract at MCLEDGER_TIMESTAMP_CONTRACT {address} on chain {client.chain_id}"
            )
        return None  # the dev chain was reset: the recorded deployment is gone
    return TimestampContract(client, address, _load_artifact("EbsiTimestamp")["abi"])


def fund_dev_accounts(context: ChainContext, *accounts: LocalAccount) -> None:
    """Top up the node's keys on a development chain (Anvil or Hardhat Network)."""
    if not context.client.is_dev_chain():
        raise ChainSetupError(
            "this chain is not a development chain: fund the keys yourself "
            f"({', '.join(a.address for a in accounts)})"
        )
    for account in accounts:
        if context.client.balance(account.address) < DEV_FUNDING_WEI // 10:
            context.client.dev_set_balance(account.address, DEV_FUNDING_WEI)


def deploy_contract(context: ChainContext) -> LedgerContract:
    """Deploy the contract with the admin key and record where it is."""
    settings = context.settings
    ledger, receipt = deploy_ledger(
        context.client,
        context.admin,
        _load_artifact(),
        confirmations=settings.confirmations,
        timeout=settings.tx_timeout,
    )
    # A new record: a Timestamp contract recorded beside the old ledger is deployed again.
    Deployment(
        chain_id=context.client.chain_id,
        contract=ledger.address,
        admin=context.admin.address,
        transaction_hash=receipt.transaction_hash,
        block_number=receipt.block_number,
        ledger_version=ledger.version(),
    ).save(settings.chain_dir / DEPLOYMENT_FILE)
    context.timestamps = None if settings.timestamp_contract is None else context.timestamps
    context.ledger = ledger
    return ledger


def deploy_timestamp_contract(context: ChainContext) -> TimestampContract:
    """Deploy our EbsiTimestamp with the admin key beside the recorded ledger (deploy that
    first) and record it in deployment.json."""
    settings = context.settings
    earlier = _recorded_deployment(context)
    if earlier is None:
        raise ChainSetupError("deploy the MicroCredentialLedger before the Timestamp contract")
    timestamps, receipt = deploy_timestamp(
        context.client,
        context.admin,
        _load_artifact("EbsiTimestamp"),
        confirmations=settings.confirmations,
        timeout=settings.tx_timeout,
    )
    replace(
        earlier,
        timestamp_contract=timestamps.address,
        timestamp_transaction_hash=receipt.transaction_hash,
        timestamp_block_number=receipt.block_number,
    ).save(settings.chain_dir / DEPLOYMENT_FILE)
    context.timestamps = timestamps
    return timestamps


def register_local_issuer(context: ChainContext, ledger: LedgerContract) -> str:
    """Register the local issuer's address under its DID with the admin key, unless it is
    registered already; the DID either way."""
    issuer = context.issuer_account()
    did = context.settings.issuer_did or context.signing_key().did
    if not ledger.is_issuer(issuer.address):
        ledger.register_issuer(
            context.admin,
            issuer.address,
            did,
            confirmations=context.settings.confirmations,
            timeout=context.settings.tx_timeout,
        )
    return did


def ensure_dev_ready(context: ChainContext) -> LedgerContract:
    """Development mode: funded keys, the contract deployed once (and, for ebsi-timestamp,
    our EbsiTimestamp beside it), the local issuer registered."""
    fund_dev_accounts(context, context.admin, context.issuer_account())
    ledger = context.ledger or deploy_contract(context)
    if context.settings.anchor_target == EBSI_TIMESTAMP_TARGET and context.timestamps is None:
        deploy_timestamp_contract(context)
    register_local_issuer(context, ledger)
    return ledger
