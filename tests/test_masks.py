"""The mask (``xcal.core.masks.model``, ``mask_shapes``, ``hot_pixels``): every operation with exact pixel
counts, undo/redo, rotations, the three file formats, hot/dead pixel suggestions, and the mask
honoured by the integration and the calibration."""

from __future__ import annotations

from pathlib import Path

import fabio
import numpy as np
import pytest
from PIL import Image as PILImage
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry
from scipy import ndimage
from scipy.optimize import brentq

from xcal.core.calibration.session import CalibrationSession
from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import ImageError, XcalError
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.transforms import ImageTransform
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.images import Image
from xcal.core.masks.hot_pixels import find_bad_pixels
from xcal.core.masks.model import MaskModel, read_mask, write_mask

DETECTOR = "Pilatus300k"  # 619 x 487, with module gaps
WAVELENGTH = 0.3e-10
TRUE = dict(dist=0.2, poni1=0.054, poni2=0.041, rot1=0.012, rot2=-0.008, rot3=0.0)


def true_geometry() -> Geometry:
    return Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH, **TRUE)


def ring_tth(ring: int) -> float:
    return 2 * np.arcsin(WAVELENGTH / (2 * load_calibrant("CeO2").dspacing[ring] * 1e-10))


@pytest.fixture(scope="module")
def rings() -> np.ndarray:
    g = true_geometry()
    return ring_image(g, load_calibrant("CeO2"), g.detector.shape, fwhm_deg=0.06, noise=True, seed=5)


def blank(shape=(100, 120)) -> MaskModel:
    return MaskModel(shape)


# -- shapes: exact pixel counts --------------------------------------------------------------------
def test_rectangle_counts_pixel_centres_half_open() -> None:
    m = blank()
    assert m.rectangle(9.5, 19.5, 19.5, 49.5) == 300  # edges on pixel boundaries: rows 10-19, cols 20-49
    assert m.array[10:20, 20:50].all() and m.count == 300
    assert not m.array[9, 20] and not m.array[20, 20] and not m.array[10, 19] and not m.array[10, 50]
    m.clear()
    assert m.rectangle(20, 50, 10, 20) == 300  # corners on centres, any order: top/left in, bottom/right out
    assert m.array[10:20, 20:50].all() and not m.array[20, 30] and not m.array[15, 50]
    m.clear()
    assert m.rectangle(-10.0, 110.0, 4.5, 200.0) == 5 * 10  # clipped to the image
    assert m.rectangle(-30, -30, -10, -10) == 0 and m.undo_label == "rectangle"  # outside: no step


def test_circle_ellipse_point() -> None:
    m = blank()
    assert m.circle(50, 50, 2) == 13  # lattice points of the disc of radius 2 (outline included)
    m.clear()
    assert m.circle(50, 50, 5) == 81
    m.clear()
    assert m.ellipse(50, 60, 2, 4) == 25  # 9 + 2 x 7 + 2 x 1
    rows, cols = np.nonzero(m.array)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (48, 52, 56, 64)
    m.clear()
    assert m.ellipse(50, 60, 2, 4, angle_deg=90) == 25  # turned a quarter: long axis along the rows
    rows, cols = np.nonzero(m.array)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (46, 54, 58, 62)
    m.clear()
    assert m.point(10.3, 20.7) == 1 and m.array[10, 21]  # the pixel under the click
    assert m.point(40.2, 40.4, radius=1) == 5


def test_polygon_fill_rule() -> None:
    m = blank()
    assert m.polygon([(-0.5, -0.5), (-0.5, 9.5), (9.5, -0.5)]) == 45  # r + c < 9: 9 + 8 + ... + 1
    m.clear()
    square = m.polygon([(10, 20), (10, 50), (20, 50), (20, 20)])
    assert square == 300 and m.array[10:20, 20:50].all()  # the rectangle's pixels
    m.clear()
    l_shape = [(0, 0), (0, 10), (5, 10), (5, 5), (10, 5), (10, 0)]  # concave, clockwise or not
    assert m.polygon(l_shape) == 50 + 25
    m.clear()
    assert m.polygon(l_shape[::-1]) == 75
    assert m.polygon([(1, 1), (5, 5)]) == 0  # fewer than three vertices draw nothing


