"""Peak picking from a user's click: one peak, or every point of the clicked ring.

Ring search seeds from pyFAI (Massif: the connected bright region around the click; or blob
detection near the click), fits a circle/ellipse through the seeds and then traces the whole ring
in pixel space with sub-pixel sector centroids. Tracing is what crosses detector gaps and
beamstop shadows, where a connected region stops.
"""

from __future__ import annotations

import numpy as np
from pyFAI.blob_detection import BlobDetection
from pyFAI.massif import Massif

from ..core.errors import PickError
from ..core.geometry.conics import circles_through, fit_circle, fit_ellipse
from ..core.geometry.refinement import mad_outliers
from .coordinates import EllipseCoordinate
from .faint_rings import find_faint_rings
from .quiet import quiet
from .ring_finder import RingSearch
from .sector_peaks import annulus_pixels, sector_points

METHODS = ("massif", "blob")


def pick_single_peak(data: np.ndarray, invalid: np.ndarray | None, row: float, col: float, search_size: int = 10) -> tuple[float, float]:
    """Brightest valid pixel within ±search_size of the click, refined to sub-pixel.

    The sub-pixel position is the background-subtracted centroid of the 3x3 neighbourhood.
    """
    h, w = data.shape
    r0, r1 = max(int(row) - search_size, 0), min(int(row) + search_size + 1, h)
    c0, c1 = max(int(col) - search_size, 0), min(int(col) + search_size + 1, w)
    if r0 >= r1 or c0 >= c1:
        raise PickError(f"The click at x={col:.0f}, y={row:.0f} is outside the image.")
    box = np.array(data[r0:r1, c0:c1], dtype=float)
    bad = ~np.isfinite(box)
    if invalid is not None:
        bad |= invalid[r0:r1, c0:c1]
    if bad.all():
        raise PickError(f"Every pixel near x={col:.0f}, y={row:.0f} is masked.")
    box[bad] = -np.inf
    i, j = np.unravel_index(np.argmax(box), box.shape)
    ii, jj = np.mgrid[max(i - 1, 0) : min(i + 2, box.shape[0]), max(j - 1, 0) : min(j + 2, box.shape[1])]
    patch = box[ii, jj]
    good = np.isfinite(patch)
    weights = np.where(good, patch - patch[good].min(), 0.0)
    if weights.sum() <= 0:
        return float(r0 + i), float(c0 + j)
    return float(r0 + (weights * ii).sum() / weights.sum()), float(c0 + (weights * jj).sum() / weights.sum())


