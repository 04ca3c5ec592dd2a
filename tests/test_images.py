"""Image loading: every real file in the data folder, and the broken files users actually meet."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import fabio
import h5py
import hdf5plugin
import numpy as np
import pytest
from PIL import Image as PILImage
from test_readers_files import deadline  # an alarm: the unfixed readers loop forever on some files

from xcal.core.errors import ImageError
from xcal.core.io.images import frame_count, hdf5_datasets, image_files_in_folder, load_image, split_hdf5_source

PILATUS1M = "dioptas_CeO2_Pilatus1M_30keV.tif"

# source (relative to the real folder) -> (shape, dtype in the file), as SOURCES.md gives them
REAL_IMAGES = {
    PILATUS1M: ((1043, 981), "int32"),
    "cpf_CeO2_Pilatus1M_30keV.tif": ((1043, 981), "int32"),
    "sample_cpf_Fe-BCC-2GPa-DAC_Pilatus1M_30keV.tif": ((1043, 981), "int32"),
    "dls2021_CeO2_Pilatus2M_100keV_737mm.cbf": ((1679, 1475), "int32"),
    "cms_LaB6_Pilatus800k_12p7keV.tiff": ((1043, 981), "int32"),
    "cms_AgBH_Pilatus800k_12p7keV.tiff": ((1043, 981), "int32"),
    "sample_cms_GIWAXS-perovskite-film_Pilatus800k_12p7keV.tiff": ((1043, 981), "int32"),
    "cms_LaB6_Pilatus800k_12p7keV.mask.edf": ((1043, 981), "uint8"),
    "ssrl72_LaB6_Pilatus300kw_scan2_0009.tif": ((195, 1475), "float32"),
    "gsas2tut_AgBh_MarCCD165-bin2_12keV.tif": ((1024, 1024), "uint16"),
    "dioptas_CeO2_PI-CCD_MoKa.SPE": ((1042, 1042), "uint16"),
    "raw_AgBe_mar345_CuKa.mar1200": ((1200, 1200), "uint32"),
    "raw_AgBe_ADSC-Quantum_7p7keV.img": ((1152, 1152), "uint16"),
    "raw_AgBeh_FLI-CCD_CHESS.tif": ((1024, 1024), "uint16"),
    "aps15idd_AgBh_Pilatus100k_16p9keV.hdf5::/entry/data/data": ((195, 487), "int32"),
    "aps1idc_CeO2_Pilatus2M_61keV.hdf5::/imageseries/images": ((1679, 1475), "int32"),
    "chess_CeO2_Dexela2923_29p8keV.h5::/data": ((3888, 3072), "float32"),
}


def _raw(source: str) -> np.ndarray:
    """The array as the file stores it, read without xcal."""
    path, dataset = split_hdf5_source(source)
    if dataset:
        with h5py.File(path) as h5:
            return h5[dataset][()].reshape(h5[dataset].shape[-2:])
    return fabio.open(path).data


@pytest.mark.parametrize("name", sorted(REAL_IMAGES))
def test_real_image_loads_with_file_values(real_data: Path, name: str) -> None:
    shape, dtype = REAL_IMAGES[name]
    raw = _raw(str(real_data / name))
    assert raw.shape == shape and raw.dtype == np.dtype(dtype)

    image = load_image(real_data / name)

    assert image.shape == shape
    assert image.data.dtype == np.float32 and image.data.flags.c_contiguous
    np.testing.assert_array_equal(image.data, raw.astype(np.float32))
    assert (image.frame, image.nframes) == (0, 1)
    assert image.source == str(real_data / name)
    assert image.name == name
    # the invalid pixels are exactly the negative markers (no real image here has NaN)
    assert image.invalid.sum() == np.count_nonzero(raw < 0)


@pytest.mark.parametrize(
    ("name", "minus_one", "minus_two"),
    [
        (PILATUS1M, 73533, 27),  # module gaps = -1, dead pixels = -2
        ("dls2021_CeO2_Pilatus2M_100keV_737mm.cbf", 202020, 1045),
        ("cms_LaB6_Pilatus800k_12p7keV.tiff", 73533, 189972),  # Pilatus 800K in a 1M frame: missing quarter = -2
        ("aps1idc_CeO2_Pilatus2M_61keV.hdf5::/imageseries/images", 202021, 1265),
    ],
)
def test_pilatus_gaps_are_invalid(real_data: Path, name: str, minus_one: int, minus_two: int) -> None:
    image = load_image(real_data / name)
    assert np.count_nonzero(image.data == -1) == minus_one
    assert np.count_nonzero(image.data == -2) == minus_two
    assert image.invalid.sum() == minus_one + minus_two
    assert image.invalid is image.invalid  # computed once


def test_header_is_stringified(real_data: Path) -> None:
    header = load_image(real_data / "raw_AgBe_ADSC-Quantum_7p7keV.img").header
    assert header and all(isinstance(k, str) and isinstance(v, str) for k, v in header.items())
    nexus = load_image(real_data / "aps15idd_AgBh_Pilatus100k_16p9keV.hdf5").header
    assert nexus["model"] == "Pilatus" and nexus["signal"] == "1"


@pytest.mark.parametrize(
    ("name", "dataset"),
    [
        ("aps15idd_AgBh_Pilatus100k_16p9keV.hdf5", "/entry/data/data"),  # NeXus 1: dataset flagged signal=1
        ("aps1idc_CeO2_Pilatus2M_61keV.hdf5", "/imageseries/images"),  # 3D stack of 1 frame
        ("chess_CeO2_Dexela2923_29p8keV.h5", "/data"),
    ],
)
def test_bare_hdf5_path_picks_the_image_and_says_which(real_data: Path, name: str, dataset: str) -> None:
    image = load_image(real_data / name)
    assert image.source == f"{real_data / name}::{dataset}"
    assert image.name == f"{name}::{dataset}"
    assert frame_count(real_data / name) == 1


def test_hdf5_datasets_lists_images(real_data: Path) -> None:
    assert hdf5_datasets(real_data / "aps1idc_CeO2_Pilatus2M_61keV.hdf5") == [
        ("/imageseries/images", (1, 1679, 1475), "int32")
    ]
    # the NeXus file has ~80 datasets, all 1D but one
    assert hdf5_datasets(real_data / "aps15idd_AgBh_Pilatus100k_16p9keV.hdf5") == [
        ("/entry/data/data", (195, 487), "int32")
    ]


def test_real_folder_listing(real_data: Path) -> None:
    files = image_files_in_folder(real_data / PILATUS1M)
    names = [p.name for p in files]
    assert len(names) == 18  # 16 images + 2 masks; .poni, .md, .json, .imctrl left out
    assert PILATUS1M in names and "SOURCES.md" not in names
    assert not any(n.endswith((".poni", ".imctrl", ".json")) for n in names)
    assert image_files_in_folder(real_data) == files


def test_4mpx_edf_loads(tmp_path: Path) -> None:
    path = tmp_path / "big.edf"
    fabio.edfimage.EdfImage(data=np.random.default_rng(0).random((2048, 2048), dtype=np.float32)).write(path)
    image = load_image(path)
    assert image.shape == (2048, 2048)


def test_tiff_tag_noise_is_silenced(real_data: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="fabio"):
        load_image(real_data / "cms_LaB6_Pilatus800k_12p7keV.tiff")
    assert not [r for r in caplog.records if "tag id" in r.getMessage()]


# --- split / list ---------------------------------------------------------------------------------


def test_split_hdf5_source() -> None:
    assert split_hdf5_source("f.h5::/entry/data") == ("f.h5", "/entry/data")
    assert split_hdf5_source("f.h5::entry/data") == ("f.h5", "/entry/data")
    assert split_hdf5_source(Path("dir/f.h5")) == (os.path.join("dir", "f.h5"), None)
    assert split_hdf5_source("f.h5::") == ("f.h5", None)


def test_folder_listing_is_natural_and_filtered(tmp_path: Path) -> None:
    for name in ["img10.tif", "img2.tif", "IMG1.edf", "scan.h5", "x.cbf.gz", "notes.txt", "a.poni", ".hidden.tif"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.tif").mkdir()
    names = [p.name for p in image_files_in_folder(tmp_path / "img2.tif")]
    assert names == ["IMG1.edf", "img2.tif", "img10.tif", "scan.h5", "x.cbf.gz"]


# --- synthetic HDF5 and multi-frame -----------------------------------------------------------------


@pytest.fixture
def stack_h5(tmp_path: Path) -> Path:
    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as h5:
        h5["entry/stack"] = np.arange(5 * 40 * 30, dtype=np.uint16).reshape(5, 40, 30)
        h5["entry/positions"] = np.zeros((10, 3))
        h5["entry/cube4d"] = np.ones((2, 2, 3, 3))
    return path


def test_frame_of_a_3d_stack(stack_h5: Path) -> None:
    image = load_image(f"{stack_h5}::/entry/stack", frame=2)
    expected = np.arange(5 * 40 * 30, dtype=np.float32).reshape(5, 40, 30)[2]
    np.testing.assert_array_equal(image.data, expected)
    assert (image.frame, image.nframes) == (2, 5)
    assert image.name == "stack.h5::/entry/stack [frame 2]"
    assert frame_count(f"{stack_h5}::/entry/stack") == 5


@pytest.mark.parametrize("frame", [5, -1])
def test_frame_out_of_range(stack_h5: Path, frame: int) -> None:
    expected = rf"stack\.h5::/entry/stack: frame {frame} does not exist.*5 frames \(0 to 4\)"
    with pytest.raises(ImageError, match=expected):
        load_image(f"{stack_h5}::/entry/stack", frame=frame)


def test_wrong_dataset_path_lists_the_images(stack_h5: Path) -> None:
    with pytest.raises(ImageError) as err:
        load_image(f"{stack_h5}::/entry/data")
    message = str(err.value)
    assert str(stack_h5) in message and "/entry/data does not exist" in message
    assert "/entry/stack (5 x 40 x 30)" in message and "/entry/positions (10 x 3)" in message
    assert "cube4d" not in message


def test_group_or_4d_dataset_is_refused(stack_h5: Path) -> None:
    with pytest.raises(ImageError, match="/entry is a group, not a dataset"):
        load_image(f"{stack_h5}::/entry")
    with pytest.raises(ImageError, match="is 4D 2 x 2 x 3 x 3; expected a 2D image or a 3D stack"):
        load_image(f"{stack_h5}::/entry/cube4d")


def test_hdf5_datasets_follow_links(stack_h5: Path) -> None:
    with h5py.File(stack_h5, "a") as h5:
        h5["link"] = h5py.SoftLink("/entry/stack")
        h5["dangling"] = h5py.ExternalLink("missing.h5", "/data")
        h5["entry/up"] = h5py.SoftLink("/")  # a loop
    assert hdf5_datasets(stack_h5) == [
        ("/entry/cube4d", (2, 2, 3, 3), "float64"),
        ("/entry/positions", (10, 3), "float64"),
        ("/entry/stack", (5, 40, 30), "uint16"),
        ("/link", (5, 40, 30), "uint16"),
    ]
    assert load_image(f"{stack_h5}::/link", frame=1).nframes == 5


def test_nexus_default_signal_wins_over_larger_dataset(tmp_path: Path) -> None:
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as h5:
        h5.attrs["default"] = "entry"
        entry = h5.create_group("entry")
        entry.attrs["default"] = "plot"
        plot = entry.create_group("plot")
        plot.attrs.update({"NX_class": "NXdata", "signal": "frames"})
        plot["frames"] = np.ones((3, 20, 10), np.int32)
        entry["instrument/flat"] = np.ones((200, 100), np.float32)
    image = load_image(path)
    assert image.source == f"{path}::/entry/plot/frames" and image.nframes == 3


def test_bare_hdf5_without_nexus_takes_the_largest_image(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as h5:
        h5["small"] = np.ones((3, 20, 10), np.int32)
        h5["big"] = np.ones((200, 100), np.float32)
        h5["table"] = np.ones((5000, 4))
    assert load_image(path).source == f"{path}::/big"


def test_hdf5_without_image(tmp_path: Path) -> None:
    path = tmp_path / "scalars.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(10)
        h5["names"] = np.array([[b"a", b"b"], [b"c", b"d"]])
    with pytest.raises(ImageError, match="holds no 2D image or 3D image stack"):
        load_image(path)
    with pytest.raises(ImageError, match=r"scalars\.h5::/names: the dataset holds \|S1 values, not pixel intensities"):
        load_image(f"{path}::/names")


@pytest.mark.parametrize("compression", [hdf5plugin.Bitshuffle(), hdf5plugin.LZ4(), hdf5plugin.Blosc()])
def test_compressed_hdf5_round_trip(tmp_path: Path, compression: hdf5plugin.FilterBase) -> None:
    path = tmp_path / "compressed.h5"
    data = np.random.default_rng(1).integers(-2, 60000, size=(4, 64, 48), dtype=np.int32)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("entry/data", data=data, chunks=(1, 64, 48), **compression)
    image = load_image(f"{path}::/entry/data", frame=3)
    np.testing.assert_array_equal(image.data, data[3].astype(np.float32))
    assert image.invalid.sum() == np.count_nonzero(data[3] < 0)


def test_multiframe_edf_via_fabio(tmp_path: Path) -> None:
    path = tmp_path / "frames.edf"
    frames = [np.full((8, 6), i + 1, np.int32) for i in range(3)]
    edf = fabio.edfimage.EdfImage(data=frames[0])
    for frame in frames[1:]:
        edf.append_frame(data=frame)
    edf.write(path)
    image = load_image(path, frame=2)
    assert (image.nframes, image.shape, float(image.data[0, 0])) == (3, (8, 6), 3.0)
    assert image.name == "frames.edf [frame 2]"
    assert frame_count(path) == 3
    with pytest.raises(ImageError, match="frame 3 does not exist; the file has 3 frames"):
        load_image(path, frame=3)


# --- broken files --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nothere\.tif: file not found"):
        load_image(tmp_path / "nothere.tif")


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.tif: the file is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.tif")


def test_truncated_tiff(real_data: Path, tmp_path: Path) -> None:
    original = (real_data / PILATUS1M).read_bytes()
    path = tmp_path / "half.tif"
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(ImageError, match=r"half\.tif: cannot be read as an image.*truncated"):
        load_image(path)


def test_truncated_edf_is_not_padded_with_zeros(real_data: Path, tmp_path: Path) -> None:
    original = (real_data / "cms_LaB6_Pilatus800k_12p7keV.mask.edf").read_bytes()
    path = tmp_path / "half.edf"
    path.write_bytes(original[: len(original) // 2])
    expected = r"half\.edf: cannot be read as an image \(truncated: the frame.s data goes past the end"
    with pytest.raises(ImageError, match=expected):
        load_image(path)


def test_random_bytes_tiff(tmp_path: Path) -> None:
    path = tmp_path / "noise.tif"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageError, match=r"noise\.tif: cannot be read as an image"):
        load_image(path)


def test_text_renamed_edf(tmp_path: Path) -> None:
    path = tmp_path / "notes.edf"
    path.write_text("sample: CeO2\nexposure: 10 s\n")
    with pytest.raises(ImageError, match=r"notes\.edf: cannot be read as an image"):
        load_image(path)


def test_hdf5_extension_on_non_hdf5_file(tmp_path: Path, real_data: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_text("not hdf5")
    with pytest.raises(ImageError, match=r"fake\.h5: not a valid HDF5 file"):
        load_image(path)
    with pytest.raises(ImageError, match="not a valid HDF5 file"):
        load_image(f"{real_data / PILATUS1M}::/entry/data")


def test_truncated_hdf5(real_data: Path, tmp_path: Path) -> None:
    original = (real_data / "aps1idc_CeO2_Pilatus2M_61keV.hdf5").read_bytes()
    path = tmp_path / "half.hdf5"
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(ImageError, match=r"half\.hdf5: cannot open the HDF5 file \(.*truncated file"):
        load_image(path)


def test_colour_picture_is_not_a_detector_image(tmp_path: Path) -> None:
    from PIL import Image as PilImage  # fabio's own TIFF fallback

    path = tmp_path / "photo.tif"
    PilImage.fromarray(np.zeros((40, 50, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match=r"photo\.tif: holds a 3D 40 x 50 x 3 array, not a 2D detector image"):
        load_image(path)


def _edf(tmp_path: Path, data: np.ndarray) -> Path:
    path = tmp_path / "frame.edf"
    fabio.edfimage.EdfImage(data=data).write(path)
    return path


def test_all_zero_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"frame\.edf: every pixel is zero"):
        load_image(_edf(tmp_path, np.zeros((50, 60), np.int32)))


def test_all_nan_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no pixel has a finite value"):
        load_image(_edf(tmp_path, np.full((50, 60), np.nan, np.float32)))


def test_all_negative_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no usable pixel; all 3000 pixels are negative"):
        load_image(_edf(tmp_path, np.full((50, 60), -1, np.int32)))


def test_only_gaps_and_zeros(tmp_path: Path) -> None:
    data = np.full((50, 60), -1, np.int32)
    data[10:20] = 0
    with pytest.raises(ImageError, match="every pixel outside the negative \\(gap\\) markers is zero"):
        load_image(_edf(tmp_path, data))


def test_nan_and_inf_pixels_are_kept_and_invalid(tmp_path: Path) -> None:
    data = np.ones((50, 60), np.float32)
    data[0, 0], data[1, 1], data[2, 2], data[3, 3] = np.nan, np.inf, -np.inf, -2
    image = load_image(_edf(tmp_path, data))
    assert np.isnan(image.data[0, 0]) and np.isposinf(image.data[1, 1])
    assert image.invalid.sum() == 4
    assert image.invalid[:4, :4].diagonal().all()


def test_unreadable_copy_keeps_original_name(real_data: Path, tmp_path: Path) -> None:
    """The message names the path as the user gave it, so it can be found again."""
    copy = tmp_path / "my scan 001.cbf"
    shutil.copyfile(real_data / "dls2021_CeO2_Pilatus2M_100keV_737mm.cbf", copy)
    with open(copy, "r+b") as handle:
        handle.truncate(copy.stat().st_size // 2)
    with pytest.raises(ImageError, match=r"my scan 001\.cbf: cannot be read as an image"):
        load_image(copy)


# --- formats fabio reads without noticing they are short or damaged -------------------------------
# Found by truncating files fabio wrote at every byte: EDF, CBF and mar345 were read (padded, or
# with an error only logged), a CBF cut inside its binary header hung fabio, and a cut mar345
# stream corrupted the process's memory. TIFF, MarCCD, d*TREK/ADSC, Bruker, OXD, PNM, NumPy,
# Esperanto and SPE files raise in fabio already.


def _frame(shape: tuple[int, int] = (64, 80), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 3000, shape).astype(np.int32)


def _mar345(path: Path, data: np.ndarray) -> Path:
    image = fabio.mar345image.Mar345Image(data=data.astype(np.uint32))
    image.byteorder = fabio.fabioutils.ENDIANNESS.LITTLE  # fabio's writer fails on its default ("|")
    image.write(str(path))
    return path


def _cut(path: Path, size: int, copy: Path) -> Path:
    """``copy``, holding the first ``size`` bytes of ``path``."""
    copy.write_bytes(path.read_bytes()[:size])
    return copy


@pytest.mark.parametrize("kept", [0.99, 0.9, 0.6, 0.35])
def test_truncated_mar345_is_refused(tmp_path: Path, kept: float) -> None:
    data = _frame()
    path = _mar345(tmp_path / "frame.mar2300", data)
    np.testing.assert_array_equal(load_image(path).data, data)
    cut = _cut(path, int(path.stat().st_size * kept), tmp_path / "cut.mar2300")
    with pytest.raises(ImageError, match=r"cut\.mar2300: cannot be read as an image \(the packed image holds"):
        load_image(cut)


def test_truncated_real_mar345_is_refused(real_data: Path, tmp_path: Path) -> None:
    """The issue's case: up to 889 198 of the 1 440 000 pixels were wrong, without an error."""
    original = real_data / "raw_AgBe_mar345_CuKa.mar1200"
    for kept in (0.5, 0.999):
        cut = _cut(original, int(original.stat().st_size * kept), tmp_path / "cut.mar1200")
        with pytest.raises(ImageError, match=r"cut\.mar1200: .*the packed image holds \d+ of its 1440000 pixels"):
            load_image(cut)


