"""The node's settings: one object, `MCLEDGER_` environment prefix, optional TOML file.

Nothing else in the project reads the environment; everything that needs a
setting receives this object (or a value from it) explicitly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from mcledger.node.errors import NodeError

DEFAULT_DATA_DIR = Path(".mcledger")


class ConfigurationError(NodeError):
    """A setting cannot be used as given (an unreadable secrets directory, a database password
    with nowhere to go); the message names the setting, never a secret's value."""


class Settings(BaseSettings):
    """Every knob of the node. Keys and passwords are SecretStr so they never print."""

    model_config = SettingsConfigDict(env_prefix="MCLEDGER_", extra="forbid")

    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="where the index, keys and chain state live"
    )
    config_file: Path | None = Field(None, description="optional TOML file with these settings")
    secrets_dir: Path | None = Field(
        None,
        description="directory of secret files, one a setting, named like its variable "
        "(e.g. /run/secrets/mcledger_key_password); the environment wins over a file",
    )
    dev: bool = Field(False, description="development mode: local Anvil, funded keys")
    rpc_url: str | None = Field(None, description="JSON-RPC endpoint; unset in dev = own Anvil")
    rpc_token: SecretStr | None = Field(
        None, description="sent as `Authorization: Bearer …` on every request to rpc_url"
    )
    chain_id: int | None = Field(None, description="expected chain id; checked at start")
    chains_file: Path | None = Field(
        None,
        description="TOML or JSON file mapping chain id to RPC URL, where `mcledger verify` "
        "finds the chain a proof bundle names",
    )
    contract_address: str | None = Field(None, description="the deployed MicroCredentialLedger")
    anchor_target: Literal["ledger", "ebsi-timestamp"] = Field(
        "ledger",
        description="where batch roots go: `anchor(root, size)` on the MicroCredentialLedger, or "
        "`timestampHashes` on a contract with EBSI's Timestamp interface (the ledger stays "
        "beside it for the issuer registry and revocations)",
    )
    timestamp_contract: str | None = Field(
        None,
        description="the Timestamp contract (ebsi-timestamp): required outside development "
        "mode, where the node deploys its own EbsiTimestamp once",
    )
    timestamp_hash_algorithm_id: int = Field(
        1,
        ge=1,
        le=2**63 - 1,  # the index keeps it in a BIGINT
        description="the id the Timestamp contract gives SHA-256 (1 in our EbsiTimestamp)",
    )
    confirmations: int = Field(1, ge=1, description="blocks before an anchor counts as confirmed")
    tx_timeout: float = Field(120.0, gt=0, description="seconds to wait for a receipt")
    database_url: str | None = Field(
        None, repr=False, description="SQL index URL; unset = SQLite in data_dir"
    )
    database_password: SecretStr | None = Field(
        None, description="password of database_url's user, put into the URL (from a secret file)"
    )
    key_password: SecretStr | None = Field(None, description="passphrase of the encrypted keystore")
    anvil_port: int | None = Field(None, ge=1, le=65535, description="port of the dev Anvil")
    issuer_id: str = Field("local", description="the local issuer's id in development mode")
    issuer_did: str | None = Field(
        None, description="the issuer's DID (did:web:…, did:ebsi:…); unset = did:key of its key"
    )
    anchor_cron: str = Field("0 2 * * *", description="when to seal and anchor (cron, 5 fields)")
    timezone: str = Field("UTC", description="time zone of anchor_cron (IANA name)")
    batch_threshold: int = Field(100_000, ge=1, description="seal early when this many wait")
    max_batch_size: int | None = Field(None, ge=1, description="cap on digests per batch")
    revocation_interval: float = Field(
        600.0, gt=0, description="seconds between sends of pending revocations to the chain"
    )
    revocations_per_transaction: int = Field(
        1000, ge=1, le=1200, description="digests per revoke transaction (~25 k gas each)"
    )
    commitments_per_transaction: int = Field(
        10_000,
        ge=1,
        le=13_000,
        description="digests per commitRevocations (version 2: ~1.3 k gas each, under 2^24)",
    )
    lease_seconds: float = Field(
        120.0,
        ge=1,
        description="how long the chain lease outlives its holder: another process takes over "
        "this long after the sender dies (keep it well above the 30 s RPC timeout)",
    )
    replace_after: float = Field(120.0, gt=0, description="seconds pending before a fee bump")
    max_fee_gwei: float = Field(500.0, gt=0, description="cap on max fee per gas (gwei)")
    tx_type: Literal["auto", "eip1559", "legacy"] = Field(
        "auto", description="transaction type; auto = legacy where blocks have no base fee"
    )
    gas_price_gwei: float | None = Field(
        None,
        ge=0,
        description="fixed price per gas (gwei; 0 on a gas-free network), never raised: a "
        "waiting transaction is broadcast again; unset = eth_gasPrice / the base fee",
    )
    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port")
    node_url: str = Field(
        "",
        description="the node's public base URL (learner links, status lists, DID document) and "
        "where CLI commands reach it; unset = the address `serve` listens on",
    )
    store_credentials: bool = Field(True, description="keep credential bodies in the index")
    verifier_rpc_urls: dict[int, str] = Field(
        default_factory=dict,
        description="chain id to JSON-RPC URL that the verifier page (/verify) reads each chain "
        "through; published at /verify/config.json, so no secrets in them (development mode "
        "adds its own chain)",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines for people (text) or a log system (json: one object a line)"
    )
    access_log: Literal["errors", "all"] = Field(
        "errors",
        description="a log line for every HTTP request (all) or only for those answered with a "
        "server error (errors); a line costs about a tenth of a proof request",
    )
    anchor_grace: float = Field(
        3600.0, gt=0, description="seconds a scheduled anchoring may be late before /readyz fails"
    )
    unconfirmed_limit: float = Field(
        1800.0,
        gt=0,
        description="seconds a transaction may stay unconfirmed after its first broadcast "
        "before /readyz fails",
    )
    fault_point: str | None = Field(None, description="tests only: SIGKILL at this point")
    require_postgres: bool = Field(False, description="tests: fail instead of skip without PG")
    test_postgres_url: str | None = Field(None, description="tests: PostgreSQL URL")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("node_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("timestamp_contract")
    @classmethod
    def _contract_address(cls, value: str | None) -> str | None:
        # ConfigurationError, not ValueError: one line naming the setting, not pydantic's.
        problem = None if value is None else address_problem(value)
        if problem is not None:
            raise ConfigurationError(f"MCLEDGER_TIMESTAMP_CONTRACT: {problem}")
        return value

    @field_validator("verifier_rpc_urls")
    @classmethod
    def _publishable_rpc_urls(cls, value: dict[int, str]) -> dict[int, str]:
        # ConfigurationError, not ValueError: pydantic's message would repeat the URLs.
        for chain, url in value.items():
            problem = "chain ids start at 1" if chain < 1 else public_url_problem(url)
            if problem is not None:
                raise ConfigurationError(f"MCLEDGER_VERIFIER_RPC_URLS, chain {chain}: {problem}")
        return value

    @model_validator(mode="after")
    def _node_url_from_listen_address(self) -> Settings:
        if not self.node_url:
            self.node_url = listen_url(self.host, self.port)
        return self

    @model_validator(mode="after")
    def _database_password_into_url(self) -> Settings:
        # Into the URL here, so every command that opens the index gets it the same way.
        if self.database_password is not None:
            self.database_url = url_with_password(
                self.database_url, self.database_password.get_secret_value()
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments win over the environment, which wins over secret files, which
        # win over the TOML file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _path_from("config_file", init_settings, env_settings)
        toml: list[PydanticBaseSettingsSource] = []
        if config_file is not None:
            toml.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        secrets_dir = _path_from("secrets_dir", init_settings, env_settings, *toml)
        if secrets_dir is not None:
            sources.append(_SecretFiles(settings_cls, secrets_dir=_secrets_dir(secrets_dir)))
        return (*sources, *toml)

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


def listen_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a server listening on ``host:port`` (a
    wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a contract address (0x and 40 hex digits; mixed case only with
    a valid EIP-55 checksum), or None."""
    from eth_utils import is_checksum_address

    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        return f"{address!r} is not an address (0x and 40 hex digits)"
    mixed = address[2:] not in (address[2:].lower(), address[2:].upper())
    if mixed and not is_checksum_address(address):
        return f"{address} has a bad EIP-55 checksum (mixed case must be checksummed)"
    return None


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be published as an http(s) endpoint (it carries a user name or a
    password, or is not http(s)), or None; the message never repeats the URL."""
    try:
        parts = urlsplit(url)
        credentials = parts.username is not None or parts.password is not None
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    if credentials:
        return "a URL with a user name or password would be published; use one without"
    return None


def _path_from(name: str, *sources: PydanticBaseSettingsSource) -> Path | None:
    for source in sources:
        value: Any = source().get(name)
        if value:
            return Path(value)
    return None


def _secrets_dir(path: Path) -> Path:
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise ConfigurationError(f"MCLEDGER_SECRETS_DIR {path} {what}")
    return path


class _SecretFiles(SecretsSettingsSource):
    """pydantic-settings' secret files (name = variable, any case; content = value, stripped),
    with an unreadable file named in a clear error instead of a traceback."""

    def __call__(self) -> dict[str, Any]:
        try:
            return super().__call__()
        except SettingsError as exc:  # pydantic-settings wraps what the method below raises
            if isinstance(exc.__cause__, ConfigurationError):
                raise exc.__cause__ from None
            raise

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        try:
            return super().get_field_value(field, field_name)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise ConfigurationError(
                f"cannot read the secret file for MCLEDGER_{field_name.upper()} in "
                f"{self.secrets_dir}: {why}"
            ) from None


def url_with_password(url: str | None, password: str) -> str:
    """``url`` (postgresql://user@host/db) with ``password`` for its user, percent-encoded.

    Refuses a URL that has nowhere for it or a password of its own, so the password is
    given in one place; no message repeats the URL, which may carry secrets.
    """
    if not url:
        raise ConfigurationError(
            "MCLEDGER_DATABASE_PASSWORD is set but MCLEDGER_DATABASE_URL is not "
            "(e.g. postgresql://mcledger@db:5432/mcledger)"
        )
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ConfigurationError(
            "MCLEDGER_DATABASE_PASSWORD is set but MCLEDGER_DATABASE_URL is not a PostgreSQL URL"
        )
    user, at, host = parts.netloc.rpartition("@")
    if not at or not user:
        raise ConfigurationError(
            "MCLEDGER_DATABASE_URL names no user for MCLEDGER_DATABASE_PASSWORD: "
            "write postgresql://USER@host/db"
        )
    if ":" in user:
        raise ConfigurationError(
            "MCLEDGER_DATABASE_URL has a password and MCLEDGER_DATABASE_PASSWORD is set too: "
            "give it in one place"
        )
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the TOML file, with explicit overrides on top
    (None values are ignored so CLI options left unset do not mask the environment)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
