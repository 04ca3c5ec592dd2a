"""Cake and pattern for a geometry, through pyFAI's azimuthal integrator.

The integrator is rebuilt only when the geometry, the mask or the image shape changes. Two
engines give the same numbers (the tests compare them):

* pyFAI's bbox histogram: nothing to build, and it releases the GIL while it works. It serves
  one-off integrations (the calibration views after every fit) and the first frames while a
  look-up table is being built.
* With ``sparse=True`` (integration mode, batch): a CSR look-up table per binning
  (:mod:`.sparse`), built once per geometry, mask and shape, in a background thread (or at once
  with ``background=False``), then used for every frame: several times faster in steady state.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from pyFAI.geometry import Geometry
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from ..errors import XcalError
from ..geometry.refinement import PARAMS, geometry_values, ring_tth
from .corrections import Corrections
from .sparse import SparseEngine

UNITS = {"2th_deg": "2θ (°)", "q_nm^-1": "q (nm⁻¹)", "q_A^-1": "q (Å⁻¹)", "d*2_A^-2": "1/d² (Å⁻²)", "r_mm": "r (mm)",
         "d_A": "d (Å)"}
PATTERN_UNITS = ("2th_deg", "q_nm^-1", "q_A^-1", "d_A")
CAKE_UNITS = ("2th_deg", "q_nm^-1", "q_A^-1")
# Pixel splitting (smooth cakes, exact peak positions); the histogram engine releases the GIL
# while it works, so the GUI stays responsive, and needs no look-up table build.
METHOD = ("bbox", "histogram", "cython")
# Bad pixels are masked explicitly (``invalid``); a detector's own "dummy" value (-2 ± 1.5 for a
# Pilatus) would also drop legitimate values of a dark-corrected image. NaN matches nothing.
_NO_DUMMY = float("nan")
MAX_TABLES = 4  # look-up tables kept for one geometry (a few units / point counts / ranges)
# Bounds of the binning: past them an integration would only exhaust the memory (a pattern of
# 10⁵ points oversamples the largest detectors' diagonals twenty-fold; a cake of 2·10⁷ bins is 160 MB).
MAX_NPT = 100_000
MAX_NPT_AZIMUTH = 3600
MAX_CAKE_BINS = 20_000_000

log = logging.getLogger(__name__)


@dataclass
class Pattern:
    radial: np.ndarray
    intensity: np.ndarray
    unit: str  # one of PATTERN_UNITS
    sigma: np.ndarray | None = None  # standard error (Poisson), when asked for


@dataclass
class Cake:
    intensity: np.ndarray  # (n_azimuth, n_radial)
    radial: np.ndarray  # 2θ in degrees (or q)
    azimuth: np.ndarray  # χ in degrees
    unit: str


@dataclass(frozen=True)
class IntegrationSettings:
    """Everything that defines a pattern and a cake besides the image, geometry, mask and corrections."""

    unit: str = "2th_deg"
    npt: int = 2000
    azimuth_range: tuple[float, float] | None = None  # degrees (χ), pattern only; may cross ±180°
    polarization: float | None = None  # -1..1 (1: horizontal), None: no correction
    solid_angle: bool = True
    cake_unit: str = "2th_deg"
    cake_npt: int = 1000
    cake_npt_azimuth: int = 360

    def __post_init__(self) -> None:
        """Refuse unusable settings here, so the GUI, the CLI and Python callers get the same messages."""
        _check_unit(self.unit, PATTERN_UNITS, "unit")
        _check_unit(self.cake_unit, CAKE_UNITS, "cake_unit")
        check_npt(self.npt, "npt")
        check_npt(self.cake_npt, "cake_npt")
        check_npt(self.cake_npt_azimuth, "cake_npt_azimuth", MAX_NPT_AZIMUTH)
        if self.cake_npt * self.cake_npt_azimuth > MAX_CAKE_BINS:
            raise XcalError(f"The cake of {self.cake_npt} x {self.cake_npt_azimuth} bins is too large "
                            f"(at most {MAX_CAKE_BINS:.0e} bins): lower cake_npt or cake_npt_azimuth.")
        if self.polarization is not None:
            if not _is_real(self.polarization) or not -1 <= self.polarization <= 1:
                raise XcalError(f"The polarization factor must be a number between -1 and 1, or None for no "
                                f"correction (got {self.polarization!r}).")
            object.__setattr__(self, "polarization", float(self.polarization))
        if not isinstance(self.solid_angle, (bool, np.bool_)):
            raise XcalError(f"solid_angle must be True or False (got {self.solid_angle!r}).")
        if self.azimuth_range is not None:
            rng = self.azimuth_range
            if isinstance(rng, (str, bytes)) or not hasattr(rng, "__len__") or len(rng) != 2 \
                    or not all(_is_real(a) for a in rng):
                raise XcalError(f"The azimuth range must be two angles in degrees, (from, to), or None "
                                f"(got {rng!r}).")
            object.__setattr__(self, "azimuth_range", tuple(float(a) for a in rng))
            azimuth_frame(self.azimuth_range)  # raises if unusable

    def header(self) -> list[str]:
        """Settings as lines for the header of an output file."""
        azimuth = "all" if self.azimuth_range is None else f"{self.azimuth_range[0]:g} to {self.azimuth_range[1]:g} deg"
        polarization = "none" if self.polarization is None else f"{self.polarization:g}"
        return [f"Unit: {self.unit}, points: {self.npt}, azimuth range: {azimuth}",
                f"Polarization factor: {polarization}, solid-angle correction: {'yes' if self.solid_angle else 'no'}",
                "Method: pixel splitting bbox (pyFAI)"]


def _is_real(value: object) -> bool:
    """A real number (int, float, numpy scalar), not a bool or a string."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_unit(unit: object, allowed: tuple[str, ...], name: str) -> None:
    if not isinstance(unit, str) or unit not in allowed:
        what = "Unknown unit" if name == "unit" else "Unknown cake unit"
        raise XcalError(f"{what} {unit!r} ({name}): use one of {', '.join(allowed)}.")