def test_mar345_header_that_contradicts_the_image(tmp_path: Path) -> None:
    path = _mar345(tmp_path / "frame.mar2300", _frame())
    raw = bytearray(path.read_bytes())
    raw[20:24] = (64 * 81).to_bytes(4, "little")  # the header's pixel count
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match=r"frame\.mar2300: .*packed image is 80 x 64 pixels but the header says"):
        load_image(path)


def _cbf(path: Path) -> tuple[Path, bytes]:
    fabio.cbfimage.CbfImage(data=_frame()).write(str(path))
    return path, path.read_bytes()


def test_cbf_cut_before_its_data_is_refused_not_hanging(tmp_path: Path) -> None:
    path, raw = _cbf(tmp_path / "frame.cbf")
    cut = _cut(path, raw.index(b"\x0c\x1a\x04\xd5") - 1, tmp_path / "cut.cbf")
    with deadline(10), pytest.raises(ImageError, match=r"cut\.cbf: .*no start-of-data marker"):
        load_image(cut)


def test_cbf_short_of_its_binary_size_is_refused(tmp_path: Path) -> None:
    """Cut 2 bytes into the binary data's end, fabio decoded it with one wrong pixel."""
    path, raw = _cbf(tmp_path / "frame.cbf")
    end = raw.index(b"\x0c\x1a\x04\xd5") + 4 + int(raw.split(b"X-Binary-Size: ")[1].split(b"\r")[0])
    np.testing.assert_array_equal(load_image(_cut(path, end, tmp_path / "whole.cbf")).data, _frame())
    with pytest.raises(ImageError, match=r"cut\.cbf: .*truncated: \d+ of the \d+ bytes of CBF binary data"):
        load_image(_cut(path, end - 2, tmp_path / "cut.cbf"))


