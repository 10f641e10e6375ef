"""Lazy package exports (PEP 562): a package names what it exports, and each name's module is
imported on first access, so that importing the package stays light."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `names` maps each export to its module, given in
    full ("kgx.models") or relative to the package ("relation")."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name]
        if not module.startswith("kgx."):
            module = f"{package}.{module}"
        return getattr(import_module(module), name)

    return __getattr__
