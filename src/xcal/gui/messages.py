"""A message strip above the views: errors, warnings and notes stay visible without blocking.

A modal box would stop the user (and the tests) at every refused input; this strip shows the
engine's message as it is. A note that outlives its moment misleads ("Detector set to …" while
the user picks rings), so messages expire: notes and warnings after a while, errors when the
user dismisses them or the state moves on. The *state* is the standing line of what to do next
("3 rings picked — press Calibrate"): a new state replaces any message at once (the user acted
since), and an expired or dismissed message gives the strip back to it.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background:#f8d7da; color:#58151c; border:1px solid #f1aeb5;",
    "warning": "background:#fff3cd; color:#664d03; border:1px solid #ffe69c;",
    "info": "background:#cfe2ff; color:#052c65; border:1px solid #9ec5fe;",
}
# how long a message stays (ms); None: until dismissed or replaced
TIMEOUTS_MS: dict[str, int | None] = {"info": 12_000, "warning": 30_000, "error": None}
BY_LEVEL = -1  # show_message's default timeout: the level's


class MessageBar(QFrame):
    """Shows one message at a time with its level, else the state; hidden when there is neither."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""
        self.state: tuple[str, str] | None = None  # (text, level) of the standing line
        self.showing_state = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._show_state)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignTop)
        self.hide()

    def text(self) -> str:
        return self.label.text()

    def show_message(self, text: str, level: str = "error", timeout_ms: int | None = BY_LEVEL) -> None:
        """A message for now: it expires after ``timeout_ms`` (by default the level's ``TIMEOUTS_MS``; None: never),
        then the state (if any) shows again."""
        self._show(text, level)
        timeout = TIMEOUTS_MS[level] if timeout_ms == BY_LEVEL else timeout_ms
        if timeout is None:
            self.timer.stop()
        else:
            self.timer.start(timeout)

    def show_state(self, text: str, level: str = "info") -> None:
        """The standing line; it replaces any message now and stays until the next state."""
        self.state = (text, level)
        self._show_state()

    def clear_state(self) -> None:
        """No standing line any more (a new image, another mode); a message still showing stays."""
        showing = self.showing_state
        self.state = None
        if showing:
            self._hide()

    def clear(self) -> None:
        """Dismiss what is shown: a message gives way to the state, a dismissed state is gone."""
        if self.showing_state:
            self.state = None
        self._show_state()

    def _show_state(self) -> None:
        self.timer.stop()
        if self.state is None:
            self._hide()
        else:
            self._show(*self.state)
            self.showing_state = True

    def _show(self, text: str, level: str) -> None:
        self.showing_state = False
        self.level = level
        self.setStyleSheet(f"MessageBar {{{_STYLES[level]} border-radius:4px;}} QLabel {{border:none; background:transparent;}}")
        self.label.setText(text)
        self.show()

    def _hide(self) -> None:
        self.timer.stop()
        self.showing_state = False
        self.level = ""
        self.label.clear()
        self.hide()
