"""NeXus patterns (``xcal.core.integration.nexus_output``): the NXazint1d layout read back with h5py.

The pattern is integrated from a synthetic CeO2 image with a known geometry, so the file's radial
axis, intensities, wavelength and detector geometry are compared with that truth.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import XcalError
from xcal.core.integration.integrator import IntegrationSettings, Integrator, calibrant_positions
from xcal.core.integration.nexus_output import write_nexus
from xcal.core.integration.outputs import write_pattern
from xcal.core.io.calibrants import load_calibrant

WAVELENGTH = 0.3e-10
TRUE = dict(dist=0.2, poni1=0.054, poni2=0.041, rot1=0.012, rot2=-0.008, rot3=0.0)
HC_KEV_A = 12.398419843320026


def text(dataset) -> str:
    value = dataset[()]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="module")
def case() -> dict:
    geometry = Geometry(detector=detector_factory("Pilatus300k"), wavelength=WAVELENGTH, **TRUE)
    data = ring_image(geometry, load_calibrant("CeO2"), geometry.detector.shape, fwhm_deg=0.06, noise=True, seed=5)
    integrator = Integrator()
    settings = IntegrationSettings(npt=1500, polarization=0.99)
    pattern = integrator.integrate(data, geometry, settings, sigma=True)
    return {"geometry": geometry, "data": data, "integrator": integrator, "settings": settings, "pattern": pattern}


def test_nxazint1d_layout(case, tmp_path) -> None:
    path = tmp_path / "sample.nxs"
    pattern, geometry = case["pattern"], case["geometry"]
    write_pattern(path, pattern, ["Image: sample.tif", "Mask: none"], title="sample.tif", geometry=geometry,
                  settings=case["settings"])
    with h5py.File(path, "r") as h5:
        assert h5.attrs["NX_class"] == "NXroot" and h5.attrs["default"] == "entry"
        assert h5.attrs["creator"].startswith("xcal ")
        entry = h5["entry"]
        assert entry.attrs["NX_class"] == "NXentry" and entry.attrs["default"] == "data"
        assert text(entry["definition"]) == "NXazint1d"
        assert bool(entry["solid_angle_applied"][()]) and bool(entry["polarization_applied"][()])
        assert bool(entry["normalization_applied"][()]) and not bool(entry["monitor_applied"][()])
        classes = {name: entry[name].attrs["NX_class"] for name in ("instrument", "reduction", "data", "sample")}
        assert classes == {"instrument": "NXinstrument", "reduction": "NXprocess", "data": "NXdata", "sample": "NXsample"}
        instrument = entry["instrument"]
        assert {k: instrument[k].attrs["NX_class"] for k in ("monochromator", "source", "detector")} == {
            "monochromator": "NXmonochromator", "source": "NXsource", "detector": "NXdetector"}
        mono = instrument["monochromator"]
        assert mono["wavelength"][()] == pytest.approx(0.3) and mono["wavelength"].attrs["units"] == "angstrom"
        assert mono["energy"][()] == pytest.approx(HC_KEV_A / 0.3) and mono["energy"].attrs["units"] == "keV"
        # the radial axis, the intensity and its errors, as integrated
        data = entry["data"]
        assert data.attrs["signal"] == "I" and list(data.attrs["axes"]) == [".", "radial_axis"]
        assert data.attrs["interpretation"] == "spectrum"
        radial = data["radial_axis"]
        assert radial.attrs["long_name"] == "2theta" and radial.attrs["units"] == "degrees"
        np.testing.assert_allclose(radial[()], pattern.radial)
        assert data["I"].shape == (1, len(pattern.radial)) and data["I"].attrs["long_name"] == "intensity"
        np.testing.assert_allclose(data["I"][0], pattern.intensity)
        np.testing.assert_allclose(data["I_errors"][0], pattern.sigma)
        strongest = radial[()][np.argmax(data["I"][0])]
        lines = calibrant_positions(load_calibrant("CeO2").dspacing, WAVELENGTH, "2th_deg")
        assert np.min(np.abs(lines - strongest)) < 2 * (radial[1] - radial[0])  # on a CeO2 line
        # the geometry: pyFAI's configuration, and the detector's NeXus fields
        params = entry["reduction/input"]
        assert params.attrs["NX_class"] == "NXparameters"
        assert text(params["unit"]) == "2th" and params["radial_bins"][()] == 1500
        assert params["polarization_factor"][()] == pytest.approx(0.99)
        rebuilt = Geometry()
        rebuilt.set_config(json.loads(text(params["poni"])))
        for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
            assert getattr(rebuilt, name) == pytest.approx(getattr(geometry, name), rel=1e-12), name
        assert rebuilt.detector.name == geometry.detector.name
        detector, f2d = instrument["detector"], geometry.getFit2D()
        assert detector["distance"][()] == pytest.approx(f2d["directDist"]) and detector["distance"].attrs["units"] == "mm"
        assert (detector["beam_center_x"][()], detector["beam_center_y"][()]) == pytest.approx((f2d["centerX"], f2d["centerY"]))
        assert detector["x_pixel_size"][()] == pytest.approx(172e-6) and detector["y_pixel_size"][()] == pytest.approx(172e-6)
        assert "Image: sample.tif" in text(entry["reduction/note"])
        assert text(entry["sample/name"]) == "sample.tif"
    assert os.listdir(tmp_path) == ["sample.nxs"]  # no temporary file left


def test_read_as_gsas2_reads_nxazint1d(case, tmp_path) -> None:
    """The datasets GSAS-II's HDF5 importer reads (it needs every one, and the unit '2th')."""
    path = tmp_path / "sample.h5"
    write_nexus(path, case["pattern"], case["geometry"])
    with h5py.File(path, "r") as h5:
        assert h5["/entry/definition"][()].decode() == "NXazint1d"
        x, y = np.array(h5["entry/data/radial_axis"]), np.array(h5["entry/data/I"])
        esd = np.array(h5["entry/data/I_errors"])
        assert x.shape == y[0].shape == esd[0].shape
        assert float(h5["entry/instrument/monochromator/wavelength"][()]) == pytest.approx(0.3)
        assert np.isnan(float(h5["entry/reduction/input/polarization_factor"][()]))  # no correction by default
        assert not bool(h5["entry/polarization_applied"][()])
        for key in ("entry/instrument/name", "entry/sample/name", "entry/instrument/source/name"):
            h5[key][()].decode()
        assert h5["entry/reduction/input/unit"][()].decode() == "2th"


