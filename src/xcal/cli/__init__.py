"""The command line: ``xcal`` opens the application, ``xcal calibrate|cake|pattern|integrate`` run
headless (one module per command; :mod:`.main` parses and dispatches)."""

from .main import main

__all__ = ["main"]
