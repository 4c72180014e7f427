"""Annex I check of a credential submitted whole (unsigned): each element at its place in
docs/formats.md's table, plus the VC 2.0 and Open Badges 3.0 basics. Pure: no I/O.

The vocabularies and the request checks are in :mod:`node.credentials.annex`;
this module reads the same elements where :mod:`node.credentials.build` puts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcledger.node.credentials.annex import (
    ECTS_FRAMEWORK_IRI,
    EQF_LEVEL_IRI,
    PARTICIPATION_FORMS,
    STACKABILITY,
    SUPERVISION,
    ErrorList,
    FieldError,
    Loc,
    check_components,
    check_cycle,
    check_datetime,
    check_did,
    check_outcomes,
)
from mcledger.node.credentials.build import (
    CREDENTIAL_TYPES,
    MCLEDGER_CONTEXT,
    OB_CONTEXT,
    VC_V2_CONTEXT,
)

_HOURS = re.compile(r"^PT(\d+(\.\d+)?)H$")


def _types(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def validate_credential(credential: Any) -> list[FieldError]:
    """Every missing or bad Annex I element of an unsigned credential, at its place in
    docs/formats.md's table, and the VC 2.0 / Open Badges basics it must have."""
    errors = ErrorList()
    if not isinstance(credential, Mapping):
        errors.add((), "must be a JSON object")
        return errors.items
    contexts = credential.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_V2_CONTEXT:
        errors.add(("@context",), f"must be a list whose first element is {VC_V2_CONTEXT}")
    else:
        for url in (OB_CONTEXT, MCLEDGER_CONTEXT):
            if url not in contexts:
                errors.add(("@context",), f"must include {url}")
    types = _types(credential.get("type"))
    for name in CREDENTIAL_TYPES:
        if name not in types:
            errors.add(("type",), f"must contain {name}")
    if "id" in credential and not (isinstance(credential["id"], str) and ":" in credential["id"]):
        errors.add(("id",), "must be a URI such as urn:uuid:…")
    for name, check in (("issuer", _issuer), ("credentialSubject", _subject)):
        if name in credential:
            check(errors, credential[name], (name,))
        else:
            errors.add((name,), "required field is missing")
    if "validFrom" in credential:
        check_datetime(errors, credential["validFrom"], ("validFrom",))
    else:
        errors.add(("validFrom",), "required field is missing (the date of issuing)")
    if "awardedDate" in credential:
        check_datetime(errors, credential["awardedDate"], ("awardedDate",))
    return errors.items


def _issuer(errors: ErrorList, issuer: Any, loc: Loc) -> None:
    if not isinstance(issuer, Mapping):
        errors.add(loc, "must be the awarding body's Profile: an object with id, name, address")
        return
    for name in ("id", "name", "legalIdentifier", "address"):
        if name not in issuer:
            errors.add((*loc, name), "required field is missing")
    if "id" in issuer:
        check_did(errors, issuer["id"], (*loc, "id"))
    for name in ("name", "legalIdentifier"):
        if name in issuer:
            errors.text(issuer[name], (*loc, name), 300)
    address = issuer.get("address")
    if address is not None:
        if not isinstance(address, Mapping):
            errors.add((*loc, "address"), "must be an Address object")
            return
        errors.country(address.get("addressCountry"), (*loc, "address", "addressCountry"))
        if "addressRegion" in address:
            errors.text(address["addressRegion"], (*loc, "address", "addressRegion"), 300)


def _subject(errors: ErrorList, subject: Any, loc: Loc) -> None:
    if not isinstance(subject, Mapping):
        errors.add(loc, "must be one AchievementSubject object")
        return
    if "AchievementSubject" not in _types(subject.get("type")):
        errors.add((*loc, "type"), "must contain AchievementSubject")
    if "id" in subject:
        check_did(errors, subject["id"], (*loc, "id"))
    errors.text(subject.get("name"), (*loc, "name"), 300)
    identifiers = subject.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        errors.add((*loc, "identifier"), "must list the learner's identifier (IdentityObject)")
    else:
        for index, entry in enumerate(identifiers):
            here = (*loc, "identifier", index)
            if not isinstance(entry, Mapping) or "IdentityObject" not in _types(entry.get("type")):
                errors.add(here, "must be an IdentityObject")
                continue
            errors.text(entry.get("identityHash"), (*here, "identityHash"), 300)
            errors.text(entry.get("identityType"), (*here, "identityType"), 100)
    if "awardingPlace" in subject:
        errors.text(subject["awardingPlace"], (*loc, "awardingPlace"), 200)
    if "components" in subject:
        check_components(errors, subject["components"], (*loc, "components"))
    _achievement(errors, subject.get("achievement"), (*loc, "achievement"))