class RingPicker:
    """Ring search on one image.

    pyFAI's Massif blurs the whole image it is given, which takes seconds on 4 Mpx; it only needs
    the neighbourhood of the click (tracing does the rest), so it runs on a tile around the click.
    """

    def __init__(self, data: np.ndarray, invalid: np.ndarray | None = None, tile: int = 768) -> None:
        self.data = np.asarray(data, dtype=np.float32)
        self.invalid = invalid if invalid is not None else ~np.isfinite(self.data)
        self.tile = tile
        self._massifs: dict[tuple[int, int], Massif] = {}
        self._faint: RingSearch | None = None  # the faint-ring search, run at most once per image

    def _massif_at(self, row: float, col: float) -> tuple[Massif, int, int]:
        """The Massif of the tile holding the click, and the tile's origin (row, col)."""
        h, w = self.data.shape
        step = self.tile // 2
        r0 = int(np.clip(round(row / step) * step - step, 0, max(h - self.tile, 0)))
        c0 = int(np.clip(round(col / step) * step - step, 0, max(w - self.tile, 0)))
        if (r0, c0) not in self._massifs:
            tile = np.s_[r0 : r0 + self.tile, c0 : c0 + self.tile]
            clean = np.where(self.invalid[tile], 0.0, self.data[tile])  # NaN/inf make pyFAI log per pixel
            massif = Massif(clean, self.invalid[tile])
            massif.log_info = False
            self._massifs[(r0, c0)] = massif
        return self._massifs[(r0, c0)], r0, c0

    def seeds(self, row: float, col: float, method: str = "massif", search_size: int = 10) -> np.ndarray:
        """Peak positions (N, 2) near the click on the clicked ring, from pyFAI."""
        if method not in METHODS:
            raise PickError(f"Unknown peak search method {method!r}: use one of {', '.join(METHODS)}.")
        start = pick_single_peak(self.data, self.invalid, row, col, search_size)
        massif, r0, c0 = self._massif_at(*start)
        seed = (int(round(start[0])) - r0, int(round(start[1])) - c0)
        found = self._blob_seeds(massif, seed, r0, c0) if method == "blob" else []
        if len(found) < 5:  # blob keypoints are sparse on thin rings: complete with Massif's peaks
            found += [(p[0] + r0, p[1] + c0) for p in _massif_peaks(massif, seed)]
        return np.array([start] + [tuple(p) for p in found], dtype=float).reshape(-1, 2)

    def _blob_seeds(self, massif: Massif, seed: tuple[int, int], tile_r: int, tile_c: int) -> list[tuple[float, float]]:
        """Blob-detection keypoints inside the Massif region of the click (as pyFAI-calib did)."""
        region = massif.calculate_massif(seed)
        if region is None:
            return []
        rr, cc = np.nonzero(region)
        r0, r1, c0, c1 = rr.min(), rr.max() + 1, cc.min(), cc.max() + 1
        data, invalid = massif.data, self.invalid[tile_r : tile_r + region.shape[0], tile_c : tile_c + region.shape[1]]
        crop = np.where(invalid[r0:r1, c0:c1], 0, data[r0:r1, c0:c1])
        blob = BlobDetection(crop, init_sigma=1.0, dest_sigma=2.0, mask=invalid[r0:r1, c0:c1].astype(np.int8))
        with quiet("pyFAI.blob_detection"):
            blob.process()
        kp = blob.keypoints
        if len(kp) == 0:
            return []
        y = np.clip(np.round(kp.y).astype(int), 0, r1 - r0 - 1)
        x = np.clip(np.round(kp.x).astype(int), 0, c1 - c0 - 1)
        inside = region[r0:r1, c0:c1][y, x]
        return [(float(a) + r0 + tile_r, float(b) + c0 + tile_c) for a, b in zip(kp.y[inside], kp.x[inside])]

    def trace(self, seeds: np.ndarray, min_snr: float = 4.0, max_passes: int = 30) -> np.ndarray:
        """Follow the ring through ``seeds`` around the image; returns sub-pixel points (N, 2).

        A circle through a short arc extrapolates badly, so the ring is grown: each pass accepts
        only sectors just beyond the arc already found (see ``_grow``), refits the conic (an ellipse
        once the points go far enough around) and extends the arc. The search window shrinks from
        a generous one to a few ring widths as the conic gets better.
        """
        pts = np.asarray(seeds, dtype=float)
        traced = None
        if len(pts) >= 3:  # three clicks along a ring define it; Massif usually gives many more seeds
            try:
                circle = _robust_circle(pts)
            except ValueError:
                circle = None
            if circle is not None and 3.0 < circle.radius < 20 * max(self.data.shape):
                traced = self._grow_ring(pts, circle, min_snr, max_passes)
        if traced is None or len(traced) < len(pts) + 6:  # tracing added nothing: the seeds do not define the ring
            ridge = ridge_circle(self.data, self.invalid, pts[0, 0], pts[0, 1])
            if ridge is not None:
                alternative = self._grow_ring(pts[:1], ridge, min_snr, max_passes, spread=6)
                if traced is None or len(alternative) > len(traced):
                    traced = alternative
        if traced is None:
            return pts
        return _clean_ring(traced)

    def _grow_ring(self, pts: np.ndarray, circle, min_snr: float, max_passes: int, spread: int = 0) -> np.ndarray:
        """Trace from ``circle``; weak rings get a second try with longer sectors (more pixels each)."""
        traced = self._grow_ring_once(pts, circle, min_snr, max_passes, spread, SECTOR_PX)
        if len(traced) < len(pts) + 6:
            longer = self._grow_ring_once(pts, circle, min_snr, max_passes, spread, 4 * SECTOR_PX)
            if len(longer) > len(traced):
                return longer
        return traced

    def _grow_ring_once(self, pts: np.ndarray, circle, min_snr: float, max_passes: int, spread: int, sector_px: float) -> np.ndarray:
        """Trace from ``circle``, starting with the arc of ``pts`` widened by ``spread`` bins."""
        coord = EllipseCoordinate.circle(circle.row, circle.col, circle.radius)
        allowed = _coverage(coord.azimuth(pts[:, 0], pts[:, 1]))
        for shift in range(1, spread + 1):
            allowed = allowed | np.roll(allowed, shift) | np.roll(allowed, -shift)
        allowed = _grow(allowed)
        width_px = max(6.0, 0.03 * circle.radius)
        best = pts
        for _ in range(max_passes):
            ppu = coord.pixels_per_radial_unit()
            half = width_px / ppu
            found = sector_points(annulus_pixels(self.data, self.invalid, coord, half), coord, 1.0, half, int(np.clip(2 * np.pi * ppu / sector_px, 12, 2880)), min_snr)
            if len(found) < 6:
                break
            rows, cols = found.rows, found.cols
            keep = allowed[_bins(coord.azimuth(rows, cols))]
            keep &= ~mad_outliers(coord.radial(rows, cols), 4.0, floor=0.5 / ppu)
            if keep.sum() < 6:
                break
            rows, cols = rows[keep], cols[keep]
            best = np.column_stack([rows, cols])
            coord = _conic_through(rows, cols, coord)
            grown = _grow(_coverage(coord.azimuth(rows, cols)))
            width_px = max(3.0, 3.0 * found.fwhm * coord.pixels_per_radial_unit(), 0.7 * width_px)
            if (grown == allowed).all() and width_px <= 3.0 * found.fwhm * coord.pixels_per_radial_unit() + 1e-9:
                break
            allowed = grown
        return best

    def pick_ring(self, row: float, col: float, method: str = "massif", search_size: int = 10,
                  known: np.ndarray | None = None) -> np.ndarray:
        """All points of the ring under the click, as (N, 2) array of (row, col).

        :param known: points already picked on this ring (N, 2). With two or more, they and the
            click seed the trace instead of a local peak search: a ring too weak for peak search
            is found from a few clicks along it, as in pyFAI-calib2.
        :raises PickError: no ring passes through the click (a click on background, or on a
            ring too faint or too broken to follow).
        """
        if known is not None:  # earlier picks count only where the current mask allows
            known = np.asarray(known, dtype=float).reshape(-1, 2)
            idx = np.clip(np.rint(known).astype(int), 0, np.array(self.data.shape) - 1)
            known = known[~self.invalid[idx[:, 0], idx[:, 1]]]
        if known is not None and len(known) >= 2:
            seeds = np.vstack([known, [row, col]])  # anchored on earlier picks, not the rough click
            start = np.array([row, col])
        else:
            seeds = self.seeds(row, col, method, search_size)
            start = seeds[0]  # the peak found at the click
        traced = self.trace(seeds)
        if len(traced) < MIN_RING_POINTS or not _passes_through(traced, start):
            faint = self._faint_ring_through(row, col)
            if faint is not None:
                return faint
            raise PickError(
                f"No ring could be followed from the click at x={col:.0f}, y={row:.0f}: click on a ring "
                "(or use single-peak picking)."
            )
        return traced

    def _faint_ring_through(self, row: float, col: float) -> np.ndarray | None:
        """Points of the faint ring under the click, found by averaging along the rings (None: none).

        A ring too faint to follow from a click (signal-to-noise about one per pixel) still shows in
        the azimuthal average about the image's centre of symmetry, which is searched once per image.
        """
        if self._faint is None:
            self._faint = find_faint_rings(self.data, self.invalid)
        centre = self._faint.centre
        reach = float(np.hypot(row - centre[0], col - centre[1]))
        near = [g for g in self._faint.rings if abs(g.radius - reach) < max(FAINT_CLICK_PX, 0.02 * reach)]
        if not near:
            return None
        return min(near, key=lambda g: abs(g.radius - reach)).points


