"""did:web resolution for `mcledger verify`: the URL a DID names, and its DID document
fetched over real HTTP from a loopback server (http is allowed for loopback only), every
refusal, the size cap, and a credential signed by a did:web issuer verified through it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mcledger.anchoring.anvil import free_loopback_port
from mcledger.node.credentials.dataintegrity import sign_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.issuing.issuance import did_document
from mcledger.node.verifier.credential import ChainReader, verify_credential_file
from mcledger.node.verifier.didweb import (
    DID_DOCUMENT_MAX_BYTES,
    DidResolutionError,
    DidResolver,
    DidUnreachableError,
    did_web_url,
)


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:uni.example.lv", "https://uni.example.lv/.well-known/did.json"),
        ("did:web:uni.example.lv%3A8443", "https://uni.example.lv:8443/.well-known/did.json"),
        ("did:web:uni.example.lv:v1:issuers:uni", "https://uni.example.lv/v1/issuers/uni/did.json"),
        ("did:web:localhost%3A8000", "http://localhost:8000/.well-known/did.json"),
        ("did:web:127.0.0.1%3A8000:a", "http://127.0.0.1:8000/a/did.json"),
        ("did:web:127.1.2.3", "http://127.1.2.3/.well-known/did.json"),
        # Not loopback, so https: another host, an address outside 127/8, a look-alike name.
        ("did:web:128.0.0.1", "https://128.0.0.1/.well-known/did.json"),
        ("did:web:127.0.0.1.example.com", "https://127.0.0.1.example.com/.well-known/did.json"),
    ],
)
def test_the_url_a_did_web_names(did: str, url: str) -> None:
    assert did_web_url(did) == url


@pytest.mark.parametrize(
    "did",
    [
        "did:key:z6Mk",
        "did:web:",
        "did:web:uni.example.lv#key-1",
        "did:web:uni.example.lv/path",
        "did:web:uni.example.lv%3A0",
        "did:web:uni.example.lv%3A65536",
        "did:web:uni.example.lv%3Ahttp",
        "did:web:-uni.example.lv",
        "did:web:uni.example.lv:..",
        "did:web:uni.example.lv::x",
        "did:web:uni.example.lv:%zz",
        "did:web:[::1]",
        "did:web:uni%2Fexample.lv",
    ],
)
def test_a_malformed_did_web_is_refused(did: str) -> None:
    with pytest.raises(DidResolutionError, match="not a valid did:web DID"):
        did_web_url(did)


class DocumentServer(ThreadingHTTPServer):
    """Serves ``documents[path]`` as JSON on loopback and counts the requests."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", free_loopback_port()), _Handler)

    @property
    def did(self) -> str:
        return f"did:web:127.0.0.1%3A{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: DocumentServer

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.server.requests.append(self.path)
        document = self.server.documents.get(self.path)
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.send_response(404 if document is None else 200)
        self.send_header("Content-Type", "application/did+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[DocumentServer]:
    running = DocumentServer()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


KEY = Ed25519SigningKey.from_seed(bytes(range(32)))


def test_a_did_web_key_is_read_from_its_document_once_a_run(server: DocumentServer) -> None:
    server.documents["/.well-known/did.json"] = did_document(server.did, KEY)
    resolver = DidResolver()
    assert resolver(f"{server.did}#key-1") == KEY.public_key
    assert resolver(f"{server.did}#key-1") == KEY.public_key
    assert server.requests == ["/.well-known/did.json"]
    # A path-style DID names <path>/did.json.
    server.documents["/v1/issuers/uni/did.json"] = did_document(f"{server.did}:v1:issuers:uni", KEY)
    assert DidResolver()(f"{server.did}:v1:issuers:uni#key-1") == KEY.public_key


def test_relative_method_ids_are_read_against_the_did(server: DocumentServer) -> None:
    document = did_document(server.did, KEY)
    document["verificationMethod"][0]["id"] = "#key-1"
    document["assertionMethod"] = ["#key-1"]
    server.documents["/.well-known/did.json"] = document
    assert DidResolver()(f"{server.did}#key-1") == KEY.public_key


def _broken(did: str, change: str) -> dict[str, Any]:
    document = did_document(did, KEY)
    method = document["verificationMethod"][0]
    if change == "id":
        document["id"] = "did:web:elsewhere.example"
    elif change == "controller":
        method["controller"] = "did:web:elsewhere.example"
    elif change == "type":
        method["type"] = "JsonWebKey"
    elif change == "assertion":
        document["assertionMethod"] = []
    elif change == "key":
        method["publicKeyMultibase"] = "zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"
    elif change == "method":
        method["id"] = f"{did}#key-2"
    return document


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("id", "is for did:web:elsewhere.example, not for did:web:127.0.0.1%3A"),
        ("method", "the DID document has no such verification method"),
        ("controller", "its controller is did:web:elsewhere.example, not did:web:"),
        ("type", "not a Multikey with a publicKeyMultibase"),
        ("assertion", "not listed under the DID document's assertionMethod"),
        ("key", "is not an Ed25519 Multikey"),
    ],
)
def test_a_document_that_does_not_give_the_key_is_refused(
    server: DocumentServer, change: str, error: str
) -> None:
    server.documents["/.well-known/did.json"] = _broken(server.did, change)
    with pytest.raises(DidResolutionError, match=error) as raised:
        DidResolver()(f"{server.did}#key-1")
    assert not isinstance(raised.value, DidUnreachableError)


