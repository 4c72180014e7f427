"""Fetching JSON documents a verifier needs (status lists, the issuer's history) over
HTTP: http(s) only, redirects too, with a timeout and a size cap; nothing else.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from mcledger.node.errors import NodeError

STATUS_FETCH_TIMEOUT = 10.0
STATUS_LIST_MAX_BYTES = 2 * 1024 * 1024

FetchJson = Callable[[str], Mapping[str, Any]]
"""Fetches a status list credential: its URL to the JSON object it serves; raises on
any failure (the message becomes the failed check's detail)."""


class StatusFetchError(NodeError):
    """A status list credential could not be fetched or is not a JSON object."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are followed to http(s) URLs only; with ``no_downgrade`` (documents wanted
    over https, such as a did:web DID document) not from https to plain http either."""

    def __init__(self, *, no_downgrade: bool = False) -> None:
        super().__init__()
        self.no_downgrade = no_downgrade

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        scheme = urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise StatusFetchError(f"redirected to a URL that is not http(s): {newurl}")
        if self.no_downgrade and urlsplit(req.full_url).scheme.lower() == "https" != scheme:
            raise StatusFetchError(f"redirected from https to a URL that is not https: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())
_NO_DOWNGRADE_OPENER = urllib.request.build_opener(_HttpOnlyRedirects(no_downgrade=True))


JSON_ACCEPT = "application/vc+ld+json, application/ld+json, application/json"


def fetch_json(
    url: str,
    *,
    max_bytes: int = STATUS_LIST_MAX_BYTES,
    accept: str = JSON_ACCEPT,
    no_downgrade: bool = False,
) -> dict[str, Any]:
    """GET ``url`` (http or https only) with a 10 s timeout and a cap of ``max_bytes`` (2 MiB
    by default); the JSON object it serves. With ``no_downgrade`` an https URL may not
    redirect to http. Raises StatusFetchError on any failure."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise StatusFetchError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        opener = _NO_DOWNGRADE_OPENER if no_downgrade else _OPENER
        with opener.open(request, timeout=STATUS_FETCH_TIMEOUT) as response:
            body = response.read(max_bytes + 1)
    except StatusFetchError:
        raise
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad URLs
        raise StatusFetchError(f"{type(exc).__name__}: {exc}") from None
    if len(body) > max_bytes:
        raise StatusFetchError(f"the response is larger than {max_bytes} bytes")
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise StatusFetchError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise StatusFetchError("not a JSON object")
    return document


def fetching_once(fetch: FetchJson) -> FetchJson:
    """``fetch`` that asks once per URL and answers (or fails) the same afterwards."""
    seen: dict[str, tuple[bool, Any]] = {}

    def fetch_once(url: str) -> Any:
        if url not in seen:
            try:
                seen[url] = (True, fetch(url))
            except Exception as exc:  # kept, and raised to every asker alike
                seen[url] = (False, exc)
        ok, value = seen[url]
        if not ok:
            raise value
        return value

    return fetch_once