def _massif_peaks(massif: Massif, seed: tuple[int, int]) -> list:
    """Massif.find_peaks, made repeatable: it samples with numpy's global random state."""
    state = np.random.get_state()
    np.random.seed(12345)
    try:
        with quiet("pyFAI.massif"):
            return massif.find_peaks(seed, nmax=400, stdout=None)
    finally:
        np.random.set_state(state)


def _ring_contrast(data: np.ndarray, invalid: np.ndarray, row: float, col: float, radii: np.ndarray,
                   offset: float = 4.0, samples: int = 720) -> np.ndarray:
    """Median intensity on each circle minus the mean of the medians on circles ``offset`` px inside and outside.

    Medians over the visible arc make spotty rings and gaps harmless; a circle that follows a
    ring scores high all along it, one that crosses rings does not.
    """
    h, w = data.shape
    phi = np.linspace(-np.pi, np.pi, samples, endpoint=False)
    scores = np.full(len(radii), -np.inf)
    for k, radius in enumerate(radii):
        vals = []
        for r in (radius - offset, radius, radius + offset):
            rr = np.round(row + r * np.sin(phi)).astype(int)
            cc = np.round(col + r * np.cos(phi)).astype(int)
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            vals.append((rr, cc, inside))
        common = vals[0][2] & vals[1][2] & vals[2][2]
        ok = common.copy()
        for rr, cc, _ in vals:
            ok[common] &= ~invalid[rr[common], cc[common]]
        if ok.sum() < 8:
            continue
        med = [np.median(data[rr[ok], cc[ok]]) for rr, cc, _ in vals]
        scores[k] = med[1] - 0.5 * (med[0] + med[2])
    return scores


