"""The CLI's consoles: pleasant in a terminal, whole lines in a pipe, a file or a CI log.

Outside a terminal rich would lay tables out for 80 columns, cutting a 64-hex digest to
``15a0f3b95…`` and a kind to ``revocati…``, and wrap long details: a report in a log
must keep every identifier whole on one line, so there the console is as wide as any
line can be. The console is made when a command first prints, not at import: importing
rich is a cost `mcledger merkle root` should not pay, and the stream (a test runner
swaps ``sys.stdout``) is only known then.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# Columns of a console that is not a terminal: wider than any line a command prints.
UNBOUNDED_WIDTH = 1 << 20


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal a person reads (not a pipe, a file or a log)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LazyConsole:
    """A rich ``Console`` on the current stdout (or stderr), made at its first use and made
    again when the stream changes; outside a terminal, as wide as any line."""

    def __init__(self, *, stderr: bool = False, **options: Any) -> None:
        self._stderr = stderr
        self._options = options
        self._stream: IO[str] | None = None
        self._console: Console | None = None

    @property
    def stream(self) -> IO[str]:
        return sys.stderr if self._stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.stream)

    def get(self) -> Console:
        """The console for the stream of this moment (for rich's ``Progress(console=…)``)."""
        stream = self.stream
        if self._console is None or self._stream is not stream:
            from rich.console import Console

            options = dict(self._options)
            if not is_terminal(stream):
                options["width"] = UNBOUNDED_WIDTH
            self._console = Console(file=stream, **options)
            self._stream = stream
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        """``Console.print`` on the current stream."""
        self.get().print(*objects, **options)

    def shorten(self, identifier: str, keep: int = 16) -> str:
        """``identifier`` cut to ``keep`` characters and "…" in a terminal, where a table must
        fit the window; whole anywhere else, where it must be found and copied."""
        if not self.is_terminal or len(identifier) <= keep + 1:
            return identifier
        return identifier[:keep] + "…"
