"""JSON-LD contexts from local files only: a pyld document loader that never touches the network.

The standard contexts ship with the package, exported from pinned npm packages
(``node/credentials/contexts/standard/index.json`` maps each URL to its file; a test
fails when they no longer match the packages); so does the project's own context.
Any other URL is refused with :class:`UnknownContextError`: a credential that needs a
context we do not hold cannot be signed, verified or digested here: contexts are
resolved from local copies only, never fetched.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from pyld.context_resolver import ContextResolver

from mcledger.node.errors import NodeError

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
MCLEDGER_CONTEXT = "https://w3id.org/mcledger/v1"

GENERATED_DIR = Path(__file__).resolve().parent / "contexts" / "standard"
MCLEDGER_CONTEXT_FILE = Path(__file__).resolve().parent / "contexts" / "mcledger-v1.jsonld"

_RESOLVED_CACHE_SIZE = 256


class UnknownContextError(NodeError):
    """A JSON-LD context URL that the node has no local copy of; it is never fetched."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"unknown JSON-LD context {url!r}: only locally installed contexts are used, "
            "never fetched; use the standard contexts or the node's own"
        )
        self.url = url


class ContextFileError(NodeError):
    """A known context's local file is missing or is not JSON (an incomplete install)."""


class ContextCheckError(NodeError):
    """A credential's ``@context`` is not acceptable; ``field`` names where (``@context[i]``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _LockedLRU:
    """The resolved-context cache that pyld's ContextResolvers share, made thread-safe."""

    def __init__(self, maxsize: int) -> None:
        self._cache: LRUCache[str, Any] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._cache.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self._cache[key] = value


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContextFileError(
            f"{what} is missing at {path}: the package is incomplete (reinstall it)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ContextFileError(f"{what} at {path} is unreadable: {exc}") from None
    if not isinstance(parsed, dict):
        raise ContextFileError(f"{what} at {path} is not a JSON object")
    return parsed


class LocalContextLoader:
    """A pyld ``documentLoader``: known context URLs -> their local files, parsed once.

    ``extra`` adds URLs (for tests, say), each mapped to a parsed document or a file path.
    Each loader keeps its own cache of resolved contexts; pyld's global cache is
    bypassed (see :meth:`options`) so two loaders never see each other's contexts.
    """

    def __init__(
        self,
        extra: Mapping[str, Mapping[str, Any] | Path] | None = None,
        *,
        generated_dir: Path = GENERATED_DIR,
        mcledger_context_file: Path = MCLEDGER_CONTEXT_FILE,
    ) -> None:
        self._sources: dict[str, Mapping[str, Any] | Path] = {}
        index = _read_json(generated_dir / "index.json", "the index of standard contexts")
        for url, name in index.items():
            self._sources[url] = generated_dir / name
        self._sources[MCLEDGER_CONTEXT] = mcledger_context_file
        self._sources.update(extra or {})
        self._parsed: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._resolved = _LockedLRU(_RESOLVED_CACHE_SIZE)

    @property
    def known_urls(self) -> frozenset[str]:
        return frozenset(self._sources)

    def document(self, url: str) -> dict[str, Any]:
        """The parsed context document for ``url`` (shared: do not modify)."""
        parsed = self._parsed.get(url)
        if parsed is not None:
            return parsed
        source = self._sources.get(url)
        if source is None:
            raise UnknownContextError(url)
        if isinstance(source, Path):
            parsed = _read_json(source, f"the local copy of {url}")
        else:
            parsed = copy.deepcopy(dict(source))
        with self._lock:
            return self._parsed.setdefault(url, parsed)

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """pyld's loader interface: a RemoteDocument for ``url`` or UnknownContextError."""
        return {
            "contextUrl": None,
            "documentUrl": url,
            "contentType": "application/ld+json",
            # pyld rewrites relative URLs inside a fetched context in place: hand out a copy.
            "document": copy.deepcopy(self.document(url)),
            # 'static' lets the resolver cache the processed context (in our cache, below).
            "tag": "static",
        }

    def options(self) -> dict[str, Any]:
        """pyld processing options that use this loader and this loader's context cache only."""
        return {
            "documentLoader": self,
            "contextResolver": ContextResolver(self._resolved, self),
        }


@functools.cache
def default_loader() -> LocalContextLoader:
    """The node's loader: the generated standard contexts and the mcledger context."""
    return LocalContextLoader()


def check_contexts(document: Mapping[str, Any], loader: LocalContextLoader) -> None:
    """Refuse a credential whose ``@context`` is not a list that starts with the VC 2.0 context,
    or that names a context URL the loader does not know (VC Data Model 2.0 section 4.3).

    Inline context objects are allowed here; any URL they import is still
    resolved by the loader alone, which refuses unknown ones.
    """
    contexts = document.get("@context")
    if not isinstance(contexts, list) or not contexts:
        raise ContextCheckError("@context", f"must be a list starting with {VC_V2_CONTEXT!r}")
    if contexts[0] != VC_V2_CONTEXT:
        raise ContextCheckError("@context[0]", f"must be {VC_V2_CONTEXT!r}")
    for position, context in enumerate(contexts):
        field = f"@context[{position}]"
        if isinstance(context, str):
            if context not in loader.known_urls:
                raise ContextCheckError(field, str(UnknownContextError(context)))
        elif not isinstance(context, dict):
            raise ContextCheckError(field, "must be a URL or a context object")
