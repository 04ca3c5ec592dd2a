"""Image rotations/flips and the geometries that make the working image give each pixel its raw 2θ and χ."""

from __future__ import annotations

import itertools
from pathlib import Path

import fabio
import numpy as np
import pyFAI
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import Detector, detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import DetectorError
from xcal.core.geometry.transforms import OPS, ImageTransform, raw_geometry, working_geometry
from xcal.core.io.poni import read_poni, write_poni

NUMPY = {"rot90": lambda a: np.rot90(a, 1), "rot-90": lambda a: np.rot90(a, -1), "fliph": np.fliplr,
         "flipv": np.flipud}
CANONICAL = [(), ("rot90",), ("rot-90",), ("rot90", "rot90"), ("fliph",), ("flipv",), ("rot90", "flipv"),
             ("rot90", "fliph")]
TRANSFORMS = [ImageTransform(ops) for ops in CANONICAL]
SAMPLE = np.arange(15).reshape(3, 5)


def _numpy_apply(ops, array):
    for op in ops:
        array = NUMPY[op](array)
    return array


def test_eight_group_elements() -> None:
    results = {_numpy_apply(ops, SAMPLE).tobytes() + bytes(_numpy_apply(ops, SAMPLE).shape) for ops in CANONICAL}
    assert len(results) == 8
    for ops in CANONICAL:
        transform = ImageTransform(ops)
        assert transform.reduced().ops == ops
        np.testing.assert_array_equal(transform.apply(SAMPLE), _numpy_apply(ops, SAMPLE))
    seen = set()
    for length in range(4):
        for ops in itertools.product(OPS, repeat=length):
            reduced = ImageTransform(ops).reduced()
            assert reduced.ops in CANONICAL
            np.testing.assert_array_equal(reduced.apply(SAMPLE), _numpy_apply(ops, SAMPLE))
            seen.add(reduced.ops)
    assert len(seen) == 8


def test_random_sequences_reduce() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        ops = tuple(rng.choice(OPS, size=rng.integers(0, 12)))
        transform = ImageTransform(ops)
        np.testing.assert_array_equal(transform.reduced().apply(SAMPLE), _numpy_apply(ops, SAMPLE))
        np.testing.assert_array_equal(transform.apply(SAMPLE), _numpy_apply(ops, SAMPLE))
        assert transform.swaps_axes == (transform.apply(SAMPLE).shape != SAMPLE.shape)


def test_simple_reductions_and_text() -> None:
    assert ImageTransform(("fliph", "fliph")).reduced() == ImageTransform()
    assert ImageTransform(("rot90",) * 4).reduced().ops == ()
    assert ImageTransform(("rot90", "rot-90")).reduced().ops == ()
    assert ImageTransform(("fliph", "flipv")).reduced().ops == ("rot90", "rot90")
    assert ImageTransform(("rot-90", "rot-90", "rot-90")).reduced().ops == ("rot90",)
    assert ImageTransform().then("rot90").then("flipv").describe() == \
        "rotated 90° counter-clockwise, flipped vertically"
    assert ImageTransform().describe() == "none"
    assert ImageTransform(("flipv", "fliph")).describe() == "rotated 180°"
    assert ImageTransform(("flipv", "rot90")).describe() == "rotated 90° counter-clockwise, flipped horizontally"
    transform = ImageTransform(("rot90", "fliph", "rot90"))
    assert transform.to_list() == ["rot90", "fliph", "rot90"]
    assert ImageTransform.from_list(transform.to_list()) == transform
    with pytest.raises(ValueError, match="rot45"):
        ImageTransform().then("rot45")
    with pytest.raises(ValueError, match="mirror"):
        ImageTransform.from_list(["mirror"])


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: ",".join(t.ops) or "identity")
def test_apply_invert_and_points(transform: ImageTransform) -> None:
    rng = np.random.default_rng(1)
    raw_shape = (37, 52)
    image = rng.random(raw_shape)
    mask = image > 0.7
    working = transform.apply(image)
    assert working.shape == transform.shape(raw_shape)
    np.testing.assert_array_equal(transform.invert(working), image)
    np.testing.assert_array_equal(transform.invert(transform.apply(mask)), mask)
    assert transform.apply(mask).dtype == bool
    for _ in range(20):
        i, j = rng.integers(raw_shape[0]), rng.integers(raw_shape[1])
        marked = np.zeros(raw_shape, dtype=bool)
        marked[i, j] = True
        rows, cols = transform.points_from_raw(i + 0.5, j + 0.5, raw_shape)
        assert transform.apply(marked)[int(np.floor(rows)), int(np.floor(cols))]
    rows = rng.uniform(-3, raw_shape[0] + 3, 100)
    cols = rng.uniform(-3, raw_shape[1] + 3, 100)
    back = transform.points_to_raw(*transform.points_from_raw(rows, cols, raw_shape), raw_shape)
    np.testing.assert_allclose(back, (rows, cols), rtol=0, atol=1e-12)