def test_annulus_and_arc_in_pixels() -> None:
    m = MaskModel((101, 101))
    assert m.annulus(50, 50, 10, 20) == 1257 - 317 + 12  # N(20) - N(10) + the 12 points at exactly 10
    m.clear()
    assert m.annulus(50, 50, 20, 10, angles_deg=(0, 90)) == 227 + 22  # a quadrant, both half-axes included
    assert m.undo_label == "arc"
    rows, cols = np.nonzero(m.array)
    assert rows.min() == 50 and cols.min() == 50


def test_sector_in_two_theta_and_chi_wraps_through_180() -> None:
    g = true_geometry()
    shape = g.detector.shape
    tth = np.degrees(g.center_array(shape, unit="2th_rad", scale=False))
    chi = np.degrees(g.center_array(shape, unit="chi_rad", scale=False))
    lo, hi = np.degrees(ring_tth(0)) - 0.2, np.degrees(ring_tth(1)) + 0.2
    m = MaskModel(shape)
    want = (tth >= lo) & (tth <= hi) & ((chi >= 150) | (chi <= -170))
    assert want.sum() > 100
    assert m.sector(g, (hi, lo), (150, -170)) == want.sum()
    assert np.array_equal(m.array, want)
    m.clear()
    assert m.sector(g, (lo, hi)) == ((tth >= lo) & (tth <= hi)).sum()  # no χ range: the whole annulus
    assert m.undo_label == "annulus"


def test_unmask_mode_removes_only_the_shape() -> None:
    m = blank()
    m.rectangle(9.5, 9.5, 29.5, 29.5)
    assert m.circle(20, 20, 2, value=False) == 13
    assert m.count == 400 - 13 and not m.array[20, 20]
    assert m.undo_label == "unmask circle"


# -- whole-image operations -------------------------------------------------------------------------
def test_thresholds() -> None:
    data = np.arange(100, dtype=float).reshape(10, 10)
    data[0, 0] = np.nan  # never selected
    m = MaskModel((10, 10))
    assert m.threshold_below(data, 10) == 9
    assert m.threshold_above(data, 89.5) == 10
    assert m.count == 19 and m.undo_label == "above 89.5"
    assert m.threshold_above(data, 94.5, value=False) == 5
    assert m.count == 14
    with pytest.raises(ImageError, match="10 x 11 pixels but the mask is 10 x 10"):
        m.threshold_below(np.zeros((10, 11)), 1)


def test_grow_and_shrink_by_discs() -> None:
    m = MaskModel((40, 40))
    m.point(20, 20)
    assert m.grow(1) == 4 and m.count == 5
    m.clear()
    m.point(20, 20)
    m.grow(2)
    assert m.count == 13
    m.clear()
    m.rectangle(9.5, 9.5, 19.5, 19.5)
    assert m.grow(1) == 40 and m.count == 140
    assert m.shrink(1) == 40 and m.count == 100 and m.array[10:20, 10:20].all()
    assert m.shrink(1) == 36 and m.count == 64
    assert m.grow(0) == 0 and m.shrink(-1) == 0
    m.clear()
    m.rectangle(-0.5, -0.5, 39.5, 4.5)  # columns 0-4, touching the border
    assert m.shrink(1) == 40 and m.array[:, :4].all()  # the border does not erode


def test_invert_clear_add_replace() -> None:
    m = blank((10, 10))
    m.rectangle(-0.5, -0.5, 1.5, 9.5)
    assert m.invert() == 100 and m.count == 80 and m.fraction == pytest.approx(0.8)
    extra = np.zeros((10, 10), np.int8)
    extra[0, 0] = 1
    assert m.add(extra, "hot pixels") == 1 and m.count == 81 and m.undo_label == "hot pixels"
    assert m.replace(extra) == 80 and m.count == 1
    assert m.clear() == 1 and m.count == 0
    assert m.clear() == 0  # nothing to clear: no step
    with pytest.raises(ImageError, match="9 x 10"):
        m.add(np.zeros((9, 10)), "mask.npy")


def test_undo_redo_every_operation() -> None:
    m = MaskModel((60, 60))
    data = np.arange(3600.0).reshape(60, 60)
    ops = [
        lambda: m.rectangle(5, 5, 20, 30), lambda: m.circle(40, 40, 6), lambda: m.ellipse(30, 10, 3, 7, 30),
        lambda: m.polygon([(0, 50), (20, 59), (10, 40)]), lambda: m.point(55, 5, 2),
        lambda: m.annulus(30, 30, 12, 15, (10, 80)), lambda: m.threshold_above(data, 3500),
        lambda: m.threshold_below(data, 20), lambda: m.grow(2), lambda: m.shrink(1), lambda: m.invert(),
        lambda: m.circle(30, 30, 4, value=False), lambda: m.clear(),
    ]
    states = [m.array.copy()]
    for op in ops:
        assert op() > 0
        states.append(m.array.copy())
    labels = []
    for state in reversed(states[:-1]):
        labels.append(m.undo())
        assert np.array_equal(m.array, state)
    assert m.undo() is None and m.undo_label is None
    assert labels[0] == "clear" and labels[-1] == "rectangle"
    for state in states[1:]:
        assert m.redo() is not None
        assert np.array_equal(m.array, state)
    assert m.redo() is None
    m.undo()
    m.point(1, 1)  # a new operation drops the redo steps
    assert m.redo_label is None


