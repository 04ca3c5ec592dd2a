"""Public names of a subpackage, imported from their modules on first use (PEP 562).

Each subpackage's ``__init__`` states what it offers (``from xcal.core.calibration import
CalibrationSession``) without importing every module up front: a batch worker that needs the
integrator does not pay for the calibration pipeline, and no ``__init__`` can close an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def exports(package: str, modules: dict[str, list[str]]) -> tuple[list[str], Callable[[str], object]]:
    """``__all__`` and the module ``__getattr__`` of ``package``, whose ``modules`` define these names."""
    home = {name: module for module, names in modules.items() for name in names}

    def attribute(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{home[name]}"), name)

    return sorted(home), attribute
