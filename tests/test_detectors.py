"""Detectors: names, shape checks with binning, generic pixel sizes, and the masks they imply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyFAI.detectors import Detector, Pilatus1M

from xcal.core.errors import DetectorError
from xcal.core.geometry.detectors import (
    detector_description,
    detector_mask,
    detector_names,
    invalid_mask,
    make_detector,
    suggest_detectors,
)
from xcal.core.io.images import load_image

PILATUS1M_GAPS = 73533  # pixels in the module gaps of a Pilatus 1M (pyFAI mask)


def test_detector_names_are_unique_sorted_class_names() -> None:
    names = detector_names()
    assert len(names) == len(set(names)) > 100
    assert names == sorted(names, key=str.lower)
    assert {"Pilatus1M", "Pilatus2M", "Eiger2_4M", "Dexela2923", "Mar345", "RayonixSx165"} <= set(names)
    assert "Detector" not in names and "pilatus_1m" not in names


@pytest.mark.parametrize(
    ("shape", "first", "also"),
    [
        ((1043, 981), "Pilatus1M", "PilatusCdTe1M"),
        ((1679, 1475), "Pilatus2M", "PilatusCdTe2M"),
        ((195, 487), "Pilatus100k", None),
        ((195, 1475), "Pilatus300kw", "PilatusCdTe300kw"),
        ((3888, 3072), "Dexela2923", None),
        ((1200, 1200), "Mar345", None),  # mar345 1200 scan mode
        ((1024, 1024), "Apex2", "RayonixSx165"),  # MarCCD 165 binned 4 x 4
    ],
)
def test_suggest_detectors(shape: tuple[int, int], first: str, also: str | None) -> None:
    names = suggest_detectors(shape)
    assert names[0] == first
    if also:
        assert also in names


def test_suggest_puts_unbinned_first_and_rejects_odd_shapes() -> None:
    names = suggest_detectors((2048, 2048))
    assert names.index("FReLoN") < names.index("RayonixSx165")  # native 2048 before a 2 x 2 binned 4096
    assert suggest_detectors((1024, 1000)) == []
    assert suggest_detectors((1043, 980)) == []


def test_wrong_detector_for_the_image_names_both_shapes() -> None:
    with pytest.raises(DetectorError) as err:
        make_detector("Pilatus2M", shape=(1043, 981))
    message = str(err.value)
    assert "Pilatus2M" in message and "1679 x 1475" in message and "1043 x 981" in message
    assert "Pilatus1M" in message


def test_no_detector_of_that_shape() -> None:
    with pytest.raises(DetectorError, match="1043 x 980: no known detector has this size; use a generic detector"):
        make_detector("Pilatus1M", shape=(1043, 980))


@pytest.mark.parametrize("name", ["Pilatus1M", "Pilatus 1M", "pilatus_1m", "pilatus1m"])
def test_named_detector_accepts_pyfai_spellings(name: str) -> None:
    detector = make_detector(name, shape=(1043, 981))
    assert isinstance(detector, Pilatus1M)
    assert (detector.pixel1, detector.pixel2, detector.shape) == (172e-6, 172e-6, (1043, 981))


def test_unknown_detector_suggests_close_names() -> None:
    with pytest.raises(DetectorError, match="Detector Pilatis1M is not known to pyFAI. Did you mean Pilatus1M"):
        make_detector("Pilatis1M")
    with pytest.raises(DetectorError, match="give its pixel size"):
        make_detector("Detector")


def test_binned_marccd() -> None:
    """The 2 x 2 binned MarCCD 165 image (1024 x 1024) is pyFAI's SX165 at 4 x 4 of its 4096 grid: 158 µm."""
    detector = make_detector("MAR165", shape=(1024, 1024))
    assert detector.binning == (4, 4)
    assert detector.shape == (1024, 1024)
    assert detector.pixel1 == pytest.approx(158e-6)
    mask = detector_mask(detector, (1024, 1024))
    assert mask is not None and mask.shape == (1024, 1024) and not mask[512, 512]
    assert detector_description(detector) == "RayonixSx165, 1024 x 1024 px (binned 4 x 4), 158 x 158 µm"