def _random_geometry(seed: int, detector: Detector) -> Geometry:
    rng = np.random.default_rng(seed)
    return Geometry(dist=rng.uniform(0.05, 0.3), poni1=rng.uniform(-0.005, 0.02), poni2=rng.uniform(-0.005, 0.02),
                    rot1=rng.uniform(-0.4, 0.4), rot2=rng.uniform(-0.4, 0.4), rot3=rng.uniform(-np.pi, np.pi),
                    wavelength=1e-10, detector=detector)


def _assert_same_angles(a: Geometry, a_shape, b_arrays) -> None:
    tth = a.center_array(a_shape, "2th_deg")
    chi = a.center_array(a_shape, "chi_deg")
    np.testing.assert_allclose(tth, b_arrays[0], rtol=0, atol=1e-9)
    away_from_cut = np.abs(b_arrays[1]) < 179.0
    difference = (chi - b_arrays[1] + 180.0) % 360.0 - 180.0
    assert np.abs(difference[away_from_cut]).max() < 1e-9


@pytest.mark.parametrize("orientation", [3, 2, 4, 1])
@pytest.mark.parametrize("seed", range(3))
def test_working_and_raw_geometry(orientation: int, seed: int) -> None:
    raw_shape = (48, 70)
    detector = Detector(pixel1=1e-4, pixel2=1.6e-4, max_shape=raw_shape, orientation=orientation)
    geometry = _random_geometry(seed, detector)
    raw_arrays = (geometry.center_array(raw_shape, "2th_deg"), geometry.center_array(raw_shape, "chi_deg"))
    rng = np.random.default_rng(seed)
    rows, cols = rng.uniform(0, raw_shape[0], 50), rng.uniform(0, raw_shape[1], 50)
    for transform in TRANSFORMS:
        working = working_geometry(geometry, transform, raw_shape)
        working_shape = transform.shape(raw_shape)
        _assert_same_angles(working, working_shape, [transform.apply(a) for a in raw_arrays])
        if not transform.swaps_axes:  # flips: the same six numbers, only the orientation changes
            assert [working.dist, working.poni1, working.poni2, working.rot1, working.rot2, working.rot3] == \
                [geometry.dist, geometry.poni1, geometry.poni2, geometry.rot1, geometry.rot2, geometry.rot3]
        # pyFAI's point functions agree at arbitrary (sub-pixel) positions too
        w_rows, w_cols = transform.points_from_raw(rows, cols, raw_shape)
        np.testing.assert_allclose(working.tth(w_rows - 0.5, w_cols - 0.5), geometry.tth(rows - 0.5, cols - 0.5),
                                   rtol=0, atol=1e-12)
        back = raw_geometry(working, transform, raw_shape, raw_detector=detector)
        _assert_same_angles(back, raw_shape, raw_arrays)
        assert int(back.detector.orientation) == orientation
        np.testing.assert_allclose([back.poni1, back.poni2, back.rot1, back.rot2], [
            geometry.poni1, geometry.poni2, geometry.rot1, geometry.rot2], rtol=0, atol=1e-14)
        assert np.cos(back.rot3 - geometry.rot3) == pytest.approx(1.0, abs=1e-14)
        _assert_same_angles(raw_geometry(working, transform, raw_shape), raw_shape, raw_arrays)


