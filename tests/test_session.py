"""CalibrationSession driven directly, as the GUI does: calibrate, save/load, history, transforms,
failures that keep the user's work, picks, legacy Dioptas files and the mask.

Every image is synthetic with a known geometry (``xcal.core.calibration.synthetic.ring_image``), except the
legacy Dioptas case, which uses a real Pilatus 1M image and its two reference .poni files.

Picks here are single-peak picks (``mode="peak"``) at computed ring crossings: they are
deterministic, so a failure points at the session, not at the ring tracer's seed search (see
``test_ring_pick_does_not_depend_on_global_rng`` for that one).
"""

from __future__ import annotations

import os
from pathlib import Path

import fabio
import numpy as np
import pyFAI
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry
from scipy.optimize import brentq

from xcal.core.calibration.picks import PickSet
from xcal.core.calibration.pipeline import RefineOptions
from xcal.core.calibration.session import CalibrationSession
from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import FitError, GeometryFileError, PickError, XcalError
from xcal.core.geometry.beam import beam_centre
from xcal.core.geometry.transforms import ImageTransform
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.poni import write_poni

PARAMS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")
DETECTOR = "Pilatus300k"  # 619 x 487, 172 µm, with module gaps
WAVELENGTH = 0.3e-10
TRUE = dict(dist=0.2, poni1=0.054, poni2=0.041, rot1=0.012, rot2=-0.008, rot3=0.0)
AZIMUTHS = np.deg2rad(np.arange(0, 360, 30) + 7.0)  # 12 clicks around a ring
GAPS = detector_factory(DETECTOR).mask.astype(bool)


def true_geometry() -> Geometry:
    return Geometry(detector=detector_factory(DETECTOR), wavelength=WAVELENGTH, **TRUE)


def ring_tth(ring: int) -> float:
    d = load_calibrant("CeO2").dspacing[ring] * 1e-10
    return 2 * np.arcsin(WAVELENGTH / (2 * d))


def crossing(geometry: Geometry, tth: float, azimuth: float) -> tuple[float, float]:
    """(row, col), pyFAI index convention, where 2θ = ``tth`` on the ray from the beam centre."""
    x, y = beam_centre(geometry, geometry.detector.shape)
    r0, c0 = y - 0.5, x - 0.5
    dr, dc = np.sin(azimuth), np.cos(azimuth)
    t = brentq(lambda t: geometry.tth(np.array([r0 + dr * t]), np.array([c0 + dc * t]))[0] - tth, 1.0, 3000.0)
    return r0 + dr * t, c0 + dc * t


def radial_offset_px(geometry: Geometry, row: float, col: float, tth: float) -> float:
    """Signed distance (pixels, along the 2θ gradient) from (row, col) to the cone of 2θ = ``tth``."""
    h = 0.5
    f = lambda r, c: geometry.tth(np.array([r]), np.array([c]))[0]  # noqa: E731
    grad = np.hypot(f(row + h, col) - f(row - h, col), f(row, col + h) - f(row, col - h)) / (2 * h)
    return (f(row, col) - tth) / grad


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("session")
    g = true_geometry()
    calibrant = load_calibrant("CeO2")
    out = {}
    data = ring_image(g, calibrant, g.detector.shape, fwhm_deg=0.06, noise=True, seed=1)
    out["noisy"] = folder / "ceo2.tif"
    fabio.tifimage.TifImage(data).write(str(out["noisy"]))
    out["truth"] = folder / "truth.poni"
    write_poni(out["truth"], g)
    return out


def new_session(image: Path, transform: ImageTransform | None = None) -> CalibrationSession:
    s = CalibrationSession()
    s.load_image(image)
    s.set_detector(DETECTOR)
    s.set_calibrant("CeO2")
    s.wavelength = WAVELENGTH
    if transform is not None:
        s.set_transform(transform)
    return s


def clickable(row: float, col: float, shape=(619, 487)) -> bool:
    """Inside the image, and the ring is not in a module gap here (else the brightest pixel is on another ring)."""
    if not (5 < row < shape[0] - 5 and 5 < col < shape[1] - 5):
        return False
    return not GAPS[int(row) - 3:int(row) + 4, int(col) - 3:int(col) + 4].any()


