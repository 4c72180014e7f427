"""Signing and digesting many credentials of one shape: JSON-LD → RDF once per shape.

Turning a credential into RDF (JSON-LD expansion, pyld) costs ≈ 3-4 ms; canonicalizing the
resulting quads (RDFC-1.0) costs ≈ 0.2-0.4 ms. Credentials of one achievement share their
JSON *structure* (keys, list lengths, types, contexts) and differ only in leaf strings
(credential id, learner name, identifier and DID, dates, place, grade, status entry, the
proof's date, method and value). So the expansion runs once per structure, on a *template*
whose string leaves are unique placeholders; the quads it yields are kept, and for each
credential the real strings are put into the quads in place of the placeholders and only
RDFC-1.0 (pyld's own URDNA2015, on the dataset: no N-Quads parsing) runs.

What makes this exact, and where it gives up (every doubt means the full path,
:func:`node.credentials.dataintegrity.canonicalize`):

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
- **Literal values** are copied verbatim into the quad's lexical form (pyld's own
  serializer escapes them, as it does on the full path); datatype and language are the
  template's. A string that looks like a JSON-LD keyword (``@…``) is not cached.
- **IRI values** must be absolute IRIs that pyld keeps as they are: a scheme, no
  whitespace or ``<>"{}|\\^``` characters, and neither the scheme nor the whole value is
  a term of any context (a term would make it a compact IRI or a vocabulary term). A value
  that *is* a term (``"assertionMethod"``, an ``@vocab``-typed value) makes the slot
  structural for that document; anything else (a relative IRI, a blank node ``_:x``)
  falls back. IRI values must differ from each other and from every IRI of the template:
  equal IRIs merge nodes, and the full path decides that.
- After substitution the quads must still be distinct (equal literals on one subject and
  predicate would be merged by pyld); otherwise, full path.
- The template is made in the full path's *safe mode* (a property no context defines is
  refused), and once per template its canonical form is checked against the full path's.

Each process keeps its own cache (:func:`default_shape_cache`); it is thread-safe.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyld import jsonld
from pyld.canon import URDNA2015

from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    CRYPTOSUITE,
    PROOF_PURPOSE,
    PROOF_TYPE,
    DataIntegrityError,
    canonicalize,
    credential_digest,
    format_created,
    hash_data,
    proof_configuration,
    sign_credential,
)
from mcledger.node.credentials.loader import LocalContextLoader, check_contexts, default_loader
from mcledger.node.credentials.multikey import Ed25519SigningKey, multibase_encode

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
_TRANSFORMED_DATATYPES = frozenset({XSD_DOUBLE, RDF_JSON})  # pyld rewrites these lexical forms

# Keys whose whole value is part of the shape (they decide the RDF structure).
_CONSTANT_KEYS = frozenset({"@context", "type", "@type"})
_SLOT_KEYWORDS = frozenset({"@id", "@value"})

# An absolute IRI that pyld's expansion returns unchanged (see _iri_value_ok).
_SAFE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]*")

# Shape tokens. Keys are str, constants are tuples: none of them equals another kind.
_DICT, _LIST, _END, _SLOT = 1, 2, 3, 4

_LITERAL = "literal"
_IRI = "IRI"
_BLANK = "blank node"


class _URDNA2015(URDNA2015):
    """pyld's URDNA2015 with one helper made cheaper: an RDF term here is a flat dict of
    strings, so a shallow copy is the deep copy pyld makes (a third of its time)."""

    def modify_first_degree_component(
        self, id_: str, component: dict[str, Any], key: str
    ) -> dict[str, Any]:
        if component["type"] != _BLANK:
            return component
        return {**component, "value": "_:a" if component["value"] == id_ else "_:z"}


def _rdfc(dataset: dict[str, list[dict[str, Any]]]) -> str:
    """RDFC-1.0 canonical N-Quads of a pyld dataset (whose quads it changes)."""
    return str(_URDNA2015().main(dataset, {"format": "application/n-quads"}))


class _NotCacheable(Exception):
    """The document holds something the shape key cannot describe: use the full path."""


class _Refused(Exception):
    def __init__(self, term: str | None) -> None:
        super().__init__(term)


def _refuse_dropped(term: str | None) -> None:
    raise _Refused(term)


# --- the shape of a document -------------------------------------------------------------


def _constant(value: Any) -> tuple[str, str]:
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


def _copy_json(node: Any) -> Any:
    """A deep copy of plain JSON (dicts, lists, scalars): several times faster than deepcopy."""
    kind = type(node)
    if kind is dict:
        return {key: _copy_json(value) for key, value in node.items()}
    if kind is list:
        return [_copy_json(item) for item in node]
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


class ShapeCache:
    """RDFC-1.0 canonical N-Quads of JSON-LD documents, expanding each shape once.

    :meth:`canonicalize` returns exactly what
    :func:`node.credentials.dataintegrity.canonicalize` returns (and raises what it raises,
    by calling it whenever the cache cannot answer). ``stats`` counts hits, templates made
    and fallbacks by reason.
    """

    def __init__(self, loader: LocalContextLoader | None = None, *, max_shapes: int = 256) -> None:
        self.loader = loader or default_loader()
        self.max_shapes = max_shapes
        self._shapes: OrderedDict[tuple[Any, ...], CredentialShape] = OrderedDict()
        self._lock = threading.Lock()
        self._placeholders = _Placeholders()
        self._terms: frozenset[str] | None = None
        self.stats: Counter[str] = Counter()

    # -- public -----------------------------------------------------------------------

    def canonicalize(self, document: Mapping[str, Any]) -> str:
        """Canonical N-Quads of ``document``: from a template when its shape allows."""
        shape = document_shape(document)
        if shape is None:
            return self._fallback(document, "not plain JSON")
        tokens, values = shape
        return self.canonicalize_shaped(document, tokens, values)

    def canonicalize_shaped(
        self, document: Mapping[str, Any], tokens: tuple[Any, ...], values: list[str]
    ) -> str:
        """:meth:`canonicalize` for a document whose :func:`document_shape` is already known:
        ``tokens`` and ``values`` must be exactly what it returns for ``document``."""
        dataset, reason = self._dataset(document, tokens, values)
        if dataset is None:
            return self._fallback(document, reason)
        try:
            result = _rdfc(dataset)
            result.encode("utf-8")  # a lone surrogate: the full path reports it
        except UnicodeEncodeError:
            return self._fallback(document, "not encodable")
        self.stats["hits"] += 1
        return result

    def shape_count(self) -> int:
        return len(self._shapes)

    # -- internals --------------------------------------------------------------------

    def _fallback(self, document: Mapping[str, Any], reason: str) -> str:
        self.stats["fallbacks"] += 1
        self.stats[f"fallback: {reason}"] += 1
        return canonicalize(document, self.loader)

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

    def _shape(self, document: Mapping[str, Any], tokens: tuple[Any, ...]) -> CredentialShape:
        shape = self._shapes.get(tokens)
        if shape is not None:
            return shape
        with self._lock:
            shape = self._shapes.get(tokens)
            if shape is not None:
                self._shapes.move_to_end(tokens)
                return shape
            shape = self._analyse(document)
            self._shapes[tokens] = shape
            while len(self._shapes) > self.max_shapes:
                self._shapes.popitem(last=False)
            return shape

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
        """The template's quads with slot references; checked against the full path once."""
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
        template = _Template(
            True,
            quads=tuple(quads),
            iri_slots=tuple(index for index, kind in expected.items() if kind == _IRI),
            constant_iris=frozenset(constant_iris),
        )
        # Once per template: the quads, canonicalized here, are what the full path gives.
        try:
            full = canonicalize(template_doc, self.loader)
        except Exception as exc:
            return _Template(False, f"full path on the template: {type(exc).__name__}")
        placeholder_values = [ph.make(index) for index in range(len(shape.kinds))]
        dataset_again = self._substitute(template, placeholder_values)
        if dataset_again is None or _rdfc(dataset_again) != full:
            return _Template(False, "template differs from the full path")
        return template

    def _template(
        self,
        document: Mapping[str, Any],
        shape: CredentialShape,
        fixed: tuple[tuple[int, str], ...],
        values: list[str],
    ) -> _Template:
        template = shape.templates.get(fixed)
        if template is not None:
            return template
        with self._lock:
            template = shape.templates.get(fixed)
            if template is not None:
                return template
            fixed_values = dict(fixed)
            filled = [
                fixed_values[index] if index in fixed_values else self._placeholders.make(index)
                for index in range(len(values))
            ]
            template_doc = _fill(document, filled, [0])
            try:
                dataset = self._to_rdf(template_doc)
            except Exception as exc:
                template = _Template(False, f"template: {type(exc).__name__}")
            else:
                template = self._compile(template_doc, dataset, shape, fixed)
            if len(shape.templates) >= self.max_shapes:
                shape.templates.clear()
            shape.templates[fixed] = template
            return template

    def _dataset(
        self, document: Mapping[str, Any], tokens: tuple[Any, ...], values: list[str]
    ) -> tuple[dict[str, list[dict[str, Any]]] | None, str]:
        shape = self._shape(document, tokens)
        if shape.unusable:
            return None, shape.unusable
        terms = shape.terms
        fixed: list[tuple[int, str]] = []
        for index, kind in enumerate(shape.kinds):
            value = values[index]
            if value[:1] == "@":
                return None, "keyword-like value"
            if kind == "structural":
                fixed.append((index, value))
            elif kind == _IRI:
                if value in terms:
                    fixed.append((index, value))
                elif not _iri_value_ok(value, terms):
                    return None, "not a plain absolute IRI"
        template = self._template(document, shape, tuple(fixed), values)
        if not template.usable:
            return None, template.reason
        iris = [values[index] for index in template.iri_slots]
        distinct = set(iris)
        if len(distinct) != len(iris) or not distinct.isdisjoint(template.constant_iris):
            return None, "IRIs that merge nodes"
        dataset = self._substitute(template, values)
        if dataset is None:
            return None, "equal quads"
        return dataset, ""

    @staticmethod
    def _substitute(
        template: _Template, values: list[str]
    ) -> dict[str, list[dict[str, Any]]] | None:
        dataset: dict[str, list[dict[str, Any]]] = {}
        seen: set[tuple[Any, ...]] = set()
        for graph_ref, (s_type, s_ref), predicate, (
            o_type,
            o_ref,
            datatype,
            lang,
        ) in template.quads:
            graph = graph_ref if type(graph_ref) is str else values[graph_ref]  # type: ignore[index]
            s_value = s_ref if type(s_ref) is str else values[s_ref]  # type: ignore[index]
            o_value = o_ref if type(o_ref) is str else values[o_ref]  # type: ignore[index]
            key = (graph, s_value, predicate, o_type, o_value, datatype, lang)
            if key in seen:
                return None
            seen.add(key)
            obj: dict[str, Any] = {"type": o_type, "value": o_value}
            if o_type == _LITERAL:
                obj["datatype"] = datatype
                if lang is not None:
                    obj["language"] = lang
            triple = {
                "subject": {"type": s_type, "value": s_value},
                "predicate": {"type": _IRI, "value": predicate},
                "object": obj,
            }
            triples = dataset.get(graph)
            if triples is None:
                dataset[graph] = [triple]
            else:
                triples.append(triple)
        return dataset


