"""Integrated patterns as NeXus/HDF5 files (``.nxs``, ``.h5``), for facilities that ingest NeXus.

The layout is the NXazint1d application definition (NeXus, contributed by MAX IV), as pyFAI's
``pyFAI.io.nexus.save_NXazint1d`` writes it and GSAS-II's HDF5 importer reads it::

    /                        @NX_class=NXroot @default=entry @creator @file_name @file_time
    entry                    NXentry @default=data; definition="NXazint1d", title,
                             solid_angle_applied, polarization_applied, normalization_applied, monitor_applied
      instrument             NXinstrument; name
        monochromator        NXmonochromator; wavelength (Å), energy (keV)
        source               NXsource; name, type, probe
        detector             NXdetector; description, distance (direct beam, mm), beam_center_x/y (px),
                             x_pixel_size, y_pixel_size (m)
      reduction              NXprocess; program, version, date, reference, note (the settings)
        input                NXparameters; unit ("2th" or "q"), wavelength, radial_bins, azimuth_bins,
                             azimuth_range, polarization_factor, solid_angle, error_model, method,
                             poni (pyFAI's geometry configuration as JSON)
      data                   NXdata @signal=I @axes=[".", "radial_axis"] @interpretation=spectrum;
                             I [1, n], I_errors [1, n] (when known), radial_axis [n]
      sample                 NXsample; name

NXazint1d knows 2θ and q only: a pattern in d is refused. Wavelength and geometry are those of the
calibration, so the file stands on its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from pyFAI.geometry import Geometry

from ..errors import XcalError
from ..io.atomic import atomic_path
from .integrator import IntegrationSettings, Pattern

DEFINITION = "NXazint1d"
HC_KEV_A = 12.398419843320026  # h·c in keV·Å
# radial unit → (NXazint1d's name of the axis, its units)
RADIAL = {"2th_deg": ("2theta", "degrees"), "q_A^-1": ("q", "1/angstrom"), "q_nm^-1": ("q", "1/nm")}
REFERENCE = ("pyFAI: G. Ashiotis et al., J. Appl. Cryst. 48 (2015) 510-519, https://doi.org/10.1107/S1600576715004306; "
             "xcal (detector calibration and integration built on pyFAI)")
NOTE = ("pyFAI geometry: the PONI, distance and rotations of reduction/input/poni; chi (azimuth) in degrees "
        "from -180 to 180. Intensities are averages over the pixels of each bin (pixel splitting bbox).")


def check_nexus_unit(unit: str, name: str) -> None:
    """Refuse a radial unit NXazint1d cannot hold, naming the file (before any integration)."""
    if unit not in RADIAL:
        raise XcalError(f"{name}: a NeXus (NXazint1d) pattern is in 2θ or q, not {unit}; choose 2th_deg, q_A^-1 "
                        f"or q_nm^-1.")


def write_nexus(path: str | Path, pattern: Pattern, geometry: Geometry, *, settings: IntegrationSettings | None = None,
                header: Sequence[str] = (), title: str = "") -> None:
    """Write one pattern as an NXazint1d NeXus file, atomically.

    :param geometry: the calibration used (wavelength and detector geometry are part of the file).
    :param settings: the integration settings (polarization, solid angle, azimuth range); defaults
        when None (what ``xcal pattern`` uses).
    :param header: the lines of the text formats' header (image, corrections...), kept as the note.
    """
    name = Path(path).name
    check_nexus_unit(pattern.unit, name)
    if not geometry.wavelength:
        raise XcalError(f"{name}: a NeXus pattern needs the wavelength, and the geometry has none.")
    import h5py

    settings = settings if settings is not None else IntegrationSettings()  # the defaults: solid angle only
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            _root(h5, name)
            entry = _group(h5, "entry", "NXentry", default="data")
            entry["definition"] = DEFINITION
            entry["title"] = title or name
            entry["solid_angle_applied"] = bool(settings.solid_angle)
            entry["polarization_applied"] = settings.polarization is not None
            entry["normalization_applied"] = True  # each bin is the average of its pixels' corrected values
            entry["monitor_applied"] = False
            _instrument(entry, geometry)
            _reduction(entry, pattern, geometry, settings, header)
            _data(entry, pattern)
            _group(entry, "sample", "NXsample")["name"] = title or name


def _group(parent, name: str, nx_class: str, **attrs):
    group = parent.create_group(name, track_order=True)
    group.attrs["NX_class"] = nx_class
    for key, value in attrs.items():
        group.attrs[key] = value
    return group


def _root(h5, name: str) -> None:
    from ... import __version__

    h5.attrs["NX_class"] = "NXroot"
    h5.attrs["default"] = "entry"
    h5.attrs["creator"] = f"xcal {__version__}"
    h5.attrs["file_name"] = name
    h5.attrs["file_time"] = _now()


def _instrument(entry, geometry: Geometry) -> None:
    instrument = _group(entry, "instrument", "NXinstrument")
    instrument["name"] = "unknown"  # xcal is not told the beamline
    mono = _group(instrument, "monochromator", "NXmonochromator")
    wavelength_a = geometry.wavelength * 1e10
    _number(mono, "wavelength", wavelength_a, "angstrom")
    _number(mono, "energy", HC_KEV_A / wavelength_a, "keV")
    source = _group(instrument, "source", "NXsource")
    source["name"] = "unknown"
    source["type"] = "unknown"
    source["probe"] = "x-ray"
    detector = _group(instrument, "detector", "NXdetector")
    f2d = geometry.getFit2D()
    detector["description"] = geometry.detector.name
    _number(detector, "distance", f2d["directDist"], "mm")
    _number(detector, "beam_center_x", f2d["centerX"], "pixel")
    _number(detector, "beam_center_y", f2d["centerY"], "pixel")
    _number(detector, "x_pixel_size", geometry.detector.pixel2, "m")
    _number(detector, "y_pixel_size", geometry.detector.pixel1, "m")


def _reduction(entry, pattern: Pattern, geometry: Geometry, settings: IntegrationSettings, header: Sequence[str]) -> None:
    from ... import __version__

    reduction = _group(entry, "reduction", "NXprocess")
    reduction["program"] = "xcal"
    reduction["version"] = f"xcal {__version__}, pyFAI {_pyfai_version()}"
    reduction["date"] = _now()
    reduction["reference"] = REFERENCE
    reduction["note"] = "\n".join([*header, NOTE])
    params = _group(reduction, "input", "NXparameters")
    params["unit"] = "2th" if pattern.unit == "2th_deg" else "q"
    _number(params, "wavelength", geometry.wavelength * 1e10, "angstrom")
    params["radial_bins"] = len(pattern.radial)
    params["azimuth_bins"] = 1
    if settings.azimuth_range is not None:
        _number(params, "azimuth_range", np.asarray(settings.azimuth_range, float), "degrees")
    polarization = params.create_dataset("polarization_factor",
                                         data=np.nan if settings.polarization is None else settings.polarization)
    polarization.attrs["doc"] = "-1..1 (1: horizontal); NaN: no polarization correction"
    params["solid_angle"] = bool(settings.solid_angle)
    params["error_model"] = "poisson" if pattern.sigma is not None else "none"
    params["method"] = "pixel splitting bbox, histogram (pyFAI)"
    poni = params.create_dataset("poni", data=json.dumps(geometry.get_config()))
    poni.attrs["format"] = "text/json"
    poni.attrs["doc"] = "pyFAI geometry configuration: pyFAI.geometry.Geometry().set_config(json.loads(poni))"


def _data(entry, pattern: Pattern) -> None:
    axis_name, axis_units = RADIAL[pattern.unit]
    data = _group(entry, "data", "NXdata", signal="I", axes=[".", "radial_axis"], interpretation="spectrum")
    n = len(pattern.radial)
    intensity = data.create_dataset("I", data=np.asarray(pattern.intensity, np.float64).reshape(1, n),
                                    maxshape=(None, n))
    intensity.attrs["long_name"] = "intensity"
    intensity.attrs["units"] = "arbitrary units"
    if pattern.sigma is not None:
        errors = data.create_dataset("I_errors", data=np.asarray(pattern.sigma, np.float64).reshape(1, n),
                                     maxshape=(None, n))
        errors.attrs["long_name"] = "estimated intensity error"
        errors.attrs["units"] = "arbitrary units"
    radial = data.create_dataset("radial_axis", data=np.asarray(pattern.radial, np.float64))
    radial.attrs["long_name"] = axis_name
    radial.attrs["units"] = axis_units


def _number(group, name: str, value, units: str) -> None:
    group.create_dataset(name, data=value).attrs["units"] = units


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _pyfai_version() -> str:
    import pyFAI

    return str(pyFAI.version)
