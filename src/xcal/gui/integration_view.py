"""Integration mode's views: the sample image, its cake and its pattern side by side, with the
position under the cursor read out below them.

The image takes a third of the width, the cake and the pattern share the rest; the user drags
the splitters, and maximises one pane (its ⤢ button or a double click on its title) to look at
it alone, then restores the layout. The splitters are kept between sessions.
"""

from __future__ import annotations

from PyQt5.QtCore import QByteArray, Qt, pyqtSignal
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QFrame, QHBoxLayout, QLabel, QSplitter, QToolButton, QVBoxLayout, QWidget

from .image_view import ImageView
from .plot_views import CakeView, PatternView
from .settings import Settings
from .worker import Job

_MAXIMISE, _RESTORE = "⤢", "⤡"


class _TitleBar(QWidget):
    """A pane's title; a double click on it asks to maximise or restore the pane."""

    double_clicked = pyqtSignal()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        if event.button() == Qt.LeftButton:
            self.double_clicked.emit()


class Pane(QFrame):
    """One view of integration mode under a title bar with a maximise/restore button."""

    maximise_toggled = pyqtSignal()

    def __init__(self, title: str, view: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.title_bar = _TitleBar()
        label = QLabel(f"<b>{title}</b>")
        self.button = QToolButton()
        self.button.setAutoRaise(True)
        bar = QHBoxLayout(self.title_bar)
        bar.setContentsMargins(4, 0, 0, 0)
        bar.addWidget(label)
        bar.addStretch(1)
        bar.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title_bar)
        layout.addWidget(view, 1)
        self.set_maximised(False)
        self.button.clicked.connect(self.maximise_toggled)
        self.title_bar.double_clicked.connect(self.maximise_toggled)

    def set_maximised(self, maximised: bool) -> None:
        self.button.setText(_RESTORE if maximised else _MAXIMISE)
        self.button.setToolTip("Restore the layout (or double-click the title)" if maximised
                               else "Show this pane alone (or double-click the title)")


class IntegrationView(QWidget):
    """Image on the left (a third of the width); cake above the pattern on the right; a read-out line below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = ImageView(compact=True)
        self.cake = CakeView(compact=True)
        self.pattern = PatternView()
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.wavelength: float | None = None  # metres, for the read-out
        self.panes = {"image": Pane("Image", self.image), "cake": Pane("Cake", self.cake),
                      "pattern": Pane("Pattern", self.pattern)}
        self.maximised: str | None = None
        self._restore_states: tuple[QByteArray, QByteArray] | None = None
        self.right = QSplitter(Qt.Vertical)
        self.right.addWidget(self.panes["cake"])
        self.right.addWidget(self.panes["pattern"])
        self.right.setSizes([500, 500])
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.panes["image"])
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([1000, 2000])
        for splitter in (self.splitter, self.right):
            splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.readout)
        for name, pane in self.panes.items():
            pane.maximise_toggled.connect(lambda name=name: self.toggle_maximised(name))
        for view in (self.cake, self.pattern):
            view.cursor_moved.connect(lambda x, y, view=view: self.readout.setText(view.position_text(x, y, self.wavelength)))
        for view in (self.image, self.cake, self.pattern):
            view.cursor_left.connect(lambda: self.readout.setText(" "))

    def show_computing(self, job: Job) -> None:
        """The cake and the pattern say they are being computed until ``job`` ends."""
        self.cake.show_computing(job)
        self.pattern.show_computing(job)

    # -- maximise / restore ----------------------------------------------------------------------------
    def toggle_maximised(self, name: str) -> None:
        """Show pane ``name`` alone, or bring the layout back if it is the one maximised."""
        if self.maximised is not None:
            self._restore()
            if self.maximised == name:
                self.maximised = None
                return
        self._restore_states = (self.splitter.saveState(), self.right.saveState())
        self.maximised = name
        for other, pane in self.panes.items():
            pane.setVisible(other == name)
            pane.set_maximised(other == name)
        self.right.setVisible(name != "image")

    def _restore(self) -> None:
        for pane in self.panes.values():
            pane.setVisible(True)
            pane.set_maximised(False)
        self.right.setVisible(True)
        self.splitter.restoreState(self._restore_states[0])
        self.right.restoreState(self._restore_states[1])

    # -- settings --------------------------------------------------------------------------------------
    def load_settings(self, s: Settings) -> None:
        for key, splitter in (("integration/splitter", self.splitter), ("integration/right_splitter", self.right)):
            state = s.get(key, QByteArray())
            if not state.isEmpty():
                splitter.restoreState(state)
        self.image.contrast.load_settings(s, "view/integration_image")
        self.cake.contrast.load_settings(s, "view/integration_cake")

    def save_settings(self, s: Settings) -> None:
        """The splitters as the user arranged them (the layout under a maximised pane)."""
        states = self._restore_states if self.maximised is not None else (self.splitter.saveState(), self.right.saveState())
        s.set("integration/splitter", states[0])
        s.set("integration/right_splitter", states[1])
        self.image.contrast.save_settings(s, "view/integration_image")
        self.cake.contrast.save_settings(s, "view/integration_cake")