def check_npt(value: object, name: str = "npt", maximum: int = MAX_NPT) -> None:
    """Refuse a number of bins that is not an integer in 2..``maximum`` (pyFAI asserts, or fills the memory)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 2 <= value <= maximum:
        raise XcalError(f"The number of points ({name}) must be an integer from 2 to {maximum} (got {value!r}).")


def azimuth_frame(azimuth_range: tuple[float, float] | None) -> tuple[bool, tuple[float, float] | None]:
    """(χ discontinuity at 0°?, the range in that frame): pyFAI needs a range inside one turn of its χ.

    χ runs over -180..180° by default; a range across ±180° (150 to -150) is taken over 0..360°.
    """
    if azimuth_range is None:
        return False, None
    lo, hi = (float(a) for a in azimuth_range)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise XcalError(f"The azimuth range must be two finite angles in degrees (got {lo}, {hi}).")
    a, b = (lo + 180) % 360 - 180, 180 - (180 - hi) % 360  # a in [-180, 180), b in (-180, 180]
    if a < b:
        return False, (a, b)
    a, b = lo % 360, 360 - (-hi) % 360  # a in [0, 360), b in (0, 360]
    if a < b:
        return True, (a, b)
    raise XcalError(f"The azimuth range {lo:g} to {hi:g} degrees is empty.")


@dataclass(eq=False)
class _Prepared:
    """What one (geometry, mask, shape) needs: pyFAI integrators, tables, per-pixel normalisation."""

    key: tuple
    ai: AzimuthalIntegrator
    mask: np.ndarray | None  # static mask given to pyFAI (None: the detector's)
    tables: OrderedDict = field(default_factory=OrderedDict)  # table key → Future[SparseEngine]
    ai_zero: AzimuthalIntegrator | None = None  # χ from 0 to 360°, for ranges across ±180°
    norm: tuple | None = None  # (solid angle, polarization, flat, token, per-pixel normalisation)

    def integrator(self, disc_at_zero: bool) -> AzimuthalIntegrator:
        if not disc_at_zero:
            return self.ai
        if self.ai_zero is None:
            ai = AzimuthalIntegrator(detector=self.ai.detector, **geometry_values(self.ai))
            ai.auto_gc = False
            ai.setChiDiscAtZero()
            self.ai_zero = ai
        return self.ai_zero


class Integrator:
    """Holds one pyFAI integrator (and its look-up tables) per (geometry, mask, shape); thread-safe.

    :param sparse: use look-up tables for repeated integration (integration mode, batch).
    :param background: build the tables in a background thread, integrating with the histogram
        engine meanwhile (GUI); False builds them at the first call (batch workers).
    """

    def __init__(self, sparse: bool = False, background: bool = True) -> None:
        self.sparse = sparse
        self.background = background
        self._lock = threading.Lock()
        self._prepared: _Prepared | None = None
        self._builder: ThreadPoolExecutor | None = None

    # -- the cached state ---------------------------------------------------------------------------
    def _prepare(self, geometry: Geometry, mask: np.ndarray | None, shape: tuple[int, int]) -> _Prepared:
        mask_key = None if mask is None else (mask.shape, hash(np.packbits(mask).tobytes()))
        values = geometry_values(geometry)
        key = (tuple(values[p] for p in PARAMS), id(geometry.detector), tuple(shape), mask_key)
        with self._lock:
            old = self._prepared
            if old is None or old.key != key:
                ai = AzimuthalIntegrator(detector=geometry.detector, **values)
                ai.auto_gc = False
                if mask is None and geometry.detector.mask is not None:
                    mask = np.asarray(geometry.detector.mask, bool)
                self._prepared = _Prepared(key, ai, None if mask is None else np.ascontiguousarray(mask, bool))
                if old is not None:
                    for future in old.tables.values():
                        future.cancel()
            return self._prepared

    def integrator(self, geometry: Geometry, mask: np.ndarray | None, shape: tuple[int, int]) -> AzimuthalIntegrator:
        return self._prepare(geometry, mask, shape).ai

    def _table(self, prep: _Prepared, key: tuple) -> SparseEngine | None:
        """The look-up table for ``key`` (npt, unit, χ disc at 0, azimuth range) if it is ready.

        Without ``background`` it is built now; with it, None until :meth:`_build_later` is done.
        """
        with self._lock:
            future = prep.tables.get(key)
            if future is not None:
                prep.tables.move_to_end(key)
            elif not self.background:
                future = self._start_build(prep, key)
        if future is None:
            return None
        if not self.background:
            return future.result()
        if future.done() and not future.cancelled() and future.exception() is None:
            return future.result()
        return None  # being built (or failed: logged); the histogram engine gives the same numbers

    def _build_later(self, prep: _Prepared, key: tuple) -> None:
        """Start building the table in the background (after the caller has its result: no waiting)."""
        with self._lock:
            if key not in prep.tables:
                self._start_build(prep, key)

    def _start_build(self, prep: _Prepared, key: tuple) -> Future:
        npt, unit, disc_at_zero, azimuth_range = key

        def build() -> SparseEngine:
            ai = prep.integrator(disc_at_zero)
            rad = None if azimuth_range is None else ai.normalize_azimuth_range(azimuth_range)
            return SparseEngine(ai, prep.key[2], prep.mask, npt, unit, rad)

        if self.background:
            if self._builder is None:
                self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xcal-lut")
            future = self._builder.submit(build)
            future.add_done_callback(_log_failure)
        else:
            future = Future()
            try:
                future.set_result(build())
            except Exception as exc:  # noqa: BLE001 - kept in the future, raised by the caller
                future.set_exception(exc)
        prep.tables[key] = future
        while len(prep.tables) > MAX_TABLES:
            prep.tables.popitem(last=False)[1].cancel()
        return future

    def prepare(self, geometry: Geometry, mask: np.ndarray | None, shape: tuple[int, int],
                settings: IntegrationSettings, cake: bool = True) -> list[Future]:
        """Start building the tables ``settings`` need, so the first integration does not wait.

        Does nothing unless ``sparse``; returns the futures (already done without ``background``).
        """
        if not self.sparse:
            return []
        prep = self._prepare(geometry, mask, shape)
        disc, rng = azimuth_frame(settings.azimuth_range)
        wanted = [(settings.npt, _pyfai_unit(settings.unit), disc, rng)]
        if cake:
            wanted.append(((settings.cake_npt, settings.cake_npt_azimuth), settings.cake_unit, False, None))
        futures = []
        with self._lock:
            for key in wanted:
                futures.append(prep.tables.get(key) or self._start_build(prep, key))
        return futures

    def _norm(self, prep: _Prepared, solid_angle: bool, polarization: float | None,
              flat: np.ndarray | None) -> tuple[np.ndarray, object]:
        """Per-pixel normalisation (solid angle × polarization × flat), flattened, and its cache token."""
        with self._lock:
            cached = prep.norm
            if cached is not None and cached[:2] == (solid_angle, polarization) and cached[2] is flat:
                return cached[4], cached[3]
        shape = prep.key[2]
        norm = np.ones(shape, np.float32)
        if solid_angle:
            norm *= prep.ai.solidAngleArray(shape)
        if polarization is not None:
            norm *= prep.ai.polarization(shape, polarization)
        if flat is not None:
            norm *= np.where(flat > 0, flat, 1)
        token = object()
        with self._lock:
            prep.norm = (solid_angle, polarization, flat, token, norm.ravel())
        return norm.ravel(), token

    # -- integration --------------------------------------------------------------------------------
    def pattern(
        self,
        data: np.ndarray,
        geometry: Geometry,
        mask: np.ndarray | None = None,
        npt: int = 2000,
        unit: str = "2th_deg",
        azimuth_range: tuple[float, float] | None = None,
        polarization: float | None = None,
        *,
        solid_angle: bool = True,
        corrections: Corrections | None = None,
        invalid: np.ndarray | None = None,
        sigma: bool = False,
    ) -> Pattern:
        """Azimuthally averaged pattern; ``unit`` 'd_A' is computed from q (pyFAI has no d unit).

        ``mask`` is static (part of the cache key); ``invalid`` marks this frame's unusable pixels
        (e.g. negative values) on top of it; ``sigma`` adds Poisson standard errors.
        """
        _check_unit(unit, PATTERN_UNITS, "unit")
        check_npt(npt)
        disc, rng = azimuth_frame(azimuth_range)
        run = _Run(self, data, geometry, mask, solid_angle, polarization, corrections, invalid, sigma)
        key = (npt, _pyfai_unit(unit), disc, rng)
        table = self._table(run.prep, key) if self.sparse else None
        if table is not None:
            intensity, error = run.sparse(table)
            radial = table.radial
        else:
            res = run.prep.integrator(disc).integrate1d(
                run.signal, npt, unit=key[1], method=METHOD, azimuth_range=rng, **run.pyfai_kwargs())
            radial, intensity = np.asarray(res.radial), np.asarray(res.intensity)
            error = np.asarray(res.sigma) if sigma else None
            if self.sparse:
                self._build_later(run.prep, key)
        if unit == "d_A":
            keep = radial > 0
            radial, intensity = (2 * np.pi / radial[keep])[::-1], intensity[keep][::-1]
            error = None if error is None else error[keep][::-1]
        return Pattern(radial, intensity, unit, error)

    def cake(
        self,
        data: np.ndarray,
        geometry: Geometry,
        mask: np.ndarray | None = None,
        npt_radial: int = 1000,
        npt_azimuth: int = 360,
        unit: str = "2th_deg",
        polarization: float | None = None,
        *,
        solid_angle: bool = True,
        corrections: Corrections | None = None,
        invalid: np.ndarray | None = None,
    ) -> Cake:
        """2θ (or q) × χ over 360°: straight calibrant lines mean a good calibration."""
        _check_unit(unit, CAKE_UNITS, "cake_unit")
        check_npt(npt_radial, "npt_radial")
        check_npt(npt_azimuth, "npt_azimuth", MAX_NPT_AZIMUTH)
        run = _Run(self, data, geometry, mask, solid_angle, polarization, corrections, invalid, False)
        key = ((npt_radial, npt_azimuth), unit, False, None)
        table = self._table(run.prep, key) if self.sparse else None
        if table is not None:
            intensity, _ = run.sparse(table)
            return Cake(intensity, table.radial, table.azimuth, unit)
        res = run.prep.ai.integrate2d(run.signal, npt_radial, npt_azimuth, unit=unit, method=METHOD, **run.pyfai_kwargs())
        if self.sparse:
            self._build_later(run.prep, key)
        return Cake(np.asarray(res.intensity), np.asarray(res.radial), np.asarray(res.azimuthal), unit)

    def integrate(self, data: np.ndarray, geometry: Geometry, settings: IntegrationSettings,
                  mask: np.ndarray | None = None, corrections: Corrections | None = None,
                  invalid: np.ndarray | None = None, sigma: bool = False) -> Pattern:
        """:meth:`pattern` with the options of ``settings``."""
        return self.pattern(data, geometry, mask, settings.npt, settings.unit, settings.azimuth_range,
                            settings.polarization, solid_angle=settings.solid_angle, corrections=corrections,
                            invalid=invalid, sigma=sigma)

    def integrate_cake(self, data: np.ndarray, geometry: Geometry, settings: IntegrationSettings,
                       mask: np.ndarray | None = None, corrections: Corrections | None = None,
                       invalid: np.ndarray | None = None) -> Cake:
        """:meth:`cake` with the options of ``settings``."""
        return self.cake(data, geometry, mask, settings.cake_npt, settings.cake_npt_azimuth, settings.cake_unit,
                         settings.polarization, solid_angle=settings.solid_angle, corrections=corrections,
                         invalid=invalid)

    def wait(self) -> None:
        """Wait for the tables being built (tests, benchmarks)."""
        with self._lock:
            futures = list(self._prepared.tables.values()) if self._prepared else []
        for future in futures:
            if not future.cancelled():
                future.exception()

    def close(self) -> None:
        """Stop the background builder (pending builds are dropped)."""
        if self._builder is not None:
            self._builder.shutdown(wait=False, cancel_futures=True)
            self._builder = None


class _Run:
    """One integration call: corrected signal, this frame's bad pixels, and the engine inputs."""

    def __init__(self, owner: Integrator, data: np.ndarray, geometry: Geometry, mask: np.ndarray | None,
                 solid_angle: bool, polarization: float | None, corrections: Corrections | None,
                 invalid: np.ndarray | None, sigma: bool) -> None:
        corrections = corrections if corrections is not None and not corrections.empty else None
        if corrections is not None:
            corrections.check_shape(data.shape)
            extra = corrections.invalid()
            if extra is not None:
                mask = extra if mask is None else mask | extra
        self.owner, self.corrections = owner, corrections
        self.prep = owner._prepare(geometry, mask, data.shape)
        self.solid_angle, self.polarization = solid_angle, polarization
        self.signal = np.asarray(corrections.signal(data) if corrections else data, dtype=np.float32)
        bad = ~np.isfinite(self.signal)
        self.bad = bad if invalid is None else bad | invalid
        self.variance = None
        if sigma:
            self.variance = corrections.variance(data) if corrections else np.maximum(data, 1.0, dtype=np.float32)

    @property
    def flat(self) -> np.ndarray | None:
        return None if self.corrections is None else self.corrections.flat

    def sparse(self, table: SparseEngine) -> tuple[np.ndarray, np.ndarray | None]:
        norm, token = self.owner._norm(self.prep, self.solid_angle, self.polarization, self.flat)
        return table.integrate(self.signal, self.bad, norm, token, self.variance)

    def pyfai_kwargs(self) -> dict:
        mask = self.prep.mask
        if self.bad.any():
            mask = self.bad if mask is None else mask | self.bad
        flat = self.flat
        if flat is not None:
            flat = np.where(flat > 0, flat, 1).astype(np.float32)
        return dict(mask=mask, polarization_factor=self.polarization, correctSolidAngle=self.solid_angle, flat=flat,
                    variance=self.variance, dummy=_NO_DUMMY)


def _pyfai_unit(unit: str) -> str:
    return "q_A^-1" if unit == "d_A" else unit


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("Look-up table build failed (the histogram engine is used instead): %s", future.exception())


def calibrant_positions(dspacing: np.ndarray, wavelength: float, unit: str = "2th_deg") -> np.ndarray:
    """Positions of the calibrant lines in a pattern unit (lines that cannot diffract are dropped)."""
    d = np.asarray(dspacing, dtype=float)
    if unit == "d_A":
        return d
    tth = ring_tth(d, np.arange(len(d)), wavelength)
    d, tth = d[np.isfinite(tth)], tth[np.isfinite(tth)]
    if unit == "2th_deg":
        return np.degrees(tth)
    q_a = 2 * np.pi / d
    if unit == "q_A^-1":
        return q_a
    if unit == "q_nm^-1":
        return 10 * q_a
    raise XcalError(f"Unknown unit {unit!r}.")