def test_orientation_is_a_pure_pixel_flip() -> None:
    """pyFAI orientation 1/2/4 = orientation 3 with reversed columns+rows / rows / columns, exactly."""
    shape = (1043, 981)
    params = dict(dist=0.2, poni1=0.08, poni2=0.07, rot1=0.05, rot2=-0.03, rot3=0.2, wavelength=4e-11)
    arrays = {}
    for orientation in (1, 2, 3, 4):
        geometry = Geometry(detector=detector_factory("Pilatus1M", {"orientation": orientation}), **params)
        arrays[orientation] = [geometry.center_array(shape, unit) for unit in ("2th_deg", "chi_deg")]
    for orientation, flip in ((2, np.flipud), (4, np.fliplr), (1, lambda a: a[::-1, ::-1])):
        for got, reference in zip(arrays[orientation], arrays[3]):
            np.testing.assert_array_equal(got, flip(reference))


def test_named_detector_rotation_and_save(tmp_path: Path) -> None:
    raw_shape = (1043, 981)
    pilatus = detector_factory("Pilatus1M")
    geometry = Geometry(dist=0.21, poni1=0.087, poni2=0.08, rot1=-0.018, rot2=0.004, rot3=0.0, wavelength=4e-11,
                        detector=pilatus)
    transform = ImageTransform(("rot-90", "fliph"))
    working = working_geometry(geometry, transform, raw_shape)
    assert working.detector.shape == (981, 1043)
    np.testing.assert_array_equal(working.detector.mask, transform.apply(pilatus.mask))
    back = raw_geometry(working, transform, raw_shape, raw_detector=pilatus)
    assert type(back.detector) is type(pilatus) and int(back.detector.orientation) == 3
    path = tmp_path / "saved.poni"
    write_poni(path, back, ["written by xcal"])
    loaded = pyFAI.load(str(path))
    assert type(loaded.detector).__name__ == "Pilatus1M"
    np.testing.assert_allclose(loaded.center_array(raw_shape, "2th_deg"), geometry.center_array(raw_shape, "2th_deg"),
                               rtol=0, atol=1e-9)
    with pytest.raises(DetectorError):
        working_geometry(geometry, transform, (1000, 981))


@pytest.mark.parametrize("ops", [("rot90",), ("rot-90",), ("rot90", "flipv"), ("rot90", "rot90")])
def test_synthetic_rings_non_square_pixels(ops: tuple[str, ...]) -> None:
    raw_shape = (300, 420)
    geometry = Geometry(dist=0.12, poni1=0.013, poni2=0.021, rot1=0.08, rot2=-0.05, rot3=0.3, wavelength=1e-10,
                        detector=Detector(pixel1=7.5e-5, pixel2=1.2e-4, max_shape=raw_shape))
    calibrant = get_calibrant("LaB6")
    raw = ring_image(geometry, calibrant, raw_shape, fwhm_deg=0.05, spots=8)
    transform = ImageTransform(ops)
    working = working_geometry(geometry, transform, raw_shape)
    assert (working.detector.pixel1, working.detector.pixel2) == ((1.2e-4, 7.5e-5) if transform.swaps_axes
                                                                  else (7.5e-5, 1.2e-4))
    np.testing.assert_allclose(ring_image(working, calibrant, transform.shape(raw_shape), fwhm_deg=0.05, spots=8),
                               transform.apply(raw), rtol=1e-5, atol=1e-3)


def test_legacy_dioptas_file_is_a_flip(real_data: Path) -> None:
    """The converted file (orientation 2) flipped up-down is exactly what the legacy Dioptas file says."""
    raw_shape = fabio.open(str(real_data / "dioptas_CeO2_Pilatus1M_30keV.tif")).shape
    converted = read_poni(real_data / "dioptas_CeO2_Pilatus1M_30keV.poni").geometry
    legacy = read_poni(real_data / "dioptas_CeO2_Pilatus1M_30keV.dioptas.poni", shape=raw_shape).geometry
    flipped = working_geometry(converted, ImageTransform(("flipv",)), raw_shape)
    assert int(flipped.detector.orientation) == 3
    assert (flipped.dist, flipped.poni1, flipped.poni2, flipped.rot1) == (legacy.dist, legacy.poni1, legacy.poni2,
                                                                          legacy.rot1)
    np.testing.assert_array_equal(flipped.center_array(raw_shape, "2th_deg"), legacy.center_array(raw_shape, "2th_deg"))
