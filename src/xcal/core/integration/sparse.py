"""Repeated integration with a look-up table: pyFAI builds the table, scipy applies it.

pyFAI's own CSR call redoes the per-pixel preprocessing (dark, flat, solid angle, polarization)
for every frame. Here the normalisation Σ c·(solid angle × polarization × flat) is computed once
per table and set of corrections, so a frame costs one sparse product (two with Poisson errors):
several times faster than pyFAI's fastest method, for the same numbers (the tests compare them).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

import numpy as np
import scipy.sparse as sp
from pyFAI.integrator.azimuthal import AzimuthalIntegrator
from pyFAI.units import to_unit


class SparseEngine:
    """One bbox-split CSR table (pixel → bin weights) for a geometry, static mask, shape and binning.

    ``npt`` is an int (1D pattern) or (radial, azimuthal) for a cake; ``azimuth_range`` is in the
    integrator's radians (already normalised by pyFAI), None for all azimuths.
    """

    def __init__(self, ai: AzimuthalIntegrator, shape: tuple[int, int], mask: np.ndarray | None,
                 npt: int | tuple[int, int], unit: str, azimuth_range: tuple[float, float] | None = None) -> None:
        cake = isinstance(npt, tuple)
        units = (unit, "chi_deg") if cake else unit
        table = ai.setup_sparse_integrator(tuple(shape), npt, mask, None, azimuth_range, unit=units, split="bbox",
                                           algo="CSR", empty=0.0, scale=False)
        self.matrix = sp.csr_matrix((np.asarray(table.data), np.asarray(table.indices), np.asarray(table.indptr)),
                                    shape=(table.output_size, table.input_size))
        scale = to_unit(unit).scale  # table positions are in pyFAI's internal unit
        if cake:
            self.radial = np.asarray(table.bin_centers0) * scale
            self.azimuth = np.degrees(np.asarray(table.bin_centers1))
        else:
            self.radial = np.asarray(table.bin_centers) * scale
            self.azimuth = None
        # Pixels the table uses: masked ones (and ones outside the azimuth range) have no entry.
        self.in_table = np.zeros(self.matrix.shape[1], bool)
        self.in_table[self.matrix.indices] = True
        self._squared: sp.csr_matrix | None = None
        self._norms: dict[Hashable, np.ndarray] = {}
        self._lock = threading.Lock()

    def _norm(self, norm_px: np.ndarray, key: Hashable) -> np.ndarray:
        with self._lock:
            norm = self._norms.get(key)
            if norm is None:
                norm = self.matrix @ norm_px
                self._norms = {key: norm}  # one correction set at a time: a new one replaces it
            return norm

    def integrate(self, signal: np.ndarray, invalid: np.ndarray | None, norm_px: np.ndarray, norm_key: Hashable,
                  variance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Intensity (and its standard error if ``variance`` is given) per bin; 0 where no pixel falls.

        ``signal`` is the corrected image, ``invalid`` the pixels of this frame no calculation may
        use beyond the table's mask, ``norm_px`` the per-pixel normalisation (flattened), with a
        ``norm_key`` that identifies it for the cache.
        """
        x = np.ravel(signal)
        bad = None if invalid is None else np.ravel(invalid) & self.in_table
        if bad is not None and bad.any():
            keep = ~bad
            x = np.where(keep, x, 0)
            norm = self.matrix @ np.where(keep, norm_px, 0)
        else:
            norm = self._norm(norm_px, norm_key)
        filled = norm > 0
        safe = np.where(filled, norm, 1)
        intensity = np.where(filled, (self.matrix @ x) / safe, 0)
        sigma = None
        if variance is not None:
            v = np.ravel(variance) if bad is None or not bad.any() else np.where(keep, np.ravel(variance), 0)
            sigma = np.where(filled, np.sqrt(self._square() @ v) / safe, 0)
        if self.azimuth is not None:  # pyFAI's cake: bins run radial-major; rows are azimuths
            shape = (len(self.radial), len(self.azimuth))
            intensity = intensity.reshape(shape).T
            sigma = None if sigma is None else sigma.reshape(shape).T
        return intensity, sigma

    def _square(self) -> sp.csr_matrix:
        with self._lock:
            if self._squared is None:
                m = self.matrix
                self._squared = sp.csr_matrix((m.data * m.data, m.indices, m.indptr), shape=m.shape)
            return self._squared
