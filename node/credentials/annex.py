"""The Annex I elements of a micro-credential: validation of requests and of built credentials.

Pure: no I/O. Every function returns the list of *all* bad fields (a
:class:`FieldError` each, in document order), so one reply can name every
missing or bad field at once. The Council Recommendation (2022/C 243/02),
Annex I, fixes which elements are mandatory; the decisions taken where it says
"if applicable":

- **level**: the EQF level (1-8) is mandatory; principle 2 asks for a level a
  reader anywhere in Europe can compare, and only the EQF is common to all.
  The NQF level and the QF-EHEA cycle are optional; a cycle must agree with
  the EQF level (short 5, first 6, second 7, third 8).
- **workload**: ECTS credits where they apply, otherwise notional hours; at
  least one of the two, both allowed.
- **supervision**: the three Annex I options as keywords (``SUPERVISION``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# --- vocabularies ----------------------------------------------------------------------------

PARTICIPATION_FORMS = ("online", "onsite", "blended")
# Annex I, optional element "supervision and identity verification during assessment".
SUPERVISION = {
    "unsupervised-no-identity-verification": "unsupervised with no identity verification",
    "supervised-no-identity-verification": "supervised with no identity verification",
    "supervised-with-identity-verification": (
        "supervised online or onsite with identity verification"
    ),
}
# Annex I, optional element "integration/stackability options".
STACKABILITY = ("stand-alone", "stackable", "integrated")
# The Bologna framework's cycles and the EQF levels they correspond to.
QF_EHEA_CYCLE_EQF = {"short": 5, "first": 6, "second": 7, "third": 8}
EQF_LEVEL_IRI = "http://data.europa.eu/snb/eqf/"  # ELM's EQF concepts: .../eqf/1 to .../eqf/8
ECTS_FRAMEWORK_IRI = "http://data.europa.eu/snb/education-credit/6fcec5c5af"  # Europass: ECTS

# ISO 3166-1 alpha-2, the officially assigned codes.
_COUNTRIES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ
    BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR
    CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
    PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
    SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR
    TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_COUNTRIES.split())

MAX_OUTCOMES = 100
MAX_COMPONENTS = 1000
_DID = re.compile(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$")
_URN_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One bad field: where (``loc``, e.g. ``("learner", "name")``) and what is wrong."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        """``("components", 2, "digest")`` -> ``components[2].digest``."""
        text = ""
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text or "(body)"


class ErrorList:
    """Collects field errors; the checks below add to it and never stop at the first."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, loc: Loc, message: str) -> None:
        self.items.append(FieldError(loc, message))

    def object(self, value: Any, loc: Loc, known: Sequence[str], required: Sequence[str]) -> bool:
        """``value`` must be an object with the ``required`` fields, none outside ``known``."""
        if not isinstance(value, Mapping):
            self.add(loc, "must be an object")
            return False
        for name in value:
            if name not in known:
                self.add((*loc, name), "unknown field")
        for name in required:
            if name not in value:
                self.add((*loc, name), "required field is missing")
        return True

    def text(self, value: Any, loc: Loc, max_length: int) -> bool:
        if not isinstance(value, str) or not value.strip():
            self.add(loc, "must be a non-empty string")
            return False
        if len(value) > max_length:
            self.add(loc, f"must be at most {max_length} characters")
            return False
        return True

    def choice(self, value: Any, loc: Loc, choices: Sequence[str]) -> None:
        if value not in choices:
            self.add(loc, "must be one of: " + ", ".join(choices))

    def number(self, value: Any, loc: Loc) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.add(loc, "must be a number greater than 0")
            return False
        return True

    def url(self, value: Any, loc: Loc) -> None:
        if not isinstance(value, str) or not _URL.match(value) or len(value) > 2000:
            self.add(loc, "must be an http(s) URL")

    def country(self, value: Any, loc: Loc) -> None:
        if not isinstance(value, str) or value not in COUNTRY_CODES:  # {} is unhashable
            self.add(loc, "must be an ISO 3166-1 alpha-2 country code such as LV")


# --- the achievement (POST /v1/achievements) -------------------------------------------------

ACHIEVEMENT_FIELDS = (
    "title",
    "description",
    "learningOutcomes",
    "workload",
    "level",
    "assessment",
    "participation",
    "qualityAssurance",
    "prerequisites",
    "supervision",
    "stackability",
    "furtherInformation",
)
ACHIEVEMENT_REQUIRED = ACHIEVEMENT_FIELDS[:8]