def ridge_circle(data: np.ndarray, invalid: np.ndarray, row: float, col: float, half: int = 15):
    """Circle through the click that best follows a ring, found without seeds.

    The ridge normal at the click comes from the structure tensor of the neighbourhood; the
    centre lies along it, at a distance tried over a log-spaced range on both sides. Each
    candidate is scored by ``_ring_contrast`` over its whole visible arc.
    """
    from ..core.geometry.conics import Circle

    h, w = data.shape
    r0, r1 = max(int(row) - half, 0), min(int(row) + half + 1, h)
    c0, c1 = max(int(col) - half, 0), min(int(col) + half + 1, w)
    patch = np.where(invalid[r0:r1, c0:c1], np.nan, data[r0:r1, c0:c1]).astype(float)
    if patch.size < 25 or np.isnan(patch).mean() > 0.5:
        return None
    patch = np.where(np.isnan(patch), np.nanmedian(patch), patch)
    gy, gx = np.gradient(patch)
    tensor = np.array([[np.sum(gy * gy), np.sum(gy * gx)], [np.sum(gy * gx), np.sum(gx * gx)]])
    evals, evecs = np.linalg.eigh(tensor)
    normal = evecs[:, 1]  # strongest gradient direction: across the ring
    if evals[1] <= 0:
        return None
    radii = np.geomspace(30.0, 6.0 * max(h, w), 160)
    best, best_score = None, -np.inf
    for sign in (1.0, -1.0):
        centre_r = row + sign * normal[0] * radii
        centre_c = col + sign * normal[1] * radii
        for k, radius in enumerate(radii):
            score = _ring_contrast(data, invalid, centre_r[k], centre_c[k], np.array([radius]), samples=360)[0]
            if score > best_score:
                best, best_score = Circle(float(centre_r[k]), float(centre_c[k]), float(radius)), score
    return best if best_score > 0 else None


MIN_RING_POINTS = 8
FAINT_CLICK_PX = 6.0  # a click this close to a faint ring (or 2 % of its radius) is on it


MAX_RING_SPREAD_PX = 2.5  # robust scatter of points about their conic: more is not one ring


def _passes_through(points: np.ndarray, start: np.ndarray) -> bool:
    """Whether the points form one ring (a tight conic) passing within a few pixels of the click."""
    try:
        coord = _conic_through(points[:, 0], points[:, 1], None)
    except (ValueError, np.linalg.LinAlgError):
        return False
    ppu = coord.pixels_per_radial_unit()
    spread = 1.4826 * np.median(np.abs(coord.radial(points[:, 0], points[:, 1]) - 1.0)) * ppu
    miss = abs(float(coord.radial(np.array([start[0]]), np.array([start[1]]))[0]) - 1.0) * ppu
    return spread < MAX_RING_SPREAD_PX and miss < max(4.0, 4.0 * spread)


_N_BINS = 144  # 2.5° azimuth bins for the covered arc
_MAX_GROW_BINS = 12  # at most 30° added on each side per pass


def _bins(phi: np.ndarray) -> np.ndarray:
    return (((np.asarray(phi) + np.pi) / (2 * np.pi) * _N_BINS).astype(int)) % _N_BINS


