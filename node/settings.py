"""The node's settings: one object, `MCLEDGER_` environment prefix, optional TOML file.

Nothing else in the project reads the environment; everything that needs a
setting receives this object (or a value from it) explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path(".mcledger")


class Settings(BaseSettings):
    """Every knob of the node. Keys and passwords are SecretStr so they never print."""

    model_config = SettingsConfigDict(env_prefix="MCLEDGER_", extra="forbid")

    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="where the index, keys and chain state live"
    )
    config_file: Path | None = Field(None, description="optional TOML file with these settings")
    dev: bool = Field(False, description="development mode: local Anvil, funded keys")
    rpc_url: str | None = Field(None, description="JSON-RPC endpoint; unset in dev = own Anvil")
    chain_id: int | None = Field(None, description="expected chain id; checked at start")
    contract_address: str | None = Field(None, description="the deployed MicroCredentialLedger")
    confirmations: int = Field(1, ge=1, description="blocks before an anchor counts as confirmed")
    tx_timeout: float = Field(120.0, gt=0, description="seconds to wait for a receipt")
    database_url: str | None = Field(None, description="SQL index URL; unset = SQLite in data_dir")
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
    replace_after: float = Field(120.0, gt=0, description="seconds pending before a fee bump")
    max_fee_gwei: float = Field(500.0, gt=0, description="cap on max fee per gas (gwei)")
    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port")
    node_url: str = Field(
        "",
        description="the node's public base URL (learner links, status lists, DID document) and "
        "where CLI commands reach it; unset = the address `serve` listens on",
    )
    store_credentials: bool = Field(True, description="keep credential bodies in the index")
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

    @model_validator(mode="after")
    def _node_url_from_listen_address(self) -> Settings:
        if not self.node_url:
            self.node_url = listen_url(self.host, self.port)
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
        # Explicit arguments win over the environment, which wins over the TOML file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file_from(init_settings, env_settings)
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

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


def _config_file_from(*sources: PydanticBaseSettingsSource) -> Path | None:
    for source in sources:
        value: Any = source().get("config_file")
        if value:
            return Path(value)
    return None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the TOML file, with explicit overrides on top
    (None values are ignored so CLI options left unset do not mask the environment)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
