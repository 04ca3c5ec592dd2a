"""The example a new user starts from: CeO2 on a Pilatus 1M at 30 keV, 200 mm, slightly tilted.

It is drawn with pyFAI's geometry (every ring a Gaussian in exact 2θ), with Poisson noise and
the module gaps set to -1 as a Pilatus writes them, and saved as a TIFF so that it loads like
any other file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fabio
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from ..core.calibration.session import energy_to_wavelength
from ..core.calibration.synthetic import ring_image
from ..core.geometry.refinement import new_geometry
from ..core.io.atomic import atomic_path
from ..core.io.calibrants import load_calibrant


@dataclass(frozen=True)
class Example:
    detector: str = "Pilatus1M"
    calibrant: str = "CeO2"
    energy_kev: float = 30.0
    distance_mm: float = 200.0
    beam_fraction: tuple[float, float] = (0.46, 0.54)  # (x, y) of the direct beam, fractions of the image
    rot1: float = 0.012  # rad
    rot2: float = -0.008
    file_name: str = "CeO2_Pilatus1M_30keV_200mm.tif"


EXAMPLE = Example()


def example_geometry(example: Example = EXAMPLE) -> Geometry:
    """The true geometry of the example image."""
    detector = detector_factory(example.detector)
    n1, n2 = detector.shape
    x, y = example.beam_fraction
    return new_geometry(
        detector, dist=example.distance_mm * 1e-3, poni1=y * n1 * detector.pixel1, poni2=x * n2 * detector.pixel2,
        rot1=example.rot1, rot2=example.rot2, rot3=0.0, wavelength=energy_to_wavelength(example.energy_kev),
    )


def make_example(folder: Path, example: Example = EXAMPLE) -> Path:
    """Write the example image into ``folder`` and return its path."""
    geometry = example_geometry(example)
    detector = geometry.detector
    image = ring_image(geometry, load_calibrant(example.calibrant), tuple(detector.shape), fwhm_deg=0.06,
                       intensity=800.0, background=40.0, noise=True, seed=1)
    image[detector.mask.astype(bool)] = -1.0
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / example.file_name
    with atomic_path(path) as tmp:
        fabio.tifimage.TifImage(data=image).write(str(tmp))
    return path
