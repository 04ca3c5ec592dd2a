"""Geometry files: .poni read/write round trips, legacy Dioptas files, malformed files, Fit2D."""

from __future__ import annotations

import os
from pathlib import Path

import fabio
import numpy as np
import pyFAI
import pytest
from pyFAI.calibrant import get_calibrant
from pyFAI.detectors import Detector, detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import GeometryFileError
from xcal.core.io.poni import from_fit2d, poni_text, read_poni, resolve_legacy, score_orientation, to_fit2d, write_poni

PARAMS = ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength")


def _geometries() -> dict[str, Geometry]:
    tilted = dict(dist=0.2134567891234, poni1=0.0871234567, poni2=0.0791234567, rot1=-0.0184422457059,
                  rot2=0.00413760084465, rot3=-2.77645988275e-08, wavelength=4.066e-11)
    return {
        "named": Geometry(detector=detector_factory("Pilatus1M"), **tilted),
        "named_orientation2": Geometry(detector=detector_factory("Pilatus1M", {"orientation": 2}), **tilted),
        "generic": Geometry(detector=Detector(pixel1=1e-4, pixel2=1.5e-4, max_shape=(500, 600)),
                            dist=0.1, poni1=0.021, poni2=0.047, rot1=0.21, rot2=-0.17, rot3=1.3,
                            wavelength=1.54059e-10),
        "generic_no_shape": Geometry(detector=Detector(pixel1=7.48e-5, pixel2=7.48e-5), dist=0.6428795881317986,
                                     poni1=0.14145887905698426, poni2=0.07209706637767248, rot1=0.1033963,
                                     rot2=0.0094642, rot3=0.0, wavelength=4.1605435715839014e-11),
        "orientation4_tilted": Geometry(detector=Detector(pixel1=1.72e-4, pixel2=1.72e-4, max_shape=(195, 487),
                                                          orientation=4),
                                        dist=0.918352721976438, poni1=0.01616856812272556, poni2=0.10387,
                                        rot1=-0.05918830237040154, rot2=0.19353320182766448, rot3=2.3e-09,
                                        wavelength=8.85601409974337e-11),
    }


def _assert_same(a: Geometry, b: Geometry) -> None:
    for key in PARAMS:
        assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-12, abs=0), key
    assert type(a.detector) is type(b.detector)
    assert (a.detector.pixel1, a.detector.pixel2) == (b.detector.pixel1, b.detector.pixel2)
    assert int(a.detector.orientation) == int(b.detector.orientation)
    assert a.detector.max_shape == b.detector.max_shape or tuple(a.detector.max_shape) == tuple(b.detector.max_shape)


@pytest.mark.parametrize("kind", list(_geometries()))
def test_write_read_round_trip(tmp_path: Path, kind: str) -> None:
    geometry = _geometries()[kind]
    path = tmp_path / f"{kind}.poni"
    write_poni(path, geometry, ["written by xcal", "calibrant: CeO2\nRMS: 0.01 px"])
    text = path.read_text()
    assert text.startswith("# written by xcal\n# calibrant: CeO2\n# RMS: 0.01 px\n")
    assert "poni_version: 2.1\n" in text and '"orientation":' in text
    read = read_poni(path)
    assert read.had_orientation and not read.legacy_dioptas
    _assert_same(read.geometry, geometry)
    _assert_same(pyFAI.load(str(path)), geometry)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_replaces_never_appends(tmp_path: Path) -> None:
    path = tmp_path / "g.poni"
    first, second = _geometries()["named"], _geometries()["generic"]
    write_poni(path, first)
    write_poni(path, second)
    read = read_poni(path)
    assert not any("blocks" in note for note in read.notes)
    _assert_same(read.geometry, second)
    assert path.read_text().count("poni_version") == 1


def test_failed_write_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "g.poni"
    write_poni(path, _geometries()["named"])
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)  # the new text is already in the temporary file
    with pytest.raises(GeometryFileError, match="g.poni"):
        write_poni(path, _geometries()["generic"])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.poni"]


def test_non_finite_geometry_is_not_written(tmp_path: Path) -> None:
    geometry = _geometries()["generic"]
    geometry.poni1 = float("nan")
    with pytest.raises(GeometryFileError, match="Poni1"):
        write_poni(tmp_path / "bad.poni", geometry)
    assert list(tmp_path.iterdir()) == []


