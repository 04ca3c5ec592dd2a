"""Mask mode: each panel action and each drawn shape becomes one operation on the session's mask.

Quick operations (shapes, thresholds, invert, clear, undo) run at once in the UI thread: the mask
publishes a new array per operation, so a worker reading it never sees half a shape. Slow ones
(grow/shrink, the hot-pixel search, files, a 2θ/χ sector before its maps exist) go through the
window's :class:`~xcal.gui.worker.Runner`. While a job that changes the session runs, edits are
refused with a note in the status bar; every failure becomes the window's message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt5.QtCore import QObject
from PyQt5.QtWidgets import QFileDialog

from ..core.calibration.bad_pixel_search import BadPixelSearch, search_bad_pixels
from ..core.io.images import split_hdf5_source
from ..core.masks.hot_pixels import BadPixels
from ..core.masks.model import MASK_SUFFIXES, MaskModel
from .mask_panel import TOOLS
from .mask_tools import Apply, MaskTools, OffImageWatch
from .worker import describe_exception

if TYPE_CHECKING:
    from ..core.calibration.session import CalibrationSession
    from .mask_panel import MaskPanel
    from .shell import CalibrationViews, Shell
    from .worker import Runner

_SAVE_FORMATS = ((".mask", "Dioptas mask"), (".edf", "pyFAI / Fit2D mask"), (".npy", "NumPy array"))
_OPEN_FILTER = "Masks (*.mask *.edf *.npy *.tif *.tiff);;All files (*)"


class MaskController(QObject):
    """Wires the mask panel and the drawing tools to ``session.mask``."""

    def __init__(self, shell: Shell, session: CalibrationSession, runner: Runner, panel: MaskPanel,
                 views: CalibrationViews, mask_changed: Callable[[], None]) -> None:
        super().__init__(panel)
        self.shell, self.session, self.runner, self.panel, self.ui = shell, session, runner, panel, views
        self.mask_changed = mask_changed  # the cake and pattern follow the mask
        self.tools = MaskTools(views.image_view, self)
        self.suggestion: BadPixels | None = None
        p = self.panel
        p.tool_changed.connect(self._tool_changed)
        p.point_radius_box.valueChanged.connect(self._point_radius_changed)
        p.threshold_requested.connect(self.threshold)
        p.grow_requested.connect(lambda n: self._run(f"Growing the mask by {n} px", lambda m: m.grow(n)))
        p.shrink_requested.connect(lambda n: self._run(f"Shrinking the mask by {n} px", lambda m: m.shrink(n)))
        p.invert_clicked.connect(lambda: self._edit("Inverted", MaskModel.invert))
        p.clear_clicked.connect(lambda: self._edit("Cleared", MaskModel.clear))
        p.undo_clicked.connect(self.undo)
        p.redo_clicked.connect(self.redo)
        p.gaps_clicked.connect(lambda: self._edit("Gaps and negative pixels", lambda _: self.session.mask_invalid_pixels()))
        p.find_bad_pixels_clicked.connect(self.find_bad_pixels)
        p.accept_suggestion_clicked.connect(self.accept_suggestion)
        p.discard_suggestion_clicked.connect(lambda: self.show_suggestion(None))
        p.load_clicked.connect(lambda: self.load(add=False))
        p.add_clicked.connect(lambda: self.load(add=True))
        p.save_clicked.connect(self.save)
        p.style_changed.connect(self._style_changed)
        p.escape_pressed.connect(self._escape)
        self.tools.drawn.connect(self._drawn)
        self.tools.hint.connect(lambda text: self.shell.statusBar().showMessage(text, 6000))
        self.tools.refused.connect(lambda text: self.shell.show_message(text, "warning"))
        self.off_image = OffImageWatch({"cake": views.cake_view.plot.viewport(),
                                        "pattern": views.pattern_view.plot.viewport()}, self)
        self.off_image.used.connect(self._used_off_image)
        self._point_radius_changed(p.point_radius_box.value())

    # -- mode and display --------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.tools.active

    def set_active(self, active: bool) -> None:
        """Entering the Mask mode shows the user's mask alone; leaving it gives the image back to the others."""
        self.tools.set_active(active)
        self.ui.image_view.mask_item.setVisible(not active)
        self.refresh()
        if active and self.tools.tool == "arc":
            self._prepare_arc()

    def image_changed(self) -> None:
        """A new image or orientation: drop what was drawn or suggested for the old one."""
        self.tools.cancel()
        self.show_suggestion(None)
        self.refresh()

    def refresh(self) -> None:
        """Show the mask, its pixel count and what undo/redo would do."""
        mask = self.session.mask
        self.tools.mask, self.tools.geometry = mask, self.session.geometry
        if mask is None:
            self.panel.show_count(None)
            self.panel.show_history(None, None)
        else:
            self.panel.show_count(mask.count, mask.fraction)
            self.panel.show_history(mask.undo_label, mask.redo_label)
        if self.active:
            self.tools.show_mask(mask.array if mask is not None and mask.count else None)

    def _changed(self, label: str, count: int) -> None:
        self.refresh()
        self.shell.statusBar().showMessage(f"{label}: {count:,} pixels changed.".replace(",", " "), 5000)
        if count:
            self.mask_changed()  # the cake and pattern follow the mask

    def _style_changed(self) -> None:
        self.ui.image_view.set_mask_style(self.panel.color, self.panel.opacity)
        self.refresh()

    # -- running operations ------------------------------------------------------------------------
    def _ready(self) -> MaskModel | None:
        """The mask to edit, or None (with the reason shown) if there is none or the session is busy."""
        if self.session.mask is None or self.session.raw is None:
            self.shell.show_message("Load an image first: the mask is drawn on it.")
            return None
        if self.runner.blocking:
            self.shell.statusBar().showMessage("Busy: wait for the running task or press Cancel.", 3000)
            return None
        return self.session.mask

    def _edit(self, label: str, operation: Callable[[MaskModel], int]) -> bool:
        """Apply a quick operation now; False if it was refused or failed."""
        mask = self._ready()
        if mask is None:
            return False
        try:
            count = operation(mask)
        except Exception as exc:  # noqa: BLE001 - XcalError, or a bug shown as "Unexpected error"
            self.shell.show_message(describe_exception(exc))
            return False
        self._changed(label, count)
        return True

    def _run(self, label: str, operation: Callable[[MaskModel], int]) -> None:
        mask = self._ready()
        if mask is not None:
            self.runner.submit(label, lambda task: operation(mask), lambda count: self._changed(label, count))

    # -- drawing -----------------------------------------------------------------------------------
    def _tool_changed(self, tool: str) -> None:
        self.tools.set_tool(tool)
        if self.active and tool != "pan":
            self.ui.tabs.setCurrentWidget(self.ui.image_view)  # a shape is drawn on the image
        if tool == "arc":
            self._prepare_arc()

    def _used_off_image(self, view: str) -> None:
        """A drawing tool used on the cake or the pattern: nothing can be drawn there, say so."""
        tool = self.tools.tool
        if not self.active or tool == "pan":
            return
        name = next(text for key, text, _, _ in TOOLS if key == tool)
        self.shell.show_message(f"The {name} tool draws on the image only: the {view} shows what the mask leaves out "
                                 "but cannot be drawn on. Go back to the Image tab to draw.", "warning")

    def _point_radius_changed(self, radius: int) -> None:
        self.tools.point_radius = float(radius)

    def _prepare_arc(self) -> None:
        """Compute the 2θ/χ maps in the worker, so that the arc preview follows the mouse at once."""
        mask, geometry = self.session.mask, self.session.geometry
        if mask is not None and geometry is not None and not mask.angle_maps_ready(geometry):
            self.runner.submit("Computing 2θ and χ of every pixel", lambda task: mask.angle_maps(geometry),
                               blocking=False, kind="angle maps")

    def _drawn(self, label: str, apply: Apply) -> None:
        value = self.panel.masking
        name = label.capitalize() if value else f"Unmasked {label}"
        geometry, mask = self.session.geometry, self.session.mask
        slow = geometry is not None and mask is not None and not mask.angle_maps_ready(geometry)
        if label in ("arc", "annulus") and slow:
            self._run(name, lambda m: apply(m, value))
        else:
            self._edit(name, lambda m: apply(m, value))

    def _escape(self) -> None:
        """Esc drops the shape being drawn; with none, it goes back to panning."""
        if self.tools.drawing_in_progress:
            self.tools.cancel()
        else:
            self.panel.set_tool("pan")

    # -- panel actions -----------------------------------------------------------------------------
    def threshold(self, kind: str, level: float) -> None:
        value = self.panel.masking
        data = self.session.data if self.session.raw is not None else None
        if kind == "below":
            self._edit(f"Below {level:g}", lambda m: m.threshold_below(data, level, value))
        else:
            self._edit(f"Above {level:g}", lambda m: m.threshold_above(data, level, value))

    def undo(self) -> None:
        self._history("Undo", MaskModel.undo)

    def redo(self) -> None:
        self._history("Redo", MaskModel.redo)

    def _history(self, what: str, step: Callable[[MaskModel], str | None]) -> None:
        mask = self._ready()
        if mask is None:
            return
        label = step(mask)
        self.refresh()
        if label is None:
            self.shell.statusBar().showMessage(f"Nothing to {what.lower()}.", 3000)
            return
        self.shell.statusBar().showMessage(f"{what} {label}.", 3000)
        self.mask_changed()

    def find_bad_pixels(self, sigma: float) -> None:
        """Search in the worker: against the pixels at one 2θ on a good calibration, else a median filter (said why)."""
        if self._ready() is None:
            return
        self.runner.submit(f"Searching hot and dead pixels ({sigma:g} σ)",
                           lambda task: search_bad_pixels(self.session, sigma, task), self._searched)

    def _searched(self, search: BadPixelSearch) -> None:
        self.show_suggestion(search.found)
        if search.note:  # after show_suggestion, whose "nothing found" note it replaces
            found = search.found
            result = f"Found {int(found.hot.sum())} hot and {int(found.dead.sum())} dead pixels." if found.mask.any() \
                else "No hot or dead pixels found."
            self.shell.show_message(f"{result} {search.note}", "warning")

    def show_suggestion(self, found: BadPixels | None) -> None:
        """Show found pixels for the user to accept; nothing found is said, not shown."""
        if found is not None and not found.mask.any():
            self.shell.show_message(f"No hot or dead pixels found ({found.method}).", "info")
            found = None
        self.suggestion = found
        self.tools.show_suggestion(None if found is None else found.mask)
        self.panel.show_suggestion(None if found is None else f"Found {found.describe()}: circled on the image.")

    def accept_suggestion(self) -> None:
        found = self.suggestion
        if found is None:
            return
        if self.session.mask is None or self.session.mask.shape != found.mask.shape:
            self.show_suggestion(None)
            return
        if self._edit("Hot and dead pixels", lambda m: m.add(found.mask, "hot and dead pixels")):
            self.show_suggestion(None)

    # -- files -------------------------------------------------------------------------------------
    def load(self, add: bool) -> None:
        title = "Add a mask" if add else "Load a mask"
        path, _ = QFileDialog.getOpenFileName(self.shell, title, self.shell.last_folder(), _OPEN_FILTER)
        if not path:
            return
        self.shell.remember_folder(path)
        name = Path(path).name
        self._run(f"Adding {name}" if add else f"Loading {name}", lambda m: self.session.load_mask(path, add))

    def save(self) -> None:
        if self._ready() is None:
            return
        path = self._ask_save_path()
        if path:
            self.runner.submit(f"Saving {Path(path).name}", lambda task: self.session.save_mask(path),
                               lambda _: self.shell.show_message(f"Mask saved to {path}.", "info"))

    def _ask_save_path(self) -> str:
        """A mask file name; the chosen format's suffix is added unless the name has a mask suffix."""
        stem = Path(split_hdf5_source(self.session.raw.source)[0]).stem
        filters = [f"{name} (*{suffix})" for suffix, name in _SAVE_FORMATS]
        default = Path(self.shell.last_folder()) / f"{stem}.mask"
        path, chosen = QFileDialog.getSaveFileName(self.shell, "Save mask", str(default), ";;".join(filters))
        if not path:
            return ""
        if Path(path).suffix.lower() not in (*MASK_SUFFIXES, ".tif", ".tiff"):
            path += _SAVE_FORMATS[filters.index(chosen)][0] if chosen in filters else ".mask"
        self.shell.remember_folder(path)
        return path
