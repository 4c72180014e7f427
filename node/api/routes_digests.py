"""`POST /v1/digests`: issuers that sign elsewhere hand in bare digests.

A request is read, checked, handed to the process's intake writer (group commit,
node/pipeline/intake_writer.py) and answered once the writer has committed it. Small
bodies are parsed and answered on the event loop; a list of thousands goes to the thread
pool for both, so it does not hold up other requests.

The usual well-formed list is read straight from its JSON (pydantic's model costs more
than the insert for 10,000 items); a body that is not that shape, or whose items are
refused, is parsed again by the ``DigestSubmission`` model, so a 400 or 422 names
exactly what it always named.
"""

from __future__ import annotations

import asyncio
import json.encoder
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.body import documented_body, parse_body, read_body
from mcledger.node.api.deps import Context, require_scope
from mcledger.node.api.schemas import MAX_DIGESTS_PER_REQUEST, DigestReceipts, DigestSubmission
from mcledger.node.issuing.tokens import TokenInfo
from mcledger.node.pipeline.intake_writer import intake_writer
from mcledger.node.pipeline.submissions import (
    InvalidSubmissionError,
    SubmissionState,
    unique_items,
)

router = APIRouter(tags=["digests"])

# Up to this many bytes (a few hundred items) parsing on the event loop is cheaper than
# the hop to a worker thread and back; larger lists go to the thread pool.
INLINE_BODY_BYTES = 32 * 1024
_ITEM_FIELDS = frozenset({"digest", "credentialId"})
# The C encoder behind json.dumps(str) (ASCII-only, as json.dumps writes by default).
_json_string: Any = json.encoder.encode_basestring_ascii


@router.post(
    "/v1/digests",
    status_code=202,
    response_model=DigestReceipts,
    summary="Submit digests for anchoring",
    description=(
        "1 to 10,000 digests (64 lower-case hex), each with an optional credentialId. "
        "All or nothing: any bad item, or a digest that contradicts the index (another "
        "issuer's, or recorded with another credentialId), and none is stored. A digest "
        "already in the index is accepted again without change (`created: false`). "
        "The 202 is sent once the digests are committed (concurrent requests may share "
        "one commit). Needs a token with scope `issue`."
    ),
    openapi_extra=documented_body(DigestSubmission),
    responses={
        400: {"description": "the body is not JSON"},
        401: {"description": "no token, or an unknown or revoked one"},
        403: {"description": "the token lacks scope `issue`, or a digest is another issuer's"},
        409: {"description": "a digest contradicts the index; nothing stored"},
        413: {"description": "the body is larger than the limit"},
        422: {"description": "invalid items, each named by its path; nothing stored"},
    },
)
async def submit(
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("issue"))],
) -> Response:
    raw = await read_body(request)
    large = len(raw) > INLINE_BODY_BYTES
    wanted = await run_in_threadpool(checked_items, raw) if large else checked_items(raw)
    answer = intake_writer(context.engine).submit(token.issuer_id, wanted, f"token:{token.id}")
    states = await asyncio.wrap_future(answer)
    body = await run_in_threadpool(receipts_json, states) if large else receipts_json(states)
    return Response(body, status_code=202, media_type="application/json")


def checked_items(raw: bytes) -> dict[str, str | None]:
    """The body's distinct items (digest -> credentialId), checked; raises the problem
    (400, 422) that names what is wrong."""
    items = _read_list(raw)
    if items is None:
        submission = parse_body(DigestSubmission, raw)  # raises unless the fast read was shy
        items = [(item.digest, item.credential_id) for item in submission.digests]
    try:
        return unique_items(items)
    except InvalidSubmissionError:
        parse_body(DigestSubmission, raw)  # a bad field: pydantic's words, as ever
        raise  # only the list-wide rules (repeats) failed: the intake's own problems


def _read_list(raw: bytes) -> list[tuple[Any, Any]] | None:
    """The items of a body shaped as the model wants (an object with only ``digests``, a
    list of 1 to 10,000 objects with ``digest`` and at most ``credentialId``), values
    unchecked; None for anything else."""
    try:
        document = from_json(raw, cache_strings="keys")  # model_validate_json's parser
    except ValueError:
        return None
    if type(document) is not dict or document.keys() != {"digests"}:
        return None
    listed = document["digests"]
    if type(listed) is not list or not 1 <= len(listed) <= MAX_DIGESTS_PER_REQUEST:
        return None
    if not all(type(item) is dict and item.keys() <= _ITEM_FIELDS for item in listed):
        return None
    try:
        return [(item["digest"], item.get("credentialId")) for item in listed]
    except KeyError:
        return None


def receipts_json(states: list[SubmissionState]) -> bytes:
    """The 202 body, ``{"digests": [receipt, …]}``, as json.dumps would write it."""
    # Written from templates: building 10,000 dicts for json.dumps cost more than the insert.
    times: dict[datetime, str] = {}
    parts = []
    for state in states:
        when = times.get(state.submitted_at)
        if when is None:
            when = times[state.submitted_at] = format_time(state.submitted_at)
        credential_id = "null" if state.credential_id is None else _json_string(state.credential_id)
        batch_id = "null" if state.batch_id is None else int(state.batch_id)
        parts.append(
            f'{{"digest":"{state.digest}","credentialId":{credential_id},'
            f'"state":"{state.state}","batchId":{batch_id},"submittedAt":"{when}",'
            f'"created":{"true" if state.created else "false"}}}'
        )
    return ('{"digests":[' + ",".join(parts) + "]}").encode()
