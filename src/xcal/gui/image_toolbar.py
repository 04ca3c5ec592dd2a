"""The file and orientation toolbar: load, recent, previous/next, frame, rotations and flips."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import QLabel, QMenu, QSpinBox, QToolBar, QToolButton, QWidget

from ..core.io.images import split_hdf5_source

TRANSFORMS = (
    ("rot90", "Rotate ↺", "Rotate the image 90° counter-clockwise"),
    ("rot-90", "Rotate ↻", "Rotate the image 90° clockwise"),
    ("fliph", "Flip ⇆", "Flip the image horizontally (left-right)"),
    ("flipv", "Flip ⇅", "Flip the image vertically (top-bottom)"),
    ("reset", "Reset", "Show the image as stored in the file"),
)


class ImageToolbar(QToolBar):
    """Emits what the user asked for; the window loads and transforms."""

    open_requested = pyqtSignal()
    recent_chosen = pyqtSignal(str)
    step_requested = pyqtSignal(int)  # -1 previous file, +1 next file
    frame_changed = pyqtSignal(int)
    transform_requested = pyqtSignal(str)  # an ImageTransform op, or "reset"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Image", parent)
        self.setObjectName("image_toolbar")
        self.open_action = self.addAction("Load File…", self.open_requested.emit)
        self.open_action.setToolTip("Open an image (TIFF, CBF, EDF, HDF5/NeXus, …); you can also drop a file on the window")
        self.recent_menu = QMenu(self)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setMenu(self.recent_menu)
        self.recent_button.setPopupMode(QToolButton.InstantPopup)
        self.addWidget(self.recent_button)
        self.previous_action = self.addAction("◀ Previous", lambda: self.step_requested.emit(-1))
        self.previous_action.setToolTip("Previous image file in the folder")
        self.next_action = self.addAction("Next ▶", lambda: self.step_requested.emit(1))
        self.next_action.setToolTip("Next image file in the folder")
        self.frame_label = QLabel(" Frame ")
        self.frame_box = QSpinBox()
        self.frame_box.setKeyboardTracking(False)
        self.frame_label_action = self.addWidget(self.frame_label)
        self.frame_action = self.addWidget(self.frame_box)
        self.addSeparator()
        self.transform_actions = {}
        for op, text, tip in TRANSFORMS:
            action = self.addAction(text, lambda op=op: self.transform_requested.emit(op))
            action.setToolTip(tip)
            self.transform_actions[op] = action
        self.transform_label = QLabel()
        self.addWidget(self.transform_label)
        self.frame_box.valueChanged.connect(self.frame_changed)
        self.set_image_state(None, 0, 1)
        self.set_recent([])

    def set_image_state(self, source: str | None, frame: int, nframes: int) -> None:
        """Enable what makes sense for the loaded image; the frame box only for multi-frame files."""
        loaded = source is not None
        for action in (self.previous_action, self.next_action, *self.transform_actions.values()):
            action.setEnabled(loaded)
        multi = nframes > 1
        self.frame_label_action.setVisible(multi)
        self.frame_action.setVisible(multi)
        self.frame_box.blockSignals(True)
        self.frame_box.setRange(0, max(nframes - 1, 0))
        self.frame_box.setValue(frame)
        self.frame_box.setSuffix(f" / {nframes - 1}")
        self.frame_box.blockSignals(False)

    def set_transform_text(self, text: str) -> None:
        self.transform_label.setText("" if text == "none" else f"  ({text})")

    def set_recent(self, files: list[str]) -> None:
        self.recent_menu.clear()
        for source in files:
            path, dataset = split_hdf5_source(source)
            action = self.recent_menu.addAction(Path(path).name + (f" :: {dataset}" if dataset else ""))
            action.setToolTip(source)
            action.triggered.connect(lambda _=False, s=source: self.recent_chosen.emit(s))
        self.recent_button.setEnabled(bool(files))