def _iri_value_ok(value: str, terms: frozenset[str]) -> bool:
    """An absolute IRI that pyld's IRI expansion returns as it is (``_expand_iri``): not a
    term, no term as its prefix (a compact IRI), and absolute by pyld's own test."""
    if not _SAFE_IRI.fullmatch(value):
        return False
    return value.split(":", 1)[0] not in terms


@functools.cache
def default_shape_cache() -> ShapeCache:
    """The process's cache for the node's default loader."""
    return ShapeCache(default_loader())


def sign_and_digest(
    unsigned: Mapping[str, Any],
    key: Ed25519SigningKey,
    verification_method: str,
    created: datetime | str,
    *,
    cache: ShapeCache | None = None,
) -> tuple[dict[str, Any], bytes]:
    """``(sign_credential(...), credential_digest(...))`` of ``unsigned``, byte for byte, with
    the RDF step taken from ``cache`` (default: the process's cache on the default loader).

    Falls back to those two functions whenever the unsigned document is not cacheable;
    raises what they raise.
    """
    cache = cache or default_shape_cache()
    loader = cache.loader
    shape = document_shape(unsigned)
    if shape is None or "proof" in unsigned or ANCHOR_PROPERTY in unsigned:
        cache.stats["fallbacks"] += 1
        cache.stats["fallback: not cacheable credential"] += 1
        signed = sign_credential(unsigned, key, verification_method, created, loader=loader)
        return signed, credential_digest(signed, loader=loader)
    check_contexts(unsigned, loader)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_created(created),
        "verificationMethod": verification_method,
        "proofPurpose": PROOF_PURPOSE,
    }
    config = proof_configuration(unsigned, proof)
    tokens, values = shape
    canonical_config = cache.canonicalize(config)  # in the full path's order (its errors first)
    data = hash_data(canonical_config, cache.canonicalize_shaped(unsigned, tokens, values))
    proof["proofValue"] = multibase_encode(key.sign(data))
    signed = _copy_json(unsigned)
    signed["proof"] = proof
    # The signed document's shape: the unsigned one with the proof entry appended.
    proof_tokens: list[Any] = []
    proof_values: list[str] = []
    _walk_items({"proof": proof}, proof_tokens, proof_values)
    signed_tokens = (*tokens[:-1], *proof_tokens, _END)
    digest = hashlib.sha256(
        cache.canonicalize_shaped(signed, signed_tokens, values + proof_values).encode("utf-8")
    ).digest()
    return signed, digest


__all__ = [
    "CredentialShape",
    "DataIntegrityError",
    "ShapeCache",
    "default_shape_cache",
    "document_shape",
    "sign_and_digest",
]
