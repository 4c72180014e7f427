"""The unsigned micro-credential: W3C VC 2.0 + Open Badges 3.0 + the mcledger context.

Pure and deterministic: equal inputs give equal dictionaries (no clock, no
randomness; the caller passes the id and the time). The shape is docs/formats.md's
"The micro-credential (public format)"; where Open Badges 3.0.3 has a term it is
used, the Annex I elements it lacks use the terms of ``https://w3id.org/mcledger/v1``
(ELM 3 IRIs where ELM has the element). Choices the table leaves open:

- ``awardedDate`` sits on the credential, where Open Badges 3.0 defines it (as an
  ``xsd:dateTime``: the award day at 00:00 UTC); ``validFrom`` is the moment of issue.
- The learner's name is ``credentialSubject.name`` (the VC 2.0 context's
  ``name``); the learner's identifier is an Open Badges ``IdentityObject``
  (``identityType`` ``identifier``, not hashed) in ``credentialSubject.identifier``.
- ECTS credits are ``creditsAvailable`` (Open Badges) *and* an ELM ``creditPoint``
  whose framework is ECTS, which says what the unit is; notional hours are ELM's
  ``volumeOfLearning`` (``PT75H``). The EQF level is ELM's EQF concept IRI.
- The achievement's id is a name-based UUID of (issuer, achievement, version), so a
  version of an offering has one IRI in every credential that awards it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcledger.anchoring.bundle import format_time
from mcledger.node.credentials.annex import ECTS_FRAMEWORK_IRI, EQF_LEVEL_IRI

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MCLEDGER_CONTEXT = "https://w3id.org/mcledger/v1"
CONTEXTS = (VC_V2_CONTEXT, OB_CONTEXT, MCLEDGER_CONTEXT)
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential", "MicroCredential")

_ACHIEVEMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/mcledger/achievements")

# Request field -> credential term, for the achievement's plain-valued Annex I elements.
_ACHIEVEMENT_TERMS = (
    ("assessment", "assessmentType"),
    ("participation", "participationForm"),
    ("qualityAssurance", "qualityAssurance"),
    ("prerequisites", "prerequisites"),
    ("supervision", "supervisionAndIdentityVerification"),
    ("stackability", "integrationStackability"),
    ("furtherInformation", "furtherInformation"),
)


@dataclass(frozen=True)
class IssuerProfile:
    """The awarding body as it appears in its credentials (Annex I: awarding body, country)."""

    issuer_id: str
    did: str
    legal_name: str
    legal_identifier: str
    country: str
    region: str | None = None
    qa_register: str | None = None
    qa_identifier: str | None = None


@dataclass(frozen=True)
class AchievementVersion:
    """One version of an offering in the catalogue; ``body`` is the validated description."""

    id: str
    version: int
    issuer_id: str
    body: Mapping[str, Any]
    created_at: datetime

    @property
    def uri(self) -> str:
        return achievement_uri(self.issuer_id, self.id, self.version)


def achievement_uri(issuer_id: str, achievement_id: str, version: int) -> str:
    """The IRI of one version of an achievement: ``urn:uuid:`` + a UUID v5 of its names."""
    name = f"{issuer_id}/{achievement_id}/{version}"
    return f"urn:uuid:{uuid.uuid5(_ACHIEVEMENT_NAMESPACE, name)}"


def build_credential(
    issuer_profile: IssuerProfile,
    achievement: AchievementVersion,
    award: Mapping[str, Any],
    *,
    credential_id: str,
    issued_at: datetime,
    status_entry: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The unsigned credential for ``award`` (a validated POST /v1/credentials body) of
    ``achievement`` by ``issuer_profile``, issued at ``issued_at`` (time-zone aware)."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be time-zone aware")
    credential: dict[str, Any] = {
        "@context": list(CONTEXTS),
        "id": credential_id,
        "type": list(CREDENTIAL_TYPES),
        "name": achievement.body["title"],
        "issuer": issuer_json(issuer_profile),
        "validFrom": format_time(issued_at),
        "awardedDate": f"{award['awardedOn']}T00:00:00Z",
        "credentialSubject": _subject(achievement, award),
    }
    if isinstance(status_entry, Mapping):
        credential["credentialStatus"] = dict(status_entry)
    elif status_entry is not None:  # one entry per status purpose (revocation, suspension)
        credential["credentialStatus"] = [dict(entry) for entry in status_entry]
    return credential


def issuer_json(profile: IssuerProfile) -> dict[str, Any]:
    """The issuer as an Open Badges Profile with the mcledger legal and QA terms."""
    address: dict[str, Any] = {"type": ["Address"], "addressCountry": profile.country}
    if profile.region:
        address["addressRegion"] = profile.region
    issuer: dict[str, Any] = {
        "id": profile.did,
        "type": ["Profile"],
        "name": profile.legal_name,
        "legalIdentifier": profile.legal_identifier,
        "address": address,
    }
    if profile.qa_register or profile.qa_identifier:
        accreditation: dict[str, Any] = {"type": "Accreditation"}
        if profile.qa_register:
            accreditation["register"] = profile.qa_register
        if profile.qa_identifier:
            accreditation["identifier"] = profile.qa_identifier
        issuer["qualityAccreditation"] = accreditation
    return issuer


def _subject(achievement: AchievementVersion, award: Mapping[str, Any]) -> dict[str, Any]:
    learner = award["learner"]
    subject: dict[str, Any] = {"type": ["AchievementSubject"]}
    if learner.get("id"):
        subject["id"] = learner["id"]
    subject["name"] = learner["name"]
    subject["identifier"] = [
        {
            "type": "IdentityObject",
            "identityHash": learner["identifier"],
            "identityType": "identifier",
            "hashed": False,
        }
    ]
    subject["achievement"] = achievement_json(achievement)
    if award.get("grade"):
        subject["result"] = [{"type": ["Result"], "value": award["grade"]}]
    subject["awardingPlace"] = award["place"]
    if award.get("components"):
        subject["components"] = [
            {"id": item["id"], "digest": item["digest"]} for item in award["components"]
        ]
    return subject


def achievement_json(achievement: AchievementVersion) -> dict[str, Any]:
    """One catalogue version as an Open Badges Achievement with the Annex I elements."""
    body = achievement.body
    workload, level = body["workload"], body["level"]
    result: dict[str, Any] = {
        "id": achievement.uri,
        "type": ["Achievement"],
        "achievementType": "MicroCredential",
        "name": body["title"],
        "description": body["description"],
        "criteria": {"narrative": _narrative(body)},
        "version": str(achievement.version),
        "learningOutcomes": list(body["learningOutcomes"]),
    }
    if "ects" in workload:
        result["creditsAvailable"] = workload["ects"]
        result["creditPoint"] = {
            "type": "CreditPoint",
            "framework": ECTS_FRAMEWORK_IRI,
            "point": _decimal(workload["ects"]),
        }
    if "hours" in workload:
        result["volumeOfLearning"] = f"PT{_decimal(workload['hours'])}H"
    result["eqfLevel"] = f"{EQF_LEVEL_IRI}{level['eqf']}"
    if "nqf" in level:
        result["nqfLevel"] = level["nqf"]
    if "qfEheaCycle" in level:
        result["qfEheaCycle"] = level["qfEheaCycle"]
    for field, term in _ACHIEVEMENT_TERMS:
        if field in body:
            result[term] = body[field]
    return result


def _narrative(body: Mapping[str, Any]) -> str:
    """Open Badges criteria (Markdown): what the learner showed, and how it was assessed."""
    outcomes = "\n".join(f"- {outcome}" for outcome in body["learningOutcomes"])
    return f"Learning outcomes:\n\n{outcomes}\n\nAssessment: {body['assessment']}"


def _decimal(value: float) -> str:
    """3 -> "3", 2.5 -> "2.5": the plain decimal text ELM's ``point`` and durations take."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{float(value):f}".rstrip("0").rstrip(".")