def test_cbf_header_that_contradicts_itself(tmp_path: Path) -> None:
    path, raw = _cbf(tmp_path / "frame.cbf")
    path.write_bytes(raw.replace(b"X-Binary-Number-of-Elements: 5120", b"X-Binary-Number-of-Elements: 5121"))
    with pytest.raises(ImageError, match=r"frame\.cbf: .*declares 5121 elements but 5120 pixels"):
        load_image(path)


@pytest.fixture
def fabio_silenced():
    """fabio's logger turned off, as a program quieting its output may do: checks must not rely on it."""
    logger = logging.getLogger("fabio")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    yield
    logger.setLevel(level)


def test_truncated_edf_is_refused_with_fabio_silenced(tmp_path: Path, fabio_silenced: None) -> None:
    path = _edf(tmp_path, _frame())
    with pytest.raises(ImageError, match=r"cut\.edf: .*truncated: the frame's data goes past the end"):
        load_image(_cut(path, path.stat().st_size - 100, tmp_path / "cut.edf"))


def test_edf_block_smaller_than_its_pixels_is_refused(tmp_path: Path, fabio_silenced: None) -> None:
    """A header whose Size is short of Dim_1 x Dim_2 x type: fabio pads the rest with zeros."""
    path = _edf(tmp_path, _frame())
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"\nSize = 20480 ;", b"\nSize = 10240 ;", 1))
    with pytest.raises(ImageError, match=r"frame\.edf: .*its header gives 10240 bytes for 20480 bytes of pixels"):
        load_image(path)