def validate_achievement(body: Any) -> list[FieldError]:
    """Every missing or bad field of an achievement description (docs/formats.md's requests)."""
    errors = ErrorList()
    if not errors.object(body, (), ACHIEVEMENT_FIELDS, ACHIEVEMENT_REQUIRED):
        return errors.items
    checks = {
        "title": lambda v, loc: errors.text(v, loc, 300),
        "description": lambda v, loc: errors.text(v, loc, 5000),
        "learningOutcomes": lambda v, loc: check_outcomes(errors, v, loc),
        "workload": lambda v, loc: _workload(errors, v, loc),
        "level": lambda v, loc: _level(errors, v, loc),
        "assessment": lambda v, loc: errors.text(v, loc, 1000),
        "participation": lambda v, loc: errors.choice(v, loc, PARTICIPATION_FORMS),
        "qualityAssurance": lambda v, loc: errors.text(v, loc, 1000),
        "prerequisites": lambda v, loc: errors.text(v, loc, 2000),
        "supervision": lambda v, loc: errors.choice(v, loc, tuple(SUPERVISION)),
        "stackability": lambda v, loc: errors.choice(v, loc, STACKABILITY),
        "furtherInformation": lambda v, loc: errors.url(v, loc),
    }
    for name, check in checks.items():
        if name in body:
            check(body[name], (name,))
    return errors.items


def check_outcomes(errors: ErrorList, value: Any, loc: Loc) -> None:
    if not isinstance(value, list) or not value:
        errors.add(loc, "must be a non-empty list of learning outcomes")
        return
    if len(value) > MAX_OUTCOMES:
        errors.add(loc, f"must list at most {MAX_OUTCOMES} learning outcomes")
    for index, outcome in enumerate(value[:MAX_OUTCOMES]):
        errors.text(outcome, (*loc, index), 1000)


def _workload(errors: ErrorList, value: Any, loc: Loc) -> None:
    if not errors.object(value, loc, ("ects", "hours"), ()):
        return
    if not value:
        errors.add(loc, "give ECTS credits (ects) or, where ECTS does not apply, hours")
    for name in ("ects", "hours"):
        if name in value:
            errors.number(value[name], (*loc, name))


def _level(errors: ErrorList, value: Any, loc: Loc) -> None:
    if not errors.object(value, loc, ("eqf", "nqf", "qfEheaCycle"), ("eqf",)):
        return
    eqf = value.get("eqf")
    if "eqf" in value and (isinstance(eqf, bool) or eqf not in range(1, 9)):
        errors.add((*loc, "eqf"), "must be an EQF level, an integer from 1 to 8")
        eqf = None
    if "nqf" in value:
        errors.text(value["nqf"], (*loc, "nqf"), 100)
    if "qfEheaCycle" in value:
        check_cycle(errors, value["qfEheaCycle"], eqf, (*loc, "qfEheaCycle"))


def check_cycle(errors: ErrorList, cycle: Any, eqf: int | None, loc: Loc) -> None:
    if not isinstance(cycle, str) or cycle not in QF_EHEA_CYCLE_EQF:  # [] is unhashable
        errors.choice(cycle, loc, tuple(QF_EHEA_CYCLE_EQF))
    elif eqf is not None and QF_EHEA_CYCLE_EQF[cycle] != eqf:
        errors.add(loc, f"the {cycle} cycle is EQF level {QF_EHEA_CYCLE_EQF[cycle]}, not {eqf}")


# docs/formats.md's example request with every optional element: the API documents it, tests too.
EXAMPLE_ACHIEVEMENT: dict[str, Any] = {
    "title": "Data Protection Fundamentals",
    "description": "The GDPR for practitioners: principles, rights, and a data-protection audit.",
    "learningOutcomes": [
        "Explain the GDPR principles",
        "Carry out a data protection impact assessment",
    ],
    "workload": {"ects": 3},
    "level": {"eqf": 5, "nqf": "5", "qfEheaCycle": "short"},
    "assessment": "Written examination",
    "participation": "online",
    "qualityAssurance": "Internal QA, accredited institution",
    "prerequisites": "None",
    "supervision": "supervised-with-identity-verification",
    "stackability": "stackable",
    "furtherInformation": "https://example.edu/courses/data-protection",
}


# --- the award (POST /v1/credentials) --------------------------------------------------------

AWARD_FIELDS = ("achievement", "learner", "awardedOn", "place", "grade", "components")
AWARD_REQUIRED = ("achievement", "learner", "awardedOn", "place")


