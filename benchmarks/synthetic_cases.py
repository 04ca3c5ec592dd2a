"""Synthetic calibration cases of known geometry, shared by the tests and the benchmark.

Each :class:`SyntheticCase` describes a calibrant image: detector, wavelength, distance, where the
direct beam hits the image, tilts, ring width, noise. :func:`make` draws it with
``xcal.core.calibration.synthetic.ring_image`` (every ring a Gaussian of each pixel's exact 2θ, as pyFAI
computes it) and sets the detector's gap pixels to -1, as a Pilatus writes them (xcal treats
negative pixels as invalid). :func:`click_on_ring` plays the user: a click on a ring, a pixel or
two off.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyFAI.detectors import Detector, detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibration.synthetic import ring_image
from xcal.core.geometry.refinement import ring_tth
from xcal.core.io.calibrants import load_calibrant


@dataclass(frozen=True)
class SyntheticCase:
    name: str
    calibrant: str
    detector: str | None  # pyFAI registry name; None: generic detector of ``pixel_um`` and ``shape``
    wavelength_m: float
    dist: float  # metres, pyFAI ``dist`` (sample to detector plane along its normal)
    beam: tuple[float, float]  # (x, y) of the direct beam: fractions of the image, or pixels if beam_px
    rot1: float = 0.0  # rad
    rot2: float = 0.0  # rad
    noise: bool = True  # Poisson noise
    background: float = 10.0
    intensity: float = 1000.0
    fwhm_deg: float = 0.05
    spots: int = 0
    seed: int = 0
    beam_px: bool = False  # ``beam`` is in array pixels (may lie outside the image)
    pixel_um: float | None = None  # generic detector only
    shape: tuple[int, int] | None = None  # generic detector only
    max_rings: int | None = None
    note: str = ""

    @property
    def mpx(self) -> float:
        shape = self.shape or detector_factory(self.detector).shape
        return shape[0] * shape[1] / 1e6


CASES: list[SyntheticCase] = [
    # -- Pilatus 1M (gaps masked) -------------------------------------------------------------------
    SyntheticCase("LaB6_Pilatus1M_centred", "LaB6", "Pilatus1M", 1.0e-10, 0.20, (0.5, 0.5),
                  note="centred beam, no tilt, narrow rings (1 px FWHM)"),
    SyntheticCase("CeO2_Pilatus1M_tilted", "CeO2", "Pilatus1M", 0.4e-10, 0.25, (0.35, 0.6), rot1=0.05, rot2=-0.03,
                  fwhm_deg=0.08, seed=1, note="off-centre beam, 3.3° tilt"),
    SyntheticCase("LaB6_Pilatus1M_weak", "LaB6", "Pilatus1M", 1.0e-10, 0.25, (0.45, 0.55), rot1=0.02, rot2=0.01,
                  intensity=30.0, background=1000.0, fwhm_deg=0.07, seed=2,
                  note="weak rings: peak 30 counts over 1000 background, Poisson"),
    SyntheticCase("CeO2_Pilatus1M_spotty", "CeO2", "Pilatus1M", 0.6e-10, 0.22, (0.55, 0.45), rot1=-0.03, rot2=0.04,
                  fwhm_deg=0.09, spots=40, seed=3, note="spotty rings: 40 crystallites per ring"),
    SyntheticCase("AgBh_Pilatus1M_saxs_outside", "AgBh", "Pilatus1M", 1.0e-10, 1.5, (-80.0, 500.0), beam_px=True,
                  fwhm_deg=0.02, seed=4, note="SAXS distance, beam 80 px left of the image: rings are arcs"),
    # -- Pilatus 300k -----------------------------------------------------------------------------------
    SyntheticCase("Si_Pilatus300k_edge", "Si", "Pilatus300k", 0.7e-10, 0.25, (0.5, 0.03), rot2=0.10,
                  fwhm_deg=0.06, seed=5, note="beam near the top edge, 5.7° tilt"),
    SyntheticCase("LaB6_Pilatus300k_outside", "LaB6", "Pilatus300k", 0.8e-10, 0.20, (-40.0, 300.0), beam_px=True,
                  rot1=-0.08, fwhm_deg=0.08, seed=6, note="beam 40 px outside the image, 4.6° tilt"),
    SyntheticCase("LaB6_Pilatus300k_short", "LaB6", "Pilatus300k", 0.8e-10, 0.10, (0.5, 0.5), fwhm_deg=0.12, seed=12,
                  note="short distance: 1 px = 0.1° 2θ, rings 1.2 px wide"),
    # -- generic 1024² (Perkin/Dexela-like, 200 µm) --------------------------------------------------------
    SyntheticCase("Al2O3_generic1024_tilt10", "alpha_Al2O3", None, 0.3e-10, 0.9, (0.45, 0.55), rot1=0.17, rot2=-0.10,
                  pixel_um=200.0, shape=(1024, 1024), fwhm_deg=0.03, seed=7, note="10° tilt, dense rings"),
    SyntheticCase("CeO2_generic1024_corner", "CeO2", None, 0.25e-10, 0.6, (0.08, 0.9), rot1=-0.12, rot2=0.17,
                  pixel_um=200.0, shape=(1024, 1024), fwhm_deg=0.04, seed=8, note="beam near a corner, 12° tilt"),
    # -- 4 Mpx class --------------------------------------------------------------------------------------
    SyntheticCase("CeO2_Eiger4M", "CeO2", "Eiger4M", 0.3e-10, 0.20, (0.45, 0.52), rot1=0.02, rot2=-0.015,
                  fwhm_deg=0.05, seed=9, note="4.5 Mpx, gaps masked"),
    SyntheticCase("LaB6_generic2048_tilted", "LaB6", None, 0.5e-10, 0.30, (0.55, 0.45), rot1=-0.12, rot2=0.08,
                  pixel_um=100.0, shape=(2048, 2048), fwhm_deg=0.04, seed=10, note="4.2 Mpx generic, 8° tilt"),
    SyntheticCase("Si_Pilatus2M_edge", "Si", "Pilatus2M", 0.5e-10, 0.35, (0.02, 0.5), rot1=0.06, fwhm_deg=0.06, seed=11,
                  note="2.5 Mpx, beam at the left edge"),
]

CASES_BY_NAME = {case.name: case for case in CASES}

QUICK = ["LaB6_Pilatus1M_centred", "CeO2_Pilatus1M_tilted", "AgBh_Pilatus1M_saxs_outside", "Al2O3_generic1024_tilt10",
         "CeO2_Eiger4M"]


def make_detector(case: SyntheticCase) -> Detector:
    if case.detector:
        return detector_factory(case.detector)
    assert case.pixel_um and case.shape, f"{case.name}: a generic detector needs pixel_um and shape"
    p = case.pixel_um * 1e-6
    return Detector(pixel1=p, pixel2=p, max_shape=case.shape)


def truth_geometry(case: SyntheticCase, detector: Detector | None = None) -> Geometry:
    """The case's pyFAI geometry: tilts as given, PONI placed so the direct beam hits ``case.beam``."""
    detector = detector or make_detector(case)
    shape = tuple(detector.shape)
    x, y = case.beam
    if not case.beam_px:
        x, y = x * shape[1], y * shape[0]
    probe = Geometry(dist=case.dist, poni1=0.0, poni2=0.0, rot1=case.rot1, rot2=case.rot2, rot3=0.0,
                     detector=detector, wavelength=case.wavelength_m)
    f2d = probe.getFit2D()  # the beam centre moves one for one with the PONI
    poni1 = (y - f2d["centerY"]) * detector.pixel1
    poni2 = (x - f2d["centerX"]) * detector.pixel2
    return Geometry(dist=case.dist, poni1=poni1, poni2=poni2, rot1=case.rot1, rot2=case.rot2, rot3=0.0,
                    detector=detector, wavelength=case.wavelength_m)


