"""A message strip above the views: errors, warnings and notes stay visible without blocking.

A modal box would stop the user (and the tests) at every refused input; this strip shows the
engine's message as it is and goes away when closed or replaced.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background:#f8d7da; color:#58151c; border:1px solid #f1aeb5;",
    "warning": "background:#fff3cd; color:#664d03; border:1px solid #ffe69c;",
    "info": "background:#cfe2ff; color:#052c65; border:1px solid #9ec5fe;",
}


class MessageBar(QFrame):
    """Shows one message at a time with its level; hidden when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""
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

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setStyleSheet(f"MessageBar {{{_STYLES[level]} border-radius:4px;}} QLabel {{border:none; background:transparent;}}")
        self.label.setText(text)
        self.show()

    def clear(self) -> None:
        self.level = ""
        self.label.clear()
        self.hide()