def test_multiframe_edf_with_a_truncated_last_frame(tmp_path: Path, fabio_silenced: None) -> None:
    path = tmp_path / "stack.edf"
    edf = fabio.edfimage.EdfImage(data=_frame(seed=0))
    edf.append_frame(data=_frame(seed=1))
    edf.write(str(path))
    cut = _cut(path, path.stat().st_size - 10, tmp_path / "cut.edf")
    np.testing.assert_array_equal(load_image(cut, frame=0).data, _frame(seed=0))
    with pytest.raises(ImageError, match=r"cut\.edf \[frame 1\]: .*truncated"):
        load_image(cut, frame=1)


def test_cbf_with_a_long_header_and_no_data_start(tmp_path: Path) -> None:
    """A header of over 64 KiB takes fabio's other path, which also looped forever without the marker."""
    path, raw = _cbf(tmp_path / "frame.cbf")
    at = raw.index(b"_array_data.data")
    long = raw[:at] + b"# " + b"x" * 70_000 + b"\r\n" + raw[at:]
    path.write_bytes(long)
    np.testing.assert_array_equal(load_image(path).data, _frame())
    path.write_bytes(long.replace(b"\x0c\x1a\x04\xd5", b"\0\0\0\0"))
    with deadline(10), pytest.raises(ImageError, match=r"frame\.cbf: .*no start-of-data marker"):
        load_image(path)


