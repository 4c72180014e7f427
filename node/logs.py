"""Log lines for people (`text`, the default) or for a log system (`json`: one object a line).

`configure_logging` (called by `mcledger serve`) installs one handler on the root
logger; uvicorn's loggers propagate to it, so every line has the same shape. A
line logged while an HTTP request is served carries that request's id (set by
the API's request middleware in `REQUEST_ID`), the same id the response sends
in `X-Request-ID`, so a client's report finds the node's lines.

Secrets never reach the output: every formatted line (message and traceback) is
scrubbed of API tokens, bearer credentials, the keystore passphrase, the
database password and the secret parts of the RPC URL (hosted RPC endpoints
carry an API key in the path, and transport errors quote that path).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from mcledger.node.settings import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("mcledger_request_id", default=None)
"""The id of the HTTP request being served in this context, if any."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "***"
# API tokens (mcl_ + URL-safe base64) and bearer credentials, wherever they appear.
_ALWAYS_SECRET = re.compile(r"\bmcl_[A-Za-z0-9_-]+|(?<=Bearer )[^\s\"',]+", re.IGNORECASE)
# Attributes every LogRecord has; anything else on a record came from `extra=`.
# uvicorn adds `color_message` (the message with ANSI colours) to some lines.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class Redactor:
    """Replaces known secret strings and anything shaped like an API token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _ALWAYS_SECRET.sub(REDACTED, text)


def secrets_of(settings: Settings) -> list[str]:
    """The strings of ``settings`` that must never be logged."""
    # Every SecretStr setting (the keystore passphrase, an RPC token…), by its type.
    found = [v.get_secret_value() for v in dict(settings).values() if isinstance(v, SecretStr)]
    for url in (settings.database_url, settings.rpc_url):
        if not url:
            continue
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        if url is settings.rpc_url:
            # Hosted endpoints put the API key in the path or the query.
            secret_part = parts.path.strip("/") + ("?" + parts.query if parts.query else "")
            if secret_part:
                found.append(secret_part)
    return found


class TextFormatter(logging.Formatter):
    """Today's human format, scrubbed."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (RFC 3339 UTC), level, logger, message, requestId
    (while serving a request), exception (the traceback), and any `extra=` fields."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["requestId"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = (
                    value if isinstance(value, int | float | bool) else self.redact(str(value))
                )
        if record.exc_info:
            line["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_for(log_format: str, redact: Redactor) -> logging.Formatter:
    return JsonFormatter(redact) if log_format == "json" else TextFormatter(redact)


def configure_logging(settings: Settings, *, stream: Any = None) -> logging.Handler:
    """One handler on the root logger in ``settings.log_format``, at INFO; uvicorn's and
    the scheduler's loggers go through it. Replaces handlers a previous call installed.

    Text goes to stderr as it always did; JSON to stdout, so a log system reading that
    stream gets nothing but JSON (`serve`'s banner for people stays on stderr)."""
    if stream is None:
        stream = sys.stdout if settings.log_format == "json" else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(settings.log_format, Redactor(secrets_of(settings))))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no line per job run
    return handler
