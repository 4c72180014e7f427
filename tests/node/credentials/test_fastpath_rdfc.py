"""The fast path's string canonicalizer (RDFC-1.0 on pre-serialized quads) against pyld's
URDNA2015 on the full path: blank nodes told apart by their first-degree hashes, blank nodes
tied (only the N-degree hashes can order them: pyld's algorithm runs), constants that look
like format directives. The random-award tests in test_fastpath.py cover it too."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.build import build_credential
from mcledger.node.credentials.dataintegrity import canonicalize
from mcledger.node.credentials.fastpath import ShapeCache, document_shape
from mcledger.node.credentials.fastpath_rdfc import CanonicalTemplate
from mcledger.node.credentials.multikey import Ed25519SigningKey
from tests.node.samples import ISSUED_AT, academy_profile, achievement, status_entry

KEY = Ed25519SigningKey.from_seed(bytes(range(32)))


def credential(
    body: dict[str, Any] = EXAMPLE_ACHIEVEMENT, number: int = 1, **award: Any
) -> dict[str, Any]:
    return build_credential(
        academy_profile(KEY.did),
        achievement(body),
        {**EXAMPLE_AWARD, **award},
        credential_id=f"urn:uuid:{uuid.UUID(int=number, version=4)}",
        issued_at=ISSUED_AT,
        status_entry=status_entry(number),
    )


def with_results(document: dict[str, Any], *results: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["credentialSubject"]["result"] = [dict(result) for result in results]
    return changed


def string_form(cache: ShapeCache, document: dict[str, Any]) -> CanonicalTemplate | None:
    shape = document_shape(document)
    assert shape is not None
    template, reason = cache._usable_template(document, *shape)
    assert template is not None, reason
    return template.canonical


def test_distinct_first_degree_hashes_take_the_string_form() -> None:
    cache = ShapeCache()
    for number, name in enumerate(["Anna", 'Jā"nis\\', "tab\there", "line\nbreak"], start=1):
        document = credential(number=number, learner={**EXAMPLE_AWARD["learner"], "name": name})
        assert cache.canonicalize(document) == canonicalize(document)
        form = string_form(cache, document)
        assert form is not None and form.blank_count >= 4
        assert form.canonical(document_shape(document)[1]) == canonicalize(document)  # type: ignore[index]
    assert cache.stats["fallbacks"] == 0


def test_tied_blank_nodes_are_ordered_by_pylds_algorithm() -> None:
    cache = ShapeCache()
    base = credential()
    told_apart = with_results(
        base, {"type": ["Result"], "value": "A"}, {"type": ["Result"], "value": "B"}
    )
    tied = with_results(
        base, {"type": ["Result"], "value": "A"}, {"type": ["Result"], "value": "A"}
    )
    assert cache.canonicalize(told_apart) == canonicalize(told_apart)
    form = string_form(cache, tied)  # one template for both: the values are slots
    assert form is not None
    assert form.canonical(document_shape(tied)[1]) is None  # type: ignore[index]
    assert cache.canonicalize(tied) == canonicalize(tied)
    assert cache.stats["fallbacks"] == 0 and cache.stats["hits"] == 2


def test_a_template_whose_blank_nodes_always_tie_has_no_string_form() -> None:
    cache = ShapeCache()
    document = with_results(credential(), {"type": ["Result"]}, {"type": ["Result"]})
    assert cache.canonicalize(document) == canonicalize(document)
    assert string_form(cache, document) is None
    assert cache.stats["templates without a string form"] == 1
    assert cache.stats["fallbacks"] == 0  # still a template: pyld canonicalizes its dataset


@pytest.mark.parametrize("text", ["100 % online", "50%s of %(x)s", "%%", "%"])
def test_constants_and_values_that_look_like_format_directives(text: str) -> None:
    cache = ShapeCache()
    body = {**EXAMPLE_ACHIEVEMENT, "description": text}
    for number in (1, 2):  # the template, then a document filled into it
        document = credential(body, number, place=text, grade=text + "!")
        assert cache.canonicalize(document) == canonicalize(document)
    assert cache.stats["fallbacks"] == 0 and cache.stats["hits"] == 2


def aligned(value: str, target: str) -> dict[str, Any]:
    alignment = {"type": ["Alignment"], "targetName": target, "targetUrl": "https://t.example/"}
    return {"type": ["Result"], "value": value, "alignment": [alignment]}


@pytest.mark.parametrize("targets", [("X", "Y"), ("Y", "X")])
def test_tied_nodes_with_different_neighbours_are_ordered_as_pyld_orders_them(
    targets: tuple[str, str],
) -> None:
    # The two results hash alike at first degree (their alignments are _:z) but not at
    # N degree: an order taken from anything else would be wrong one time in two.
    cache = ShapeCache()
    document = with_results(credential(), *(aligned("A", target) for target in targets))
    form = string_form(cache, document)
    assert form is not None and form.canonical(document_shape(document)[1]) is None  # type: ignore[index]
    assert cache.canonicalize(document) == canonicalize(document)
