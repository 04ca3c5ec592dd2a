"""Files Dioptas reads right (``xcal.core.io.dioptas_files``): the calibration for Dioptas and the masks.

Every geometry has tilts, rot3 and an off-centre beam, so any flip shows. Two ways to check:

* without Dioptas, ``dioptas_way_tth`` reproduces what Dioptas 0.11's model does with a .poni and an
  image (read from its source: ``CalibrationModel.load`` keeps the numbers and swaps in its own
  detector of pyFAI's default orientation; its image loaders flip the data up-down);
* with Dioptas installed (``pip install -e ".[dioptas]"`` then ``pip install --no-deps
  dioptas==0.11.0``: its own pins want PyQt6 and an older pyqtgraph beside xcal's PyQt5), Dioptas'
  own ``ImgModel``, ``CalibrationModel`` and ``MaskModel`` load the files. Its package ``__init__``
  starts its Qt GUI, so the model modules are imported with that file skipped.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import fabio
import numpy as np
import pyFAI
import pytest
from PIL import Image as PILImage
from pyFAI.detectors import Detector, detector_factory
from pyFAI.geometry import Geometry
from pyFAI.io.ponifile import PoniFile

from xcal.cli import main
from xcal.core.calibration.session import CalibrationSession
from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import GeometryFileError
from xcal.core.geometry.transforms import ImageTransform
from xcal.core.io.calibrants import load_calibrant
from xcal.core.io.dioptas_files import MASK_ROWS_KEY, dioptas_geometry, save_session_for_dioptas, write_dioptas_poni
from xcal.core.io.images import Image
from xcal.core.io.poni import read_poni, resolve_legacy, write_poni
from xcal.core.masks.model import read_mask, write_mask

TOLERANCE = 1e-6  # rad
WAVELENGTH = 0.4e-10
TILTED = dict(dist=0.12, poni1=0.011, poni2=0.03, rot1=0.05, rot2=-0.08, rot3=0.3, wavelength=WAVELENGTH)


def pilatus(orientation: int = 3) -> Geometry:
    """Pilatus 100k (195 x 487, module gaps), tilted, beam 64 px from the bottom edge, 174 px from the side."""
    return Geometry(detector=detector_factory("Pilatus100k", {"orientation": orientation}), **TILTED)


def generic(orientation: int) -> Geometry:
    """A 100 x 80 detector of rectangular pixels, beam off the image."""
    detector = Detector(pixel1=100e-6, pixel2=120e-6, max_shape=(100, 80), orientation=orientation)
    return Geometry(detector=detector, dist=0.1, poni1=0.002, poni2=0.0125, rot1=0.07, rot2=-0.05, rot3=-2.9,
                    wavelength=WAVELENGTH)


CASES = {"pilatus": pilatus(), **{f"generic_orientation{o}": generic(o) for o in (1, 2, 3, 4)}}


def tth(geometry: Geometry, shape) -> np.ndarray:
    return geometry.center_array(tuple(shape), unit="2th_rad", scale=False)


def chi(geometry: Geometry, shape) -> np.ndarray:
    return geometry.center_array(tuple(shape), unit="chi_rad", scale=False)


def angle_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.angle(np.exp(1j * (a - b)))).max())


def dioptas_way_geometry(path: Path) -> Geometry:
    """The geometry Dioptas 0.11 computes with after ``CalibrationModel.load(path)``, for its flipped image.

    It parses the file with pyFAI's ``PoniFile``, sets the numbers on its ``GeometryRefinement`` and
    then puts its own detector there (a plain one of the file's pixel size, pyFAI's default
    orientation 3): of the file only the numbers and the pixel size count.
    """
    poni = PoniFile(str(path))
    detector = Detector(pixel1=poni.detector.pixel1, pixel2=poni.detector.pixel2)
    return Geometry(dist=poni.dist, poni1=poni.poni1, poni2=poni.poni2, rot1=poni.rot1, rot2=poni.rot2,
                    rot3=poni.rot3, wavelength=poni.wavelength, detector=detector)


def dioptas_way(path: Path, raw_shape, unit: str = "2th_rad") -> np.ndarray:
    """2θ (or χ) of every raw pixel as Dioptas gives it: its pixel (r, c) is raw pixel (H-1-r, c)."""
    return dioptas_way_geometry(path).center_array(tuple(raw_shape), unit=unit, scale=False)[::-1]


# -- the calibration, without Dioptas ---------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_dioptas_file_gives_every_pixel_its_2theta_in_dioptas_pyfai_and_xcal(tmp_path, name) -> None:
    truth = CASES[name]
    shape = truth.detector.shape
    path = tmp_path / "for_dioptas.poni"
    write_dioptas_poni(path, truth, ["a comment"])
    text = path.read_text()
    assert '"orientation": 2' in text and "poni_version: 2.1" in text and "# a comment" in text

    np.testing.assert_allclose(dioptas_way(path, shape), tth(truth, shape), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(tth(pyFAI.load(str(path)), shape), tth(truth, shape), rtol=0, atol=TOLERANCE)
    read = read_poni(path, legacy_dioptas=None, shape=shape)
    assert read.had_orientation and int(read.geometry.detector.orientation) == 2
    np.testing.assert_allclose(tth(read.geometry, shape), tth(truth, shape), rtol=0, atol=TOLERANCE)

    # χ: Dioptas and pyFAI agree on the file; it is the mirror image (-χ) when one axis is mirrored
    mirrored = {1: True, 2: False, 3: True, 4: False}[int(truth.detector.orientation)]
    pyfai_chi = chi(pyFAI.load(str(path)), shape)
    assert angle_gap(dioptas_way(path, shape, "chi_rad"), pyfai_chi) < TOLERANCE
    assert angle_gap(pyfai_chi, -chi(truth, shape) if mirrored else chi(truth, shape)) < 1e-5


def test_one_file_cannot_serve_both_so_the_normal_poni_keeps_chi(tmp_path) -> None:
    """The measurement behind two files: xcal's .poni is far off in Dioptas, the Dioptas file mirrors χ."""
    truth = pilatus()
    shape = truth.detector.shape
    normal, dioptas = tmp_path / "normal.poni", tmp_path / "dioptas.poni"
    write_poni(normal, truth)
    write_dioptas_poni(dioptas, truth)
    assert np.degrees(np.abs(dioptas_way(normal, shape) - tth(truth, shape)).max()) > 1.0  # the flip
    assert angle_gap(chi(pyFAI.load(str(normal)), shape), chi(truth, shape)) < 1e-5
    assert angle_gap(chi(pyFAI.load(str(dioptas)), shape), chi(truth, shape)) > 1.0


