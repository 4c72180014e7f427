"""Contexts come from local files only: unknown ones are refused, the network is never used."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from test_dataintegrity import (
    EXAMPLES_CONTEXT,
    EXAMPLES_CONTEXT_URL,
    SPEC_CREATED,
    SPEC_SECRET_KEY_MULTIBASE,
    SPEC_SIGNED,
    SPEC_UNSIGNED,
    SPEC_VM,
    sample_micro_credential,
)

from mcledger.node.credentials import (
    CanonicalizationError,
    ContextCheckError,
    ContextFileError,
    Ed25519SigningKey,
    LocalContextLoader,
    UnknownContextError,
    canonicalize,
    check_contexts,
    resolve_did_key,
    sign_credential,
    verify_credential,
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    with pytest.raises(AssertionError):
        socket.socket()


@pytest.mark.usefixtures("no_network")
def test_unknown_context_refused_without_network() -> None:
    spec_key = Ed25519SigningKey.from_secret_key_multibase(SPEC_SECRET_KEY_MULTIBASE)
    loader = LocalContextLoader()
    unknown = "https://contexts.example/unknown/v1"
    with pytest.raises(UnknownContextError) as raised:
        loader(unknown, {})
    assert raised.value.url == unknown
    # The spec's document needs the examples context, which production does not hold.
    with pytest.raises(UnknownContextError):
        canonicalize(SPEC_UNSIGNED, loader)
    with pytest.raises(ContextCheckError) as checked:
        sign_credential(SPEC_UNSIGNED, spec_key, SPEC_VM, SPEC_CREATED, loader=loader)
    assert checked.value.field == "@context[1]"
    result = verify_credential(SPEC_SIGNED, resolve_did_key, loader=loader)
    assert not result.ok
    assert "@context[1]" in result.detail
    # A URL hidden in an inline context is refused by the loader as well.
    hidden = {**SPEC_UNSIGNED, "@context": [SPEC_UNSIGNED["@context"][0], {"@import": unknown}]}
    check_contexts(hidden, loader)
    with pytest.raises(UnknownContextError):
        canonicalize(hidden, loader)
    # The standard contexts still work with the network gone.
    key = Ed25519SigningKey.generate()
    signed = sign_credential(
        sample_micro_credential(key.did),
        key,
        key.verification_method,
        "2026-01-01T00:00:00Z",
        loader=loader,
    )
    assert verify_credential(signed, resolve_did_key, loader=loader).ok


def test_loaders_do_not_share_contexts() -> None:
    loader = LocalContextLoader({EXAMPLES_CONTEXT_URL: EXAMPLES_CONTEXT})
    canonicalize(SPEC_UNSIGNED, loader)  # the examples context is now resolved in `loader`
    with pytest.raises(UnknownContextError):
        canonicalize(SPEC_UNSIGNED, LocalContextLoader())


@pytest.mark.parametrize(
    ("contexts", "field"),
    [
        ("https://www.w3.org/ns/credentials/v2", "@context"),
        ([], "@context"),
        (["https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"], "@context[0]"),
        (["https://www.w3.org/ns/credentials/v2", 42], "@context[1]"),
        (
            [
                "https://www.w3.org/ns/credentials/v2",
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                "https://www.w3.org/2018/credentials/v1",
            ],
            "@context[2]",
        ),
    ],
)
def test_check_contexts_names_the_field(contexts: Any, field: str) -> None:
    with pytest.raises(ContextCheckError) as raised:
        check_contexts({"@context": contexts}, LocalContextLoader())
    assert raised.value.field == field


def test_known_contexts_include_the_project_context(tmp_path: Path) -> None:
    loader = LocalContextLoader(mcledger_context_file=tmp_path / "absent.jsonld")
    assert "https://w3id.org/mcledger/v1" in loader.known_urls
    assert "https://www.w3.org/ns/credentials/status/v1" in loader.known_urls
    with pytest.raises(ContextFileError, match="missing"):
        loader("https://w3id.org/mcledger/v1", {})
    assert loader.document("https://www.w3.org/ns/credentials/v2") is loader.document(
        "https://www.w3.org/ns/credentials/v2"
    )


def test_a_property_no_context_defines_is_refused() -> None:
    loader = LocalContextLoader()
    # The VC 2.0 context has no @vocab: a term it does not define would vanish from the RDF.
    unsafe = {
        **SPEC_UNSIGNED,
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "credentialSubject": {"id": "did:example:abcdefgh"},
        "unsignedClaim": "would be dropped",
    }
    with pytest.raises(CanonicalizationError, match="unsignedClaim"):
        canonicalize(unsafe, loader)
    key = Ed25519SigningKey.generate()
    with pytest.raises(CanonicalizationError):
        sign_credential(unsafe, key, key.verification_method, SPEC_CREATED, loader=loader)


def test_missing_contexts_say_the_package_is_incomplete(tmp_path: Path) -> None:
    with pytest.raises(ContextFileError, match="package is incomplete"):
        LocalContextLoader(generated_dir=tmp_path)
