"""The mcledger JSON-LD context: a full built credential expands with the local contexts,
without a protected-term clash, every property to the IRI it should have (ELM 3 where ELM
has the element)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pyld import jsonld

from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.build import (
    AchievementVersion,
    IssuerProfile,
    build_credential,
)
from mcledger.node.credentials.loader import MCLEDGER_CONTEXT_FILE, LocalContextLoader

MCLEDGER_FILE = MCLEDGER_CONTEXT_FILE

ELM = "http://data.europa.eu/snb/model/elm/"
MCV = "https://w3id.org/mcledger/vocab#"
OB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"
SCHEMA = "https://schema.org/"
CRED = "https://www.w3.org/2018/credentials#"

# Every term a built credential uses, and the IRI it must expand to.
TERM_IRIS = {
    # VC 2.0
    "issuer": CRED + "issuer",
    "validFrom": CRED + "validFrom",
    "credentialSubject": CRED + "credentialSubject",
    "credentialStatus": CRED + "credentialStatus",
    "name": SCHEMA + "name",
    "description": SCHEMA + "description",
    "statusPurpose": "https://www.w3.org/ns/credentials/status#statusPurpose",
    "statusListIndex": "https://www.w3.org/ns/credentials/status#statusListIndex",
    "statusListCredential": "https://www.w3.org/ns/credentials/status#statusListCredential",
    # Open Badges 3.0
    "awardedDate": OB + "awardedDate",
    "achievement": OB + "achievement",
    "achievementType": OB + "achievementType",
    "criteria": OB + "Criteria",
    "narrative": OB + "narrative",
    "version": OB + "version",
    "creditsAvailable": OB + "creditsAvailable",
    "identifier": OB + "identifier",
    "identityHash": OB + "identityHash",
    "identityType": OB + "identityType",
    "hashed": OB + "hashed",
    "result": OB + "result",
    "value": SCHEMA + "value",
    "address": OB + "address",
    "addressCountry": SCHEMA + "addressCountry",
    "addressRegion": SCHEMA + "addressRegion",
    # mcledger v1: ELM 3 where ELM has the element
    "learningOutcomes": ELM + "learningOutcome",
    "creditPoint": ELM + "creditPoint",
    "framework": ELM + "framework",
    "point": ELM + "point",
    "volumeOfLearning": ELM + "volumeOfLearning",
    "eqfLevel": ELM + "EQFLevel",
    "nqfLevel": ELM + "NQFLevel",
    "participationForm": ELM + "mode",
    "prerequisites": ELM + "entryRequirement",
    "supervisionAndIdentityVerification": ELM + "idVerification",
    "furtherInformation": ELM + "supplementaryDocument",
    "awardingPlace": ELM + "location",
    "qualityAccreditation": ELM + "accreditation",
    "legalIdentifier": "http://www.w3.org/ns/regorg#registration",  # ELM's legal identifier
    "register": MCV + "qaRegister",
    # mcledger v1: no ELM element
    "qfEheaCycle": MCV + "qfEheaCycle",
    "assessmentType": MCV + "assessmentType",
    "qualityAssurance": MCV + "qualityAssurance",
    "integrationStackability": MCV + "integrationStackability",
    "components": MCV + "component",
    "digest": MCV + "digest",
}
# Inside qualityAccreditation, `identifier` is ADMS's (ELM's choice for an accreditation).
SCOPED_IRIS = {("qualityAccreditation", "identifier"): "http://www.w3.org/ns/adms#identifier"}
TYPE_IRIS = {
    "MicroCredential": MCV + "MicroCredential",
    "CreditPoint": ELM + "CreditPoint",
    "Accreditation": ELM + "Accreditation",
}


def full_credential() -> dict[str, Any]:
    """A credential with every term: all optional elements, ECTS and hours, a status entry."""
    body = copy.deepcopy(EXAMPLE_ACHIEVEMENT)
    body["workload"] = {"ects": 3, "hours": 75}
    achievement = AchievementVersion("ach_x", 2, "uni", body, datetime(2026, 11, 1, tzinfo=UTC))
    profile = IssuerProfile(
        issuer_id="uni",
        did="did:web:uni.example.lv",
        legal_name="University of Latvia",
        legal_identifier="LV90000076669",
        country="LV",
        region="Rīga",
        qa_register="DEQAR",
        qa_identifier="DEQARINST0123",
    )
    status = {
        "id": "https://uni.example.lv/v1/status-lists/1#42",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "42",
        "statusListCredential": "https://uni.example.lv/v1/status-lists/1",
    }
    return build_credential(
        profile,
        achievement,
        EXAMPLE_AWARD,
        credential_id="urn:uuid:1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b",
        issued_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        status_entry=status,
    )


def expand(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Expanded with the node's loader: the local context files only, never the network."""
    return jsonld.expand(document, LocalContextLoader().options())