def test_tiff_whose_directories_loop_is_refused_not_hanging(tmp_path: Path) -> None:
    """A damaged "next directory" offset pointing back into the chain: fabio's TIFF reader looped forever."""
    path = tmp_path / "loop.tif"
    fabio.tifimage.TifImage(data=_frame()).write(str(path))
    raw = bytearray(path.read_bytes())
    first = int.from_bytes(raw[4:8], "little")
    entries = int.from_bytes(raw[first:first + 2], "little")
    raw[first + 2 + 12 * entries:first + 6 + 12 * entries] = first.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with deadline(10), pytest.raises(ImageError, match=r"loop\.tif: .*chain of TIFF image directories loops"):
        load_image(path)


def test_edf_without_data_type_is_refused(tmp_path: Path) -> None:
    """fabio guessed 16-bit pixels for a header without DataType: every other pixel of an int32 frame read 0."""
    path = _edf(tmp_path, _frame())
    path.write_bytes(path.read_bytes().replace(b"DataType = ", b"DataTypo = ", 1))
    with pytest.raises(ImageError, match=r"frame\.edf: .*no DataType"):
        load_image(path)


@pytest.mark.parametrize(("at", "byte"), [(11, 0x80), (8, 0), (8, 9)])  # count negative, 0, 9 (2 records)
def test_mar345_overflow_count_that_does_not_fit_the_records(tmp_path: Path, at: int, byte: int) -> None:
    """The one overflow record is skipped (count <= 0) or read with header bytes: pixel (3, 4) went wrong."""
    data = _frame().astype(np.uint32)
    data[3, 4] = 100_000  # above 16 bits: kept in an overflow record
    path = _mar345(tmp_path / "frame.mar2300", data)
    np.testing.assert_array_equal(load_image(path).data, data)
    raw = bytearray(path.read_bytes())
    raw[at] = byte
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match=r"frame\.mar2300: .*overflow pixels"):
        load_image(path)


