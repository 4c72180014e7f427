"""What a status-list commitment holds on chain: the list's id and the hash of the list
credential (pure; docs/formats.md "Status lists on the record").

``commitRevocations`` and ``commitStatusLists`` store, per issuer, a ``listId`` and a
``listHash`` (both 32 bytes). A verifier holds the credential's ``statusListCredential`` URL
and the list credential it fetched there, so both are derived from those alone:

- ``listId`` = SHA-256 of the URL's UTF-8 bytes;
- ``listHash`` = SHA-256 of the list credential's JSON Canonicalization Scheme form (RFC
  8785, JCS), UTF-8: the same for every serialisation of the same JSON value, so a proxy
  that re-indents the list, or a verifier that parsed it, computes the same hash.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any

from mcledger.anchoring.errors import AnchoringError

_SAFE_INTEGER = 2**53  # integers past it are doubles in JCS (ECMAScript numbers)


class CanonicalJsonError(AnchoringError):
    """A JSON value has no JCS form (NaN or infinity, a lone surrogate, a non-JSON type)."""


def status_list_key(url: str) -> bytes:
    """The on-chain ``listId`` of the status list credential published at ``url``."""
    if not isinstance(url, str) or not url:
        raise CanonicalJsonError("a status list's URL must be a non-empty string")
    return hashlib.sha256(url.encode("utf-8")).digest()


def status_list_hash(document: Any) -> bytes:
    """The on-chain ``listHash`` of a (signed) status list credential: SHA-256 of its JCS."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).digest()


def canonical_json(value: Any) -> str:
    """``value`` (as ``json.loads`` returns it) in RFC 8785 form: no whitespace, object
    members sorted by the UTF-16 code units of their names, strings and numbers written as
    ECMAScript's JSON.stringify writes them. CanonicalJsonError when there is none."""
    parts: list[str] = []
    _write(value, parts)
    text = "".join(parts)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJsonError("a string holds a lone surrogate: not UTF-8") from None
    return text


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))  # JSON.stringify's escapes
    elif isinstance(value, int):
        out.append(str(value) if abs(value) <= _SAFE_INTEGER else _number(float(value)))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        names = sorted(value, key=_utf16_key)
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise CanonicalJsonError(f"an object member name is not a string: {name!r}")
            if i:
                out.append(",")
            out.append(json.dumps(name, ensure_ascii=False))
            out.append(":")
            _write(value[name], out)
        out.append("}")
    else:
        raise CanonicalJsonError(f"not a JSON value: {type(value).__name__}")


def _utf16_key(name: Any) -> bytes:
    return name.encode("utf-16-be", "surrogatepass") if isinstance(name, str) else b""


def _number(value: float) -> str:
    """ECMAScript's Number::toString for a finite double (ECMA-262, 6.1.6.1.20), from the
    shortest digits that read back as ``value`` (Python's repr picks the same ones)."""
    if math.isnan(value) or math.isinf(value):
        raise CanonicalJsonError(f"{value!r} has no JSON form")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number(-value)
    _, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k  # value = 0.digits × 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
