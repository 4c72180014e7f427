"""RDFC-1.0 of a filled template without building RDF terms: the fast path's canonicalizer.

A compiled template (:mod:`node.credentials.fastpath_template`) has only constant blank
nodes — a slot that would be a blank node is structural — so which quads mention which
blank node is fixed by the template; a document changes only IRIs and literals. Every
quad is therefore turned once into N-Quads pieces, written as pyld's ``serialize_nquad``
writes them (the full path's serializer), and per document RDFC-1.0 (W3C RDF Dataset
Canonicalization, section 4.4) runs on strings:

1. the first-degree hash of each blank node (section 4.6): the lines of its quads, itself
   as ``_:a`` and any other blank node as ``_:z``, sorted and hashed with SHA-256. These
   lines have their labels fixed, so they are pre-written with the labels in place;
2. when those hashes all differ (the usual case: a learner's data tells the nodes apart),
   canonical labels ``_:c14n0``… go to the blank nodes in the order of their hashes
   (section 4.4, step 5); when two are equal the N-degree hashes must decide, and
   :meth:`CanonicalTemplate.canonical` answers None so that the caller runs pyld's whole
   algorithm instead;
3. every quad with its labels, the lines sorted and joined (step 7).

:class:`~node.credentials.fastpath.ShapeCache` checks each compiled template once against
the full path, and ``tests/node/credentials/test_fastpath_rdfc.py`` against pyld's
URDNA2015 on random values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_IRI, _BLANK = "IRI", "blank node"  # pyld's term types (fastpath_template's too)
CANONICAL_PREFIX = "_:c14n"


class EqualQuads:
    """What :meth:`CanonicalTemplate.canonical` answers when two quads became one."""


EQUAL_QUADS: Final = EqualQuads()

# A piece of a quad's line: constant text, a slot (its index), or a blank node (-1 - its
# index among the template's blank nodes).
_Piece = str | int


def escape_literal(value: str) -> str:
    """A literal's lexical form escaped as pyld's N-Quads serializer escapes it."""
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace('"', '\\"')
    )


@dataclass(frozen=True)
class _Lines:
    """Quad lines as one %-format of their slots' texts (and blank nodes' labels): one
    formatting per document, then split at the line ends (N-Quads lines hold no raw line
    break: literals escape them, IRIs refuse them)."""

    format: str
    refs: tuple[int, ...]  # slot indexes; -1 - b for blank node b

    def lines(self, text: dict[int, str]) -> list[str]:
        """The lines without their line ends (N-Quads lines are prefix-free, so they sort
        the same with or without)."""
        if not self.format:
            return []
        return (self.format % tuple([text[ref] for ref in self.refs]))[:-1].split("\n")


def _compiled(lines: Sequence[Sequence[_Piece]], label: dict[int, str] | None) -> _Lines:
    """``lines`` as _Lines; ``label`` puts fixed labels in place of the blank nodes."""
    parts, refs = [], []
    for pieces in lines:
        for piece in pieces:
            if isinstance(piece, str):
                parts.append(piece.replace("%", "%%"))
            elif piece < 0 and label is not None:
                parts.append(label[-1 - piece].replace("%", "%%"))
            else:
                parts.append("%s")
                refs.append(piece)
    return _Lines("".join(parts), tuple(refs))


def _joined(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


class CanonicalTemplate:
    """A template's quads pre-serialized for RDFC-1.0 (:meth:`canonical`)."""

    def __init__(
        self,
        quads: Sequence[tuple[object, tuple[str, object], str, tuple[str, object, object, object]]],
    ) -> None:
        blanks: dict[str, int] = {}
        iri_slots: set[int] = set()
        literal_slots: set[int] = set()

        def node(kind: str, ref: object) -> _Piece:
            if kind == _BLANK:
                return -1 - blanks.setdefault(str(ref), len(blanks))
            if isinstance(ref, int):
                iri_slots.add(ref)
                return ref
            return f"<{ref}>"

        lines: list[list[_Piece]] = []
        for graph, (s_kind, s_ref), predicate, (o_kind, o_ref, datatype, language) in quads:
            pieces: list[_Piece] = [node(s_kind, s_ref), f" <{predicate}> "]
            if o_kind in (_IRI, _BLANK):
                pieces.append(node(o_kind, o_ref))
            else:
                if isinstance(o_ref, int):
                    literal_slots.add(o_ref)
                    pieces.append(o_ref)
                else:
                    pieces.append(f'"{escape_literal(str(o_ref))}"')
                if datatype == RDF_LANGSTRING:
                    if language:
                        pieces.append(f"@{language}")
                elif datatype != XSD_STRING:
                    pieces.append(f"^^<{datatype}>")
            if graph != "@default":
                blank_graph = isinstance(graph, str) and graph.startswith("_:")
                pieces += [" ", node(_BLANK if blank_graph else _IRI, graph)]
            pieces.append(" .\n")
            lines.append(pieces)
        # pyld leaves a blank node already labelled like a canonical one as it is: not ours.
        self.usable = not iri_slots & literal_slots and not any(
            label.startswith(CANONICAL_PREFIX) for label in blanks
        )
        self.iri_slots = tuple(sorted(iri_slots))
        self.literal_slots = tuple(sorted(literal_slots))
        self.blank_count = len(blanks)
        # First-degree lines of each blank node: its own label _:a, every other _:z.
        self.first_degree = [
            _compiled(
                [pieces for pieces in lines if -1 - blank in pieces],
                {b: "_:a" if b == blank else "_:z" for b in range(len(blanks))},
            )
            for blank in range(len(blanks))
        ]
        self.lines = _compiled(lines, None)

    def canonical(self, values: Sequence[str]) -> str | EqualQuads | None:
        """The canonical N-Quads of the template filled with ``values``; EQUAL_QUADS when
        two quads became the same; None when first-degree hashes leave blank nodes tied.
        Raises UnicodeEncodeError for a value that is not encodable (a lone surrogate)."""
        text: dict[int, str] = {index: f"<{values[index]}>" for index in self.iri_slots}
        for index in self.literal_slots:
            text[index] = f'"{escape_literal(values[index])}"'
        ranked = []
        for blank, first_degree in enumerate(self.first_degree):
            lines = first_degree.lines(text)
            lines.sort()
            ranked.append((hashlib.sha256(_joined(lines).encode("utf-8")).hexdigest(), blank))
        ranked.sort()
        for (first, _), (second, _) in zip(ranked, ranked[1:], strict=False):
            if first == second:
                return None
        for rank, (_, blank) in enumerate(ranked):
            text[-1 - blank] = f"{CANONICAL_PREFIX}{rank}"
        out = self.lines.lines(text)
        if len(set(out)) != len(out):
            return EQUAL_QUADS
        out.sort()
        result = _joined(out)
        result.encode("utf-8")  # a lone surrogate: the full path reports it
        return result
