"""Annex I validation: every mandatory element missing is named, all bad fields at once,
the optional ones accepted; the built credential passes its own check and is deterministic."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from mcledger.node.credentials.annex import (
    ACHIEVEMENT_REQUIRED,
    AWARD_REQUIRED,
    EXAMPLE_ACHIEVEMENT,
    EXAMPLE_AWARD,
    FieldError,
    validate_achievement,
    validate_award,
    validate_issuer_profile,
)
from mcledger.node.credentials.annex_credential import validate_credential
from mcledger.node.credentials.build import AchievementVersion, IssuerProfile, build_credential

PROFILE = IssuerProfile("uni", "did:web:uni.example.lv", "University of Latvia", "LV900", "LV")
ISSUED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def paths(errors: list[FieldError]) -> list[str]:
    return [error.path for error in errors]


def credential(achievement_body: dict[str, Any] | None = None, **award: Any) -> dict[str, Any]:
    version = AchievementVersion(
        "ach_1", 1, "uni", achievement_body or EXAMPLE_ACHIEVEMENT, ISSUED_AT
    )
    return build_credential(
        PROFILE,
        version,
        {**EXAMPLE_AWARD, **award},
        credential_id="urn:uuid:1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b",
        issued_at=ISSUED_AT,
    )


# --- achievements ------------------------------------------------------------------------------


def test_the_example_achievement_with_every_optional_element_is_valid() -> None:
    assert validate_achievement(EXAMPLE_ACHIEVEMENT) == []


def test_the_mandatory_elements_alone_are_valid() -> None:
    body = {name: EXAMPLE_ACHIEVEMENT[name] for name in ACHIEVEMENT_REQUIRED}
    body["level"] = {"eqf": 4}
    body["workload"] = {"hours": 40}
    assert validate_achievement(body) == []


@pytest.mark.parametrize("name", ACHIEVEMENT_REQUIRED)
def test_each_missing_mandatory_element_is_named(name: str) -> None:
    body = copy.deepcopy(EXAMPLE_ACHIEVEMENT)
    del body[name]
    assert paths(validate_achievement(body)) == [name]


def test_every_bad_field_is_listed_at_once() -> None:
    body = {
        "title": "  ",
        "learningOutcomes": ["Explain", ""],
        "workload": {"ects": 0, "hours": -1},
        "level": {"eqf": 9, "qfEheaCycle": "fourth"},
        "assessment": 7,
        "participation": "by post",
        "supervision": "proctored",
        "stackability": "maybe",
        "furtherInformation": "ftp://example.org",
        "colour": "blue",
    }
    assert paths(validate_achievement(body)) == [
        "colour",
        "description",
        "qualityAssurance",
        "title",
        "learningOutcomes[1]",
        "workload.ects",
        "workload.hours",
        "level.eqf",
        "level.qfEheaCycle",
        "assessment",
        "participation",
        "supervision",
        "stackability",
        "furtherInformation",
    ]


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("learningOutcomes", [], "learningOutcomes"),
        ("learningOutcomes", "Explain the GDPR", "learningOutcomes"),
        ("workload", {}, "workload"),
        ("workload", {"ects": True}, "workload.ects"),
        ("workload", {"credits": 3}, "workload.credits"),
        ("level", {"nqf": "5"}, "level.eqf"),
        ("level", {"eqf": "5"}, "level.eqf"),
        ("level", {"eqf": 6, "qfEheaCycle": "short"}, "level.qfEheaCycle"),
        ("level", {"eqf": 6, "qfEheaCycle": ["first"]}, "level.qfEheaCycle"),  # found by fuzzing
        ("title", "x" * 301, "title"),
    ],
)
def test_bad_values(field: str, value: Any, path: str) -> None:
    body = {**EXAMPLE_ACHIEVEMENT, field: value}
    assert paths(validate_achievement(body)) == [path]


def test_a_body_that_is_not_an_object() -> None:
    assert paths(validate_achievement([1])) == ["(body)"]


# --- awards ---------------------------------------------------------------------------------------


def test_the_example_award_is_valid_and_its_optional_fields_may_go() -> None:
    assert validate_award(EXAMPLE_AWARD) == []
    minimal = {name: EXAMPLE_AWARD[name] for name in AWARD_REQUIRED}
    minimal["learner"] = {"name": "Anna", "identifier": "LU-1"}
    assert validate_award(minimal) == []


@pytest.mark.parametrize("name", AWARD_REQUIRED)
def test_each_missing_award_field_is_named(name: str) -> None:
    body = copy.deepcopy(EXAMPLE_AWARD)
    del body[name]
    assert paths(validate_award(body)) == [name]


@pytest.mark.parametrize("name", ["name", "identifier"])
def test_the_learner_must_be_identified(name: str) -> None:
    body = copy.deepcopy(EXAMPLE_AWARD)
    del body["learner"][name]
    assert paths(validate_award(body)) == [f"learner.{name}"]


def test_every_bad_award_field_is_listed_at_once() -> None:
    body = {
        "achievement": "",
        "learner": {"name": "", "identifier": 42, "id": "anna", "email": "a@b.c"},
        "awardedOn": "2026-02-30",
        "place": None,
        "grade": "",
        "components": [{"id": "urn:uuid:nope", "digest": "AB" * 32}, {"id": 1}],
    }
    assert paths(validate_award(body)) == [
        "achievement",
        "learner.email",
        "learner.name",
        "learner.identifier",
        "learner.id",
        "awardedOn",
        "place",
        "grade",
        "components[0].id",
        "components[0].digest",
        "components[1].digest",
        "components[1].id",
    ]


# --- issuer profiles ------------------------------------------------------------------------------


def test_issuer_profile() -> None:
    good = {"legalName": "University of Latvia", "legalIdentifier": "LV900", "country": "LV"}
    assert validate_issuer_profile(good) == []
    assert paths(validate_issuer_profile({**good, "country": "EL", "did": "x"})) == [
        "country",
        "did",
    ]
    assert paths(validate_issuer_profile({})) == ["legalName", "legalIdentifier", "country"]
    assert validate_issuer_profile({"region": "Rīga"}, partial=True) == []


@pytest.mark.parametrize("country", [{}, ["LV"], 7, None])
def test_a_country_that_is_not_a_string_is_named(country: Any) -> None:
    """Found by fuzzing `PUT /v1/issuers/{id}`: `{"country": {}}` raised TypeError (a 500)."""
    assert paths(validate_issuer_profile({"country": country}, partial=True)) == ["country"]


# --- whole credentials ----------------------------------------------------------------------------


def test_a_built_credential_passes_the_credential_check_and_is_deterministic() -> None:
    assert validate_credential(credential()) == []
    assert credential() == credential()
    hours_only = {**EXAMPLE_ACHIEVEMENT, "workload": {"hours": 7.5}}
    built = credential(hours_only, grade=None, components=[])
    assert built["credentialSubject"]["achievement"]["volumeOfLearning"] == "PT7.5H"
    assert "result" not in built["credentialSubject"]
    assert validate_credential(built) == []


_SUBJECT = ("credentialSubject",)
_ACHIEVEMENT = ("credentialSubject", "achievement")


@pytest.mark.parametrize(
    ("where", "name", "path"),
    [
        ((), "validFrom", "validFrom"),
        ((), "issuer", "issuer"),
        ((), "credentialSubject", "credentialSubject"),
        (("issuer",), "id", "issuer.id"),
        (("issuer",), "name", "issuer.name"),
        (("issuer",), "legalIdentifier", "issuer.legalIdentifier"),
        (("issuer", "address"), "addressCountry", "issuer.address.addressCountry"),
        (_SUBJECT, "name", "credentialSubject.name"),
        (_SUBJECT, "identifier", "credentialSubject.identifier"),
        (_SUBJECT, "achievement", "credentialSubject.achievement"),
        (_ACHIEVEMENT, "name", "credentialSubject.achievement.name"),
        (_ACHIEVEMENT, "learningOutcomes", "credentialSubject.achievement.learningOutcomes"),
        (_ACHIEVEMENT, "eqfLevel", "credentialSubject.achievement.eqfLevel"),
        (_ACHIEVEMENT, "assessmentType", "credentialSubject.achievement.assessmentType"),
        (_ACHIEVEMENT, "participationForm", "credentialSubject.achievement.participationForm"),
        (_ACHIEVEMENT, "qualityAssurance", "credentialSubject.achievement.qualityAssurance"),
    ],
)
def test_each_missing_element_of_a_credential_is_named(
    where: tuple[str, ...], name: str, path: str
) -> None:
    document = credential()
    node = document
    for key in where:
        node = node[key]
    del node[name]
    assert path in paths(validate_credential(document))


def test_a_credential_without_workload_names_both_places() -> None:
    document = credential()
    del document["credentialSubject"]["achievement"]["creditPoint"]
    assert paths(validate_credential(document)) == [
        "credentialSubject.achievement.creditPoint",
        "credentialSubject.achievement.volumeOfLearning",
    ]


def test_the_vc_basics_of_a_credential() -> None:
    document = credential()
    document["@context"] = document["@context"][1:]
    document["type"] = ["VerifiableCredential"]
    document["credentialSubject"]["achievement"]["eqfLevel"] = "http://data.europa.eu/snb/eqf/9"
    document["issuer"]["address"]["addressCountry"] = "Latvia"
    assert paths(validate_credential(document)) == [
        "@context",
        "type",
        "type",
        "issuer.address.addressCountry",
        "credentialSubject.achievement.eqfLevel",
    ]
    assert paths(validate_credential("{}")) == ["(body)"]
