"""Cake and pattern for a geometry, through pyFAI's azimuthal integrator.

The integrator (and its look-up tables) is rebuilt only when the geometry, the mask or the image
shape changes; the calibration view re-integrates after every fit and the integration mode on
every frame, so building it once matters more than anything else here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from pyFAI.geometry import Geometry
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from .errors import XcalError
from .refinement import PARAMS, geometry_values, ring_tth

UNITS = {"2th_deg": "2θ (°)", "q_nm^-1": "q (nm⁻¹)", "q_A^-1": "q (Å⁻¹)", "d*2_A^-2": "1/d² (Å⁻²)", "r_mm": "r (mm)"}
PATTERN_UNITS = ("2th_deg", "q_nm^-1", "q_A^-1", "d_A")
# Pixel splitting (smooth cakes, exact peak positions); the histogram engine releases the GIL
# while it works, so the GUI stays responsive, and needs no look-up table build.
METHOD = ("bbox", "histogram", "cython")


@dataclass
class Pattern:
    radial: np.ndarray
    intensity: np.ndarray
    unit: str  # one of PATTERN_UNITS


@dataclass
class Cake:
    intensity: np.ndarray  # (n_azimuth, n_radial)
    radial: np.ndarray  # 2θ in degrees (or q)
    azimuth: np.ndarray  # χ in degrees
    unit: str


class Integrator:
    """Holds one pyFAI integrator per (geometry, mask, shape); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._ai: AzimuthalIntegrator | None = None

    def integrator(self, geometry: Geometry, mask: np.ndarray | None, shape: tuple[int, int]) -> AzimuthalIntegrator:
        mask_key = None if mask is None else (mask.shape, hash(np.packbits(mask).tobytes()))
        values = geometry_values(geometry)
        key = (tuple(values[p] for p in PARAMS), id(geometry.detector), tuple(shape), mask_key)
        with self._lock:
            if key != self._key:
                ai = AzimuthalIntegrator(detector=geometry.detector, **values)
                ai.auto_gc = False
                self._ai, self._key = ai, key
            return self._ai

    def pattern(
        self,
        data: np.ndarray,
        geometry: Geometry,
        mask: np.ndarray | None = None,
        npt: int = 2000,
        unit: str = "2th_deg",
        azimuth_range: tuple[float, float] | None = None,
        polarization: float | None = None,
    ) -> Pattern:
        """Azimuthally averaged pattern; ``unit`` 'd_A' is computed from q (pyFAI has no d unit)."""
        if unit not in PATTERN_UNITS:
            raise XcalError(f"Unknown unit {unit!r}: use one of {', '.join(PATTERN_UNITS)}.")
        ai = self.integrator(geometry, mask, data.shape)
        pyfai_unit = "q_A^-1" if unit == "d_A" else unit
        res = ai.integrate1d(
            data, npt, unit=pyfai_unit, mask=mask, method=METHOD, azimuth_range=azimuth_range,
            polarization_factor=polarization, dummy=None,
        )
        radial, intensity = np.asarray(res.radial), np.asarray(res.intensity)
        if unit == "d_A":
            keep = radial > 0
            radial, intensity = (2 * np.pi / radial[keep])[::-1], intensity[keep][::-1]
        return Pattern(radial, intensity, unit)

    def cake(
        self,
        data: np.ndarray,
        geometry: Geometry,
        mask: np.ndarray | None = None,
        npt_radial: int = 1000,
        npt_azimuth: int = 360,
        unit: str = "2th_deg",
        polarization: float | None = None,
    ) -> Cake:
        """2θ (or q) × χ over 360°: straight calibrant lines mean a good calibration."""
        ai = self.integrator(geometry, mask, data.shape)
        res = ai.integrate2d(
            data, npt_radial, npt_azimuth, unit=unit, mask=mask, method=METHOD, polarization_factor=polarization
        )
        return Cake(np.asarray(res.intensity), np.asarray(res.radial), np.asarray(res.azimuthal), unit)


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
