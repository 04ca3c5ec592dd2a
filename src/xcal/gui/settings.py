"""Settings that persist between runs: last folder, recent files, start values, options, window layout.

A thin typed layer over QSettings. Tests and scripts point ``XCAL_SETTINGS`` (or the ``path``
argument) at a temporary ``.ini`` file so they never read or change the user's own settings.
"""

from __future__ import annotations

import os
from typing import TypeVar

from PyQt5.QtCore import QByteArray, QSettings

T = TypeVar("T", bool, int, float, str, list, QByteArray)

MAX_RECENT = 10


class Settings:
    """Typed get/set: the default value's type decides how a stored value is read back."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        path = path if path is not None else os.environ.get("XCAL_SETTINGS")
        if path:
            self._qs = QSettings(os.fspath(path), QSettings.IniFormat)
        else:
            self._qs = QSettings(QSettings.IniFormat, QSettings.UserScope, "xcal", "xcal")

    @property
    def location(self) -> str:
        return self._qs.fileName()

    def get(self, key: str, default: T) -> T:
        if not self._qs.contains(key):
            return default
        value = self._qs.value(key)
        try:
            if isinstance(default, bool):  # before int: bool is an int
                return value in (True, "true", "1", 1)  # type: ignore[return-value]
            if isinstance(default, list):
                if value is None or value == "":
                    return []  # type: ignore[return-value]
                return [str(v) for v in (value if isinstance(value, list) else [value])]  # type: ignore[return-value]
            if isinstance(default, QByteArray):
                return value if isinstance(value, QByteArray) else default
            return type(default)(value)  # type: ignore[return-value]
        except (TypeError, ValueError):  # a hand-edited or foreign value: fall back quietly
            return default

    def set(self, key: str, value: object) -> None:
        self._qs.setValue(key, value)

    def sync(self) -> None:
        self._qs.sync()

    # -- recent files --------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return self.get("files/recent", [])

    def add_recent(self, source: str) -> list[str]:
        recent = [source] + [r for r in self.recent_files() if r != source]
        recent = recent[:MAX_RECENT]
        self.set("files/recent", recent)
        return recent