def validate_award(body: Any) -> list[FieldError]:
    """Every missing or bad field of an award: learner, date, place, grade, components."""
    errors = ErrorList()
    if not errors.object(body, (), AWARD_FIELDS, AWARD_REQUIRED):
        return errors.items
    if "achievement" in body:
        errors.text(body["achievement"], ("achievement",), 64)
    if "learner" in body:
        learner = body["learner"]
        if errors.object(
            learner, ("learner",), ("name", "identifier", "id"), ("name", "identifier")
        ):
            if "name" in learner:
                errors.text(learner["name"], ("learner", "name"), 300)
            if "identifier" in learner:
                errors.text(learner["identifier"], ("learner", "identifier"), 200)
            if "id" in learner:
                check_did(errors, learner["id"], ("learner", "id"))
    if "awardedOn" in body:
        _date(errors, body["awardedOn"], ("awardedOn",))
    if "place" in body:
        errors.text(body["place"], ("place",), 200)
    if "grade" in body:
        errors.text(body["grade"], ("grade",), 100)
    if "components" in body:
        check_components(errors, body["components"], ("components",))
    return errors.items


def check_did(errors: ErrorList, value: Any, loc: Loc) -> None:
    if not isinstance(value, str) or len(value) > 2000 or not _DID.match(value):
        errors.add(loc, "must be a DID (did:method:identifier)")


def _date(errors: ErrorList, value: Any, loc: Loc) -> None:
    try:
        if isinstance(value, str) and _DATE.match(value):
            date.fromisoformat(value)
            return
    except ValueError:
        pass
    errors.add(loc, "must be a date, YYYY-MM-DD")


def check_datetime(errors: ErrorList, value: Any, loc: Loc) -> None:
    try:
        if isinstance(value, str) and _DATETIME.match(value):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return
    except ValueError:
        pass
    errors.add(loc, "must be an RFC 3339 date-time with a time zone, e.g. 2026-11-20T10:00:00Z")


def check_components(errors: ErrorList, value: Any, loc: Loc) -> None:
    if not isinstance(value, list):
        errors.add(loc, "must be a list of {id, digest}")
        return
    if len(value) > MAX_COMPONENTS:
        errors.add(loc, f"must list at most {MAX_COMPONENTS} components")
    for index, item in enumerate(value[:MAX_COMPONENTS]):
        here = (*loc, index)
        if errors.object(item, here, ("id", "digest"), ("id", "digest")):
            if "id" in item and not (isinstance(item["id"], str) and _URN_UUID.match(item["id"])):
                errors.add((*here, "id"), "must be a credential id, urn:uuid: + a lower-case UUID")
            if "digest" in item and not (
                isinstance(item["digest"], str) and _HEX64.match(item["digest"])
            ):
                errors.add((*here, "digest"), "must be 64 lower-case hex characters (SHA-256)")


EXAMPLE_AWARD: dict[str, Any] = {
    "achievement": "ach_0123456789abcdef0123",
    "learner": {
        "name": "Anna Bērziņa",
        "identifier": "LU-2026-0042",
        "id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    },
    "awardedOn": "2026-11-20",
    "place": "Rīga",
    "grade": "9/10",
    "components": [{"id": "urn:uuid:5f0c6c1e-8a5b-4d2f-9a57-0e3d1b6f7c21", "digest": "ab" * 32}],
}


# --- the issuer's profile ----------------------------------------------------------------------

PROFILE_FIELDS = (
    "legalName",
    "legalIdentifier",
    "country",
    "region",
    "qaRegister",
    "qaIdentifier",
    "did",
)
PROFILE_REQUIRED = ("legalName", "legalIdentifier", "country")


def validate_issuer_profile(body: Any, *, partial: bool = False) -> list[FieldError]:
    """The awarding body's part of Annex I: legal name and identifier, country (and region),
    quality assurance. ``partial``: an update that may leave fields out."""
    errors = ErrorList()
    if not errors.object(body, (), PROFILE_FIELDS, () if partial else PROFILE_REQUIRED):
        return errors.items
    for name in ("legalName", "legalIdentifier", "region", "qaRegister", "qaIdentifier"):
        if name in body:
            errors.text(body[name], (name,), 300)
    if "country" in body:
        errors.country(body["country"], ("country",))
    if "did" in body:
        check_did(errors, body["did"], ("did",))
    return errors.items