def test_the_array_is_read_only_and_never_changed_in_place() -> None:
    m = blank()
    before = m.array
    m.rectangle(0, 0, 10, 10)
    assert not before.any()  # a reader holding the old array sees a whole mask
    with pytest.raises(ValueError):
        m.array[0, 0] = False


def test_undo_depth_is_bounded() -> None:
    m = MaskModel((10, 10), max_undo=3)
    for col in range(5):
        m.point(0, col)
    assert [m.undo() for _ in range(4)] == ["point", "point", "point", None]
    assert m.count == 2


# -- rotations and flips ---------------------------------------------------------------------------
def _session(data: np.ndarray) -> CalibrationSession:
    s = CalibrationSession()
    s.set_image(Image(data.astype(np.float32), "synthetic.tif", 0, 1))
    return s


def test_mask_and_its_history_follow_the_image_transforms() -> None:
    s = _session(np.ones((30, 50)))
    s.mask.rectangle(-0.5, -0.5, 4.5, 9.5)  # raw rows 0-4, cols 0-9
    s.mask.point(20, 40)
    raw_after = s.transform.invert(s.mask.array).copy()
    for ops in (("rot90",), ("rot90", "fliph"), ("flipv",), ()):
        s.set_transform(ImageTransform(ops))
        assert s.mask.shape == s.data.shape
        assert np.array_equal(s.transform.invert(s.mask.array), raw_after)
    s.set_transform(ImageTransform(("rot-90",)))
    assert s.mask.undo() == "point"  # undone where the point is now
    raw = s.transform.invert(s.mask.array)
    assert raw.sum() == 50 and raw[:5, :10].all()
    s.mask.redo()
    s.set_transform(ImageTransform())
    assert np.array_equal(s.mask.array, raw_after)


def test_session_user_mask_property_and_invalid() -> None:
    data = np.ones((20, 20))
    data[0, 0] = -1
    s = _session(data)
    assert s.user_mask is None and s.invalid.sum() == 1
    s.mask.rectangle(4.5, 4.5, 6.5, 6.5)
    assert s.user_mask.sum() == 4 and s.invalid.sum() == 5
    s.use_mask = False
    assert s.invalid.sum() == 1
    s.use_mask = True
    mask = np.zeros((20, 20), bool)
    mask[10] = True
    s.user_mask = mask  # a recorded step
    assert s.invalid.sum() == 21 and s.mask.undo() == "set" and s.user_mask.sum() == 4
    assert s.mask_invalid_pixels() == 1 and s.mask.undo_label == "gaps and negative pixels"


def test_detector_gaps_and_negative_pixels() -> None:
    det = detector_factory(DETECTOR)
    gaps = det.mask.astype(bool)
    data = np.ones(det.shape)
    data[1, 1:4] = -2
    data[2, 2] = np.nan
    s = _session(data)
    s.set_detector(DETECTOR)
    assert s.mask_invalid_pixels() == gaps.sum() + 4
    assert np.array_equal(s.mask.array, gaps | ~(data >= 0))


