"""The issuer keys a verifier needs: did:key read from the identifier itself, did:web
resolved by fetching its DID document.

did:web (W3C CCG "did:web Method Specification"): ``did:web:<host>[%3A<port>][:<path>…]``
names the document at ``https://<host>[:<port>]/.well-known/did.json``, or, with a path,
``https://<host>[:<port>]/<path>/did.json``. Here the document is fetched with a 10 s
timeout and a 256 KiB cap, over https only (a redirect to http is refused), except for a
loopback host (``localhost``,
``127.0.0.0/8``), which is fetched over http: a node under test or on the
verifier's own machine. The key is the document's verification method the proof names:
it must be a ``Multikey`` with an Ed25519 ``publicKeyMultibase``, controlled by the DID
and listed under ``assertionMethod``. What the document says is trusted only as far as
the web server that serves it; ``issuer.did`` still checks that the address that anchored
the credential was registered on the contract under the same DID.

The verifier page (``verifier-page/src/didweb.js``) resolves the same way and words every
refusal the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import unquote

from mcledger.node.credentials.multikey import (
    MultikeyError,
    public_key_from_multibase,
    resolve_did_key,
)
from mcledger.node.verifier.fetch import StatusFetchError, fetch_json

DID_WEB_PREFIX = "did:web:"
DID_KEY_PREFIX = "did:key:"
DID_DOCUMENT_MAX_BYTES = 256 * 1024
DID_ACCEPT = "application/did+json, application/did+ld+json, application/json"

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_LOOPBACK_V4 = re.compile(rf"127\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=@-]+")  # decoded path segment, no "/"


class DidResolutionError(MultikeyError):
    """The DID's key cannot be had: a bad identifier, or a document that does not give it."""


class DidUnreachableError(DidResolutionError):
    """The DID document could not be fetched: the signature cannot be checked, which is not
    to say it is bad (the page says "cannot check")."""


FetchDocument = Callable[[str], Mapping[str, Any]]
KeyResolver = Callable[[str], bytes]

fetch_did_document: FetchDocument = partial(
    fetch_json, max_bytes=DID_DOCUMENT_MAX_BYTES, accept=DID_ACCEPT, no_downgrade=True
)


def _is_loopback(host: str) -> bool:
    """``localhost`` or an IPv4 address in 127.0.0.0/8 (written as four decimal octets)."""
    return host.lower() == "localhost" or _LOOPBACK_V4.fullmatch(host) is not None


def did_web_url(did: str) -> str:
    """The URL of a did:web DID's document; DidResolutionError for an identifier that is not
    a did:web DID (the DID alone: no fragment, query or path; a DNS name or IPv4 host)."""
    invalid = DidResolutionError(f"not a valid did:web DID: {did}")
    if not did.startswith(DID_WEB_PREFIX) or any(c in did for c in "#?/"):
        raise invalid
    host_part, *segments = did[len(DID_WEB_PREFIX) :].split(":")
    host, colon, port = unquote(host_part).partition(":")
    if not _HOST.fullmatch(host) or (colon and not (_PORT.fullmatch(port) and int(port) <= 65535)):
        raise invalid
    path = [unquote(segment) for segment in segments]
    if any(not _SEGMENT.fullmatch(s) or s in (".", "..") for s in path):
        raise invalid
    scheme = "http" if _is_loopback(host) else "https"
    where = "/".join(path) + "/did.json" if path else ".well-known/did.json"
    return f"{scheme}://{host}{colon}{port}/{where}"


def _same_id(value: Any, did: str, method: str) -> bool:
    """Whether a DID document's id ``value`` (absolute, or relative ``#fragment``) is ``method``."""
    return isinstance(value, str) and (value == method or did + value == method)


def key_from_did_document(document: Mapping[str, Any], did: str, method: str, url: str) -> bytes:
    """The raw Ed25519 key of verification method ``method`` in ``did``'s document."""
    if document.get("id") != did:
        raise DidResolutionError(
            f"the DID document at {url} is for {document.get('id')}, not for {did}"
        )
    methods = document.get("verificationMethod")
    entry = next(
        (
            m
            for m in (methods if isinstance(methods, list) else [])
            if isinstance(m, Mapping) and _same_id(m.get("id"), did, method)
        ),
        None,
    )
    if entry is None:
        raise DidResolutionError(f"{method}: the DID document has no such verification method")
    if entry.get("controller") != did:
        controller = entry.get("controller")
        raise DidResolutionError(f"{method}: its controller is {controller}, not {did}")
    if entry.get("type") != "Multikey" or not isinstance(entry.get("publicKeyMultibase"), str):
        raise DidResolutionError(f"{method}: not a Multikey with a publicKeyMultibase")
    asserting = document.get("assertionMethod")
    listed = [
        item.get("id") if isinstance(item, Mapping) else item
        for item in (asserting if isinstance(asserting, list) else [])
    ]
    if not any(_same_id(item, did, method) for item in listed):
        raise DidResolutionError(f"{method}: not listed under the DID document's assertionMethod")
    try:
        return public_key_from_multibase(entry["publicKeyMultibase"])
    except MultikeyError as exc:
        raise DidResolutionError(f"{method}: {exc}") from None


class DidResolver:
    """Resolves a proof's verificationMethod to its Ed25519 key: did:key locally, did:web
    through its DID document, fetched once per resolver (one verification run)."""

    def __init__(self, fetch: FetchDocument = fetch_did_document) -> None:
        self._fetch = fetch
        self._documents: dict[str, Mapping[str, Any] | DidResolutionError] = {}

    def __call__(self, method: str) -> bytes:
        if method.startswith(DID_KEY_PREFIX):
            return resolve_did_key(method)
        if not method.startswith(DID_WEB_PREFIX):
            raise DidResolutionError(f"{method}: only did:key and did:web keys are resolved here")
        did, hash_mark, fragment = method.partition("#")
        if not hash_mark or not fragment:
            raise DidResolutionError(f"{method}: a did:web key needs a #fragment naming it")
        url = did_web_url(did)
        document = self._documents.get(did)
        if document is None:
            document = self._documents[did] = self._load(did, url)
        if isinstance(document, DidResolutionError):
            raise document
        return key_from_did_document(document, did, method, url)

    def _load(self, did: str, url: str) -> Mapping[str, Any] | DidResolutionError:
        try:
            return self._fetch(url)
        except Exception as exc:  # an injected fetcher may raise anything: unreachable
            why = str(exc) if isinstance(exc, StatusFetchError) else f"{type(exc).__name__}: {exc}"
            return DidUnreachableError(f"cannot fetch the DID document of {did} at {url}: {why}")
