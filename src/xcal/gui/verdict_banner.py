"""The verdict beside the parameters: does the image back the current calibration?

The core judges every Calibrate, Auto calibrate and Refine against the image
(``CalibrationSession.verdict``). A verdict kept in the Diagnostics tab is one the user never
sees, so this banner shows it where the calibration is made: coloured by level, the first reason
in view, every correction xcal made on its own stated plainly, and one click back from a
ring-number correction. It judges nothing itself.
"""

from __future__ import annotations

from html import escape

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from ..core.calibration.trust import TrustReport

# background, text, border: the message strip's palette, plus green for good and grey for "not checked"
_STYLES = {
    "good": ("#d1e7dd", "#0a3622", "#75b798"),
    "check": ("#fff3cd", "#664d03", "#ffc107"),
    "bad": ("#f8d7da", "#58151c", "#dc3545"),
    "unchecked": ("#e9ecef", "#343a40", "#ced4da"),
}
MESSAGE_LEVELS = {"good": "info", "check": "warning", "bad": "error"}  # verdict level -> message strip level
UNCHECKED = ("Not checked: this geometry was edited, loaded, restored or set by a circle fit; it has not been "
             "checked against the image. Press Refine to check it.")


def _corrections(report: TrustReport) -> list[str]:
    return [c.message for c in report.corrections]


def _everything(report: TrustReport) -> list[str]:
    """Reasons worst first, then the corrections and the wavelength finding they do not already say."""
    lines = list(report.reasons)
    extra = _corrections(report) + ([report.wavelength.message] if report.wavelength is not None else [])
    return lines + [line for line in dict.fromkeys(extra) if line not in lines]


def _details(report: TrustReport) -> list[str]:
    """What the banner keeps folded: everything but the first reason and the corrections (always in view)."""
    shown = {report.reasons[0], *_corrections(report)}
    return [line for line in _everything(report) if line not in shown]


def verdict_lines(report: TrustReport) -> list[str]:
    """The verdict in a few plain lines: level and first reason (the core always gives one), then each correction."""
    return [f"{report.level.upper()}: {report.reasons[0]}", *(f"Corrected: {c}" for c in _corrections(report))]


class VerdictBanner(QFrame):
    """The session's verdict on the current geometry; hidden while there is no geometry."""

    revert_clicked = pyqtSignal()  # "Use my ring numbers"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""  # "good", "check", "bad", "unchecked", or "" (hidden)
        self._more = "More"  # the folded details button's text
        self.title = self._label()
        self.corrections = self._label()
        self.details = self._label()
        self.details_button = QToolButton()
        self.details_button.setCheckable(True)
        self.details_button.setAutoRaise(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.details_button.toggled.connect(self._show_details)
        self.revert_button = QPushButton("Use my ring numbers")
        self.revert_button.setToolTip("Calibrate again with the ring numbers as you typed them; "
                                      "the verdict then says whether the image contradicts them")
        self.revert_button.clicked.connect(self.revert_clicked)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.details_button)
        row.addStretch(1)
        row.addWidget(self.revert_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        for widget in (self.title, self.corrections, self.details):
            layout.addWidget(widget)
        layout.addLayout(row)
        self.hide()

    @staticmethod
    def _label() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setTextFormat(Qt.RichText)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        return label

    def show_verdict(self, report: TrustReport | None, has_geometry: bool) -> None:
        """Show ``report``; without one, a geometry is "not checked" and no geometry shows nothing."""
        if report is None and has_geometry:
            self._show_unchecked()
            return
        if report is None:
            self._hide()
            return
        self._style(report.level)
        self.title.setText(f"<b>{report.level.upper()}</b> — {escape(report.reasons[0])}")
        corrections = _corrections(report)
        self.corrections.setText("<br>".join(f"<b>Corrected:</b> {escape(c)}" for c in corrections))
        self.corrections.setVisible(bool(corrections))
        details = _details(report)
        self.details.setText("<br>".join(f"• {escape(d)}" for d in details))
        self.details_button.setVisible(bool(details))
        self._more = f"More ({len(details)})"
        self.details_button.setChecked(False)
        self._show_details(False)
        self.revert_button.setVisible(report.ring_shift != 0)
        self.setToolTip("\n\n".join([f"{report.level.upper()}:", *_everything(report)]))
        self.show()

    def _show_unchecked(self) -> None:
        self._style("unchecked")
        self.title.setText(escape(UNCHECKED))
        for widget in (self.corrections, self.details, self.details_button, self.revert_button):
            widget.hide()
        self.setToolTip("")
        self.show()

    def _hide(self) -> None:
        self.level = ""
        self.hide()

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.DownArrow if shown else Qt.RightArrow)
        self.details_button.setText("Less" if shown else self._more)

    def _style(self, level: str) -> None:
        self.level = level
        background, text, border = _STYLES[level]
        self.setStyleSheet(f"VerdictBanner {{background:{background}; border:1px solid {border}; border-left:5px solid {border};"
                           f" border-radius:4px;}} QLabel {{color:{text}; background:transparent; border:none;}}"
                           f" QToolButton {{color:{text};}}")
