"""Templates for the fast path (:mod:`node.credentials.fastpath`): a credential walked into
its *shape*, and the template built from the first credential of a shape: the credential
with every str leaf (a *slot*) a unique placeholder, expanded to RDF once.

- **The shape key** is the document's structure: every key in order, every list's length,
  the type of every leaf, the whole value of every ``@context``, ``type``/``@type`` and
  other ``@`` keyword (except ``@id``/``@value``) — they decide the RDF structure — and
  every number, boolean and null as a constant. Only ``str`` leaves elsewhere are *slots*.
  Anything that is not plain JSON (a tuple, a str subclass, a non-str key) is not cached.
- **Slot kinds come from pyld, not from a list.** In the template's quads each placeholder
  must appear whole: only as IRIs (an ``@id`` or ``@id``/``@vocab``-typed value: an *IRI
  slot*) or only as a literal's lexical form (a *literal slot*) whose datatype pyld passes
  through unchanged (not ``xsd:double``, not ``rdf:JSON``). A placeholder that shows up as
  part of a value, a predicate, a datatype or a language, or not at all, or as both, makes
  its slot *structural*: its real value becomes part of the key and the template is made
  with that value in place.
- The template is made in the full path's *safe mode* (a property no context defines is
  refused).

:class:`TemplateBuilder` makes the shapes and templates; :mod:`node.credentials.fastpath`
keeps them, checks each template once against the full path and fills it per credential.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyld import jsonld

from mcledger.node.credentials.fastpath_rdfc import CanonicalTemplate
from mcledger.node.credentials.loader import LocalContextLoader, default_loader

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
_TRANSFORMED_DATATYPES = frozenset({XSD_DOUBLE, RDF_JSON})  # pyld rewrites these lexical forms

# Keys whose whole value is part of the shape (they decide the RDF structure).
_CONSTANT_KEYS = frozenset({"@context", "type", "@type"})
_SLOT_KEYWORDS = frozenset({"@id", "@value"})

# Shape tokens. Keys are str, constants are tuples: none of them equals another kind.
_DICT, _LIST, _END, _SLOT = 1, 2, 3, 4

_LITERAL = "literal"
_IRI = "IRI"
_BLANK = "blank node"


class _NotCacheable(Exception):
    """The document holds something the shape key cannot describe: use the full path."""


class _Refused(Exception):
    def __init__(self, term: str | None) -> None:
        super().__init__(term)


def _refuse_dropped(term: str | None) -> None:
    raise _Refused(term)


# --- the shape of a document -------------------------------------------------------------


def _constant(value: Any) -> tuple[str, ...]:
    """A shape token for the whole value of a constant key. Each kind of value has its own
    tag; the usual ones (a string, a list of strings: contexts and types) skip JSON."""
    kind = type(value)
    if kind is str:
        return ("s", value)
    if kind is list and all(type(item) is str for item in value):
        return ("l", *value)
    try:
        return ("c", json.dumps(value, ensure_ascii=False, allow_nan=True))
    except (TypeError, ValueError):
        raise _NotCacheable from None


def _walk(node: Any, tokens: list[Any], values: list[str]) -> None:
    kind = type(node)
    if kind is str:
        tokens.append(_SLOT)
        values.append(node)
    elif kind is dict:
        tokens.append(_DICT)
        _walk_items(node, tokens, values)
        tokens.append(_END)
    elif kind is list:
        tokens.append(_LIST)
        for item in node:
            _walk(item, tokens, values)
        tokens.append(_END)
    elif kind is bool or kind is int or kind is float or node is None:
        tokens.append((kind.__name__, repr(node)))
    else:
        raise _NotCacheable


def _walk_items(node: Mapping[str, Any], tokens: list[Any], values: list[str]) -> None:
    for key, value in node.items():
        if type(key) is not str:
            raise _NotCacheable
        tokens.append(key)
        if key in _CONSTANT_KEYS or (key[:1] == "@" and key not in _SLOT_KEYWORDS):
            tokens.append(_constant(value))
        else:
            _walk(value, tokens, values)


def document_shape(document: Mapping[str, Any]) -> tuple[tuple[Any, ...], list[str]] | None:
    """The shape key of ``document`` and its slot values (its str leaves, in order); None
    when the document is not plain JSON the cache can describe."""
    if type(document) is not dict:
        return None
    tokens: list[Any] = [_DICT]
    values: list[str] = []
    try:
        _walk_items(document, tokens, values)
    except _NotCacheable:
        return None
    tokens.append(_END)
    return tuple(tokens), values


def _fill(node: Any, values: list[str], position: list[int]) -> Any:
    """``node`` with its slots (str leaves outside constant keys) replaced by ``values``."""
    kind = type(node)
    if kind is str:
        index = position[0]
        position[0] = index + 1
        return values[index]
    if kind is dict:
        return {
            key: (
                copy.deepcopy(value)
                if key in _CONSTANT_KEYS or (key[:1] == "@" and key not in _SLOT_KEYWORDS)
                else _fill(value, values, position)
            )
            for key, value in node.items()
        }
    if kind is list:
        return [_fill(item, values, position) for item in node]
    return node


# --- templates ---------------------------------------------------------------------------

# A compiled quad: (graph, subject, predicate, object). Graph: "@default", a constant
# name, or a slot index (int). Subject: (type, value or slot index). Object: (type, value
# or slot index, datatype, language).
_Term = tuple[str, "str | int"]
_Object = tuple[str, "str | int", "str | None", "str | None"]
_Quad = tuple["str | int", _Term, str, _Object]


@dataclass
class _Template:
    """The quads of one shape with some slots fixed (structural) and the rest placeholders."""

    usable: bool
    reason: str = ""
    quads: tuple[_Quad, ...] = ()
    iri_slots: tuple[int, ...] = ()
    constant_iris: frozenset[str] = frozenset()
    canonical: CanonicalTemplate | None = None  # the quads pre-serialized, once checked


@dataclass
class CredentialShape:
    """One JSON structure: what each slot is in RDF, and its templates (one for each set of
    values of its structural slots; usually just one)."""

    kinds: tuple[str, ...]  # _IRI, _LITERAL or "structural", per slot
    terms: frozenset[str]  # every term of every context it may see: not plain IRIs
    templates: dict[tuple[tuple[int, str], ...], _Template] = field(default_factory=dict)
    unusable: str = ""


class _Placeholders:
    def __init__(self) -> None:
        self.prefix = f"urn:x-mcledger-slot:{secrets.token_hex(8)}:"
        self.pattern = re.compile(re.escape(self.prefix) + r"(\d+):z")

    def make(self, index: int) -> str:
        return f"{self.prefix}{index}:z"

    def exact(self, value: str) -> int | None:
        if self.prefix not in value:
            return None
        match = self.pattern.fullmatch(value)
        return int(match.group(1)) if match else -1

    def found_in(self, value: str | None) -> list[int]:
        if not value or self.prefix not in value:
            return []
        return [int(index) for index in self.pattern.findall(value)] or [-1]


def _context_terms(node: Any, into: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            into.add(key)
            _context_terms(value, into)
    elif isinstance(node, list):
        for item in node:
            _context_terms(item, into)


def _inline_contexts(node: Any, into: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "@context":
                _context_terms(value, into)
            else:
                _inline_contexts(value, into)
    elif isinstance(node, list):
        for item in node:
            _inline_contexts(item, into)


class TemplateBuilder:
    """Makes the shapes and templates of documents for ``loader``; ``stats`` counts them.

    :class:`node.credentials.fastpath.ShapeCache` extends it: it keeps what is made here and
    checks each compiled template against the full path (its ``_compile``)."""

    def __init__(self, loader: LocalContextLoader | None = None) -> None:
        self.loader = loader or default_loader()
        self._placeholders = _Placeholders()
        self._terms: frozenset[str] | None = None
        self.stats: Counter[str] = Counter()

    def _context_term_set(self) -> frozenset[str]:
        if self._terms is None:
            terms: set[str] = set()
            for url in self.loader.known_urls:
                try:
                    _context_terms(self.loader.document(url), terms)
                except Exception:  # an unreadable context: the full path reports it
                    continue
            self._terms = frozenset(terms)
        return self._terms

    def _analyse(self, document: Mapping[str, Any]) -> CredentialShape:
        """Expand the all-placeholder template once and classify each slot."""
        self.stats["shapes"] += 1
        inline: set[str] = set()
        _inline_contexts(document, inline)
        terms = self._context_term_set() | inline
        walked = document_shape(document)
        assert walked is not None
        slots = len(walked[1])
        placeholders = [self._placeholders.make(index) for index in range(slots)]
        template_doc = _fill(document, placeholders, [0])
        try:
            dataset = self._to_rdf(template_doc)
        except Exception as exc:  # the full path raises the proper error
            return CredentialShape((), frozenset(), unusable=f"template: {type(exc).__name__}")
        kinds = self._classify(dataset, slots)
        shape = CredentialShape(tuple(kinds), terms)
        if "structural" not in kinds:
            shape.templates[()] = self._compile(template_doc, dataset, shape, ())
        return shape

    def _to_rdf(self, document: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        options = self.loader.options()
        options.update({"algorithm": "URDNA2015", "produceGeneralizedRdf": False})
        processor = jsonld.JsonLdProcessor(on_property_dropped=_refuse_dropped)
        dataset = processor.to_rdf(dict(document), options)
        if not isinstance(dataset, dict):
            raise TypeError("to_rdf did not produce a dataset")
        return dataset

    def _occurrences(self, dataset: dict[str, list[dict[str, Any]]]) -> dict[int, set[str]]:
        """slot -> the kinds of its occurrences: _IRI, _LITERAL, or "bad"."""
        ph = self._placeholders
        seen: dict[int, set[str]] = {}

        def note(indexes: list[int], kind: str) -> None:
            for index in indexes:
                seen.setdefault(index, set()).add(kind)

        def term(value: str, kind: str) -> None:
            exact = ph.exact(value)
            if exact is None:
                return
            if exact >= 0:
                note([exact], kind)
            else:
                note(ph.found_in(value), "bad")

        for graph, triples in dataset.items():
            if graph != "@default":
                term(graph, _IRI if not graph.startswith("_:") else "bad")
            for triple in triples:
                subject, predicate, obj = triple["subject"], triple["predicate"], triple["object"]
                term(subject["value"], _IRI if subject["type"] == _IRI else "bad")
                note(ph.found_in(predicate["value"]), "bad")
                if obj["type"] == _LITERAL:
                    note(ph.found_in(obj.get("datatype")), "bad")
                    note(ph.found_in(obj.get("language")), "bad")
                    ok = obj.get("datatype") not in _TRANSFORMED_DATATYPES
                    term(obj["value"], _LITERAL if ok else "bad")
                else:
                    term(obj["value"], _IRI if obj["type"] == _IRI else "bad")
        return seen

    def _classify(self, dataset: dict[str, list[dict[str, Any]]], slots: int) -> list[str]:
        seen = self._occurrences(dataset)
        kinds = []
        for index in range(slots):
            found = seen.get(index, set())
            kinds.append(found.pop() if len(found) == 1 and "bad" not in found else "structural")
        return kinds

    def _compile(
        self,
        template_doc: Mapping[str, Any],
        dataset: dict[str, list[dict[str, Any]]],
        shape: CredentialShape,
        fixed: tuple[tuple[int, str], ...],
    ) -> _Template:
        """The template's quads with slot references (checked by the cache, not here)."""
        self.stats["templates"] += 1
        fixed_slots = {index for index, _ in fixed}
        expected = {
            index: kind
            for index, kind in enumerate(shape.kinds)
            if index not in fixed_slots and kind != "structural"
        }
        seen = self._occurrences(dataset)
        for index, kind in expected.items():
            if seen.get(index) != {kind}:
                return _Template(False, f"slot {index} changed kind")
        if set(seen) - set(expected):
            return _Template(False, "a fixed slot's placeholder appears")
        ph = self._placeholders
        quads: list[_Quad] = []
        constant_iris: set[str] = set()

        def ref(value: str) -> str | int:
            index = ph.exact(value)
            return value if index is None else index

        for graph, triples in dataset.items():
            graph_ref: str | int = graph if graph == "@default" else ref(graph)
            if isinstance(graph_ref, str) and graph_ref != "@default" and graph[:2] != "_:":
                constant_iris.add(graph_ref)
            for triple in triples:
                subject, predicate, obj = triple["subject"], triple["predicate"], triple["object"]
                s_ref = ref(subject["value"])
                o_ref = ref(obj["value"])
                if subject["type"] == _IRI and isinstance(s_ref, str):
                    constant_iris.add(s_ref)
                if obj["type"] == _IRI and isinstance(o_ref, str):
                    constant_iris.add(o_ref)
                quads.append(
                    (
                        graph_ref,
                        (subject["type"], s_ref),
                        predicate["value"],
                        (obj["type"], o_ref, obj.get("datatype"), obj.get("language")),
                    )
                )
        return _Template(
            True,
            quads=tuple(quads),
            iri_slots=tuple(index for index, kind in expected.items() if kind == _IRI),
            constant_iris=frozenset(constant_iris),
        )

    def _build(
        self,
        document: Mapping[str, Any],
        shape: CredentialShape,
        fixed: tuple[tuple[int, str], ...],
        slots: int,
    ) -> _Template:
        """The template of ``document``'s shape (``slots`` slots): the ``fixed`` (index,
        value) pairs in place, a placeholder in every other slot."""
        fixed_values = dict(fixed)
        filled = [
            fixed_values[index] if index in fixed_values else self._placeholders.make(index)
            for index in range(slots)
        ]
        template_doc = _fill(document, filled, [0])
        try:
            dataset = self._to_rdf(template_doc)
        except Exception as exc:
            return _Template(False, f"template: {type(exc).__name__}")
        return self._compile(template_doc, dataset, shape, fixed)


__all__ = [
    "CredentialShape",
    "TemplateBuilder",
    "document_shape",
]
