"""The fast path (one JSON-LD expansion per credential shape) gives, byte for byte, what the full
path gives: the same signed credential, canonical forms and digest; it is used for credentials
of one shape, and the full path is used for anything odd."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcledger.node.credentials.annex import EXAMPLE_AWARD
from mcledger.node.credentials.build import build_credential
from mcledger.node.credentials.dataintegrity import (
    CanonicalizationError,
    canonicalize,
    credential_digest,
    proof_configuration,
    sign_credential,
    verify_credential,
)
from mcledger.node.credentials.fastpath import ShapeCache, document_shape, sign_and_digest
from mcledger.node.credentials.loader import default_loader
from mcledger.node.credentials.multikey import Ed25519SigningKey, resolve_did_key
from tests.node.samples import academy_profile, achievement, status_entry

KEY = Ed25519SigningKey.from_seed(bytes(range(32)))
LEARNER_KEY = Ed25519SigningKey.from_seed(bytes(range(1, 33)))
ACHIEVEMENT = achievement()
PROFILE = academy_profile(KEY.did)
CREATED = "2026-11-24T10:00:00Z"


def credential(
    award: dict[str, Any] | None = None,
    *,
    number: int = 0,
    status: int | None = 42,
    issued_at: datetime = datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
) -> dict[str, Any]:
    return build_credential(
        PROFILE,
        ACHIEVEMENT,
        award if award is not None else EXAMPLE_AWARD,
        credential_id=f"urn:uuid:{uuid.UUID(int=number, version=4)}",
        issued_at=issued_at,
        status_entry=None if status is None else status_entry(status),
    )


def full_path(unsigned: dict[str, Any], created: str = CREATED) -> tuple[dict[str, Any], bytes]:
    signed = sign_credential(unsigned, KEY, KEY.verification_method, created)
    return signed, credential_digest(signed)


def assert_same_as_full_path(
    cache: ShapeCache, unsigned: dict[str, Any], created: str = CREATED
) -> dict[str, Any]:
    """Fast and full path agree on everything a verifier or the index sees."""
    before = copy.deepcopy(unsigned)
    try:
        full_signed, full_digest = full_path(unsigned, created)
    except Exception as exc:  # then the fast path refuses it the same way
        with pytest.raises(type(exc)):
            sign_and_digest(unsigned, KEY, KEY.verification_method, created, cache=cache)
        return {}
    fast_signed, fast_digest = sign_and_digest(
        unsigned, KEY, KEY.verification_method, created, cache=cache
    )
    assert unsigned == before  # the input is not changed
    assert fast_digest == full_digest
    assert json.dumps(fast_signed, ensure_ascii=False) == json.dumps(
        full_signed, ensure_ascii=False
    )
    loader = default_loader()
    config = proof_configuration(unsigned, fast_signed["proof"])
    for document in (unsigned, config, fast_signed):
        assert cache.canonicalize(document) == canonicalize(document, loader)
    return fast_signed


def verifies(signed: dict[str, Any]) -> bool:
    return verify_credential(signed, resolve_did_key).ok


@pytest.fixture
def cache() -> ShapeCache:
    return ShapeCache()


# --- equality with the full path ---------------------------------------------------------------

# Everything a learner's name or a place may hold: quotes, backslashes, line breaks, tabs,
# control characters, non-BMP characters; never a lone surrogate (not encodable).
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\"\\\n\r\t'<>@_: 😀𝔘"),
    min_size=1,
    max_size=40,
)
DIDS = st.sampled_from([LEARNER_KEY.did, Ed25519SigningKey.from_seed(bytes(32)).did])
# Learner ids: real DIDs, other absolute IRIs (some with non-ASCII characters), and odd
# strings (relative, blank-node-like, with spaces, terms) that must take the full path.
LEARNER_IDS = (
    DIDS
    | st.from_regex(r"did:example:[A-Za-z0-9._%:ĀāŠš😀-]{1,20}", fullmatch=True)
    | st.from_regex(r"https://[a-z]{1,8}\.example/[A-Za-z0-9/#?=&]{0,20}", fullmatch=True)
    | st.sampled_from(["learner-42", "_:b0", "name", "id", "name:x", "did:key: z", "", "#x"])
)


@st.composite
def awards(draw: st.DrawFn) -> dict[str, Any]:
    learner: dict[str, Any] = {"name": draw(TEXT), "identifier": draw(TEXT)}
    if draw(st.booleans()):
        learner["id"] = draw(LEARNER_IDS)
    award: dict[str, Any] = {
        "achievement": "ach_dpf",
        "learner": learner,
        "awardedOn": draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))).isoformat(),
        "place": draw(TEXT),
    }
    if draw(st.booleans()):
        award["grade"] = draw(TEXT | st.sampled_from(["9/10", "A", "pass", "85 %"]))
    if draw(st.booleans()):
        award["components"] = [
            {
                "id": f"urn:uuid:{draw(st.uuids(version=4))}",
                "digest": draw(st.binary(min_size=32, max_size=32)).hex(),
            }
            for _ in range(draw(st.integers(1, 3)))
        ]
    return award


SHARED_CACHE = ShapeCache()  # shared by the examples: most of them are cache hits


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    award=awards(),
    number=st.integers(0, 2**64),
    status=st.none() | st.integers(0, 131_071),
    issued=st.datetimes(datetime(2020, 1, 1), datetime(2090, 1, 1)),
)
def test_random_awards_match_the_full_path(
    award: dict[str, Any], number: int, status: int | None, issued: datetime
) -> None:
    issued_at = issued.replace(microsecond=0, tzinfo=UTC)
    unsigned = credential(award, number=number, status=status, issued_at=issued_at)
    created = (issued_at + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = assert_same_as_full_path(SHARED_CACHE, unsigned, created)
    assert not signed or verifies(signed)


def test_awkward_strings_match_the_full_path(cache: ShapeCache) -> None:
    for name in ['Anna "Ann" B\\ērziņa', "line\nbreak\r\ttab", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀", "\x00\x1f\x7f", " "]:
        award = copy.deepcopy(EXAMPLE_AWARD)
        award["learner"]["name"] = name
        award["place"] = name + "\\"
        award["grade"] = '"' + name
        assert_same_as_full_path(cache, credential(award))
    assert cache.stats["fallbacks"] == 0


def test_the_spec_like_example_matches_and_verifies(cache: ShapeCache) -> None:
    signed = assert_same_as_full_path(cache, credential())
    assert verifies(signed)
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["name"] = "Someone Else"
    assert not verifies(tampered)


def test_a_datetime_created_matches(cache: ShapeCache) -> None:
    moment = datetime(2026, 11, 24, 12, 30, 15, tzinfo=UTC)
    fast = sign_and_digest(credential(), KEY, KEY.verification_method, moment, cache=cache)
    assert fast == full_path(credential(), "2026-11-24T12:30:15Z")


# --- the cache is used for one shape ---------------------------------------------------------


def test_same_shape_credentials_hit_the_cache(cache: ShapeCache) -> None:
    award = copy.deepcopy(EXAMPLE_AWARD)
    sign_and_digest(credential(award), KEY, KEY.verification_method, CREATED, cache=cache)
    shapes, templates = cache.stats["shapes"], cache.stats["templates"]
    assert shapes == 3  # the credential, its proof configuration, the signed credential
    for number in range(1, 31):
        award["learner"] = {
            "name": f"Learner {number}",
            "identifier": f"LU-{number:04}",
            "id": LEARNER_KEY.did if number % 2 else KEY.did.replace("z6Mk", "z6Mm"),
        }
        award["grade"] = f"{number % 10}/10"
        award["place"] = ["Rīga", "Liepāja", "Tartu"][number % 3]
        award["awardedOn"] = f"2026-11-{number % 28 + 1:02}"
        created = f"2026-11-24T10:00:{number:02}Z"
        unsigned = credential(award, number=number, status=number * 7)
        fast = sign_and_digest(unsigned, KEY, KEY.verification_method, created, cache=cache)
        assert fast == full_path(unsigned, created)
    assert cache.stats["shapes"] == shapes and cache.stats["templates"] == templates
    assert cache.stats["hits"] == 3 * 31
    assert cache.stats["fallbacks"] == 0


def test_another_shape_gets_its_own_template(cache: ShapeCache) -> None:
    award = copy.deepcopy(EXAMPLE_AWARD)
    sign_and_digest(credential(award), KEY, KEY.verification_method, CREATED, cache=cache)
    del award["grade"], award["components"], award["learner"]["id"]
    assert_same_as_full_path(cache, credential(award, status=None))
    assert cache.stats["shapes"] == 5  # the proof configuration's shape is shared
    assert cache.stats["fallbacks"] == 0


def test_a_numeric_grade_is_part_of_the_shape(cache: ShapeCache) -> None:
    for grade in (9, 9.5, 10, True):
        award = {**EXAMPLE_AWARD, "grade": grade}
        assert_same_as_full_path(cache, credential(award))
    keys = {document_shape(credential({**EXAMPLE_AWARD, "grade": g}))[0] for g in (9, 9.0, 1, True)}  # type: ignore[index]
    assert len(keys) == 4


# --- the full path for anything odd --------------------------------------------------------------


def fallback_reasons(cache: ShapeCache) -> set[str]:
    return {key.removeprefix("fallback: ") for key in cache.stats if key.startswith("fallback: ")}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c["credentialSubject"].update(id="learner-42"), "not a plain absolute IRI"),
        (lambda c: c["credentialSubject"].update(id="_:learner"), "not a plain absolute IRI"),
        (lambda c: c["credentialSubject"].update(id="name:x"), "not a plain absolute IRI"),
        (lambda c: c["credentialSubject"].update(id="did:key: z6Mk"), "not a plain absolute IRI"),
        (lambda c: c["credentialSubject"].update(id="did:key:\u00a0z"), "not a plain absolute IRI"),
        (lambda c: c["credentialSubject"].update(name="@id"), "keyword-like value"),
        # the learner's DID is the issuer's: the two nodes merge
        (lambda c: c["credentialSubject"].update(id=c["issuer"]["id"]), "IRIs that merge nodes"),
        (
            lambda c: c["credentialSubject"]["components"].append(
                dict(c["credentialSubject"]["components"][0])
            ),
            "IRIs that merge nodes",
        ),
        (
            lambda c: c["credentialSubject"]["achievement"].update(
                learningOutcomes=["Same outcome", "Same outcome"]
            ),
            "equal quads",
        ),
    ],
)
def test_odd_values_take_the_full_path(change: Any, reason: str, cache: ShapeCache) -> None:
    unsigned = credential()
    change(unsigned)
    assert_same_as_full_path(cache, unsigned)
    assert reason in fallback_reasons(cache)


def test_a_value_that_is_a_term_gets_its_own_template(cache: ShapeCache) -> None:
    # "name" is a term: as an @id-typed value it could expand; the template is made with it.
    unsigned = credential()
    unsigned["credentialSubject"]["achievement"]["furtherInformation"] = "name"
    assert_same_as_full_path(cache, unsigned)


def test_not_plain_json_takes_the_full_path(cache: ShapeCache) -> None:
    class Text(str):
        pass

    unsigned = credential()
    unsigned["credentialSubject"]["name"] = Text("Anna")
    assert document_shape(unsigned) is None
    assert sign_and_digest(
        unsigned, KEY, KEY.verification_method, CREATED, cache=cache
    ) == full_path(unsigned)
    assert cache.stats["fallbacks"] == 1


def test_an_undefined_property_is_refused_on_both_paths(cache: ShapeCache) -> None:
    unsigned = credential()
    unsigned["credentialSubject"]["favouriteColour"] = "green"
    with pytest.raises(CanonicalizationError, match="favouriteColour"):
        full_path(unsigned)
    with pytest.raises(CanonicalizationError, match="favouriteColour"):
        sign_and_digest(unsigned, KEY, KEY.verification_method, CREATED, cache=cache)
    # and the refused shape stays refused
    with pytest.raises(CanonicalizationError, match="favouriteColour"):
        sign_and_digest(unsigned, KEY, KEY.verification_method, CREATED, cache=cache)
    assert cache.stats["hits"] == 2  # the proof configurations only
    assert any(reason.startswith("template: ") for reason in fallback_reasons(cache))


def test_a_lone_surrogate_fails_on_both_paths(cache: ShapeCache) -> None:
    unsigned = credential()
    unsigned["credentialSubject"]["name"] = "Anna \ud800"
    with pytest.raises(UnicodeEncodeError):
        full_path(unsigned)
    with pytest.raises(UnicodeEncodeError):
        sign_and_digest(unsigned, KEY, KEY.verification_method, CREATED, cache=cache)


def test_bad_proof_options_are_refused_as_on_the_full_path(cache: ShapeCache) -> None:
    from mcledger.node.credentials.dataintegrity import DataIntegrityError

    with pytest.raises(DataIntegrityError):
        sign_and_digest(credential(), KEY, KEY.verification_method, "yesterday", cache=cache)
    signed, _ = sign_and_digest(credential(), KEY, KEY.verification_method, CREATED, cache=cache)
    with pytest.raises(DataIntegrityError, match="already signed"):
        sign_and_digest(signed, KEY, KEY.verification_method, CREATED, cache=cache)