def assert_expands_term_by_term(original: Any, expanded: Any, parent: str = "") -> None:
    """Walk the compact and the expanded document together: every key of every node must
    be in the expanded node under its expected IRI (a dropped term would be missing)."""
    if isinstance(original, list):
        assert isinstance(expanded, list) and len(expanded) == len(original), (original, expanded)
        for item, expanded_item in zip(original, expanded, strict=True):
            assert_expands_term_by_term(item, expanded_item, parent)
        return
    if not isinstance(original, dict):
        return
    for key, value in original.items():
        if key == "@context":
            continue
        if key == "id":
            assert expanded["@id"] == value
            continue
        if key == "type":
            types = value if isinstance(value, list) else [value]
            for name in types:
                assert any(t == TYPE_IRIS.get(name) or t.endswith(name) for t in expanded["@type"])
            continue
        iri = SCOPED_IRIS.get((parent, key)) or TERM_IRIS.get(key)
        assert iri is not None, f"{parent}.{key}: a term this test does not know"
        assert iri in expanded, f"{parent}.{key} did not expand to {iri}: {sorted(expanded)}"
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, dict) for v in values):
            assert_expands_term_by_term(values, expanded[iri], key)
        else:
            assert len(expanded[iri]) == len(values), (key, expanded[iri])


def test_a_full_credential_expands_every_term_to_its_iri() -> None:
    credential = full_credential()
    [expanded] = expand(credential)
    assert_expands_term_by_term(credential, expanded)


def test_every_term_of_the_context_is_used_by_the_built_credential() -> None:
    """The expectation table above covers the whole context (no untested term)."""
    context = json.loads(MCLEDGER_FILE.read_text())["@context"]
    terms = {k for k in context if not k.startswith("@") and k not in ("id", "type")}
    for scoped in ("creditPoint", "components", "qualityAccreditation"):
        terms |= {k for k in context[scoped]["@context"] if not k.startswith("@")}
    covered = set(TERM_IRIS) | set(TYPE_IRIS) | {k for _, k in SCOPED_IRIS}
    assert terms <= covered, terms - covered
    iris = [v["@id"] if isinstance(v, dict) else v for k, v in context.items() if k in terms]
    assert all(iri.startswith(("http://", "https://")) for iri in iris)


def test_elm_iris_for_the_elements_elm_has() -> None:
    context = json.loads(MCLEDGER_FILE.read_text())["@context"]
    for term in ("learningOutcomes", "eqfLevel", "nqfLevel", "volumeOfLearning", "creditPoint"):
        assert context[term]["@id"].startswith(ELM), term
    assert context["eqfLevel"]["@type"] == "@id"  # ELM's EQF levels are concepts


def test_the_context_is_protected_and_never_redefines_a_vc_or_ob_term() -> None:
    """Defining a protected VC 2.0 or Open Badges term differently is an error in JSON-LD 1.1;
    with the mcledger context after them, a credential using every term still expands (above),
    and an attempt to redefine one of ours afterwards is refused."""
    context = json.loads(MCLEDGER_FILE.read_text())["@context"]
    assert context["@protected"] is True
    credential = full_credential()
    credential["@context"].append({"eqfLevel": "https://example.org/other"})
    with pytest.raises(jsonld.JsonLdError) as caught:
        expand(credential)
    assert "protected term redefinition" in str(caught.value.__dict__)


def test_the_built_credential_becomes_rdf() -> None:
    options = {**LocalContextLoader().options(), "format": "application/n-quads"}
    quads = jsonld.to_rdf(full_credential(), options)
    assert f"<{ELM}EQFLevel> <http://data.europa.eu/snb/eqf/5>" in quads
    assert "issuer-dependent" not in quads
