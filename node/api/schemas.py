"""The HTTP API's request and response models (docs/formats.md "The HTTP API").

Requests refuse unknown fields. Field names are the public camelCase ones.
The digest and credential-id rules live in node.pipeline.submissions, so the API and
the intake function apply the same ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from mcledger.node.pipeline.submissions import (
    MAX_CREDENTIAL_ID_LENGTH,
    credential_id_problem,
    digest_problem,
)

MAX_DIGESTS_PER_REQUEST = 10_000
# Ids and versions in the index are SQL `integer`s (PostgreSQL's int4): a query or path
# number past this names nothing, and must not reach the database (it fails there).
MAX_INDEX_ID = 2**31 - 1
HEX64 = "^[0-9a-f]{64}$"
_EXAMPLE_DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class DigestItem(_Strict):
    """One digest, optionally with the id of the credential it is the digest of."""

    digest: str = Field(
        description="SHA-256 of the credential, 64 lower-case hex characters",
        json_schema_extra={"pattern": HEX64, "examples": [_EXAMPLE_DIGEST]},
    )
    credential_id: str | None = Field(
        None,
        alias="credentialId",
        description="the credential's id, a URI (urn:uuid:…); names one digest in the index",
        json_schema_extra={"maxLength": MAX_CREDENTIAL_ID_LENGTH},
    )

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        problem = digest_problem(value)
        if problem is not None:
            raise PydanticCustomError("digest", problem)
        return value

    @field_validator("credential_id")
    @classmethod
    def _credential_id(cls, value: str | None) -> str | None:
        problem = None if value is None else credential_id_problem(value)
        if problem is not None:
            raise PydanticCustomError("credential_id", problem)
        return value


class DigestSubmission(_Strict):
    """`POST /v1/digests`: 1 to 10,000 digests; any bad item and none is stored."""

    digests: Annotated[list[DigestItem], Field(min_length=1, max_length=MAX_DIGESTS_PER_REQUEST)]


class AnchorRequest(_Strict):
    """`POST /v1/batches`: an empty object (seal what is pending and anchor it now)."""


class AnchoredBatch(BaseModel):
    """A batch `POST /v1/batches` sealed or finished, as the anchorer reports it."""

    model_config = ConfigDict(extra="allow")

    batchId: int
    issuer: str
    state: str = Field(description="sealed, submitted or confirmed")
    treeSize: int
    root: str | None
    transactionHash: str | None
    blockNumber: int | None
    lastError: str | None


class AnchorNowResult(BaseModel):
    """`POST /v1/batches`: the batches touched, or `{"state": "nothing-pending"}`."""

    batches: list[AnchoredBatch] | None = None
    state: str | None = Field(None, description="`nothing-pending` when nothing was sealed")


class DigestReceipt(BaseModel):
    digest: str
    credentialId: str | None
    state: str = Field(description="pending, sealed, submitted or confirmed")
    batchId: int | None
    submittedAt: str = Field(description="RFC 3339 UTC, e.g. 2026-11-24T02:00:13Z")
    created: bool = Field(description="false when the digest was already in the index")


class DigestReceipts(BaseModel):
    digests: list[DigestReceipt]


class ProofPending(BaseModel):
    """A digest that is in the index but not yet anchored and confirmed."""

    digest: str
    state: str = Field(description="pending, sealed or submitted")
    batchId: int | None
    nextAnchoringAt: str | None = Field(description="next scheduled anchoring run, UTC")


class AnchorView(BaseModel):
    chainId: int
    contract: str
    transactionHash: str
    blockNumber: int
    blockHash: str
    anchoredAt: str


class BatchView(BaseModel):
    id: int
    issuer: str
    state: str = Field(description="sealed, submitted or confirmed")
    treeSize: int
    root: str
    sealedAt: str
    anchor: AnchorView | None = Field(description="the confirmed anchor; null before")


class BatchPage(BaseModel):
    batches: list[BatchView] = Field(description="newest first")
    nextAfter: int | None = Field(
        description="pass as `after` for the next (older) page; null on the last page"
    )


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str] = Field(description="the parts the node needs: database, chain")
    pipeline: dict[str, str] = Field(
        description="whether work moves: `anchoring` (no scheduled run missed past "
        "MCLEDGER_ANCHOR_GRACE), `transactions` (none unconfirmed past "
        "MCLEDGER_UNCONFIRMED_LIMIT); each `ok` or `failed: ` and why"
    )


PROOF_BUNDLE_EXAMPLE: dict[str, Any] = {
    "version": "mcledger-proof/1",
    "credentialId": "urn:uuid:5f0c6c1e-8a5b-4d2f-9a57-0e3d1b6f7c21",
    "digest": _EXAMPLE_DIGEST,
    "leafIndex": 5,
    "treeSize": 8,
    "auditPath": ["<64 hex>", "<64 hex>", "<64 hex>"],
    "root": "<64 hex>",
    "anchor": {
        "chainId": 31337,
        "contract": "0x…",
        "contractVersion": 2,
        "transactionHash": "0x…",
        "blockNumber": 12,
        "blockHash": "0x…",
        "anchoredAt": "2026-11-24T02:00:13Z",
        "issuer": "0x…",
    },
}


class FieldProblem(BaseModel):
    """One bad field of a 422: where it is and what is wrong with it."""

    path: str = Field(description="e.g. `digests[3].digest`; `(body)` for the body itself")
    detail: str
    pointer: str | None = Field(None, description="JSON Pointer into the body (`#/digests/3`)")
    in_: str | None = Field(
        None, alias="in", description="`query`, `path` or `header` for a bad parameter"
    )


class DigestConflictView(BaseModel):
    digest: str
    reason: str = Field(description="e.g. `another-issuer`, `another-credential-id`")
    detail: str


class Problem(BaseModel):
    """Every error the API sends (RFC 9457), as `application/problem+json`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="a URI naming the code")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable: clients branch on it, not on `detail`")
    errors: list[FieldProblem] | None = Field(
        None, description="422 validation-failed: every bad field (the first 100)"
    )
    conflicts: list[DigestConflictView] | None = Field(
        None, description="409 digest-conflict, 403 another-issuers-record: the digests"
    )