def make(case: SyntheticCase) -> tuple[np.ndarray, Geometry, Detector]:
    """(image float32 with gaps = -1, true geometry, detector)."""
    detector = make_detector(case)
    truth = truth_geometry(case, detector)
    calibrant = load_calibrant(case.calibrant)
    image = ring_image(truth, calibrant, tuple(detector.shape), fwhm_deg=case.fwhm_deg, max_rings=case.max_rings,
                       intensity=case.intensity, background=case.background, noise=case.noise, seed=case.seed,
                       spots=case.spots)
    mask = detector.mask
    if mask is not None:
        image[mask.astype(bool)] = -1.0
    return image, truth, detector


@lru_cache(maxsize=4)
def make_cached(name: str) -> tuple[np.ndarray, Geometry, Detector]:
    """:func:`make` by case name, cached (tests draw the same image for several checks)."""
    return make(CASES_BY_NAME[name])


def dspacing_of(calibrant: str) -> np.ndarray:
    return np.asarray(load_calibrant(calibrant).dspacing, dtype=float)


# -- the simulated user -----------------------------------------------------------------------------


def ring_pixels(truth: Geometry, shape: tuple[int, int], dspacing: np.ndarray, ring: int,
                invalid: np.ndarray | None = None, tth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the valid pixels the true ring crosses (|Δ2θ| within half a pixel's 2θ step)."""
    if tth is None:
        tth = truth.center_array(shape, unit="2th_rad", scale=False)
    target = ring_tth(dspacing, np.array([ring]), truth.wavelength)[0]
    if not np.isfinite(target):
        return np.empty(0, np.intp), np.empty(0, np.intp)
    g_r, g_c = np.gradient(tth)
    step = 0.5 * np.hypot(g_r, g_c)
    on = np.abs(tth - target) <= step
    if invalid is not None:
        on &= ~invalid
    return np.nonzero(on)


def first_visible_ring(truth: Geometry, shape: tuple[int, int], dspacing: np.ndarray, invalid: np.ndarray | None = None,
                       min_pixels: int = 150, data: np.ndarray | None = None, min_contrast: float = 0.0,
                       tth: np.ndarray | None = None) -> int:
    """The first ring crossing at least ``min_pixels`` valid pixels (arcs of an off-image beam count).

    With ``data``, the ring must also stand out: the median intensity on the ring must exceed the
    median half a ring spacing inside and outside it by ``min_contrast`` (a real image's first ring
    may lie in a beamstop shadow that is not masked).
    """
    if tth is None:
        tth = truth.center_array(shape, unit="2th_rad", scale=False)
    all_tth = ring_tth(dspacing, np.arange(len(dspacing)), truth.wavelength)
    for ring in np.flatnonzero(np.isfinite(all_tth) & (all_tth < tth.max())):
        rows, cols = ring_pixels(truth, shape, dspacing, int(ring), invalid, tth)
        if len(rows) < min_pixels:
            continue
        if data is not None:
            on = float(np.median(data[rows, cols]))
            others = all_tth[np.isfinite(all_tth) & (np.abs(all_tth - all_tth[ring]) > 1e-9)]
            gap = np.min(np.abs(others - all_tth[ring])) / 2 if len(others) else np.deg2rad(0.2)
            valid = np.ones(shape, bool) if invalid is None else ~invalid
            beside = valid & (np.abs(np.abs(tth - all_tth[ring]) - gap) < 0.2 * gap)
            if not beside.any() or on - float(np.median(data[beside])) <= min_contrast:
                continue
        return int(ring)
    raise ValueError("no ring crosses enough valid pixels of the image")


def click_on_ring(truth: Geometry, shape: tuple[int, int], dspacing: np.ndarray, ring: int | None,
                  rng: np.random.Generator, noise_px: float = 1.5, invalid: np.ndarray | None = None,
                  margin: int = 3) -> tuple[float, float]:
    """A user's click on ``ring`` (0-based; None: the first ring with enough valid pixels).

    A valid pixel the true ring crosses is drawn at random (at least ``margin`` pixels from any
    invalid pixel and the image border), moved exactly onto the ring along the 2θ gradient, and
    then shifted by Gaussian noise of ``noise_px`` per axis; the click always lands on a valid pixel.
    """
    tth = truth.center_array(shape, unit="2th_rad", scale=False)
    if ring is None:
        ring = first_visible_ring(truth, shape, dspacing, invalid, tth=tth)
    bad = np.zeros(shape, bool) if invalid is None else invalid.copy()
    if margin:
        from scipy.ndimage import binary_dilation

        bad = binary_dilation(bad, iterations=margin)
        bad[:margin] = bad[-margin:] = True
        bad[:, :margin] = bad[:, -margin:] = True
    rows, cols = ring_pixels(truth, shape, dspacing, ring, bad, tth)
    if len(rows) == 0:
        raise ValueError(f"ring {ring} crosses no valid pixel of the image")
    target = ring_tth(dspacing, np.array([ring]), truth.wavelength)[0]
    for _ in range(100):
        k = rng.integers(len(rows))
        r, c = float(rows[k]), float(cols[k])
        for _ in range(3):  # Newton steps along the gradient onto the exact ring
            h = 0.5
            t = truth.tth(np.array([r]), np.array([c]))[0]
            gr = (truth.tth(np.array([r + h]), np.array([c]))[0] - truth.tth(np.array([r - h]), np.array([c]))[0]) / (2 * h)
            gc = (truth.tth(np.array([r]), np.array([c + h]))[0] - truth.tth(np.array([r]), np.array([c - h]))[0]) / (2 * h)
            g2 = gr * gr + gc * gc
            r, c = r - (t - target) * gr / g2, c - (t - target) * gc / g2
        row, col = r + rng.normal(0.0, noise_px), c + rng.normal(0.0, noise_px)
        i, j = int(round(row)), int(round(col))
        if 0 <= i < shape[0] and 0 <= j < shape[1] and (invalid is None or not invalid[i, j]):
            return row, col
    raise ValueError(f"could not place a click on ring {ring}")