def test_mar345_scan_mode() -> None:
    detector = make_detector("Mar345", shape=(1200, 1200))
    assert detector.shape == (1200, 1200) and detector.pixel1 == pytest.approx(150e-6)


def test_generic_detector_from_pixel_size() -> None:
    detector = make_detector(pixel_um=172)
    assert type(detector) is Detector
    assert detector.pixel1 == pytest.approx(172e-6) and detector.pixel2 == pytest.approx(172e-6)
    assert detector_mask(detector, (100, 100)) is None

    dexela = make_detector(pixel_um=(74.8, 75.0), shape=(3888, 3072))
    assert (dexela.pixel1, dexela.pixel2) == pytest.approx((74.8e-6, 75e-6))
    assert dexela.max_shape == (3888, 3072)
    assert detector_description(dexela) == "Generic detector, 3888 x 3072 px, 74.8 x 75 µm"


@pytest.mark.parametrize("pixel_um", [0, -172, float("nan"), (172,) * 3, "big"])
def test_bad_pixel_size(pixel_um: object) -> None:
    with pytest.raises(DetectorError, match="Pixel size .* µm is not valid"):
        make_detector(pixel_um=pixel_um)  # type: ignore[arg-type]


def test_detector_needs_a_name_or_a_pixel_size_not_both() -> None:
    with pytest.raises(DetectorError, match="choose a detector by name or give the pixel size"):
        make_detector()
    with pytest.raises(DetectorError, match="not both"):
        make_detector("Pilatus1M", pixel_um=172)


def test_description() -> None:
    assert detector_description(make_detector("Pilatus1M")) == "Pilatus1M, 1043 x 981 px, 172 x 172 µm"
    assert detector_description(make_detector(pixel_um=100)) == "Generic detector, size from the image, 100 x 100 µm"


def test_pilatus1m_gap_mask_matches_the_real_image(real_data: Path) -> None:
    data = load_image(real_data / "dioptas_CeO2_Pilatus1M_30keV.tif").data
    mask = detector_mask(make_detector("Pilatus1M"), data.shape)
    assert mask is not None and mask.dtype == bool
    assert mask.sum() == PILATUS1M_GAPS
    # every gap pixel is -1 in the file; the other 27 negative pixels are dead pixels (-2)
    assert np.array_equal(mask, data == -1)
    assert np.count_nonzero((data < 0) & ~mask) == 27


def test_detector_mask_refuses_another_shape() -> None:
    with pytest.raises(DetectorError, match="1043 x 981 pixels but the image is 1679 x 1475"):
        detector_mask(make_detector("Pilatus1M"), (1679, 1475))


def test_invalid_mask_on_real_pilatus(real_data: Path) -> None:
    data = load_image(real_data / "dls2021_CeO2_Pilatus2M_100keV_737mm.cbf").data
    detector = make_detector("Pilatus2M", shape=data.shape)
    gaps = detector_mask(detector, data.shape)
    invalid = invalid_mask(data, detector)
    assert gaps is not None and gaps.sum() == 197365
    assert invalid.sum() == np.count_nonzero(data < 0) == 203065  # the file marks its gaps and more
    assert invalid[gaps].all()


def test_invalid_mask_adds_gaps_the_file_does_not_mark(real_data: Path) -> None:
    """An image whose gaps were converted to 0 (here the float Pilatus 300K-W strip) needs the detector."""
    data = load_image(real_data / "ssrl72_LaB6_Pilatus300kw_scan2_0009.tif").data
    assert invalid_mask(data).sum() == 0
    detector = make_detector("Pilatus300kw", shape=data.shape)
    invalid = invalid_mask(data, detector)
    assert invalid.sum() == 2730
    assert np.all(data[invalid] == 0)


def test_invalid_mask_nonfinite_and_negative() -> None:
    data = np.ones((1043, 981), np.float32)
    data[0, 0], data[0, 1], data[0, 2], data[0, 3] = np.nan, np.inf, -np.inf, -2
    assert invalid_mask(data).sum() == 4
    gaps = detector_mask(make_detector("Pilatus1M"), data.shape)
    assert gaps is not None and not gaps[0, :4].any()
    assert invalid_mask(data, make_detector("Pilatus1M")).sum() == 4 + PILATUS1M_GAPS