def test_real_files_read_like_pyfai(real_data: Path) -> None:
    files = sorted(real_data.glob("*.poni"))
    assert len(files) >= 15
    for path in files:
        read = read_poni(path)
        reference = pyFAI.load(str(path))  # pyFAI merges appended blocks key by key; equal here
        for key in PARAMS:
            assert getattr(read.geometry, key) == getattr(reference, key), (path.name, key)
        assert read.geometry.detector == reference.detector, path.name
        assert read.had_orientation == ('"orientation"' in path.read_text()), path.name
    assert "2 calibration blocks" in read_poni(real_data / "chess_CeO2_Dexela2923_29p8keV.poni").notes[0]


LEGACY = [
    ("dioptas_CeO2_Pilatus1M_30keV", "dioptas_CeO2_Pilatus1M_30keV.tif"),
    ("cpf_CeO2_Pilatus1M_30keV", "cpf_CeO2_Pilatus1M_30keV.tif"),
    ("dls2021_CeO2_Pilatus2M_100keV_737mm", "dls2021_CeO2_Pilatus2M_100keV_737mm.cbf"),
]


@pytest.mark.parametrize(("stem", "image"), LEGACY)
def test_resolve_legacy_picks_dioptas(real_data: Path, stem: str, image: str) -> None:
    data = fabio.open(str(real_data / image)).data
    read = resolve_legacy(real_data / f"{stem}.dioptas.poni", data, data < 0)
    assert read.legacy_dioptas and not read.had_orientation
    assert int(read.geometry.detector.orientation) == 2
    assert "legacy Dioptas" in read.notes[-1]
    converted = pyFAI.load(str(real_data / f"{stem}.poni"))
    np.testing.assert_allclose(read.geometry.center_array(data.shape, "2th_deg"),
                               converted.center_array(data.shape, "2th_deg"), rtol=0, atol=1e-9)
    # the same file, read without the image, follows pyFAI; the converted file is read as it is
    assert int(read_poni(real_data / f"{stem}.dioptas.poni").geometry.detector.orientation) == 3
    as_is = resolve_legacy(real_data / f"{stem}.poni", data, data < 0)
    assert as_is.had_orientation and not as_is.legacy_dioptas
    assert not any("orientation" in note for note in as_is.notes)


def test_resolve_legacy_keeps_pyfai_file(real_data: Path) -> None:
    data = fabio.open(str(real_data / "cms_LaB6_Pilatus800k_12p7keV.tiff")).data
    read = resolve_legacy(real_data / "cms_LaB6_Pilatus800k_12p7keV.poni", data, data < 0)
    assert not read.legacy_dioptas and not read.had_orientation
    assert int(read.geometry.detector.orientation) == 3
    assert "pyFAI's default" in read.notes[-1]


