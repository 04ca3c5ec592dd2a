"""What the controllers ask of the window around them, so that they never import it.

The main window builds the views and panels, then hands each controller the widgets it drives
(:class:`CalibrationViews`) and itself as a :class:`Shell`: messages, the status bar, the last
folder, the settings, and a parent for dialogs. A controller can thus be read, and driven, without
the window's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PyQt5.QtWidgets import QStatusBar, QTabWidget

    from .diagnostics_view import DiagnosticsView
    from .image_view import ImageView
    from .messages import MessageBar
    from .plot_views import CakeView, PatternView
    from .settings import Settings


class Shell(Protocol):
    """The window's services (the window is also the parent of the controllers' dialogs)."""

    settings: Settings
    messages: MessageBar

    def show_message(self, text: str, level: str = "error") -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name

    def last_folder(self) -> str: ...

    def remember_folder(self, path: str) -> None: ...

    def ask_save_path(self, title: str, suffix: str, filters: str) -> str: ...


@dataclass(frozen=True)
class CalibrationViews:
    """The calibration image's views: the image, its cake, pattern and diagnostics, and their tabs."""

    image_view: ImageView
    cake_view: CakeView
    pattern_view: PatternView
    diagnostics_view: DiagnosticsView
    tabs: QTabWidget
