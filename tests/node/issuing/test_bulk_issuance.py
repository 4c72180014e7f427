"""Bulk issuance with signing workers, on a real index (SQLite and PostgreSQL) and real
spawned processes: a worker signs byte for byte what this process signs; a failure in a
worker stops the run as the same failure in one process does, and leaves nothing half
stored; the issuer's key reaches a worker only over its pipe, and never comes back in an
error."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from mcledger.node.credentials.dataintegrity import (
    DataIntegrityError,
    credential_digest,
    verify_credential,
)
from mcledger.node.credentials.multikey import (
    ED25519_SECRET_PREFIX,
    Ed25519SigningKey,
    multibase_encode,
    resolve_did_key,
)
from mcledger.node.index.db import open_index
from mcledger.node.index.models import submission_t
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.models_status import status_entry_t
from mcledger.node.issuing.award_batches import sign_batch, signed_texts
from mcledger.node.issuing.bulk import BulkIssued, issue_chunks
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import CredentialIssuer, ensure_signing_identity
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.signing_workers import (
    BatchSigner,
    SigningInProcess,
    SigningWorkerError,
    SigningWorkers,
)
from tests.node.issuing.refusing_signer import KEY_HOLDER, REFUSED, sign_or_refuse
from tests.node.samples import learner_awards

KEY = Ed25519SigningKey.from_seed(bytes(range(100, 132)))
LEARNER_DID = Ed25519SigningKey.from_seed(bytes(32)).did


@pytest.fixture(scope="module")
def workers() -> Iterator[SigningWorkers]:
    """Two workers for the module (they take a second to start), signing with KEY."""
    with SigningWorkers(KEY, 2, sign_and_digest=sign_or_refuse) as signing:
        yield signing


def _issuer(engine: Engine) -> tuple[CredentialIssuer, str]:
    ensure_issuer(engine, "uni", chain_address="0x" + "cd" * 20, did=KEY.did)
    ensure_signing_identity(engine, "uni", KEY.did, dev=True)
    achievement = create_achievement(engine, "uni", EXAMPLE_ACHIEVEMENT).id
    issuer = CredentialIssuer(
        engine, "uni", KEY, sign_and_digest=sign_or_refuse, base_url="https://uni.example"
    )
    return issuer, achievement


@pytest.fixture
def issuer(index_engine: Engine) -> tuple[CredentialIssuer, str]:
    return _issuer(index_engine)


def _awards(achievement: str, count: int) -> list[dict[str, Any]]:
    return learner_awards(count, achievement_id=achievement, learner_dids=[LEARNER_DID])


def _chunks(awards: Sequence[dict[str, Any]], size: int = 100) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(awards), size):
        yield list(awards[start : start + size])


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_worker_signs_byte_for_byte_what_this_process_signs(
    workers: SigningWorkers, tmp_path: Path
) -> None:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        issuer, achievement = _issuer(engine)
        batches = [issuer.prepare_awards(c) for c in _chunks(_awards(achievement, 240), 80)]
    finally:
        engine.dispose()
    for batch in batches:  # 3 batches on 2 workers: both sign, one signs twice
        workers.submit(batch)
    in_workers = [workers.next_result() for _ in batches]
    here = [signed_texts(sign_batch(batch, KEY, sign_or_refuse)) for batch in batches]
    assert in_workers == here
    first = in_workers[0][0]
    credential = json.loads(first.body)
    assert credential == json.loads(first.file_text)
    assert credential["id"] == batches[0].credential_ids[0]
    assert credential_digest(credential).hex() == first.digest  # the full path's digest
    assert verify_credential(credential, resolve_did_key).ok


def _issue(
    issuer: CredentialIssuer, awards: list[dict[str, Any]], signer: BatchSigner
) -> tuple[list[list[BulkIssued]], Exception | None]:
    """The chunks stored and the error that stopped the run, if any."""
    stored: list[list[BulkIssued]] = []
    try:
        for chunk in issue_chunks(issuer, _chunks(awards), signer, actor="test"):
            for item in chunk:  # each signed credential is the one its batch asked for
                credential = json.loads(item.file_text)
                assert credential["id"] == item.credential_id
                assert credential["credentialSubject"]["name"] == item.award["learner"]["name"]
            stored.append(chunk)
    except Exception as exc:
        return stored, exc
    return stored, None


def test_an_error_in_a_worker_is_the_error_of_one_process_and_stores_nothing_of_its_chunk(
    workers: SigningWorkers, issuer: tuple[CredentialIssuer, str]
) -> None:
    credentials, achievement = issuer
    engine = credentials.engine
    awards = _awards(achievement, 300)
    awards[150]["learner"]["name"] = REFUSED  # in the second chunk of three
    errors = []
    for signer in (SigningInProcess(KEY, sign_or_refuse), workers):
        stored, error = _issue(credentials, awards, signer)
        assert isinstance(error, DataIntegrityError)
        errors.append((type(error), str(error)))
        assert [len(chunk) for chunk in stored] == [100]  # the chunk before it stays issued
    assert (
        errors[0]
        == errors[1]
        == (DataIntegrityError, f"cannot sign the credential of {REFUSED}: refused")
    )
    # Two runs, one chunk each stored; the slots of the failed and the later chunks are freed.
    assert _count(engine, credential_t) == _count(engine, submission_t) == 200
    assert _count(engine, status_entry_t) == 2 * 200  # revocation and suspension

    # The workers go on serving after a failed run (its leftover replies are dropped).
    stored, error = _issue(credentials, awards[:10], workers)
    assert error is None and [len(chunk) for chunk in stored] == [10]
    assert stored[0][0].award == awards[0]


def test_a_killed_worker_stops_the_run_and_leaves_nothing_stored_or_reserved(
    issuer: tuple[CredentialIssuer, str],
) -> None:
    credentials, achievement = issuer
    with SigningWorkers(KEY, 2) as signing:
        os.kill(signing.pids[0], signal.SIGKILL)  # the worker the first chunk goes to
        stored, error = _issue(credentials, _awards(achievement, 250), signing)
    assert isinstance(error, SigningWorkerError) and stored == []
    assert "signing worker 1 " in str(error) and "killed by signal SIGKILL" in str(error)
    engine = credentials.engine
    assert _count(engine, credential_t) == _count(engine, status_entry_t) == 0


def _secret_forms(key: Ed25519SigningKey) -> list[bytes]:
    seed = key.secret_seed()
    multikey = multibase_encode(ED25519_SECRET_PREFIX + seed).encode()
    return [
        seed,
        seed.hex().encode(),
        seed.hex().upper().encode(),
        base64.b64encode(seed),
        base64.urlsafe_b64encode(seed).rstrip(b"="),
        multikey,
    ]


def test_the_key_reaches_a_worker_only_over_its_pipe_and_never_comes_back(
    workers: SigningWorkers, issuer: tuple[CredentialIssuer, str]
) -> None:
    forms = _secret_forms(KEY)
    for pid in workers.pids:  # live workers: what anyone on the machine may read of them
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert b"multiprocessing" in cmdline  # it is a spawned worker
        assert not [form for form in forms if form in cmdline or form in environ]

    # An error that holds the key object comes back as a SigningWorkerError with its text,
    # which names the public key only.
    credentials, achievement = issuer
    awards = _awards(achievement, 5)
    awards[2]["learner"]["name"] = KEY_HOLDER
    stored, error = _issue(credentials, awards, workers)
    assert isinstance(error, SigningWorkerError) and stored == []
    assert str(error).startswith("DataIntegrityError in a signing worker: ('cannot sign with'")
    assert KEY.public_key_multibase in str(error)
    sent = pickle.dumps(error) + repr(error.args).encode()
    assert not [form for form in forms if form in sent]
    # and the key object itself refuses to be pickled (no path takes it to a worker whole)
    with pytest.raises(TypeError):
        pickle.dumps(KEY)


def test_stored_rows_are_what_the_workers_signed(
    workers: SigningWorkers, issuer: tuple[CredentialIssuer, str]
) -> None:
    credentials, achievement = issuer
    stored, error = _issue(credentials, _awards(achievement, 120), workers)
    assert error is None and [len(chunk) for chunk in stored] == [100, 20]
    issued = {item.credential_id: item for chunk in stored for item in chunk}
    with credentials.engine.connect() as conn:
        rows = conn.execute(select(credential_t)).all()
    assert {row.id for row in rows} == set(issued)
    for row in rows:
        item = issued[row.id]
        assert row.digest == item.digest and json.loads(row.body) == json.loads(item.file_text)
        assert row.learner_key_hash == hashlib.sha256(item.learner_key.encode()).hexdigest()
        assert (row.achievement_id, row.achievement_version) == (achievement, 1)
    assert _count(credentials.engine, status_entry_t) == 2 * 120
