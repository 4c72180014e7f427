"""`mcledger issue` (bulk issuance from a CSV) and `mcledger erase` (erasure of personal data).

Both open the index directly and are safe beside a running `mcledger serve` on the same
data directory. `issue` reads one learner a row, issues each good row at once, and
reports each bad row (its line and every bad field) without stopping the others: an
issuer with 10,000 learners fixes three rows, not the whole file.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO, TypeVar

import typer

from mcledger.cli.console import LazyConsole
from mcledger.cli.options import DataDirOption

if TYPE_CHECKING:
    from rich.progress import Progress

    from mcledger.node.credentials.annex import FieldError
    from mcledger.node.issuing.issuance import CredentialIssuer
    from mcledger.node.issuing.signing_workers import BatchSigner

# emoji=False: "did:key:z6Mk…" must not turn into a key emoji.
stdout = LazyConsole(highlight=False, soft_wrap=True, emoji=False)
stderr = LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)

LEARNER_COLUMNS = ("name", "identifier", "id")
AWARD_COLUMNS = ("awardedOn", "place", "grade")
COLUMNS = (*LEARNER_COLUMNS, *AWARD_COLUMNS)
REQUIRED_COLUMNS = ("name", "identifier", "awardedOn", "place")
LINKS_FILE = "learner-links.csv"
LINKS_HEADER = ("id", "identifier", "link")
_URN_UUID = "urn:uuid:"


class LearnersFileError(Exception):
    """The learners' CSV cannot be used at all (unreadable, or a bad header): exit 2."""


@dataclass(frozen=True)
class LearnerRow:
    """A good row: the award to issue, and the CSV line it starts on."""

    line: int
    award: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    """A refused row: its CSV line and every problem with it (``column: message``)."""

    line: int
    problems: tuple[str, ...]


def _check_header(header: list[str] | None) -> list[str]:
    if not header:
        raise LearnersFileError("the file is empty: it needs a header row " + ", ".join(COLUMNS))
    names = [name.strip() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise LearnersFileError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))};"
            f" the columns are {', '.join(COLUMNS)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise LearnersFileError(f"column{'s' if len(repeated) > 1 else ''} repeated: {repeated}")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise LearnersFileError(f"missing column{'s' if len(missing) > 1 else ''}: {missing}")
    return names


def _column(error: FieldError) -> str:
    """The CSV column a field error is about: ``learner.name`` -> ``name``."""
    from mcledger.node.credentials.annex import FieldError

    loc = error.loc[1:] if error.loc[:1] == ("learner",) and len(error.loc) > 1 else error.loc
    return FieldError(loc, error.message).path


def award_from_row(achievement: str, header: list[str], cells: list[str]) -> dict[str, Any]:
    """The award (POST /v1/credentials body) one row asks for; empty cells are absent."""
    values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
    learner = {name: values[name] for name in LEARNER_COLUMNS if values.get(name)}
    award: dict[str, Any] = {"achievement": achievement, "learner": learner}
    award |= {name: values[name] for name in AWARD_COLUMNS if values.get(name)}
    return award


def read_learners(file: TextIO, achievement: str) -> Iterator[LearnerRow | BadRow]:
    """Each data row of the learners' CSV, validated (every bad field named).

    Reads and checks the header at once (LearnersFileError if it is bad); the rows as
    they are iterated (LearnersFileError if the file stops being CSV or UTF-8).
    """
    reader = csv.reader(file)
    header = _check_header(_guarded(reader, lambda: next(reader, None)))
    return _rows(reader, header, achievement)


T = TypeVar("T")