# -- files -----------------------------------------------------------------------------------------
def _pattern(shape=(31, 47)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[3:9, 5:40] = True
    mask[20, 0] = mask[30, 46] = True
    return mask


@pytest.mark.parametrize("suffix", [".mask", ".edf", ".npy", ".tif"])
def test_file_round_trip(tmp_path, suffix) -> None:
    mask = _pattern()
    path = tmp_path / f"m{suffix}"
    write_mask(path, mask)
    assert np.array_equal(read_mask(path, mask.shape), mask)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_file_conventions(tmp_path) -> None:
    mask = _pattern()
    write_mask(tmp_path / "a.mask", mask)
    dioptas = np.array(PILImage.open(tmp_path / "a.mask"))  # how Dioptas reads its .mask files
    assert dioptas.shape == mask.shape and set(np.unique(dioptas)) == {0, 1}
    assert np.array_equal(dioptas == 1, mask[::-1])  # in the rows of Dioptas' up-down flipped image
    write_mask(tmp_path / "a.edf", mask)
    edf = fabio.open(str(tmp_path / "a.edf")).data
    assert edf.dtype == np.int8 and np.array_equal(edf == 1, mask)  # pyFAI/Fit2D: 1 = masked
    write_mask(tmp_path / "a.npy", mask)
    assert np.array_equal(np.load(tmp_path / "a.npy") == 1, mask)
    # a Dioptas mask (deflate-compressed int8 TIFF written by PIL, in its flipped image's rows) reads back
    PILImage.fromarray(mask[::-1].astype(np.int8)).save(tmp_path / "dioptas.mask", "tiff", compression="tiff_deflate")
    assert np.array_equal(read_mask(tmp_path / "dioptas.mask"), mask)


def test_write_is_atomic_and_unknown_format_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "keep.mask"
    write_mask(path, _pattern())
    before = path.read_bytes()

    def broken(self, filename):
        Path(filename).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fabio.tifimage.TifImage, "write", broken)
    with pytest.raises(XcalError, match="keep.mask cannot be written: No space left"):
        write_mask(path, np.ones((31, 47), bool))
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.mask"]
    with pytest.raises(XcalError, match=r"m\.png: unknown format \.png"):
        write_mask(tmp_path / "m.png", _pattern())


def test_session_load_add_save_and_wrong_shape(tmp_path) -> None:
    s = _session(np.ones((31, 47)))
    first, second = _pattern(), np.zeros((31, 47), bool)
    second[:, 45:] = True
    write_mask(tmp_path / "first.edf", first)
    write_mask(tmp_path / "second.npy", second)
    assert s.load_mask(tmp_path / "first.edf") == first.sum()
    assert s.load_mask(tmp_path / "second.npy", add=True) == (second & ~first).sum()
    assert np.array_equal(s.mask.array, first | second) and s.mask.undo_label == "add second.npy"
    s.set_transform(ImageTransform(("rot90",)))  # files stay in the raw frame
    s.save_mask(tmp_path / "both.mask")
    assert np.array_equal(read_mask(tmp_path / "both.mask"), first | second)
    s.mask.clear()
    s.load_mask(tmp_path / "first.edf")
    assert np.array_equal(s.mask.array, np.rot90(first))
    write_mask(tmp_path / "small.npy", np.zeros((20, 30), bool))
    with pytest.raises(ImageError, match="Mask small.npy is 20 x 30 pixels but the image is 31 x 47"):
        s.load_mask(tmp_path / "small.npy")
    assert np.array_equal(s.mask.array, np.rot90(first))  # unchanged


# -- hot and dead pixels -----------------------------------------------------------------------------
def _plant(image: np.ndarray, rng, gaps: np.ndarray, n: int, on: np.ndarray | None = None) -> np.ndarray:
    """``n`` isolated positions not beside a gap (and on ``on`` if given)."""
    allowed = ~ndimage.binary_dilation(gaps, np.ones((3, 3))) & (np.ones_like(gaps) if on is None else on)
    allowed[:2], allowed[-2:], allowed[:, :2], allowed[:, -2:] = False, False, False, False
    chosen = np.zeros(image.shape, bool)
    candidates = np.flatnonzero(allowed)
    for index in rng.permutation(candidates):
        r, c = divmod(int(index), image.shape[1])
        if not chosen[r - 2:r + 3, c - 2:c + 3].any():
            chosen[r, c] = True
            if chosen.sum() == n:
                break
    return chosen


def test_hot_pixels_found_not_the_rings(rings) -> None:
    g = true_geometry()
    gaps = g.detector.mask.astype(bool)
    tth = g.center_array(rings.shape, unit="2th_rad", scale=False)
    on_ring = np.abs(tth - ring_tth(1)) < np.deg2rad(0.015)
    rng = np.random.default_rng(1)
    image = rings.copy()
    hot = _plant(image, rng, gaps | on_ring, 20) | _plant(image, rng, gaps, 10, on=on_ring)
    image[hot] = rng.uniform(4e3, 1e5, hot.sum()).round()
    image[gaps] = -1
    invalid = gaps | (image < 0)
    assert (image[on_ring & ~invalid] > 300).mean() > 0.9  # the ring pixels are bright: a real test
    found = find_bad_pixels(image, invalid, None, sigma=8)
    assert np.array_equal(found.hot, hot), found.describe()
    assert not found.dead.any()
    found = find_bad_pixels(image, invalid, tth, sigma=8)
    assert np.array_equal(found.hot, hot), found.describe()
    assert found.describe().startswith("30 hot and 0 dead pixels")