def test_round_trip_through_the_legacy_reading(tmp_path) -> None:
    """Without its orientation the file is a legacy Dioptas file: xcal recognises it on the image."""
    truth = pilatus()
    shape = truth.detector.shape
    image = ring_image(truth, load_calibrant("CeO2"), shape, fwhm_deg=0.05)
    path = tmp_path / "for_dioptas.poni"
    write_dioptas_poni(path, truth)
    legacy = tmp_path / "legacy.poni"
    legacy.write_text(path.read_text().replace(', "orientation": 2', ""))
    config = json.loads(next(line for line in legacy.read_text().splitlines() if line.startswith("Detector_config"))
                        .split(":", 1)[1])
    assert "orientation" not in config
    read = resolve_legacy(legacy, image)
    assert read.legacy_dioptas and int(read.geometry.detector.orientation) == 2
    np.testing.assert_allclose(tth(read.geometry, shape), tth(truth, shape), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(dioptas_way(legacy, shape), tth(truth, shape), rtol=0, atol=TOLERANCE)


def test_dioptas_geometry_of_a_dioptas_geometry_changes_nothing() -> None:
    once = dioptas_geometry(pilatus())
    twice = dioptas_geometry(once)
    for key in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
        assert getattr(twice, key) == getattr(once, key), key


def test_refusals(tmp_path) -> None:
    shapeless = Geometry(detector=Detector(pixel1=1e-4, pixel2=1e-4), **TILTED)
    with pytest.raises(GeometryFileError, match="detector has no size"):
        write_dioptas_poni(tmp_path / "a.poni", shapeless)
    with pytest.raises(GeometryFileError, match=r"a\.poni: cannot be written"):
        write_dioptas_poni(tmp_path / "missing" / "a.poni", pilatus())
    assert not list(tmp_path.iterdir())


def _session(truth: Geometry) -> CalibrationSession:
    session = CalibrationSession()
    image = ring_image(truth, load_calibrant("CeO2"), truth.detector.shape, fwhm_deg=0.05)
    session.set_image(Image(image, "CeO2_100k.edf", 0, 1))
    session.set_detector("Pilatus100k")
    session.set_calibrant("CeO2")
    session.add_geometry("truth", truth)
    return session


@pytest.mark.parametrize("ops", [(), ("rot90", "flipv")])
def test_session_saves_for_the_raw_file_whatever_the_view(tmp_path, ops) -> None:
    truth = pilatus()
    session = _session(truth)
    session.set_transform(ImageTransform(ops))
    path = tmp_path / "for_dioptas.poni"
    save_session_for_dioptas(session, path)
    assert "Calibrated with xcal on CeO2_100k.edf" in path.read_text() and "Calibrant: CeO2" in path.read_text()
    assert "Detector: Pilatus100k" in path.read_text()
    np.testing.assert_allclose(dioptas_way(path, truth.detector.shape), tth(truth, truth.detector.shape),
                               rtol=0, atol=TOLERANCE)


def test_cli_writes_the_dioptas_file_beside_the_poni(tmp_path, capsys) -> None:
    truth = pilatus()
    image_path = tmp_path / "CeO2.edf"
    fabio.edfimage.EdfImage(ring_image(truth, load_calibrant("CeO2"), truth.detector.shape, fwhm_deg=0.05)).write(
        str(image_path))
    start = tmp_path / "start.poni"
    write_poni(start, truth)
    out, dioptas = tmp_path / "out.poni", tmp_path / "out_dioptas.poni"
    args = [str(image_path), "--calibrant", "CeO2", "--wavelength", "0.4", "--detector", "Pilatus100k",
            "--poni", str(start), "--fix", "rot3,wavelength", "--force", "--json"]
    assert main(["calibrate", *args, "-o", str(out), "--dioptas", str(out)]) == 1
    assert "--dioptas" in capsys.readouterr().err and not out.exists()
    dioptas.write_text("keep")
    assert main(["calibrate", *args, "-o", str(out), "--dioptas", str(dioptas)]) == 1
    assert "--dioptas" in capsys.readouterr().err and dioptas.read_text() == "keep" and not out.exists()
    rc = main(["calibrate", *args, "-o", str(out), "--dioptas", str(dioptas), "--overwrite"])
    summary = json.loads(capsys.readouterr().out)
    assert rc in (0, 3) and summary["written_dioptas"] == str(dioptas)
    calibrated = read_poni(out).geometry
    shape = truth.detector.shape
    np.testing.assert_allclose(dioptas_way(dioptas, shape), tth(calibrated, shape), rtol=0, atol=TOLERANCE)


def test_gui_save_for_dioptas(main_window, qtbot, tmp_path, monkeypatch) -> None:
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QFileDialog

    truth = pilatus()
    image_path = tmp_path / "CeO2.edf"
    fabio.edfimage.EdfImage(ring_image(truth, load_calibrant("CeO2"), truth.detector.shape, fwhm_deg=0.05)).write(
        str(image_path))
    start = tmp_path / "start.poni"
    write_poni(start, truth)
    win = main_window
    win.open_source(str(image_path))
    qtbot.waitUntil(lambda: not win.runner.busy and win.session.raw is not None, timeout=60_000)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(start), ""))
    qtbot.mouseClick(win.panel.load_poni_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not win.runner.busy and win.session.geometry is not None, timeout=60_000)
    win.session.set_geometry_values(dist=truth.dist)  # the same numbers, but not saved yet
    assert win.calibration.unsaved
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "for_dioptas"), ""))
    qtbot.mouseClick(win.panel.save_dioptas_button, Qt.LeftButton)
    path = tmp_path / "for_dioptas.poni"
    assert path.is_file() and not win.calibration.unsaved
    shape = truth.detector.shape
    np.testing.assert_allclose(dioptas_way(path, shape), tth(truth, shape), rtol=0, atol=TOLERANCE)