def test_legacy_flag(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.poni"
    legacy.write_text("PixelSize1: 0.000172\nPixelSize2: 0.000172\nDistance: 0.2\nPoni1: 0.08\nPoni2: 0.07\n"
                      "Rot1: 0.01\nRot2: 0.02\nRot3: 0\nWavelength: 4e-11\n")
    read = read_poni(legacy, legacy_dioptas=True, shape=(1043, 981))
    assert read.legacy_dioptas and int(read.geometry.detector.orientation) == 2
    assert read.geometry.detector.shape == (1043, 981)
    plain = read_poni(legacy, shape=(1043, 981))
    np.testing.assert_array_equal(read.geometry.center_array((1043, 981), "2th_deg"),
                                  np.flipud(plain.geometry.center_array((1043, 981), "2th_deg")))
    assert any("ambiguous" in note or "legacy" in note for note in read_poni(legacy, legacy_dioptas=None).notes)
    shapeless = read_poni(legacy, legacy_dioptas=True)
    assert any("image shape" in note for note in shapeless.notes)
    # a file with an orientation key is never reinterpreted
    modern = tmp_path / "modern.poni"
    write_poni(modern, _geometries()["named"])
    read = read_poni(modern, legacy_dioptas=True)
    assert not read.legacy_dioptas and int(read.geometry.detector.orientation) == 3


def test_appended_blocks_last_wins(tmp_path: Path) -> None:
    geometries = [_geometries()["named"], _geometries()["generic"], _geometries()["named_orientation2"]]
    path = tmp_path / "appended.poni"
    path.write_text("".join(poni_text(g, [f"block {i}"]) for i, g in enumerate(geometries)))
    read = read_poni(path)
    assert read.notes == ["3 calibration blocks in file; the last one was used"]
    _assert_same(read.geometry, geometries[-1])
    # an old unversioned block followed by a newer one
    old = "# old\nPixelSize1: 1e-4\nPixelSize2: 1e-4\nDistance: 0.3\nPoni1: 0\nPoni2: 0\nRot1: 0\nRot2: 0\nRot3: 0\n"
    path.write_text(old + poni_text(geometries[0]))
    _assert_same(read_poni(path).geometry, geometries[0])
    path.write_text(poni_text(geometries[0]) + old)
    assert read_poni(path).geometry.dist == 0.3 and type(read_poni(path).geometry.detector) is Detector
    # a comment inside one block does not split it
    path.write_text(old.replace("Poni1: 0\n", "# hand edited\nPoni1: 0.01\n"))
    read = read_poni(path)
    assert read.notes[0].startswith("the file names no detector") and read.geometry.poni1 == 0.01


GOOD = "poni_version: 2.1\nDetector: Pilatus1M\nDetector_config: {}\n{dist}Poni1: 0.08\nPoni2: 0.07\n" \
       "Rot1: 0\nRot2: 0\nRot3: 0\nWavelength: 4e-11\n"


@pytest.mark.parametrize(("text", "key"), [
    ("", "empty"),
    ("# only a comment\n\n", "empty"),
    (GOOD.replace("{dist}", ""), "Distance"),
    (GOOD.replace("{dist}", "Distance: abc\n"), "Distance"),
    (GOOD.replace("{dist}", "Distance: nan\n"), "Distance"),
    (GOOD.replace("{dist}", "Distance: -0.2\n"), "Distance"),
    (GOOD.replace("{dist}", "Distance: 0.2\n").replace("Wavelength: 4e-11", "Wavelength: inf"), "Wavelength"),
    (GOOD.replace("{dist}", "Distance: 0.2\n").replace("Pilatus1M", "NoSuchDetector"), "Detector"),
    (GOOD.replace("{dist}", "Distance: 0.2\n").replace("{}", "{pixel1: 1"), "Detector_config"),
    ("hello world\nthis is not a poni\n", "line 1: neither a comment nor 'key: value'"),
    (GOOD.replace("{dist}", "Distance: 0.2\n").replace("Rot1: 0", "Rot1: -2\r776e-08"), "line 8: neither"),
    (GOOD.replace("{dist}", "Distance: 0.2\n").replace("{}", '{"orientqtion": 2}'), "orientqtion"),
])
def test_malformed_files(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "broken_file.poni"
    path.write_text(text)
    with pytest.raises(GeometryFileError, match="broken_file.poni") as error:
        read_poni(path)
    assert key in str(error.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GeometryFileError, match="absent.poni"):
        read_poni(tmp_path / "absent.poni")


def test_score_orientation_prefers_true_geometry() -> None:
    shape = (1043, 981)
    true = Geometry(dist=0.2, poni1=0.06, poni2=0.09, rot1=0.02, rot2=-0.01, wavelength=4e-11,
                    detector=detector_factory("Pilatus1M"))
    flipped = Geometry(dist=0.2, poni1=0.06, poni2=0.09, rot1=0.02, rot2=-0.01, wavelength=4e-11,
                       detector=detector_factory("Pilatus1M", {"orientation": 2}))
    image = ring_image(true, get_calibrant("CeO2"), shape, fwhm_deg=0.03, noise=True)
    good = score_orientation(true, image, None)
    assert good > 2 * score_orientation(flipped, image, None)


def _tilted(seed: int) -> Geometry:
    rng = np.random.default_rng(seed)
    return Geometry(dist=rng.uniform(0.08, 0.8), poni1=rng.uniform(-0.02, 0.1), poni2=rng.uniform(-0.02, 0.1),
                    rot1=rng.uniform(-0.3, 0.3), rot2=rng.uniform(-0.3, 0.3), rot3=0.0, wavelength=7.1e-11,
                    detector=Detector(pixel1=1e-4, pixel2=1.3e-4, max_shape=(300, 400)))


@pytest.mark.parametrize("seed", range(5))
def test_fit2d_round_trip(seed: int) -> None:
    geometry = _tilted(seed)
    params = to_fit2d(geometry)
    assert params["tilt"] > 0.5
    back = from_fit2d(params, geometry.detector, geometry.wavelength)
    for key in ("dist", "poni1", "poni2", "rot1", "rot2", "wavelength"):
        assert getattr(back, key) == pytest.approx(getattr(geometry, key), rel=1e-9, abs=1e-12), key
    for key, value in to_fit2d(back).items():
        assert value == pytest.approx(params[key], rel=1e-9, abs=1e-9), key
    np.testing.assert_allclose(back.center_array((300, 400), "2th_deg"),
                               geometry.center_array((300, 400), "2th_deg"), rtol=0, atol=1e-9)
    generic = from_fit2d(params, None, None)
    assert (generic.detector.pixel1, generic.detector.pixel2) == pytest.approx((1e-4, 1.3e-4), rel=1e-12)
    assert generic.wavelength is None


def test_fit2d_known_case() -> None:
    geometry = Geometry(dist=0.1, poni1=500.0 * 1e-4, poni2=400.0 * 1e-4,
                        detector=Detector(pixel1=1e-4, pixel2=1e-4), wavelength=1e-10)
    params = to_fit2d(geometry)
    assert params == pytest.approx({"directDist": 100.0, "centerX": 400.0, "centerY": 500.0, "tilt": 0.0,
                                    "tiltPlanRotation": 0.0, "pixelX": 100.0, "pixelY": 100.0}, abs=1e-9)
    back = from_fit2d(params, Detector(pixel1=1e-4, pixel2=1e-4), 1e-10)
    assert (back.dist, back.poni1, back.poni2, back.rot1, back.rot2, back.rot3) == pytest.approx(
        (0.1, 0.05, 0.04, 0, 0, 0), abs=1e-15)
    assert back.wavelength == 1e-10


PONI = "poni_version: 2.1\nDetector: Pilatus1M\nDetector_config: {config}\nDistance: {dist}\nPoni1: {poni1}\n" \
       "Poni2: 0.07\nRot1: {rot1}\nRot2: 0\nRot3: 0\nWavelength: {wavelength}\n"
SANE = dict(config="{}", dist="0.2", poni1="0.08", rot1="0", wavelength="4e-11")


@pytest.mark.parametrize(("changes", "key"), [
    ({"dist": "1e300"}, "Distance"),
    ({"dist": "1e-300"}, "Distance"),
    ({"dist": "5e-7"}, "Distance"),
    ({"dist": "101"}, "Distance"),
    ({"wavelength": "1e300"}, "Wavelength"),
    ({"wavelength": "1e-300"}, "Wavelength"),
    ({"wavelength": "2e-8"}, "Wavelength"),
    ({"wavelength": "0"}, "Wavelength"),
    ({"rot1": "1e300"}, "Rot1"),
    ({"rot1": "-7"}, "Rot1"),
    ({"poni1": "11"}, "Poni1"),
    ({"poni1": "-1e300"}, "Poni1"),
    ({"config": '{"pixel1": 1e300, "pixel2": 1e-4, "max_shape": [100, 100]}'}, "pixel"),
    ({"config": '{"pixel1": 1e-300, "pixel2": 1e-4, "max_shape": [100, 100]}'}, "pixel"),
    ({"config": '{"pixel1": NaN, "pixel2": 1e-4, "max_shape": [100, 100]}'}, "pixel"),
    ({"config": '{"pixel1": 1e-4, "pixel2": 1e-4, "max_shape": [1000000000, 100]}'}, "max_shape"),
])
def test_absurd_numbers_are_refused(tmp_path: Path, changes: dict[str, str], key: str) -> None:
    """Each value is refused with its key, the file's name and the range that makes sense."""
    path = tmp_path / "absurd.poni"
    detector = "Detector" if "config" in changes else "Pilatus1M"
    path.write_text(PONI.format(**{**SANE, **changes}).replace("Pilatus1M", detector))
    with pytest.raises(GeometryFileError, match=r"absurd\.poni") as error:
        read_poni(path)
    assert key in str(error.value)


@pytest.mark.parametrize("spelling", ["1_000", "0x10", "inf", "-inf", "nan", "NaN", "1e3j", "Infinity",
                                      "\uff11", "0.2 m", "2e-1.5", "1e999"])
def test_python_only_number_spellings_are_refused(tmp_path: Path, spelling: str) -> None:
    path = tmp_path / "spelling.poni"
    path.write_text(PONI.format(**{**SANE, "dist": spelling}))
    with pytest.raises(GeometryFileError, match=r"spelling\.poni: Distance is not a (plain decimal|finite) number"):
        read_poni(path)


def test_edge_of_the_sane_ranges_is_read(tmp_path: Path) -> None:
    path = tmp_path / "edge.poni"
    path.write_text(PONI.format(config="{}", dist="100", poni1="-10", rot1="-6.283185307179586",
                                wavelength="1e-13"))
    geometry = read_poni(path).geometry
    assert (geometry.dist, geometry.poni1, geometry.rot1, geometry.wavelength) == (100, -10, -2 * np.pi, 1e-13)


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_only_newlines_end_lines(tmp_path: Path, separator: str) -> None:
    """Python's splitlines also breaks at these; pyFAI does not: a damaged newline is not a line end."""
    path = tmp_path / "joined.poni"
    path.write_text(PONI.format(**SANE).replace("\nPoni1", separator + "Poni1"), encoding="utf-8")
    with pytest.raises(GeometryFileError, match=r"joined\.poni: not a usable .poni file, missing Poni1"):
        read_poni(path)
