"""Awards ready to sign, and signing them: a pure step between two index steps.

Issuing a batch of awards is: read the catalogue and reserve status-list slots (the index),
build + sign + digest each credential (pure CPU), store them together (the index). An
:class:`AwardBatch` carries everything the first step decided — ids, slots, learner link
secrets, the moment of issue — so :func:`sign_batch` is a function of the batch and the key
alone and gives the same credentials in this process or in a signing worker
(:mod:`node.issuing.signing_workers`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from json.encoder import encode_basestring
from typing import Any
from urllib.parse import quote

from mcledger.node.credentials.build import AchievementVersion, IssuerProfile, build_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey

SignAndDigest = Callable[
    [Mapping[str, Any], Ed25519SigningKey, str, datetime], tuple[dict[str, Any], bytes]
]


def learner_link(credential_id: str, learner_key: str, base_url: str) -> str:
    """The learner's secret link to their credential on the node."""
    path = f"/v1/credentials/{quote(credential_id, safe='')}"
    return f"{base_url.rstrip('/')}{path}?key={learner_key}"


def stored_body(credential: Mapping[str, Any]) -> str:
    """The credential's JSON as the index keeps it."""
    return json.dumps(credential, ensure_ascii=False)


def credential_file_text(credential: Mapping[str, Any]) -> str:
    """The credential's JSON as ``mcledger issue`` writes it to a file (indented, UTF-8)."""
    return indented_json(credential) + "\n"


class _NotPlainJson(Exception):
    pass


def indented_json(value: Any) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)``, the same text about twice as fast
    for plain JSON (the standard library indents in pure Python, one generator a level);
    anything but dicts with str keys, lists, str, int, float, bool and None goes to it."""
    out: list[str] = []
    try:
        _write_indented(value, out, "\n")
    except (_NotPlainJson, RecursionError):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return "".join(out)


def _write_indented(value: Any, out: list[str], newline: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(encode_basestring(value))
    elif kind is dict or kind is list:
        opening, closing = ("{", "}") if kind is dict else ("[", "]")
        if not value:
            out.append(opening + closing)
            return
        inner = newline + "  "
        separator = opening + inner
        for key, item in value.items() if kind is dict else zip(repeat(None), value):
            if kind is list:
                out.append(separator)
            elif type(key) is str:
                out.append(separator + encode_basestring(key) + ": ")
            else:
                raise _NotPlainJson
            _write_indented(item, out, inner)
            separator = "," + inner
        out.append(newline + closing)
    elif value is None or kind is bool or kind is int or kind is float:
        out.append(json.dumps(value))
    else:
        raise _NotPlainJson


@dataclass(frozen=True)
class IssuedCredential:
    credential: dict[str, Any]
    digest: str
    learner_key: str

    def learner_link(self, base_url: str) -> str:
        return learner_link(self.credential["id"], self.learner_key, base_url)


@dataclass(frozen=True)
class AwardBatch:
    """Validated awards with what the index gave them, in order: one credential each."""

    profile: IssuerProfile
    achievements: Mapping[str, AchievementVersion]  # by achievement id, every one awarded
    awards: tuple[Mapping[str, Any], ...]
    credential_ids: tuple[str, ...]
    status_entries: tuple[list[dict[str, str]], ...]  # each credential's credentialStatus
    learner_keys: tuple[str, ...]  # the secrets of the learners' links
    issued_at: datetime
    verification_method: str

    def achievement_versions(self) -> list[tuple[str, int]]:
        """(achievement id, version) of each credential, as the index records them."""
        return [
            (self.achievements[a["achievement"]].id, self.achievements[a["achievement"]].version)
            for a in self.awards
        ]


def sign_batch(
    batch: AwardBatch, key: Ed25519SigningKey, sign_and_digest: SignAndDigest
) -> list[IssuedCredential]:
    """Build, sign and digest every credential of ``batch``, in order (no I/O)."""
    issued = []
    for award, credential_id, status, learner_key in zip(
        batch.awards, batch.credential_ids, batch.status_entries, batch.learner_keys, strict=True
    ):
        unsigned = build_credential(
            batch.profile,
            batch.achievements[award["achievement"]],
            award,
            credential_id=credential_id,
            issued_at=batch.issued_at,
            status_entry=status,
        )
        signed, digest = sign_and_digest(unsigned, key, batch.verification_method, batch.issued_at)
        issued.append(IssuedCredential(signed, digest.hex(), learner_key))
    return issued


@dataclass(frozen=True)
class SignedText:
    """One signed credential as text: what a signing worker sends back (strings cross a
    process boundary far faster than nested dicts, and the parent needs only these)."""

    digest: str
    body: str  # stored_body
    file_text: str  # credential_file_text


def signed_texts(issued: Sequence[IssuedCredential]) -> list[SignedText]:
    return [
        SignedText(item.digest, stored_body(item.credential), credential_file_text(item.credential))
        for item in issued
    ]


@dataclass(frozen=True)
class StoredCredential:
    """One row of the index's credentials (and its digest's queue entry), ready to insert."""

    credential_id: str
    digest: str
    body: str | None  # None when the node keeps no bodies
    learner_key: str
    achievement: tuple[str, int] | None