def test_npy_header_that_does_not_describe_the_file(tmp_path: Path) -> None:
    path = tmp_path / "frame.npy"
    with open(path, "wb") as handle:  # 43 GB promised, 1 kB present: refused before anything is allocated
        header = {"descr": "<i4", "fortran_order": False, "shape": (120_000, 90_000)}
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(1000))
    with pytest.raises(ImageError, match=r"frame\.npy: .*header promises \d+ bytes of data, the file holds 1000"):
        load_image(path)
    np.save(path, _frame())
    raw = bytearray(path.read_bytes())
    raw[8] -= 2  # the header's length, now short of its closing newline: the pixels would start 2 bytes early
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match=r"frame\.npy: .*NumPy header does not end"):
        load_image(path)


def test_tiff_cut_to_one_row_is_refused(tmp_path: Path) -> None:
    """fabio's TIFF reader spread the one row left over the whole image (numpy broadcasting)."""
    path = tmp_path / "frame.tif"
    fabio.tifimage.TifImage(data=_frame()).write(str(path))
    raw = path.read_bytes()
    start = raw.index(_frame().tobytes())
    path.write_bytes(raw[:start + 320])  # the first row: 80 int32 pixels
    with pytest.raises(ImageError, match=r"frame\.tif: .*TIFF strip 0 holds less than its 20480 bytes of pixels"):
        load_image(path)