def test_q_units_and_refusals(case, tmp_path) -> None:
    integrator, geometry = case["integrator"], case["geometry"]
    q = integrator.pattern(case["data"], geometry, npt=800, unit="q_nm^-1")
    write_nexus(tmp_path / "q.nxs", q, geometry)
    with h5py.File(tmp_path / "q.nxs", "r") as h5:
        radial = h5["entry/data/radial_axis"]
        assert radial.attrs["long_name"] == "q" and radial.attrs["units"] == "1/nm"
        assert h5["entry/reduction/input/unit"][()].decode() == "q"
        np.testing.assert_allclose(radial[()], q.radial)
        assert "I_errors" not in h5["entry/data"]  # no errors asked for: none written
    d = integrator.pattern(case["data"], geometry, npt=800, unit="d_A")
    with pytest.raises(XcalError, match=r"d.nxs: a NeXus \(NXazint1d\) pattern is in 2θ or q, not d_A"):
        write_nexus(tmp_path / "d.nxs", d, geometry)
    no_wavelength = Geometry(detector=geometry.detector, **TRUE)
    with pytest.raises(XcalError, match="needs the wavelength"):
        write_nexus(tmp_path / "w.nxs", q, no_wavelength)
    assert sorted(os.listdir(tmp_path)) == ["q.nxs"]