def pick_ring_peaks(s: CalibrationSession, ring: int, azimuths=AZIMUTHS, offset_px: float = 1.5,
                    keep=lambda row, col: True) -> int:
    """Single-peak picks on ``ring`` at the raw-frame crossings, clicked ``offset_px`` off the ring."""
    g = true_geometry()
    shape = g.detector.shape
    n = 0
    for a in azimuths:
        row, col = crossing(g, ring_tth(ring), a)
        row, col = row + offset_px * np.sin(a), col + offset_px * np.cos(a)
        if not clickable(row, col) or not keep(row, col):
            continue
        wr, wc = s.transform.points_from_raw(np.array([row + 0.5]), np.array([col + 0.5]), shape)
        s.pick(float(wr[0]) - 0.5, float(wc[0]) - 0.5, ring, mode="peak")
        n += 1
    return n


def geometry_numbers(g: Geometry) -> dict[str, float]:
    return {p: float(getattr(g, p)) for p in PARAMS}


def assert_close_to_truth(g: Geometry, shape=(619, 487), centre_px: float = 0.05, dist_pct: float = 0.02) -> None:
    truth = true_geometry()
    dx, dy = np.subtract(beam_centre(g, shape), beam_centre(truth, shape))
    assert abs(dx) < centre_px and abs(dy) < centre_px, (dx, dy)
    assert abs(g.dist / truth.dist - 1) * 100 < dist_pct, g.dist


@pytest.fixture(scope="module")
def calibrated(images) -> CalibrationSession:
    s = new_session(images["noisy"])
    pick_ring_peaks(s, 0)
    s.calibrate()
    return s


# -- calibrate, save/load, history ------------------------------------------------------------------


def test_calibrate_recovers_true_geometry(calibrated) -> None:
    g = calibrated.geometry
    assert_close_to_truth(g)
    assert g.rot1 == pytest.approx(TRUE["rot1"], abs=2e-4)
    assert g.rot2 == pytest.approx(TRUE["rot2"], abs=2e-4)
    assert g.rot3 == 0.0 and g.wavelength == WAVELENGTH  # fixed by default
    assert calibrated.result.fit.rms_px < 0.1
    assert len(calibrated.result.fit.rings) >= 10  # automatic refinement went out to the outer rings
    assert [h.label for h in calibrated.history] == ["start", "calibrate"]  # the first guess is restorable


def test_save_then_load_in_fresh_session_gives_same_geometry(calibrated, images, tmp_path) -> None:
    path = tmp_path / "cal.poni"
    calibrated.save_poni(path)
    fresh = CalibrationSession()
    fresh.load_image(images["noisy"])
    notes = fresh.load_poni(path)
    assert notes == []  # an xcal file carries its orientation: nothing ambiguous to report
    a, b = geometry_numbers(calibrated.geometry), geometry_numbers(fresh.geometry)
    for p in PARAMS:
        assert b[p] == pytest.approx(a[p], rel=1e-9, abs=1e-12), p
    assert fresh.wavelength == pytest.approx(WAVELENGTH, rel=1e-12)
    assert type(fresh.raw_detector).__name__ == "Pilatus300k"
    assert [h.label for h in fresh.history] == ["loaded cal.poni"]
    text = path.read_text()
    assert "Calibrant: CeO2" in text and "RMS residual" in text


def test_history_edit_and_restore(images) -> None:
    s = new_session(images["noisy"])
    pick_ring_peaks(s, 0)
    pick_ring_peaks(s, 2)
    s.calibrate()
    first = geometry_numbers(s.geometry)
    edited = s.set_geometry_values(dist=0.25, rot2=0.0)
    assert [h.label for h in s.history] == ["start", "calibrate", "edited"]
    assert edited is s.geometry
    assert s.geometry.dist == 0.25 and s.geometry.rot2 == 0.0
    for p in ("poni1", "poni2", "rot1", "rot3", "wavelength"):
        assert getattr(s.geometry, p) == first[p], p
    s.set_geometry_values(dist=first["dist"] * 1.004, poni1=first["poni1"] + 1e-4, rot2=first["rot2"])
    s.refine(RefineOptions(auto=False))  # on the picks only
    assert [h.label for h in s.history] == ["start", "calibrate", "edited", "edited", "refine"]
    assert s.result.fit.points.rings.tolist() == s.picks.control_points().rings.tolist()
    assert_close_to_truth(s.geometry, centre_px=0.3, dist_pct=0.05)  # a 0.4 % / 0.6 px hand edit is refined away
    restored = s.restore(2)
    assert [h.label for h in s.history][-1] == "restored edited"
    assert restored.dist == 0.25 and s.geometry.dist == 0.25
    s.restore(1)
    assert geometry_numbers(s.geometry) == first
    assert s.history[-1].rms_deg == s.history[1].rms_deg


def test_edit_without_geometry_is_refused(images) -> None:
    s = new_session(images["noisy"])
    with pytest.raises(FitError, match="no geometry"):
        s.set_geometry_values(dist=0.1)
    assert s.history == []


