"""One calibration in progress: the state the GUI shows and the CLI drives.

The session holds the image (raw and transformed), the detector, the mask, the calibrant, the
start values, the picks and the history of geometries. Every user action is one method here, so
the GUI stays a thin layer and the tests exercise exactly what the buttons do.

Coordinates: everything the session exposes (picks, masks, geometry) refers to the *working*
array, i.e. the raw image after the user's rotations and flips. Saved ``.poni`` files are
converted back so that they fit the raw file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyFAI.detectors import Detector
from pyFAI.geometry import Geometry

from ...peaks.picking import RingPicker, pick_single_peak
from ..errors import DetectorError, FitError, PickError, XcalError
from ..geometry.detectors import detector_mask, make_detector
from ..geometry.refinement import geometry_values, new_geometry
from ..geometry.transforms import ImageTransform, raw_geometry, working_geometry
from ..integration.integrator import Cake, Integrator, Pattern
from ..io.calibrants import load_calibrant
from ..io.images import Image, load_image
from ..io.poni import read_poni, resolve_legacy, write_poni
from ..masks.dead_regions import DeadPixels, find_dead
from ..masks.model import MaskModel, read_mask, write_mask
from ..masks.saturation import SaturatedPixels, find_saturated
from ..progress import Task, ensure_task
from .no_click import AutoCalibration, auto_calibrate
from .picks import PickGroup, PickSet
from .pipeline import CalibrationResult, RefineOptions, calibrate, refine_calibration
from .trust import Correction, TrustReport, check_calibration

HC_KEV_A = 12.398419843320026  # h·c in keV·Å: λ[Å] = HC_KEV_A / E[keV]


def energy_to_wavelength(kev: float) -> float:
    """Photon energy in keV → wavelength in metres (pyFAI's unit)."""
    if not (kev > 0 and np.isfinite(kev)):
        raise XcalError(f"The energy must be a positive number of keV (got {kev}).")
    return HC_KEV_A / kev * 1e-10


@dataclass
class HistoryEntry:
    label: str  # "start", "calibrate", "refine", "edited", "loaded file.poni"
    geometry: Geometry
    rms_deg: float | None = None


@dataclass
class CalibrationSession:
    """State of one calibration; see the module docstring for the coordinate convention."""

    raw: Image | None = None
    transform: ImageTransform = field(default_factory=ImageTransform)
    raw_detector: Detector | None = None
    mask: MaskModel | None = None  # the user's mask, working frame, True = excluded; made with the image
    use_mask: bool = True
    calibrant_name: str | None = None
    dspacing: np.ndarray | None = None
    wavelength: float | None = None  # metres
    distance: float | None = None  # metres, start value
    picks: PickSet = field(default_factory=PickSet)
    result: CalibrationResult | None = None
    trust: TrustReport | None = None  # the verdict on ``result``, checked against the image
    history: list[HistoryEntry] = field(default_factory=list)
    integrator: Integrator = field(default_factory=Integrator)
    saturated: SaturatedPixels | None = None  # found on the image, excluded like the gaps
    dead: DeadPixels | None = None  # flat patches where the image around varies, excluded too
    dropped_clicks: list[Correction] = field(default_factory=list)  # clicks refused by ``pick_clicks``
    _picker: RingPicker | None = field(default=None, repr=False)
    _picker_key: int = field(default=0, repr=False)
    _data_version: int = field(default=0, repr=False)  # bumped whenever the working image or its masks change
    _checked: tuple = field(default=(), repr=False)  # what ``trust`` was judged on: image version, calibrant, wavelength
    _corrected_groups: list[PickGroup] = field(default_factory=list, repr=False)  # picks a ring-number correction moved
    _data: np.ndarray | None = field(default=None, repr=False)
    _invalid: np.ndarray | None = field(default=None, repr=False)

    # -- image, detector, transform -------------------------------------------------------------
    def load_image(self, source: str | Path, frame: int = 0) -> Image:
        """Load an image; the current transform is applied, the detector re-checked against it."""
        image = load_image(source, frame)
        if self.raw is not None and image.shape != self.raw.shape:
            self.raw_detector = None  # a different detector: the user must choose again
            self.mask = None
            self.picks.clear()
        self.raw = image
        self._refresh()
        return image

    def set_image(self, image: Image) -> None:
        """Use an already loaded image (the GUI loads in a worker thread)."""
        self.raw = image
        self._refresh()

    def set_detector(self, name: str | None = None, pixel_um: float | tuple[float, float] | None = None) -> Detector:
        shape = self.raw.shape if self.raw is not None else None
        self.raw_detector = make_detector(name, pixel_um, shape)
        self._refresh()
        return self.raw_detector

    def set_transform(self, transform: ImageTransform) -> None:
        """Change the rotations/flips; picks, mask and geometry are carried over to the new frame."""
        if self.raw is None:
            self.transform = transform.reduced()
            return
        raw_shape = self.raw.shape
        old = self.transform
        new = transform.reduced()
        geometry_raw = None if self.geometry is None else raw_geometry(self.geometry, old, raw_shape, self.raw_detector)
        # Picks put pixel i's centre at i (pyFAI); transforms map [i, i+1) spans: shift by half a pixel.
        groups = [(g.ring, np.column_stack(old.points_to_raw(g.points[:, 0] + 0.5, g.points[:, 1] + 0.5, raw_shape))) for g in self.picks.groups]
        mask, self.mask = self.mask, None
        self.transform = new
        self._refresh()
        if mask is not None:
            mask.change_frame(old, new, raw_shape)
            self.mask = mask
        self.picks.clear()
        for ring, pts in groups:
            rows, cols = new.points_from_raw(pts[:, 0], pts[:, 1], raw_shape)
            self.picks.add(ring, np.column_stack([rows - 0.5, cols - 0.5]))
        if geometry_raw is not None:
            self._push("transformed", working_geometry(geometry_raw, new, raw_shape))

    def _refresh(self) -> None:
        if self.raw is None:
            return
        self.dropped_clicks = []
        self._data_version += 1
        self._data = np.ascontiguousarray(self.transform.apply(self.raw.data))
        invalid = self.raw.invalid.copy()
        self.saturated = find_saturated(self.raw.data, invalid)
        if self.saturated is not None:
            invalid |= self.saturated.mask
        self.dead = find_dead(self.raw.data, invalid)
        if self.dead is not None:
            invalid |= self.dead.mask
        if self.raw_detector is not None:
            if tuple(self.raw_detector.shape or self.raw.shape) != tuple(self.raw.shape):
                self.raw_detector = None
            else:
                gaps = detector_mask(self.raw_detector, self.raw.shape)
                if gaps is not None:
                    invalid |= gaps
        self._invalid = np.ascontiguousarray(self.transform.apply(invalid))
        if self.mask is None or self.mask.shape != self._data.shape:
            self.mask = MaskModel(self._data.shape)
        self._picker = None

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            raise XcalError("No image is loaded.")
        return self._data

    @property
    def user_mask(self) -> np.ndarray | None:
        """The user's mask (read-only), None while nothing is masked."""
        return self.mask.array if self.mask is not None and self.mask.count else None

    @user_mask.setter
    def user_mask(self, value: np.ndarray | None) -> None:
        """Replace the user's mask (one undo step); None clears it."""
        if self.mask is None:
            if value is None:
                return
            self.mask = MaskModel(np.shape(value))
        if value is None:
            self.mask.clear()
        else:
            self.mask.replace(value, "set")

    @property
    def invalid(self) -> np.ndarray:
        """Pixels excluded from every calculation: invalid pixels, gaps, and the mask if in use."""
        if self._invalid is None:
            raise XcalError("No image is loaded.")
        if self.use_mask and self.user_mask is not None:
            return self._invalid | self.user_mask
        return self._invalid

    @property
    def detector(self) -> Detector:
        """The detector of the working array (generic if the transform rotates or flips)."""
        if self.raw_detector is None or self.raw is None:
            raise DetectorError("No detector is set: choose the detector or give its pixel size.")
        if self.transform.is_identity:
            return self.raw_detector
        probe = new_geometry(self.raw_detector, dist=0.1, wavelength=1e-10)
        return working_geometry(probe, self.transform, self.raw.shape).detector

    # -- mask ------------------------------------------------------------------------------------
    def load_mask(self, path: str | Path, add: bool = False) -> int:
        """Read a mask made for the raw file (any rotation/flip is applied) and replace or add to the mask.

        Returns the number of pixels that changed. A mask of another shape is refused, naming both shapes.
        """
        if self.raw is None or self.mask is None:
            raise XcalError("Load an image before its mask.")
        mask = self.transform.apply(read_mask(path, self.raw.shape))
        name = Path(path).name
        return self.mask.add(mask, f"add {name}") if add else self.mask.replace(mask, f"load {name}")

    def save_mask(self, path: str | Path) -> None:
        """Save the mask so that it fits the raw file (transforms undone), atomically."""
        if self.raw is None or self.mask is None:
            raise XcalError("There is no image, so no mask to save.")
        write_mask(path, self.transform.invert(self.mask.array))

    def mask_invalid_pixels(self) -> int:
        """Put the detector gaps and the negative or non-finite pixels into the user's mask (to save them)."""
        if self._invalid is None or self.mask is None:
            raise XcalError("No image is loaded.")
        return self.mask.add(self._invalid, "gaps and negative pixels")

    # -- calibrant and start values ----------------------------------------------------------------
    def set_calibrant(self, name_or_path: str | Path) -> None:
        calibrant = load_calibrant(name_or_path)
        self.dspacing = np.asarray(calibrant.dspacing, dtype=float)
        self.calibrant_name = Path(str(name_or_path)).stem

    def set_energy(self, kev: float) -> None:
        self.wavelength = energy_to_wavelength(kev)

    # -- picks -----------------------------------------------------------------------------------
    @property
    def picker(self) -> RingPicker:
        """Ring picker for the current image and mask (rebuilt when the mask in use changes)."""
        invalid = self.invalid
        key = hash(np.packbits(invalid).tobytes())
        if self._picker is None or self._picker_key != key:
            self._picker, self._picker_key = RingPicker(self.data, invalid), key
        return self._picker

    def pick(self, row: float, col: float, ring: int, mode: str = "ring", method: str = "massif", search_size: int = 10) -> PickGroup:
        """Pick at a click: ``mode`` 'ring' (all peaks of the ring) or 'peak' (one peak); ring 0-based."""
        if self.dspacing is not None and ring >= len(self.dspacing):
            raise PickError(f"Ring {ring + 1} does not exist: {self.calibrant_name} has {len(self.dspacing)} lines.")
        self._check_click(row, col)
        if mode == "peak":
            points = np.array([pick_single_peak(self.data, self.invalid, row, col, search_size)])
        elif mode == "ring":
            same = [g for g in self.picks.groups if g.ring == ring]
            known = np.concatenate([g.points for g in same]) if same else None
            points = self.picker.pick_ring(row, col, method, search_size, known)
            if known is not None and len(known) >= 2:  # the traced ring replaces the clicks that seeded it
                self.picks.groups = [g for g in self.picks.groups if g.ring != ring]
        else:
            raise PickError(f"Unknown pick mode {mode!r}: use 'ring' or 'peak'.")
        return self.picks.add(ring, points)

    def _check_click(self, row: float, col: float) -> None:
        """Refuse a click outside the image or on pixels no calculation may use, saying which."""
        r, c = int(np.floor(row + 0.5)), int(np.floor(col + 0.5))
        shape = self.data.shape
        if not (0 <= r < shape[0] and 0 <= c < shape[1]):
            raise PickError(f"The click at x={col:.0f}, y={row:.0f} is outside the image ({shape[1]} x {shape[0]} px).")
        if not self.invalid[r, c]:
            return
        if self.saturated is not None and self.transform.apply(self.saturated.mask)[r, c]:
            why = "a saturated region (pixels stuck at the maximum)"
        elif self.dead is not None and self.transform.apply(self.dead.mask)[r, c]:
            why = "a dead region (one constant value where the image around varies)"
        elif self.use_mask and self.user_mask is not None and self.user_mask[r, c]:
            why = "a masked pixel"
        else:
            why = "a detector gap or a dead pixel"
        raise PickError(f"The click at x={col:.0f}, y={row:.0f} is on {why}: no ring can be measured there; click on the ring itself.")

    def pick_clicks(self, clicks: list[tuple[float, float, int]], method: str = "massif") -> list[Correction]:
        """Pick every click (row, col, 0-based ring); a click that finds no ring is dropped, saying why.

        One bad click among good ones (off its ring, in a gap, on a saturated blob) no longer stops
        the calibration: the others calibrate, and the dropped one is reported with the verdict.
        :raises PickError: no click found a ring (every reason given).
        """
        self.dropped_clicks = []
        for row, col, ring in clicks:
            try:
                self.pick(row, col, ring, "ring", method)
            except PickError as exc:
                self.dropped_clicks.append(Correction("dropped click", f"Dropped (ring {ring + 1}): {exc}"))
        if len(self.picks) == 0:
            raise PickError(" ".join(c.message for c in self.dropped_clicks) or "There were no clicks.")
        return self.dropped_clicks

    # -- calibration -----------------------------------------------------------------------------
    def _check_ready(self) -> None:
        if self.raw is None:
            raise XcalError("Load a calibration image first.")
        if self.dspacing is None:
            raise XcalError("Choose a calibrant first.")
        if not self.wavelength:
            raise XcalError("Enter the wavelength or the energy first.")
        self.detector  # raises if unset

    def calibrate(self, options: RefineOptions | None = None, task: Task | None = None,
                  check_numbers: bool = True) -> CalibrationResult:
        """Picks → geometry → automatic refinement, checked against the image. Picks are kept whatever happens.

        :param check_numbers: let the image correct the typed ring numbers (off: the user insists on them;
            a contradiction then still makes the verdict bad).
        """
        self._check_ready()
        if len(self.picks) == 0:
            raise PickError("No peaks are picked: click on a ring first.")
        task = ensure_task(task)
        result = self._calibrate_picks(0, options, task.sub(0.0, 0.8))
        checking = task.sub(0.8, 1.0)
        recalibrate = (lambda shift: self._calibrate_picks(shift, options, checking)) if check_numbers else None
        checked, self.trust = check_calibration(self.data, self.invalid, self.dspacing, result, options, self.calibrant_name,
                                                self.picks.control_points(), recalibrate, self._notes(), checking)
        shift = self.trust.ring_shift
        if shift:
            self.picks.shift_rings(shift)
        self._corrected_groups = list(self.picks.groups) if shift else []
        self._push("start", checked.history[0])  # the first guess from the picks, restorable
        return self._accept("calibrate", checked)

    def revert_ring_numbers(self, options: RefineOptions | None = None, task: Task | None = None) -> CalibrationResult:
        """Go back to the ring numbers as typed (after the image corrected them) and calibrate with them."""
        shift = self.trust.ring_shift if self.verdict is not None else 0
        if not shift:
            raise PickError("The ring numbers were not changed: there is nothing to go back to.")
        if self.picks.groups != self._corrected_groups:
            raise PickError("The picks changed since xcal corrected the ring numbers: set the ring number and pick again.")
        self.picks.shift_rings(-shift)
        return self.calibrate(options, task, check_numbers=False)

    def _calibrate_picks(self, shift: int, options: RefineOptions | None, task: Task | None) -> CalibrationResult:
        picks = self.picks.control_points()
        if shift:
            rings = picks.rings + shift
            if rings.min() < 0 or rings.max() >= len(self.dspacing):
                raise PickError(f"Ring numbers shifted by {shift:+d} do not exist in {self.calibrant_name}.")
            picks.rings = rings
        return calibrate(self.data, self.invalid, self.detector, self.dspacing, self.wavelength, picks, self.distance, options, task)

    def _notes(self) -> list[Correction]:
        """What xcal changed in the inputs on its own before the fit (reported with the verdict)."""
        notes = list(self.dropped_clicks)
        if self.saturated is not None:
            notes.append(Correction("saturated pixels", self.saturated.describe()))
        if self.dead is not None:
            notes.append(Correction("dead pixels", self.dead.describe()))
        return notes

    def auto_calibrate(self, options: RefineOptions | None = None, task: Task | None = None) -> AutoCalibration:
        """No clicks: the rings are found and numbered on the image; the traced rings become the picks."""
        self._check_ready()
        task = ensure_task(task)
        auto = auto_calibrate(self.data, self.invalid, self.detector, self.dspacing, self.wavelength, self.distance, options,
                              task.sub(0.0, 0.85))
        auto.result, self.trust = check_calibration(self.data, self.invalid, self.dspacing, auto.result, options, self.calibrant_name,
                                                    notes=self._notes(), task=task.sub(0.85, 1.0))
        self.picks.clear()
        for ring in np.unique(auto.picks.rings):
            sel = auto.picks.rings == ring
            self.picks.add(int(ring), np.column_stack([auto.picks.rows[sel], auto.picks.cols[sel]]))
        self._push("start", auto.start)
        self._accept("auto calibrate", auto.result)
        return auto

    def refine(self, options: RefineOptions | None = None, task: Task | None = None) -> CalibrationResult:
        """Refine the current geometry (after a calibration, a loaded .poni, or hand edits), checked against the image."""
        self._check_ready()
        if self.geometry is None:
            raise FitError("There is no geometry to refine yet: calibrate first or load a .poni file.")
        task = ensure_task(task)
        result = refine_calibration(self.data, self.invalid, self.geometry, self.dspacing, self.picks.control_points(), options,
                                    task.sub(0.0, 0.85))
        result, self.trust = check_calibration(self.data, self.invalid, self.dspacing, result, options, self.calibrant_name,
                                               notes=self._notes(), task=task.sub(0.85, 1.0))
        return self._accept("refine", result)

    def _accept(self, label: str, result: CalibrationResult) -> CalibrationResult:
        self.result = result
        self.wavelength = result.geometry.wavelength
        self._checked = self._inputs()
        self._push(label, result.geometry, result.fit.rms_deg)
        return result

    # -- geometry and history --------------------------------------------------------------------
    @property
    def geometry(self) -> Geometry | None:
        return self.history[-1].geometry if self.history else None

    @property
    def verdict(self) -> TrustReport | None:
        """The checks' verdict on the current geometry; None once it is not the last calibration's (edited,
        loaded), or the image, its masks, the calibrant or the wavelength changed since it was judged."""
        if self.trust is None or self.result is None or self.geometry is not self.result.geometry:
            return None
        return self.trust if self._checked == self._inputs() else None

    def _inputs(self) -> tuple:
        mask = self.mask.count if self.mask is not None and self.use_mask else 0
        return (self._data_version, mask, self.calibrant_name, self.wavelength)

    def geometry_for_masks(self) -> Geometry | None:
        """The geometry bad-pixel searches may rely on (None: none yet); refused if the checks called it bad.

        A wrong geometry puts the rings where the image has none: every ring pixel then looks hot.
        """
        verdict = self.verdict
        if verdict is not None and verdict.level == "bad":
            raise FitError("The current calibration was judged bad, so the pixels at one 2θ cannot be compared: "
                           "fix the calibration first.")
        return self.geometry

    def _push(self, label: str, geometry: Geometry, rms: float | None = None) -> None:
        self.history.append(HistoryEntry(label, geometry, rms))

    def add_geometry(self, label: str, geometry: Geometry, rms_deg: float | None = None) -> Geometry:
        """Make ``geometry`` (from another route, e.g. a circle fit) the current one, in the history."""
        if geometry.wavelength:
            self.wavelength = geometry.wavelength
        self._push(label, geometry, rms_deg)
        return geometry

    def set_geometry_values(self, **values: float) -> Geometry:
        """Hand edit of pyFAI parameters (SI units), recorded in the history."""
        if self.geometry is None:
            raise FitError("There is no geometry to edit yet.")
        merged = geometry_values(self.geometry) | values
        geometry = new_geometry(self.geometry.detector, **merged)
        self._push("edited", geometry)
        return geometry

    def restore(self, index: int) -> Geometry:
        entry = self.history[index]
        self._push(f"restored {entry.label}", entry.geometry, entry.rms_deg)
        return entry.geometry

    def save_poni(self, path: str | Path) -> None:
        """Save the current geometry so that it fits the raw file (transforms undone), atomically."""
        if self.geometry is None or self.raw is None:
            raise FitError("There is no calibration to save yet.")
        geometry = raw_geometry(self.geometry, self.transform, self.raw.shape, self.raw_detector)
        comments = [f"Calibrated with xcal on {self.raw.name}"]
        if self.calibrant_name:
            comments.append(f"Calibrant: {self.calibrant_name}")
        if self.result is not None:
            fit = self.result.fit
            comments.append(f"RMS residual: {fit.rms_deg:.5f} deg 2theta, {fit.rms_px:.3f} px, {len(fit.points)} points")
        write_poni(path, geometry, comments)

    def load_poni(self, path: str | Path, legacy_dioptas: bool | None = None) -> list[str]:
        """Load a .poni for the raw file; legacy Dioptas files are recognised on the image. Returns notes."""
        if self.raw is not None and legacy_dioptas is None:
            read = resolve_legacy(path, self.raw.data, self.raw.invalid)
        else:
            read = read_poni(path, legacy_dioptas=bool(legacy_dioptas), shape=self.raw.shape if self.raw else None)
        geometry = read.geometry
        if self.raw is not None:
            if self.raw_detector is None or self.raw_detector.name == "Detector":
                self.raw_detector = geometry.detector
                self._refresh()
            geometry = working_geometry(geometry, self.transform, self.raw.shape)
        if geometry.wavelength:
            self.wavelength = geometry.wavelength
        self._push(f"loaded {Path(path).name}", geometry)
        return list(read.notes)

    # -- views -----------------------------------------------------------------------------------
    def pattern(self, npt: int = 2000, unit: str = "2th_deg") -> Pattern:
        if self.geometry is None:
            raise FitError("There is no geometry yet.")
        return self.integrator.pattern(self.data, self.geometry, self.invalid, npt, unit)

    def cake(self, npt_radial: int = 1000, npt_azimuth: int = 360) -> Cake:
        if self.geometry is None:
            raise FitError("There is no geometry yet.")
        return self.integrator.cake(self.data, self.geometry, self.invalid, npt_radial, npt_azimuth)
