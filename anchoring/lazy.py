"""Lazy package exports: a package's public names, imported from their module on first use.

A package ``__init__`` that imports its modules makes everyone who imports one module
of the package pay for all of them: ``mcledger.node.credentials.annex`` (plain Python)
would load the JSON-LD processor, and the CLI would start slowly. With this, the
package's ``__init__`` names its public API (``__all__``, and the imports under
``TYPE_CHECKING`` for the type checker) and each name is imported when first used,
with the same value as before.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``modules`` maps each submodule to the
    public names it defines; any other public name is tried as a submodule (which an
    eager ``__init__`` would have imported)."""
    exports = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(sys.modules[package], name, value)  # the next use is a plain lookup
            return value
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise  # the submodule exists but imports something missing
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