def test_tiff_taller_than_its_strips_is_refused(tmp_path: Path) -> None:
    """A damaged ImageLength: PIL left the rows that no strip covers at zero (a 1 310 720-row mask)."""
    path = tmp_path / "frame.tif"
    PILImage.fromarray(_frame().astype(np.uint8)).save(path)
    raw = bytearray(path.read_bytes())
    first = int.from_bytes(raw[4:8], "little")
    for entry in range(first + 2, first + 2 + 12 * int.from_bytes(raw[first:first + 2], "little"), 12):
        if int.from_bytes(raw[entry:entry + 2], "little") == 257:  # ImageLength
            raw[entry + 8:entry + 12] = (16 + (3 << 16)).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match=r"frame\.tif: .*TIFF strips hold 64 of the image's 196624 rows"):
        load_image(path)


@pytest.mark.parametrize("signature", [b"TREE", b"HEAP", b"SNOD"])
@pytest.mark.parametrize("read", [load_image, frame_count, hdf5_datasets])
def test_damaged_hdf5_structure_is_an_image_error(tmp_path: Path, signature: bytes, read) -> None:
    """A damaged B-tree, local heap or symbol table made h5py raise a RuntimeError traceback."""
    path = tmp_path / "damaged.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("entry/data", data=_frame())
    raw = path.read_bytes()
    at = raw.index(signature)
    path.write_bytes(raw[:at] + b"X" + raw[at + 1:])
    with pytest.raises(ImageError, match=r"damaged\.h5: the HDF5 file is damaged \("):
        read(path)