def test_an_unreachable_oversized_or_missing_document_cannot_be_fetched(
    server: DocumentServer,
) -> None:
    dead = f"did:web:127.0.0.1%3A{free_loopback_port()}#key-1"
    with pytest.raises(DidUnreachableError, match="cannot fetch the DID document of"):
        DidResolver()(dead)
    with pytest.raises(DidUnreachableError, match="HTTP Error 404"):
        DidResolver()(f"{server.did}#key-1")
    server.documents["/.well-known/did.json"] = b" " * DID_DOCUMENT_MAX_BYTES + b"{}"
    with pytest.raises(DidUnreachableError, match=f"larger than {DID_DOCUMENT_MAX_BYTES} bytes"):
        DidResolver()(f"{server.did}#key-1")


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("did:web:uni.example.lv", "needs a #fragment"),
        ("did:ebsi:zabc#key-1", "only did:key and did:web keys are resolved here"),
    ],
)
def test_what_is_not_resolved(method: str, error: str) -> None:
    with pytest.raises(DidResolutionError, match=error):
        DidResolver(fetch=lambda url: pytest.fail(f"fetched {url}"))(method)


def test_a_credential_signed_by_a_did_web_issuer_verifies_through_its_document(
    server: DocumentServer,
) -> None:
    """The signature and issuer checks pass with the key the served document gives; a
    document with another key fails the signature; the chain is never asked (no copy is
    anchored, so every chain check fails as "not anchored yet")."""
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": server.did,
        "validFrom": "2026-12-01T00:00:00Z",
        "credentialSubject": {"id": "urn:uuid:2f1c8d0e-0000-4000-8000-000000000001"},
    }
    signed = sign_credential(credential, KEY, f"{server.did}#key-1", "2026-12-01T00:00:00Z")
    server.documents["/.well-known/did.json"] = did_document(server.did, KEY)
    nowhere = ChainReader(f"http://127.0.0.1:{free_loopback_port()}")
    report = verify_credential_file(signed, nowhere)
    checks = {check.name: check for check in report.checks}
    assert checks["credential.signature"].passed, checks["credential.signature"]
    assert checks["credential.issuer"].passed
    assert checks["anchor.root"].detail.startswith("not anchored yet")

    server.documents["/.well-known/did.json"] = did_document(
        server.did, Ed25519SigningKey.generate()
    )
    report = verify_credential_file(signed, nowhere)
    signature = report.check("credential.signature")
    assert not signature.passed
    assert signature.detail == "proof.proofValue: the signature does not match"


def test_a_did_document_fetched_over_https_may_not_redirect_to_http() -> None:
    """The redirect rule of the DID document fetch (an https server here would need a
    certificate the test machine trusts): https → http is refused, https → https and a
    loopback http → http redirect are followed."""
    import urllib.request

    from mcledger.node.verifier.fetch import StatusFetchError, _HttpOnlyRedirects

    handler = _HttpOnlyRedirects(no_downgrade=True)
    secure = urllib.request.Request("https://uni.example.lv/.well-known/did.json")
    with pytest.raises(StatusFetchError, match="redirected from https to a URL that is not https"):
        handler.redirect_request(secure, None, 302, "Found", {}, "http://uni.example.lv/did.json")
    assert handler.redirect_request(secure, None, 302, "Found", {}, "https://b.example/d.json")
    loopback = urllib.request.Request("http://127.0.0.1:8000/.well-known/did.json")
    assert handler.redirect_request(loopback, None, 302, "Found", {}, "http://127.0.0.1:8000/x")
