"""Revert data as the contract's custom error: name and arguments, for messages that say
which rule of the contract refused a call (`Error(string)` and `Panic(uint256)` too)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from mcledger.anchoring.errors import ContractRevertError

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def _canonical_type(param: Mapping[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


class RevertDecoder:
    """Turns revert data into the contract's custom error name and arguments."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [_canonical_type(p) for p in entry.get("inputs", [])]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._errors[selector] = (entry["name"], types)

    def decode(
        self, data: bytes | str | Mapping[str, Any] | None, message: str = ""
    ) -> ContractRevertError:
        raw = _revert_bytes(data)
        if raw is None or len(raw) < 4:
            return ContractRevertError("UnknownRevert", (), message or "no revert data")
        selector, body = raw[:4], raw[4:]
        if selector in self._errors:
            name, types = self._errors[selector]
            try:
                return ContractRevertError(name, tuple(_plain(v) for v in abi_decode(types, body)))
            except Exception:  # malformed arguments: still name the error
                return ContractRevertError(name, (), "undecodable arguments")
        if selector == _ERROR_STRING:
            return ContractRevertError("Error", (abi_decode(["string"], body)[0],))
        if selector == _PANIC:
            return ContractRevertError("Panic", (hex(abi_decode(["uint256"], body)[0]),))
        return ContractRevertError("UnknownRevert", (), f"data 0x{raw.hex()}")


def _revert_bytes(data: bytes | str | Mapping[str, Any] | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, Mapping):
        return _revert_bytes(data.get("data"))
    if isinstance(data, bytes):
        return data
    text = data.strip()
    if text.startswith("Reverted "):
        text = text.split(" ", 1)[1]
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return None
    return None


def _plain(value: Any) -> Any:
    """ABI values as printable Python values: bytes as 0x-hex, addresses checksummed."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value