# -- transforms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ops", [("rot90",), ("fliph",)], ids="+".join)
def test_calibration_on_transformed_image_saves_raw_geometry(images, tmp_path, ops) -> None:
    transform = ImageTransform(ops)
    s = new_session(images["noisy"], transform)
    assert s.data.shape == transform.shape((619, 487))
    assert pick_ring_peaks(s, 0) >= 8
    s.calibrate()
    path = tmp_path / "t.poni"
    s.save_poni(path)
    saved = pyFAI.load(str(path))
    truth = true_geometry()
    shape = truth.detector.shape
    tth_saved = saved.center_array(shape, unit="2th_deg", scale=False)
    tth_true = truth.center_array(shape, unit="2th_deg", scale=False)
    assert np.abs(tth_saved - tth_true).max() < 0.005
    # and it is the geometry of the raw file: a second session without transform reads the same
    fresh = CalibrationSession()
    fresh.load_image(images["noisy"])
    fresh.load_poni(path)
    assert_close_to_truth(fresh.geometry)


def test_set_transform_carries_picks_and_geometry(images) -> None:
    s = new_session(images["noisy"])
    pick_ring_peaks(s, 0)
    before = np.concatenate([g.points for g in s.picks.groups])
    s.load_poni(images["truth"])
    tth_before = s.geometry.tth(before[:, 0], before[:, 1])
    transform = ImageTransform(("rot90",))
    s.set_transform(transform)
    after = np.concatenate([g.points for g in s.picks.groups])
    assert after.shape == before.shape
    # the carried picks sit on the same cones in the carried geometry
    np.testing.assert_allclose(s.geometry.tth(after[:, 0], after[:, 1]), tth_before, atol=1e-9)
    assert s.history[-1].label == "transformed"
    rr, cc = transform.points_to_raw(after[:, 0] + 0.5, after[:, 1] + 0.5, (619, 487))
    np.testing.assert_allclose(np.column_stack([rr - 0.5, cc - 0.5]), before, atol=1e-9)


# -- failures keep the user's work ------------------------------------------------------------------


def test_failed_calibration_keeps_picks_and_history(images) -> None:
    s = new_session(images["noisy"])
    pick_ring_peaks(s, 0)
    s.load_poni(images["truth"])
    n_picks, n_groups = len(s.picks), len(s.picks.groups)
    history = list(s.history)
    geometry = s.geometry

    s.wavelength = None
    with pytest.raises(XcalError, match="wavelength"):
        s.calibrate()
    with pytest.raises(XcalError, match="wavelength"):
        s.refine()
    s.wavelength = WAVELENGTH

    # a pick on a line the calibrant does not have is refused and not stored
    with pytest.raises(PickError, match="Ring 1000 does not exist"):
        s.pick(300.0, 300.0, 999, mode="peak")
    assert len(s.picks) == n_picks

    # points stored on a non-existent ring (e.g. an .npt for another calibrant): calibrate refuses them
    s.picks.add(len(s.dspacing) + 5, np.array([[10.0, 10.0], [12.0, 12.0], [14.0, 15.0]]))
    with pytest.raises(XcalError) as info:
        s.calibrate()
    assert isinstance(info.value, (PickError, FitError))
    assert f"Ring {len(s.dspacing) + 6}" in str(info.value)
    assert len(s.picks) == n_picks + 3 and len(s.picks.groups) == n_groups + 1
    assert s.history == history and s.geometry is geometry
    s.picks.undo()

    # a calibrant whose lines cannot diffract at this wavelength
    s.wavelength = 30e-10
    with pytest.raises(PickError, match="cannot diffract"):
        s.calibrate()
    assert len(s.picks) == n_picks and s.history == history and s.geometry is geometry


def test_calibrate_without_picks_or_setup(images) -> None:
    s = CalibrationSession()
    with pytest.raises(XcalError, match="Load a calibration image"):
        s.calibrate()
    s.load_image(images["noisy"])
    with pytest.raises(XcalError, match="calibrant"):
        s.calibrate()
    s.set_calibrant("CeO2")
    s.set_energy(12.398419843320026 / 0.3)
    assert s.wavelength == pytest.approx(WAVELENGTH, rel=1e-12)
    with pytest.raises(XcalError, match="detector"):
        s.calibrate()
    s.set_detector(DETECTOR)
    with pytest.raises(PickError, match="No peaks are picked"):
        s.calibrate()
    with pytest.raises(FitError, match="no geometry to refine"):
        s.refine()
    assert s.history == [] and s.result is None
    with pytest.raises(XcalError, match="energy"):
        s.set_energy(-5)


