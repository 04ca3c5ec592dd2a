"""Calibrants: the d-spacing files shipped with xcal, the user's own, and loading them for pyFAI.

A calibrant is a ``NAME.D`` file in pyFAI's format: one d-spacing in Å per line, ``#`` starts
a comment (which may carry (h k l), multiplicity and intensity). A name is looked up in the
user folder first, then among the bundled files, so a user adds a calibrant or replaces a
bundled one by dropping a file there. The folders are listed again on every call, so a new
file shows up without a restart.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
from pyFAI.calibrant import Calibrant

from xcal.core.errors import CalibrantError
from xcal.core.io.file_checks import file_problem


def user_calibrant_dir() -> Path:
    """The folder where users drop their own calibrant files (it may not exist yet).

    ``XCAL_CALIBRANT_DIR`` overrides the platform's configuration folder.
    """
    override = os.environ.get("XCAL_CALIBRANT_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"
    return base / "xcal" / "calibrants"


def calibrant_dirs() -> list[Path]:
    """The folders searched for calibrants, user folder first; only those that exist."""
    bundled = Path(str(files("xcal.calibrants")))
    return [folder for folder in (user_calibrant_dir(), bundled) if folder.is_dir()]


def _index() -> dict[str, Path]:
    """Name to file, the first folder winning; rebuilt on each call so new files are seen."""
    found: dict[str, Path] = {}
    for folder in calibrant_dirs():
        try:
            entries = sorted(folder.iterdir())
        except OSError:  # an unreadable user folder must not hide the bundled calibrants
            continue
        for path in entries:
            if path.suffix.lower() == ".d" and path.is_file():
                found.setdefault(path.stem, path)
    return found


def list_calibrants() -> list[str]:
    """Names of all available calibrants (file stems), sorted."""
    return sorted(_index())


def calibrant_path(name: str) -> Path:
    """The file of calibrant ``name``: the user's if there is one, else the bundled one."""
    index = _index()
    if name in index:
        return index[name]
    by_lower = {known.lower(): known for known in index}
    close = difflib.get_close_matches(name.lower(), by_lower, n=5, cutoff=0.6)
    hint = ", ".join(by_lower[c] for c in close) if close else None
    known = f"Did you mean: {hint}?" if hint else f"Known calibrants: {', '.join(sorted(index))}."
    raise CalibrantError(f"Unknown calibrant '{name}'. {known} "
                         f"Your own calibrant files (NAME.D) go in {user_calibrant_dir()}.")


def read_dspacing(path: str | Path) -> np.ndarray:
    """The d-spacings (Å) of a calibrant file, largest first.

    Every line is checked, so a typo in a hand-written file is reported with its line number
    instead of silently shifting or dropping rings; unsorted values are sorted.
    """
    path = Path(path)
    problem = file_problem(path)  # a pipe or a device would block the read, a folder raise
    if problem is not None:
        raise CalibrantError(f"Calibrant file {path}: {problem}.")
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise CalibrantError(f"Cannot read calibrant file {path}: {exc.strerror or exc}") from exc
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        field = line.split("#", 1)[0].strip()
        if not field:
            continue
        try:
            d = float(field)
        except ValueError:
            raise CalibrantError(f"Calibrant file {path}, line {number}: expected one d-spacing in Å, "
                                 f"found {field!r}") from None
        if not (math.isfinite(d) and d > 0):
            raise CalibrantError(f"Calibrant file {path}, line {number}: a d-spacing must be a positive "
                                 f"number of Å, found {field}")
        values.append(d)
    if not values:
        raise CalibrantError(f"Calibrant file {path} holds no d-spacing: it is empty or only comments")
    return np.sort(np.array(values, dtype=np.float64))[::-1].copy()


def load_calibrant(name_or_path: str | Path, wavelength: float | None = None) -> Calibrant:
    """A pyFAI calibrant from a calibrant name or a ``.D`` file, wavelength in metres if given.

    A path object, or a string with a folder part or a ``.D`` suffix, is a file; any other
    string is a name.
    """
    given = Path(name_or_path)
    if isinstance(name_or_path, os.PathLike) or given.suffix.lower() == ".d" or len(given.parts) > 1:
        path = given
    else:
        path = calibrant_path(str(name_or_path))
    if wavelength is not None and not 1e-13 < wavelength < 1e-8:
        raise ValueError(f"wavelength {wavelength} m is not an X-ray wavelength; pyFAI wants metres (1 Å = 1e-10)")
    calibrant = Calibrant(dspacing=read_dspacing(path).tolist(), wavelength=wavelength)
    # pyFAI derives .name from the file name; passing filename= instead would make pyFAI
    # read the file again with its own lenient parser and ignore the checked values.
    calibrant._filename = str(path)
    return calibrant