_ACHIEVEMENT_TEXTS = (("name", 300), ("description", 5000))
_ACHIEVEMENT_MANDATORY_TEXTS = (("assessmentType", 1000), ("qualityAssurance", 1000))


def _achievement(errors: ErrorList, achievement: Any, loc: Loc) -> None:
    if not isinstance(achievement, Mapping):
        errors.add(loc, "must be the Achievement object")
        return
    if "Achievement" not in _types(achievement.get("type")):
        errors.add((*loc, "type"), "must contain Achievement")
    if not isinstance(achievement.get("id"), str):
        errors.add((*loc, "id"), "must be the achievement's URI")
    for name, limit in _ACHIEVEMENT_TEXTS + _ACHIEVEMENT_MANDATORY_TEXTS:
        errors.text(achievement.get(name), (*loc, name), limit)
    check_outcomes(errors, achievement.get("learningOutcomes"), (*loc, "learningOutcomes"))
    _credential_workload(errors, achievement, loc)
    eqf_iri = achievement.get("eqfLevel")
    eqf = None
    if isinstance(eqf_iri, str) and re.fullmatch(re.escape(EQF_LEVEL_IRI) + "[1-8]", eqf_iri):
        eqf = int(eqf_iri[-1])
    else:
        errors.add((*loc, "eqfLevel"), f"must be an EQF level IRI, {EQF_LEVEL_IRI}1 to …/8")
    if "nqfLevel" in achievement:
        errors.text(achievement["nqfLevel"], (*loc, "nqfLevel"), 100)
    if "qfEheaCycle" in achievement:
        check_cycle(errors, achievement["qfEheaCycle"], eqf, (*loc, "qfEheaCycle"))
    errors.choice(
        achievement.get("participationForm"), (*loc, "participationForm"), PARTICIPATION_FORMS
    )
    optional = {
        "prerequisites": lambda v, at: errors.text(v, at, 2000),
        "supervisionAndIdentityVerification": lambda v, at: errors.choice(
            v, at, tuple(SUPERVISION)
        ),
        "integrationStackability": lambda v, at: errors.choice(v, at, STACKABILITY),
        "furtherInformation": lambda v, at: errors.url(v, at),
    }
    for name, check in optional.items():
        if name in achievement:
            check(achievement[name], (*loc, name))


def _credential_workload(errors: ErrorList, achievement: Mapping[str, Any], loc: Loc) -> None:
    """ECTS as an ELM CreditPoint (framework ECTS, point > 0), or notional hours (PTnH)."""
    credit, hours = achievement.get("creditPoint"), achievement.get("volumeOfLearning")
    if credit is None and hours is None:
        errors.add((*loc, "creditPoint"), "give the workload: ECTS (creditPoint) or hours")
        errors.add((*loc, "volumeOfLearning"), "give the workload: ECTS (creditPoint) or hours")
        return
    if credit is not None:
        here = (*loc, "creditPoint")
        if not isinstance(credit, Mapping) or credit.get("framework") != ECTS_FRAMEWORK_IRI:
            errors.add(here, f"must be a CreditPoint whose framework is {ECTS_FRAMEWORK_IRI}")
        elif not _positive_decimal(credit.get("point")):
            errors.add((*here, "point"), "must be a number of ECTS credits greater than 0")
    if hours is not None:
        match = _HOURS.match(hours) if isinstance(hours, str) else None
        if match is None or not float(match.group(1)) > 0:
            errors.add((*loc, "volumeOfLearning"), "must be a duration in hours, e.g. PT75H")


def _positive_decimal(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\d+(\.\d+)?", value)) and float(value) > 0