def test_dead_pixels_on_rings_and_on_a_bright_background(rings) -> None:
    g = true_geometry()
    gaps = g.detector.mask.astype(bool)
    tth = g.center_array(rings.shape, unit="2th_rad", scale=False)
    on_ring = np.abs(tth - ring_tth(2)) < np.deg2rad(0.01)
    rng = np.random.default_rng(2)
    image = rings.copy()
    dead = _plant(image, rng, gaps, 12, on=on_ring)
    image[dead] = 0
    found = find_bad_pixels(image, gaps, tth, sigma=8)  # the ring's own statistics show them
    assert np.array_equal(found.dead, dead) and not found.hot.any()
    flat = rng.poisson(400.0, (200, 300)).astype(np.float32)
    dead = _plant(flat, rng, np.zeros(flat.shape, bool), 15)
    flat[dead] = 0
    found = find_bad_pixels(flat, np.zeros(flat.shape, bool), None, sigma=8)
    assert np.array_equal(found.dead, dead) and not found.hot.any()


# -- the mask is honoured ---------------------------------------------------------------------------
def test_masked_pixels_change_nothing_in_the_session_pattern(rings, tmp_path) -> None:
    g = true_geometry()
    s = _session(rings)
    s.set_detector(DETECTOR)
    s.add_geometry("truth", g)
    s.mask.rectangle(250, 100, 350, 200)
    s.mask.polygon([(400, 300), (450, 420), (500, 320)])
    spoiled = rings.copy()
    garbage = np.random.default_rng(0).uniform(1e8, 1e9, int(s.mask.array.sum()))  # not flat: no saturated plateau
    spoiled[s.mask.array] = garbage
    a = s.pattern(1500)
    s.set_image(Image(spoiled, "spoiled.tif", 0, 1))
    b = s.pattern(1500)
    np.testing.assert_allclose(b.intensity, a.intensity, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s.cake(400).intensity, _session_cake(rings, s), rtol=1e-6, atol=1e-6)
    s.use_mask = False
    assert s.pattern(1500).intensity.max() > 1e6  # without the mask the garbage shows


def _session_cake(data: np.ndarray, s: CalibrationSession) -> np.ndarray:
    clean = _session(data)
    clean.set_detector(DETECTOR)
    clean.add_geometry("truth", s.geometry)
    clean.user_mask = s.mask.array
    return clean.cake(400).intensity


def _crossing(g: Geometry, tth: float, azimuth: float) -> tuple[float, float]:
    x, y = beam_centre(g, g.detector.shape)
    r0, c0, dr, dc = y - 0.5, x - 0.5, np.sin(azimuth), np.cos(azimuth)
    t = brentq(lambda t: g.tth(np.array([r0 + dr * t]), np.array([c0 + dc * t]))[0] - tth, 1.0, 3000.0)
    return r0 + dr * t, c0 + dc * t


def _calibrated(data: np.ndarray) -> CalibrationSession:
    g = true_geometry()
    s = _session(data)
    s.set_detector(DETECTOR)
    s.set_calibrant("CeO2")
    s.wavelength = WAVELENGTH
    s.mask.rectangle(-0.5, 259.5, 329.5, 487)  # the upper right, across the first rings
    for ring, azimuth in ((0, np.pi), (1, np.deg2rad(150))):  # one click on each of two rings, left of the beam
        row, col = _crossing(g, ring_tth(ring), azimuth)
        np.random.seed(0)
        s.pick(row + 1.5 * np.sin(azimuth), col + 1.5 * np.cos(azimuth), ring)
    s.calibrate()
    return s


def test_calibration_ignores_garbage_under_the_mask(rings) -> None:
    g = true_geometry()
    spoiled = rings.copy()
    block = (slice(0, 330), slice(260, 487))
    spoiled[block] = np.random.default_rng(3).uniform(0, 3e4, spoiled[block].shape).round()
    clean, s = _calibrated(rings), _calibrated(spoiled)
    points = s.result.fit.points
    assert len(points.rows) > 500
    assert not ((points.rows < 329.5) & (points.cols > 259.5)).any()  # no peak from the garbage
    for name in ("dist", "poni1", "poni2", "rot1", "rot2"):  # the garbage changes nothing at all
        assert getattr(s.geometry, name) == pytest.approx(getattr(clean.geometry, name), rel=1e-9, abs=1e-12)
    dx, dy = np.subtract(beam_centre(s.geometry, spoiled.shape), beam_centre(g, spoiled.shape))
    assert abs(dx) < 0.05 and abs(dy) < 0.05
    assert s.geometry.dist == pytest.approx(g.dist, rel=2e-4)