def test_failed_save_leaves_nothing_behind(calibrated, tmp_path) -> None:
    target = tmp_path / "missing_dir" / "cal.poni"
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(GeometryFileError, match="cal.poni"):
        calibrated.save_poni(target)
    assert sorted(os.listdir(tmp_path)) == before
    assert not target.parent.exists()


def test_failed_save_keeps_existing_file(calibrated, tmp_path) -> None:
    target = tmp_path / "cal.poni"
    target.write_bytes(b"previous calibration\n")
    s = CalibrationSession()  # nothing to save
    with pytest.raises(FitError):
        s.save_poni(target)
    assert target.read_bytes() == b"previous calibration\n"
    assert sorted(os.listdir(tmp_path)) == ["cal.poni"]


# -- picks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ring", [0, 2, 5])
def test_peak_pick_is_one_subpixel_point_on_the_ring(images, ring) -> None:
    s = new_session(images["noisy"])
    g = true_geometry()
    tested = 0
    for a in np.deg2rad(np.arange(3.0, 360.0, 37.0)):
        row, col = crossing(g, ring_tth(ring), a)
        click_row, click_col = row + 1.5 * np.sin(a) + 0.7, col + 1.5 * np.cos(a) - 0.4
        if not clickable(click_row, click_col):
            continue
        group = s.pick(click_row, click_col, ring, mode="peak")
        assert group.points.shape == (1, 2) and group.ring == ring
        pr, pc = group.points[0]
        assert pr != round(pr) or pc != round(pc)  # sub-pixel, not the brightest pixel's index
        assert abs(radial_offset_px(g, pr, pc, ring_tth(ring))) < 0.3
        assert abs(pr - click_row) <= 11 and abs(pc - click_col) <= 11  # within the search box of the click
        tested += 1
    assert tested >= 4
    assert len(s.picks) == tested and len(s.picks.groups) == tested


def test_picks_npt_round_trip_and_undo(images, tmp_path) -> None:
    s = new_session(images["noisy"])
    n0 = pick_ring_peaks(s, 0, AZIMUTHS[:6])
    n3 = pick_ring_peaks(s, 3, AZIMUTHS[6:])
    assert n0 >= 3 and n3 >= 3
    assert [g.ring for g in s.picks.groups] == [0] * n0 + [3] * n3
    path = tmp_path / "picks.npt"
    s.picks.save_npt(path, s.dspacing, s.wavelength)
    loaded = PickSet.load_npt(path)
    assert [g.ring for g in loaded.groups] == [g.ring for g in s.picks.groups]
    for a, b in zip(loaded.groups, s.picks.groups):
        np.testing.assert_allclose(a.points, b.points, rtol=0, atol=1e-9)
    assert loaded.rings() == [0, 3]
    cp = loaded.control_points()
    assert len(cp) == n0 + n3 and sorted(cp.rings.tolist()) == [0] * n0 + [3] * n3

    last = s.picks.groups[-1]
    assert s.picks.undo() is last
    assert len(s.picks) == n0 + n3 - 1 and s.picks.groups[-1].ring == 3
    for _ in range(n0 + n3 - 1):
        s.picks.undo()
    assert len(s.picks) == 0 and s.picks.undo() is None


def test_load_npt_errors(tmp_path) -> None:
    with pytest.raises(PickError, match="does not exist"):
        PickSet.load_npt(tmp_path / "none.npt")
    empty = tmp_path / "empty.npt"
    empty.write_text("# nothing\n")
    with pytest.raises(PickError, match="empty.npt"):
        PickSet.load_npt(empty)


def test_ring_pick_traces_the_whole_ring(images) -> None:
    np.random.seed(0)  # pyFAI's Massif draws its seeds from the global RNG (see the test below)
    s = new_session(images["noisy"])
    g = true_geometry()
    row, col = crossing(g, ring_tth(0), AZIMUTHS[0])
    group = s.pick(row, col + 1.5, 0)
    pts = group.points
    assert len(pts) > 60
    offsets = np.array([radial_offset_px(g, r, c, ring_tth(0)) for r, c in pts])
    assert np.median(np.abs(offsets)) < 0.05 and np.percentile(np.abs(offsets), 90) < 0.1
    assert np.abs(offsets).max() < 1.5  # the worst ones border the module gaps
    chi = np.degrees(g.chi(pts[:, 0], pts[:, 1]))
    assert np.ptp(chi) > 300  # all the way round