# -- masks, without Dioptas -------------------------------------------------------------------------
def _mask(shape=(31, 47)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[3:9, 5:40] = True
    mask[20, 0] = mask[30, 46] = True
    return mask


def test_mask_files_in_dioptas_rows(tmp_path) -> None:
    mask = _mask()
    write_mask(tmp_path / "a.mask", mask)
    as_dioptas_reads = np.array(PILImage.open(tmp_path / "a.mask"))  # MaskModel.read_mask_file
    assert np.array_equal(as_dioptas_reads == 1, mask[::-1])
    assert PILImage.open(tmp_path / "a.mask").tag_v2[270].startswith(f"{MASK_ROWS_KEY}=dioptas")
    assert np.array_equal(read_mask(tmp_path / "a.mask"), mask)
    # MaskModel.save_mask: int8 of its (flipped) mask array, PIL TIFF with deflate
    PILImage.fromarray(np.int8(mask[::-1])).save(tmp_path / "dioptas.mask", "tiff", compression="tiff_deflate")
    assert np.array_equal(read_mask(tmp_path / "dioptas.mask"), mask)


def test_old_xcal_masks_and_plain_tiffs_keep_the_image_rows(tmp_path) -> None:
    mask = _mask()
    fabio.tifimage.TifImage(data=mask.astype(np.int8)).write(str(tmp_path / "old.mask"))  # xcal before the marker
    assert np.array_equal(read_mask(tmp_path / "old.mask"), mask)
    write_mask(tmp_path / "a.tif", mask)
    assert np.array_equal(fabio.open(str(tmp_path / "a.tif")).data == 1, mask)
    assert np.array_equal(read_mask(tmp_path / "a.tif"), mask)
    PILImage.fromarray(mask.astype(np.uint8)).save(tmp_path / "other.tif", "tiff")  # any other program's TIFF
    assert np.array_equal(read_mask(tmp_path / "other.tif"), mask)
    for suffix in (".edf", ".npy"):  # pyFAI's rows: Dioptas' "Vertically flipped mask" choice
        write_mask(tmp_path / f"a{suffix}", mask)
        assert np.array_equal(read_mask(tmp_path / f"a{suffix}"), mask)


# -- with Dioptas' own model code ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def dioptas():
    """Dioptas' model modules (ImgModel, CalibrationModel, MaskModel), imported without its GUI."""
    spec = importlib.util.find_spec("dioptas")
    if spec is None or spec.origin is None:
        pytest.skip('Dioptas is not installed: pip install -e ".[dioptas]" && pip install --no-deps dioptas==0.11.0')
    root = Path(spec.origin).parent
    saved = {name: module for name, module in sys.modules.items() if name == "dioptas" or name.startswith("dioptas.")}
    package = types.ModuleType("dioptas")
    package.__path__ = [str(root)]
    package._dioptrin_available = False
    model = types.ModuleType("dioptas.model")
    model.__path__ = [str(root / "model")]
    sys.modules.update({"dioptas": package, "dioptas.model": model})
    try:
        from dioptas.paths import calibrants_path

        package.calibrants_path = calibrants_path
        from dioptas.model.CalibrationModel import CalibrationModel
        from dioptas.model.ImgModel import ImgModel
        from dioptas.model.MaskModel import MaskModel

        yield types.SimpleNamespace(CalibrationModel=CalibrationModel, ImgModel=ImgModel, MaskModel=MaskModel)
    except ImportError as error:
        pytest.skip(f"Dioptas' model code cannot be imported ({error}): pip install -e \".[dioptas]\"")
    finally:
        for name in [name for name in sys.modules if name == "dioptas" or name.startswith("dioptas.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def _dioptas_calibration(dioptas, image_path: Path, poni: Path):
    images = dioptas.ImgModel()
    images.load(str(image_path))
    calibration = dioptas.CalibrationModel(images)
    calibration.load(str(poni))
    return images, calibration


def test_dioptas_reads_the_file_right(dioptas, tmp_path) -> None:
    truth = pilatus()
    shape = truth.detector.shape
    data = ring_image(truth, load_calibrant("CeO2"), shape, fwhm_deg=0.05)
    image_path = tmp_path / "CeO2.edf"
    fabio.edfimage.EdfImage(data).write(str(image_path))
    for_dioptas, normal = tmp_path / "for_dioptas.poni", tmp_path / "normal.poni"
    write_dioptas_poni(for_dioptas, truth)
    write_poni(normal, truth)

    images, calibration = _dioptas_calibration(dioptas, image_path, for_dioptas)
    assert np.array_equal(images.img_data, data[::-1])  # Dioptas' image is the raw one flipped up-down
    np.testing.assert_allclose(calibration.get_pixel_two_theta_array()[::-1], tth(truth, shape), rtol=0, atol=TOLERANCE)
    cake = calibration.cake_geometry.center_array(shape, unit="2th_rad", scale=False)[::-1]  # what it integrates with
    np.testing.assert_allclose(cake, tth(truth, shape), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(dioptas_way(for_dioptas, shape), cake, rtol=0, atol=TOLERANCE)  # the reproduction

    # Dioptas' own save of that calibration reads back in xcal as the same geometry for the raw image
    saved = tmp_path / "saved_by_dioptas.poni"
    calibration.save(str(saved))
    read = read_poni(saved, shape=shape)
    np.testing.assert_allclose(tth(read.geometry, shape), tth(truth, shape), rtol=0, atol=TOLERANCE)

    # xcal's normal .poni (orientation 3) is the issue: Dioptas puts it on the flipped image
    _, wrong = _dioptas_calibration(dioptas, image_path, normal)
    assert np.degrees(np.abs(wrong.get_pixel_two_theta_array()[::-1] - tth(truth, shape)).max()) > 1.0


def test_masks_round_trip_with_dioptas(dioptas, tmp_path) -> None:
    mask = _mask()
    flipped = mask[::-1]  # the same pixels in Dioptas' image
    write_mask(tmp_path / "xcal.mask", mask)
    model = dioptas.MaskModel(mask.shape)
    assert model.load_mask(str(tmp_path / "xcal.mask"))
    assert np.array_equal(model.get_mask() != 0, flipped)

    model.save_mask(str(tmp_path / "dioptas.mask"))
    assert np.array_equal(read_mask(tmp_path / "dioptas.mask", mask.shape), mask)

    for suffix in (".npy", ".edf"):  # Dioptas' "Vertically flipped mask" files are pyFAI's rows
        model.save_mask(str(tmp_path / f"dioptas{suffix}"), flipud=True)
        assert np.array_equal(read_mask(tmp_path / f"dioptas{suffix}", mask.shape), mask)
        write_mask(tmp_path / f"xcal{suffix}", mask)
        other = dioptas.MaskModel(mask.shape)
        assert other.load_mask(str(tmp_path / f"xcal{suffix}"), flipud=True)
        assert np.array_equal(other.get_mask() != 0, flipped)