def _guarded(reader: Any, read: Callable[[], T]) -> T:
    try:
        return read()
    except csv.Error as exc:
        raise LearnersFileError(f"line {reader.line_num}: not CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise LearnersFileError(f"near line {reader.line_num + 1}: not UTF-8: {exc}") from None


def _rows(reader: Any, header: list[str], achievement: str) -> Iterator[LearnerRow | BadRow]:
    from mcledger.node.credentials.annex import validate_award

    line = reader.line_num + 1
    while (cells := _guarded(reader, lambda: next(reader, None))) is not None:
        if any(cell.strip() for cell in cells):  # blank lines are skipped, not refused
            problems = []
            if len(cells) > len(header):
                problems.append(f"{len(cells)} cells, the header has {len(header)} columns")
            award = award_from_row(achievement, header, cells)
            problems += [f"{_column(e)}: {e.message}" for e in validate_award(award)]
            yield BadRow(line, tuple(problems)) if problems else LearnerRow(line, award)
        line = reader.line_num + 1


def count_learners(path: Path) -> int:
    """The data rows of the learners' CSV, read once through before anything is issued, so
    that a file that is not CSV or not UTF-8 is a usage error and not a half-done run."""
    with _open_learners(path) as file:
        return sum(1 for _ in read_learners(file, ""))


def _open_learners(path: Path) -> TextIO:
    try:
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte-order mark.
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LearnersFileError(f"cannot read it: {exc.strerror or exc}") from None


def credential_file_name(credential_id: str) -> str:
    """``urn:uuid:X`` -> ``X.json``."""
    return credential_id.removeprefix(_URN_UUID) + ".json"


@dataclass
class IssueSummary:
    issued: int = 0
    refused: int = 0


def _progress() -> Progress:
    # rich.progress is imported here, not at the top: `mcledger --help` need not load it.
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Rows a second, as the bulk rate an issuer plans by."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "… rows/s", style="cyan")

    return Progress(
        TextColumn("[bold]issuing[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr.get(),
    )


class _LinksFile:
    """learner-links.csv, appended to: a link's secret is shown once, so an earlier run's
    links are never overwritten."""

    def __init__(self, path: Path) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self.file = path.open("a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(LINKS_HEADER)

    def add(self, credential_id: str, identifier: str, link: str) -> None:
        self.writer.writerow((credential_id, identifier, link))

    def close(self) -> None:
        self.file.close()


ISSUE_CHUNK = 100  # credentials a transaction in bulk issuance


def issue_rows(
    issuer: CredentialIssuer,
    rows: Iterator[LearnerRow | BadRow],
    out: Path,
    link_base: str,
    *,
    total: int | None = None,
    show_progress: bool = True,
    signer: BatchSigner | None = None,
) -> IssueSummary:
    """Issue every good row into ``out`` (one file a credential, and the learners' links);
    report every bad row on stderr. ``signer``: the signing workers (default: sign in this
    process). The CLI's bulk path, also driven by the benchmark."""
    from mcledger.node.issuing.bulk import issue_chunks
    from mcledger.node.issuing.signing_workers import SigningInProcess

    signer = signer or SigningInProcess(issuer.key, issuer.sign_and_digest)
    summary = IssueSummary()
    links = _LinksFile(out / LINKS_FILE)
    progress = _progress() if show_progress else None
    try:
        task = progress.add_task("issue", total=total) if progress else None
        if progress:
            progress.start()

        def advance(count: int) -> None:
            if progress and task is not None:
                progress.advance(task, count)

        def good_chunks() -> Iterator[list[dict[str, Any]]]:
            """The good rows' awards, ISSUE_CHUNK at a time; a bad row is reported as read."""
            chunk: list[dict[str, Any]] = []
            for row in rows:
                if isinstance(row, BadRow):
                    summary.refused += 1
                    stderr.print(f"[red]line {row.line}:[/] " + _escape("; ".join(row.problems)))
                    advance(1)
                    continue
                chunk.append(row.award)
                if len(chunk) >= ISSUE_CHUNK:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk

        # One transaction a chunk: the catalogue read once, the rows stored together.
        issued_chunks = issue_chunks(issuer, good_chunks(), signer, actor="cli:issue")
        with contextlib.closing(issued_chunks):
            for issued in issued_chunks:
                for item in issued:
                    path = out / credential_file_name(item.credential_id)
                    path.write_text(item.file_text, encoding="utf-8")
                    links.add(
                        item.credential_id,
                        item.award["learner"]["identifier"],
                        item.learner_link(link_base),
                    )
                summary.issued += len(issued)
                advance(len(issued))
    finally:
        if progress:
            progress.stop()
        links.close()
    return summary


def _escape(text: str) -> str:
    """``text`` with rich markup escaped: rows and messages quote the user's file."""
    from rich.markup import escape

    return escape(text)


def _fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(f"[red]error:[/] {_escape(message)}")
    return typer.Exit(code)


def issue_command(
    achievement: Annotated[
        str, typer.Option("--achievement", help="The achievement's id in the catalogue.")
    ],
    learners: Annotated[
        Path,
        typer.Option(
            "--learners",
            help="CSV with a header row; columns " + ", ".join(COLUMNS) + " (id, grade optional).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the signed credentials.")],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            show_default=False,
            help="Processes that build, sign and digest the credentials, each its share, while"
            " this one keeps the index (default: one per CPU for a large file; a small one is"
            " signed here, where starting them would cost more than they save). 1 signs in"
            " this process. The credentials are the same either way.",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Issue one micro-credential per CSV row: sign it, queue its digest for anchoring.

    Writes OUT/<uuid>.json for each credential and appends each learner's secret link to
    OUT/learner-links.csv. A bad row is reported with its line and every bad field, and the
    others are still issued. Rows are stored 100 at a time, each hundred all or none: an
    error that stops the run leaves the hundreds before it issued. Exits 0 when every row
    was issued, 1 when some were refused, 2 for usage errors (unknown achievement,
    unreadable CSV, bad header) and for errors that stop the run.
    """
    from mcledger.node.issuing.bulk import signing_workers
    from mcledger.node.issuing.catalogue import (
        InvalidEntryError,
        UnknownAchievementError,
        get_achievement,
        issuer_profile_for_credentials,
    )
    from mcledger.node.runtime.service import open_node
    from mcledger.node.settings import load_settings

    try:
        total = count_learners(learners)
    except LearnersFileError as exc:
        raise _fail(f"{learners}: {exc}") from None
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} is not a directory")
    settings = load_settings(data_dir=data_dir)
    node = open_node(settings)
    try:
        try:
            found = get_achievement(node.engine, achievement)
            issuer_profile_for_credentials(node.engine, settings.issuer_id)
        except UnknownAchievementError as exc:
            raise _fail(str(exc)) from None
        except InvalidEntryError as exc:
            raise _fail(f"complete the issuer profile first: {exc}") from None
        if found.issuer_id != settings.issuer_id:
            raise _fail(f"achievement {achievement} belongs to issuer {found.issuer_id}")
        out.mkdir(parents=True, exist_ok=True)
        with signing_workers(node.credentials, workers, total) as signer:
            try:
                with _open_learners(learners) as file:
                    rows = read_learners(file, achievement)
                    summary = issue_rows(
                        node.credentials, rows, out, settings.node_url, total=total, signer=signer
                    )
            except LearnersFileError as exc:  # the file changed since it was counted
                raise _fail(f"{learners}: {exc}; the rows before it were issued") from None
    finally:
        node.close()
    stdout.print(
        f"issued {summary.issued} credential{'s' if summary.issued != 1 else ''} into {out};"
        f" learner links in {out / LINKS_FILE}"
        + (f"; {summary.refused} rows refused (see above)" if summary.refused else "")
    )
    raise typer.Exit(1 if summary.refused else 0)


def erase_command(
    credential_id: Annotated[str, typer.Argument(help="The credential's id (urn:uuid:…).")],
    data_dir: DataDirOption = None,
) -> None:
    """Erase a credential's body and the learner's data from the index.

    The digest, its proof and any revocation record stay, so the learner's own copy
    still verifies. Exits 1 if the credential is unknown or another issuer's.
    """
    from mcledger.node.issuing.issuance import (
        CredentialAccessError,
        UnknownCredentialError,
        erase_credential,
        get_credential,
    )
    from mcledger.node.runtime.service import open_engine
    from mcledger.node.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    engine = open_engine(settings)
    try:
        try:
            row = get_credential(engine, credential_id)
            if row.erased_at is not None:
                stdout.print(
                    f"{credential_id} was already erased at {row.erased_at:%Y-%m-%d %H:%M:%S};"
                    f" its digest {row.digest} and proof remain"
                )
                return
            erase_credential(engine, credential_id, settings.issuer_id, actor="cli:erase")
        except (UnknownCredentialError, CredentialAccessError) as exc:
            raise _fail(str(exc), 1) from None
    finally:
        engine.dispose()
    stdout.print(
        f"erased {credential_id}: its body and the learner's data (name, identifier, link"
        f" secret) are gone; its digest {row.digest}, proof and revocation record remain"
        f" (mcledger prove {row.digest})"
    )