def test_ring_pick_does_not_depend_on_global_rng(images) -> None:
    g = true_geometry()
    row, col = crossing(g, ring_tth(0), AZIMUTHS[0])
    results = []
    for seed in range(6):
        np.random.seed(seed)
        s = new_session(images["noisy"])
        s.pick(row, col + 1.5, 0)
        results.append(np.concatenate([grp.points for grp in s.picks.groups]))
    ordered = [r[np.lexsort((r[:, 1], r[:, 0]))] for r in results]  # same points, whatever their order
    for other in ordered[1:]:
        assert other.shape == ordered[0].shape
        np.testing.assert_allclose(other, ordered[0], atol=0.01)


# -- legacy Dioptas files ---------------------------------------------------------------------------


def test_legacy_dioptas_poni_is_recognised(real_data) -> None:
    image = real_data / "dioptas_CeO2_Pilatus1M_30keV.tif"
    s = CalibrationSession()
    s.load_image(image)
    s.set_detector("Pilatus1M")
    notes = s.load_poni(real_data / "dioptas_CeO2_Pilatus1M_30keV.dioptas.poni")
    legacy = s.geometry
    assert any("Dioptas" in n for n in notes), notes
    s.load_poni(real_data / "dioptas_CeO2_Pilatus1M_30keV.poni")
    reference = s.geometry
    shape = s.raw.shape
    a = legacy.center_array(shape, unit="2th_rad", scale=False)
    b = reference.center_array(shape, unit="2th_rad", scale=False)
    assert np.abs(a - b).max() < 1e-6
    # read as pyFAI would (orientation 3), the same file does not fit: the check above is not trivial
    plain = CalibrationSession()
    plain.load_image(image)
    plain.load_poni(real_data / "dioptas_CeO2_Pilatus1M_30keV.dioptas.poni", legacy_dioptas=False)
    c = plain.geometry.center_array(shape, unit="2th_rad", scale=False)
    assert np.abs(c - b).max() > 1e-3
    assert [h.label for h in s.history] == ["loaded dioptas_CeO2_Pilatus1M_30keV.dioptas.poni",
                                            "loaded dioptas_CeO2_Pilatus1M_30keV.poni"]


# -- mask ---------------------------------------------------------------------------------------------


def test_user_mask_is_honoured(images) -> None:
    s = new_session(images["noisy"])
    h, w = s.data.shape
    boundary = w // 2  # columns >= boundary are masked
    mask = np.zeros((h, w), bool)
    mask[:, boundary:] = True
    s.user_mask = mask
    assert pick_ring_peaks(s, 0, keep=lambda row, col: col < boundary - 3) >= 4
    s.calibrate()
    cols = s.result.fit.points.cols
    assert len(cols) > 300
    assert cols.max() < boundary - 0.5  # pixel boundary-1 ends at boundary - 0.5 (index convention)
    assert_close_to_truth(s.geometry, centre_px=0.15, dist_pct=0.05)

    s.use_mask = False
    s.refine()
    cols = s.result.fit.points.cols
    assert (cols > boundary + 10).sum() > 300  # the other half is used once the mask is off
    assert_close_to_truth(s.geometry)


def test_mask_set_after_picking_is_honoured_by_later_picks(images) -> None:
    s = new_session(images["noisy"])
    g = true_geometry()
    np.random.seed(0)
    a = np.deg2rad(187.0)  # left of the beam centre: the half that stays unmasked
    row, col = crossing(g, ring_tth(0), a)
    row, col = row + 1.5 * np.sin(a), col + 1.5 * np.cos(a)
    first = s.pick(row, col, 0)  # builds the ring picker
    assert first.points[:, 1].max() > s.data.shape[1] // 2 + 50  # the whole ring
    mask = np.zeros(s.data.shape, bool)
    mask[:, s.data.shape[1] // 2:] = True
    s.user_mask = mask
    np.random.seed(0)
    group = s.pick(row, col, 0)
    assert group.points[:, 1].max() < s.data.shape[1] // 2 - 0.5


def test_ring_pick_on_half_masked_image_stays_on_its_ring(images) -> None:
    s = new_session(images["noisy"])
    mask = np.zeros(s.data.shape, bool)
    mask[:, s.data.shape[1] // 2:] = True
    s.user_mask = mask
    g = true_geometry()
    a = np.deg2rad(225.0)
    row, col = crossing(g, ring_tth(0), a)
    np.random.seed(0)
    points = s.pick(row + 1.5 * np.sin(a), col + 1.5 * np.cos(a), 0).points
    offsets = np.array([radial_offset_px(g, r, c, ring_tth(0)) for r, c in points])
    assert len(points) > 20 and points[:, 1].max() < s.data.shape[1] // 2 - 0.5
    assert np.abs(offsets).max() < 3.0