def _coverage(phi: np.ndarray) -> np.ndarray:
    covered = np.zeros(_N_BINS, bool)
    covered[_bins(phi)] = True
    return covered


def _grow(covered: np.ndarray) -> np.ndarray:
    """The covered bins widened by half the covered arc (at least one bin, at most 30°) on each side.

    Growing in proportion to what is known keeps the extrapolated conic within its window: a
    circle through a 4° arc is trusted 2° further, one through 90° another 30°.
    """
    k = int(np.clip(np.ceil(0.5 * covered.sum()), 1, _MAX_GROW_BINS))
    out = covered.copy()
    for shift in range(1, k + 1):
        out |= np.roll(covered, shift) | np.roll(covered, -shift)
    return out


SECTOR_PX = 6.0  # arc length of one sector while tracing


def _clean_ring(points: np.ndarray) -> np.ndarray:
    """Drop traced points off the conic through all of them (e.g. a few on a neighbouring ring).

    A point is kept within 4 robust standard deviations of the conic, and never rejected for
    being within 1 px of it.
    """
    if len(points) < 8:
        return points
    keep = np.ones(len(points), bool)
    for _ in range(3):
        coord = _conic_through(points[keep, 0], points[keep, 1], None)
        res = (coord.radial(points[:, 0], points[:, 1]) - 1.0) * coord.pixels_per_radial_unit()
        centre = np.median(res[keep])
        sigma = 1.4826 * np.median(np.abs(res[keep] - centre))
        new = np.abs(res - centre) < max(1.0, 4.0 * sigma)
        if new.sum() < 8 or (new == keep).all():
            break
        keep = new
    return points[keep]


def _robust_circle(pts: np.ndarray, tolerance: float = 1.5):
    """Circle through the seeds of the clicked ring, ignoring seeds on other rings.

    Massif's region can span two neighbouring rings, so the seeds may be a mix. The first seed
    is the click's own peak: every circle through it and two other seeds is tried, the one with
    most seeds within ``tolerance`` px wins (RANSAC with every pair), then it is refitted on those.
    """
    others = pts[1:]
    if len(others) > 60:  # enough pairs to find the ring, bounded work
        others = others[np.linspace(0, len(others) - 1, 60).astype(int)]
    i, j = np.triu_indices(len(others), k=1)
    rows, cols, radii = circles_through(pts[0], others[i], others[j])
    good = np.isfinite(radii) & (radii >= 3.0)
    rows, cols, radii = rows[good], cols[good], radii[good]
    probe = pts if len(pts) <= 400 else pts[np.linspace(0, len(pts) - 1, 400).astype(int)]  # bounded memory
    distance = np.hypot(probe[None, :, 0] - rows[:, None], probe[None, :, 1] - cols[:, None])
    counts = np.count_nonzero(np.abs(distance - radii[:, None]) < tolerance, axis=1)
    if len(counts) == 0 or counts.max() < 5:
        return fit_circle(pts[:, 0], pts[:, 1])
    best = int(np.argmax(counts))
    inliers = np.abs(np.hypot(pts[:, 0] - rows[best], pts[:, 1] - cols[best]) - radii[best]) < tolerance
    return fit_circle(pts[inliers, 0], pts[inliers, 1])


def _conic_through(rows: np.ndarray, cols: np.ndarray, previous: EllipseCoordinate | None) -> EllipseCoordinate:
    """Ellipse through the points when they go far enough around, otherwise a circle."""
    if previous is None:
        c = fit_circle(rows, cols)
        previous = EllipseCoordinate.circle(c.row, c.col, c.radius)
    phi = previous.azimuth(rows, cols)
    coverage = np.count_nonzero(np.bincount(((phi + np.pi) / (2 * np.pi) * 12).astype(int) % 12, minlength=12))
    if len(rows) >= 20 and coverage >= 8:
        try:
            e = fit_ellipse(rows, cols)
            if e.b > 0.5 * e.a:
                return EllipseCoordinate(e.row, e.col, e.a, e.b, e.angle)
        except (ValueError, np.linalg.LinAlgError):
            pass
    c = fit_circle(rows, cols)
    return EllipseCoordinate.circle(c.row, c.col, c.radius)