# --- damaged mask files: the checks an image file gets ---------------------------------------------


def _half_mask() -> np.ndarray:
    mask = np.zeros((120, 90), bool)
    mask[:, :45] = True
    mask[::7, 60] = True
    return mask


@pytest.mark.parametrize("suffix", [".edf", ".mask", ".npy"])
@pytest.mark.parametrize("kept", [0.999, 0.5, 0.1])
def test_truncated_mask_is_refused(tmp_path, suffix, kept) -> None:
    """fabio padded a cut EDF mask with zeros: a real 50 % mask lost 228 151 of its 265 418 pixels."""
    path = tmp_path / f"half{suffix}"
    write_mask(path, _half_mask())
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * kept)])
    with pytest.raises(ImageError, match=rf"Mask .*half\{suffix}: cannot be read as .*(truncated|corrupt)"):
        read_mask(path, (120, 90))


def test_truncated_real_mask_is_refused(real_data, tmp_path) -> None:
    path = tmp_path / "cms.mask.edf"
    raw = (real_data / "cms_LaB6_Pilatus800k_12p7keV.mask.edf").read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImageError, match=r"Mask .*cms\.mask\.edf: cannot be read as an image \(truncated"):
        read_mask(path)


def test_npy_mask_promising_more_than_the_file_holds(tmp_path) -> None:
    """A damaged header claiming a huge array is refused without allocating it."""
    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:  # 10.8 GB promised, 1 kB present
        header = {"descr": "|i1", "fortran_order": False, "shape": (120_000, 90_000)}
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(1000))
    with pytest.raises(ImageError, match=r"Mask .*huge\.npy: cannot be read as a NumPy array"):
        read_mask(path)
    path.write_bytes(b"\x93NUMPY\x01\x00" + b"\xff" * 40)
    with pytest.raises(ImageError, match=r"Mask .*huge\.npy: cannot be read as a NumPy array"):
        read_mask(path)
    np.save(path, np.zeros((120, 90), np.int8))
    path.write_bytes(path.read_bytes().replace(b"(120, 90)", b"|120, 90)"))  # numpy's parser raised a TokenError
    with pytest.raises(ImageError, match=r"Mask .*huge\.npy: cannot be read as a NumPy array \(not a valid NumPy"):
        read_mask(path)


def test_all_zero_mask_is_still_valid(tmp_path) -> None:
    for suffix in (".edf", ".mask", ".npy"):
        write_mask(tmp_path / f"none{suffix}", np.zeros((20, 30), bool))
        assert not read_mask(tmp_path / f"none{suffix}", (20, 30)).any()


@pytest.mark.parametrize("compression", ["tiff_deflate", "tiff_lzw"])
def test_damaged_compressed_mask_is_refused_not_read_empty(tmp_path, compression) -> None:
    """Dioptas' masks are deflate TIFFs written by PIL. A damaged deflate stream read as other pixels
    (libtiff stops before the checksum); on PIL's decoder error (LZW) fabio fell back to the image's
    zeroed bytes: a damaged mask read as an empty, valid one."""
    path = tmp_path / "dioptas.mask"
    PILImage.fromarray(_half_mask().astype(np.int8)).save(path, "tiff", compression=compression)
    raw = bytearray(path.read_bytes())
    directory = int.from_bytes(raw[4:8], "little")  # PIL writes the pixels first, from byte 8
    raw[(8 + directory) // 2] ^= 0xFF  # a byte in the middle of the compressed pixels
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match=r"Mask .*dioptas\.mask: cannot be read as an image"):
        read_mask(path)


def test_mask_of_text_values_is_refused(tmp_path) -> None:
    """A damaged NumPy header type ('|i1' -> '|S1'): every byte, 0 included, is a non-empty string."""
    path = tmp_path / "text.npy"
    write_mask(path, _half_mask())
    path.write_bytes(path.read_bytes().replace(b"'|i1'", b"'|S1'"))
    with pytest.raises(ImageError, match=r"Mask text\.npy: holds \|S1 values, not numbers"):
        read_mask(path)
