"""Signing and digesting many credentials of one shape: JSON-LD → RDF once per shape.

Turning a credential into RDF (JSON-LD expansion, pyld) costs ≈ 3-4 ms; canonicalizing the
resulting quads (RDFC-1.0) costs ≈ 0.2-0.4 ms. Credentials of one achievement share their
JSON *structure* (keys, list lengths, types, contexts) and differ only in leaf strings
(credential id, learner name, identifier and DID, dates, place, grade, status entry, the
proof's date, method and value). So the expansion runs once per structure, on a *template*
whose string leaves are unique placeholders; the quads it yields are kept, and for each
credential only RDFC-1.0 runs, on the quads with the real strings in place of the
placeholders: on their N-Quads lines written once per template
(:mod:`node.credentials.fastpath_rdfc`), or with pyld's own URDNA2015 on the dataset when
blank nodes tie at first degree.

What makes this exact, and where it gives up (every doubt means the full path,
:func:`node.credentials.dataintegrity.canonicalize`): the shape key and the kinds of slots
are :mod:`node.credentials.fastpath_template`'s; and here:

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
- Each template's canonical form is checked once against the full path's.

Each process keeps its own cache (:func:`default_shape_cache`); it is thread-safe.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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
from mcledger.node.credentials.fastpath_rdfc import CanonicalTemplate
from mcledger.node.credentials.fastpath_template import (
    _BLANK,
    _END,
    _IRI,
    _LITERAL,
    CredentialShape,
    TemplateBuilder,
    _constant,
    _Template,
    _walk_items,
    document_shape,
)
from mcledger.node.credentials.loader import LocalContextLoader, check_contexts, default_loader
from mcledger.node.credentials.multikey import Ed25519SigningKey, multibase_encode

_CONFIGURATIONS_KEPT = 16
# An absolute IRI that pyld's expansion returns unchanged (see _iri_value_ok).
_SAFE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]*")


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


def _copy_json(node: Any) -> Any:
    """A deep copy of plain JSON (dicts, lists, scalars): several times faster than deepcopy."""
    kind = type(node)
    if kind is dict:
        return {key: _copy_json(value) for key, value in node.items()}
    if kind is list:
        return [_copy_json(item) for item in node]
    return node


class ShapeCache(TemplateBuilder):
    """RDFC-1.0 canonical N-Quads of JSON-LD documents, expanding each shape once.

    :meth:`canonicalize` returns exactly what
    :func:`node.credentials.dataintegrity.canonicalize` returns (and raises what it raises,
    by calling it whenever the cache cannot answer). ``stats`` counts hits, templates made
    and fallbacks by reason.
    """

    def __init__(self, loader: LocalContextLoader | None = None, *, max_shapes: int = 256) -> None:
        super().__init__(loader)
        self.max_shapes = max_shapes
        self._shapes: OrderedDict[tuple[Any, ...], CredentialShape] = OrderedDict()
        self._lock = threading.Lock()
        # Canonical proof configurations by (proof options, contexts): the credentials of a
        # batch are signed at one moment with one key, so they share one.
        self._configurations: dict[tuple[Any, ...], str] = {}

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
        template, reason = self._usable_template(document, tokens, values)
        if template is None:
            return self._fallback(document, reason)
        try:
            result = template.canonical.canonical(values) if template.canonical else None
            if result is None:  # blank nodes tied after their first-degree hashes
                dataset = self._substitute(template, values)
                if dataset is None:
                    return self._fallback(document, "equal quads")
                result = _rdfc(dataset)
                result.encode("utf-8")  # a lone surrogate: the full path reports it
        except UnicodeEncodeError:
            return self._fallback(document, "not encodable")
        if not isinstance(result, str):
            return self._fallback(document, "equal quads")
        self.stats["hits"] += 1
        return result

    def canonicalize_configuration(
        self, document: Mapping[str, Any], proof_options: Mapping[str, Any]
    ) -> str:
        """The canonical form of ``proof_configuration(document, proof_options)``, remembered
        for the last few options and contexts (a pure function of them)."""
        key = (tuple(proof_options.items()), _constant(document["@context"]))
        known = self._configurations.get(key)
        if known is not None:
            self.stats["hits"] += 1
            return known
        canonical = self.canonicalize(proof_configuration(document, proof_options))
        if len(self._configurations) >= _CONFIGURATIONS_KEPT:
            self._configurations.clear()
        self._configurations[key] = canonical
        return canonical

    def shape_count(self) -> int:
        return len(self._shapes)

    # -- internals --------------------------------------------------------------------

    def _fallback(self, document: Mapping[str, Any], reason: str) -> str:
        self.stats["fallbacks"] += 1
        self.stats[f"fallback: {reason}"] += 1
        return canonicalize(document, self.loader)

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

    def _compile(
        self,
        template_doc: Mapping[str, Any],
        dataset: dict[str, list[dict[str, Any]]],
        shape: CredentialShape,
        fixed: tuple[tuple[int, str], ...],
    ) -> _Template:
        """The template's quads with slot references; checked against the full path once."""
        template = super()._compile(template_doc, dataset, shape, fixed)
        if not template.usable:
            return template
        # Once per template: the quads, canonicalized here, are what the full path gives.
        try:
            full = canonicalize(template_doc, self.loader)
        except Exception as exc:
            return _Template(False, f"full path on the template: {type(exc).__name__}")
        placeholder_values = [self._placeholders.make(index) for index in range(len(shape.kinds))]
        dataset_again = self._substitute(template, placeholder_values)
        if dataset_again is None or _rdfc(dataset_again) != full:
            return _Template(False, "template differs from the full path")
        # Blank nodes tied here (all slots differ) are tied in every document: pyld then.
        canonical = CanonicalTemplate(template.quads)
        if canonical.usable and canonical.canonical(placeholder_values) == full:
            template.canonical = canonical
        else:
            self.stats["templates without a string form"] += 1
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
            template = self._build(document, shape, fixed, len(values))
            if len(shape.templates) >= self.max_shapes:
                shape.templates.clear()
            shape.templates[fixed] = template
            return template

    def _usable_template(
        self, document: Mapping[str, Any], tokens: tuple[Any, ...], values: list[str]
    ) -> tuple[_Template | None, str]:
        """The template that ``values`` fill exactly, or the reason there is none."""
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
        return template, ""

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
    tokens, values = shape
    # in the full path's order: the configuration's errors first
    canonical_config = cache.canonicalize_configuration(unsigned, proof)
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
