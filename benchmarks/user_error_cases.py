"""The cases and the simulated user mistakes of the "never silently wrong" benchmark (user_errors.py).

A :class:`Case` is an image the CLI reads, with the geometry it truly has: synthetic images drawn
with pyFAI from a known geometry (written as TIFF, as a user's file), and real beamline images
with their reference .poni. A :class:`Mistake` turns a case into a :class:`Plan`: what the user
types on the command line (image, calibrant, wavelength or energy, clicks). Clicks are placed
from the true geometry, as :func:`benchmarks.synthetic_cases.click_on_ring` does, so that each
mistake is exactly the one named and nothing else.

Ring numbers: "ring 1" is the first ring that crosses enough valid pixels of the image (the
calibrant's first line on every default case); the other rings count from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import fabio
import numpy as np
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from benchmarks.calibration import REAL_DATA
from benchmarks.real_cases import REAL_CASES
from benchmarks.synthetic_cases import CASES_BY_NAME, click_on_ring, dspacing_of, first_visible_ring, make, ring_pixels
from xcal.core.calibration.session import HC_KEV_A
from xcal.core.geometry.refinement import ring_tth
from xcal.core.io.poni import read_poni
from xcal.gui.example import example_geometry, make_example

JITTER_PX = 1.0  # a careful user's click: Gaussian, per axis
MIN_RING_PIXELS = 150  # a ring the user can see and click: valid pixels it crosses
PILATUS_FULL_SCALE = 2**20 - 1  # a 20-bit counter (Pilatus, Eiger in 20-bit mode)
INTEGER_FULL_SCALE = 65535  # a 16-bit image (CCD, flat panel)
OTHER_CALIBRANT = {"CeO2": "LaB6", "LaB6": "CeO2"}  # the usual mix-up; any other calibrant becomes CeO2
SSRL72 = "ssrl72"


class NotApplicable(Exception):
    """The mistake cannot be made on this case (no module gaps, no second ring on the image, ...)."""


# -- cases ------------------------------------------------------------------------------------------


@dataclass
class Case:
    """An image as the CLI reads it, with its true geometry and what the user knows about it."""

    name: str
    kind: str  # "synthetic" or "real"
    image: str  # what the CLI is given (``file.h5::/dataset`` for HDF5)
    data: np.ndarray  # the pixel values of the file, its own dtype (the saturated copy keeps it)
    truth: Geometry
    calibrant: str
    detector_name: str | None  # pyFAI name; None: a generic detector
    detector_args: list[str]  # ["--detector", name] or ["--pixel", µm]
    workdir: Path  # where images made for a mistake are written
    strip: bool = False  # one arc on a strip detector: only the strip mistakes apply
    note: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape  # type: ignore[return-value]

    @cached_property
    def gaps(self) -> np.ndarray:
        """The detector's module gaps (pyFAI's mask), all False for a detector without one."""
        mask = detector_factory(self.detector_name).mask if self.detector_name else None
        if mask is None or mask.shape != self.shape:
            return np.zeros(self.shape, bool)
        return mask.astype(bool)

    @cached_property
    def invalid(self) -> np.ndarray:
        """Pixels a user cannot click on: not finite, negative (Pilatus writes gaps as -1), gaps."""
        with np.errstate(invalid="ignore"):
            return ~np.isfinite(self.data) | (self.data < 0) | self.gaps

    @cached_property
    def dspacing(self) -> np.ndarray:
        return dspacing_of(self.calibrant)

    @cached_property
    def first_ring(self) -> int:
        """0-based index of the ring the user calls ring 1: the first one crossing enough valid
        pixels (and, on a real image, standing out: its first line may sit in a beamstop shadow)."""
        data = np.asarray(self.data, np.float32) if self.kind == "real" else None
        return first_visible_ring(self.truth, self.shape, self.dspacing, self.invalid, min_pixels=MIN_RING_PIXELS,
                                  data=data)

    @property
    def wavelength_a(self) -> float:
        return self.truth.wavelength * 1e10

    @property
    def saturation(self) -> float:
        """The value a saturated pixel of this detector holds."""
        name = (self.detector_name or "").lower()
        return PILATUS_FULL_SCALE if name.startswith(("pilatus", "eiger")) else INTEGER_FULL_SCALE


def write_tif(path: Path, data: np.ndarray) -> str:
    fabio.tifimage.TifImage(data=data).write(str(path))
    return str(path)


def example_case(workdir: Path) -> Case:
    """The image a new user starts from (xcal --example): CeO2, Pilatus 1M, 30 keV."""
    path = make_example(workdir)
    truth = example_geometry()
    return Case("example", "synthetic", str(path), fabio.open(str(path)).data, truth, "CeO2", "Pilatus1M",
                ["--detector", "Pilatus1M"], workdir, note="xcal example: CeO2, Pilatus1M, 30 keV, 200 mm")


def synthetic_case(name: str, workdir: Path) -> Case:
    """A case of benchmarks/synthetic_cases.py, drawn and written as a float32 TIFF (gaps -1)."""
    spec = CASES_BY_NAME[name]
    image, truth, _ = make(spec)
    path = write_tif(workdir / f"{name}.tif", image)
    detector_args = ["--detector", spec.detector] if spec.detector else ["--pixel", f"{spec.pixel_um:g}"]
    return Case(name, "synthetic", path, image, truth, spec.calibrant, spec.detector, detector_args, workdir,
                note=spec.note)


def real_case(name: str, workdir: Path) -> Case:
    """A real image of benchmarks/real_cases.py, read where it lies; truth = its reference .poni."""
    spec = next(c for c in REAL_CASES if c.name == name)
    if spec.detector is None:
        raise ValueError(f"{name}: no pyFAI detector name to give the CLI")
    source = str(REAL_DATA / spec.image)
    data = np.asarray(fabio.open(source).data)
    truth = read_poni(REAL_DATA / spec.poni, shape=data.shape).geometry
    return Case(name, "real", source, data, truth, spec.calibrant, spec.detector, ["--detector", spec.detector],
                workdir, note=spec.note)


def ssrl72_case(workdir: Path) -> Case:
    """SSRL 7-2: one partial LaB6 100 arc on a Pilatus 300K-W strip on a 2θ arm (12° tilt)."""
    stem = REAL_DATA / "ssrl72_LaB6_Pilatus300kw_scan2_0009"
    source = str(stem.with_suffix(".tif"))
    data = np.asarray(fabio.open(source).data)
    truth = read_poni(stem.with_suffix(".poni"), shape=data.shape).geometry
    return Case(SSRL72, "real", source, data, truth, "LaB6", "Pilatus300kw", ["--detector", "Pilatus300kw"], workdir,
                strip=True, note="one LaB6 arc on a strip; reference from a goniometer model, 0.885601 Å")


def case_names() -> list[str]:
    """Every case the benchmark can run."""
    real = [c.name for c in REAL_CASES if c.detector is not None]
    return ["example", *CASES_BY_NAME, *real, SSRL72]


def load_case(name: str, workdir: Path) -> Case:
    """Make or read the case ``name``; ``workdir`` receives the images written for it."""
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "example":
        return example_case(workdir)
    if name == SSRL72:
        return ssrl72_case(workdir)
    if name in CASES_BY_NAME:
        return synthetic_case(name, workdir)
    return real_case(name, workdir)


# -- the simulated user's clicks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    x: float  # column, pixels
    y: float  # row, pixels
    ring: int | None  # the number typed (from 1); None: typed nothing

    def arg(self) -> str:
        return f"{self.x:.2f},{self.y:.2f}" + (f",{self.ring}" if self.ring is not None else "")


def _check_ring(case: Case, ring: int) -> None:
    """A user clicks only rings that are on the image."""
    if len(ring_pixels(case.truth, case.shape, case.dspacing, ring, case.invalid)[0]) < MIN_RING_PIXELS:
        raise NotApplicable(f"ring {ring + 1} is not on the image")


def click_at(case: Case, ring: int, typed: int | None, rng: np.random.Generator, jitter: float = JITTER_PX,
             invalid: np.ndarray | None = None) -> Click:
    """A click on ``ring`` (0-based) with ``typed`` as its number (1-based, or None)."""
    _check_ring(case, ring)
    row, col = click_on_ring(case.truth, case.shape, case.dspacing, ring, rng, noise_px=jitter,
                             invalid=case.invalid if invalid is None else invalid)
    return Click(col, row, typed)


def _radial_direction(truth: Geometry, row: float, col: float) -> tuple[float, float]:
    """Unit vector (rows, cols) of increasing 2θ at a pixel: across the ring."""
    h = 0.5
    g_r = (truth.tth(np.array([row + h]), np.array([col]))[0] - truth.tth(np.array([row - h]), np.array([col]))[0]) / (2 * h)
    g_c = (truth.tth(np.array([row]), np.array([col + h]))[0] - truth.tth(np.array([row]), np.array([col - h]))[0]) / (2 * h)
    norm = float(np.hypot(g_r, g_c))
    return g_r / norm, g_c / norm


def off_ring_click(case: Case, ring: int, offset_px: float, rng: np.random.Generator) -> Click:
    """A click ``offset_px`` outside ``ring`` (towards higher 2θ), on a valid pixel, typed correctly."""
    _check_ring(case, ring)
    for _ in range(100):
        row, col = click_on_ring(case.truth, case.shape, case.dspacing, ring, rng, noise_px=0.0, invalid=case.invalid)
        d_r, d_c = _radial_direction(case.truth, row, col)
        row, col = row + offset_px * d_r, col + offset_px * d_c
        i, j = int(round(row)), int(round(col))
        if 0 <= i < case.shape[0] and 0 <= j < case.shape[1] and not case.invalid[i, j]:
            return Click(col, row, ring + 1)
    raise NotApplicable(f"no valid pixel {offset_px:g} px outside ring {ring + 1}")


def gap_click(case: Case, ring: int, rng: np.random.Generator) -> Click:
    """A click on a module-gap pixel that ring ``ring`` crosses (within about a pixel), typed correctly."""
    if not case.gaps.any():
        raise NotApplicable("the detector has no module gaps")
    tth = case.truth.center_array(case.shape, unit="2th_rad", scale=False)
    target = ring_tth(case.dspacing, np.array([ring]), case.truth.wavelength)[0]
    step = np.hypot(*np.gradient(tth))
    rows, cols = np.nonzero(case.gaps & (np.abs(tth - target) <= step))
    if len(rows) == 0:
        raise NotApplicable(f"ring {ring + 1} crosses no module gap")
    k = rng.integers(len(rows))
    return Click(float(cols[k]), float(rows[k]), ring + 1)


# -- what the user types -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One command line: the image, calibrant, wavelength/energy option and clicks the user gives."""

    image: str
    calibrant: str
    beam: tuple[str, str]  # ("--wavelength", Å) or ("--energy", keV)
    clicks: tuple[Click, ...]
    did: str  # what the simulated user did, for the detail list

    def argv(self, case: Case, output: Path) -> list[str]:
        clicks = [arg for c in self.clicks for arg in ("--click", c.arg())]
        return ["calibrate", self.image, "--calibrant", self.calibrant, *self.beam, *case.detector_args, *clicks,
                "-o", str(output), "--json"]


def _wavelength(case: Case, factor: float = 1.0) -> tuple[str, str]:
    return "--wavelength", repr(case.wavelength_a * factor)


def _energy(kev: float) -> tuple[str, str]:
    return "--energy", f"{kev:.6g}"


def true_energy_kev(case: Case) -> float:
    return HC_KEV_A / case.wavelength_a


def _plan(case: Case, clicks: list[Click], did: str, calibrant: str | None = None,
          beam: tuple[str, str] | None = None, image: str | None = None) -> Plan:
    """A command line that is right except for what the caller changes."""
    return Plan(image or case.image, calibrant or case.calibrant, beam or _wavelength(case), tuple(clicks), did)


def _describe(clicks: list[Click]) -> str:
    return "; ".join(f"({c.x:.1f}, {c.y:.1f}) typed {c.ring if c.ring is not None else 'nothing'}" for c in clicks)


def correct_click(case: Case, rng: np.random.Generator) -> Plan:
    ring = case.first_ring
    clicks = [click_at(case, ring, ring + 1, rng)]
    return _plan(case, clicks, f"ring {ring + 1} clicked: {_describe(clicks)}")


def no_click(case: Case, rng: np.random.Generator) -> Plan:
    return _plan(case, [], "no click: automatic")


def wrong_number(clicked: int, typed: int | None) -> Callable[[Case, np.random.Generator], Plan]:
    """Clicks ring ``clicked`` (counted from ring 1, 1-based) and types ``typed`` (None: nothing)."""

    def plan(case: Case, rng: np.random.Generator) -> Plan:
        ring = case.first_ring + clicked - 1
        number = None if typed is None else case.first_ring + typed
        clicks = [click_at(case, ring, number, rng)]
        return _plan(case, clicks, f"ring {ring + 1} clicked: {_describe(clicks)}")

    return plan


def wrong_beam(option: str, value: Callable[[Case], float]) -> Callable[[Case, np.random.Generator], Plan]:
    """A correct click, with ``option`` (--energy keV or --wavelength Å) set to ``value(case)``."""

    def plan(case: Case, rng: np.random.Generator) -> Plan:
        right = correct_click(case, rng)
        beam = (option, f"{value(case):.6g}")
        return _plan(case, list(right.clicks), f"{' '.join(beam)} (true {case.wavelength_a:.6g} Å, "
                     f"{true_energy_kev(case):.6g} keV); {right.did}", beam=beam)

    return plan


def wrong_calibrant(click: bool) -> Callable[[Case, np.random.Generator], Plan]:
    """The usual mix-up of calibrants, with the first ring clicked (numbered 1) or no click."""

    def plan(case: Case, rng: np.random.Generator) -> Plan:
        other = OTHER_CALIBRANT.get(case.calibrant, "CeO2")
        base = correct_click(case, rng) if click else no_click(case, rng)
        return _plan(case, list(base.clicks), f"--calibrant {other} (true {case.calibrant}); {base.did}",
                     calibrant=other)

    return plan


def click_in_gap(case: Case, rng: np.random.Generator) -> Plan:
    ring = case.first_ring
    clicks = [gap_click(case, ring, rng)]
    return _plan(case, clicks, f"gap pixel on ring {ring + 1}: {_describe(clicks)}")


def half_saturated(case: Case, rng: np.random.Generator) -> Plan:
    """Half of the image (the half where ring 1 has fewer pixels) at the full scale; a click on ring 1
    in the other half. Gaps keep their value; the file keeps the image's dtype."""
    ring = case.first_ring
    rows, cols = ring_pixels(case.truth, case.shape, case.dspacing, ring, case.invalid)
    right_half = np.zeros(case.shape, bool)
    right_half[:, case.shape[1] // 2:] = True
    left_good = np.count_nonzero(cols < case.shape[1] // 2) >= len(cols) / 2
    bad = right_half if left_good else ~right_half
    data = case.data.copy()
    data[bad & ~case.invalid] = case.saturation
    path = write_tif(case.workdir / f"{case.name}_half_saturated.tif", data)
    clicks = [click_at(case, ring, ring + 1, rng, invalid=case.invalid | bad)]
    side = "right" if left_good else "left"
    return _plan(case, clicks, f"{side} half at {case.saturation:g}; ring {ring + 1} clicked in the other half: "
                 f"{_describe(clicks)}", image=path)


def off_ring(offset_px: float) -> Callable[[Case, np.random.Generator], Plan]:
    def plan(case: Case, rng: np.random.Generator) -> Plan:
        ring = case.first_ring
        clicks = [off_ring_click(case, ring, offset_px, rng)]
        return _plan(case, clicks, f"{offset_px:g} px outside ring {ring + 1}: {_describe(clicks)}")

    return plan


def five_clicks_one_off(case: Case, rng: np.random.Generator) -> Plan:
    """Four clicks on ring 1 and a fifth 2.9 px off it, all typed 1 (an untyped click means the next ring)."""
    ring = case.first_ring
    clicks = [click_at(case, ring, ring + 1, rng) for _ in range(4)] + [off_ring_click(case, ring, 2.9, rng)]
    return _plan(case, clicks, f"ring {ring + 1}, last click 2.9 px off: {_describe(clicks)}")


@dataclass(frozen=True)
class Mistake:
    name: str
    label: str  # table column header
    description: str
    plan: Callable[[Case, np.random.Generator], Plan]
    control: bool = False  # correct inputs: anything but "right" is a false alarm
    strip: bool = False  # applies to the one-arc strip only (and nothing else does)


MISTAKES: list[Mistake] = [
    Mistake("none", "none", "correct inputs, ring 1 clicked and numbered", correct_click, control=True),
    Mistake("auto", "auto", "correct inputs, no click (automatic)", no_click, control=True),
    Mistake("ring2_typed1", "r2=1", "clicked ring 2, typed 1", wrong_number(2, 1)),
    Mistake("ring3_typed1", "r3=1", "clicked ring 3, typed 1", wrong_number(3, 1)),
    Mistake("ring1_typed2", "r1=2", "clicked ring 1, typed 2", wrong_number(1, 2)),
    Mistake("ring2_untyped", "r2=?", "clicked ring 2, typed no number (the CLI assumes 1)", wrong_number(2, None)),
    Mistake("energy_500keV", "500keV", "--energy 500 instead of the true energy", wrong_beam("--energy", lambda c: 500.0)),
    Mistake("wavelength_20pct", "λ+20%", "--wavelength 20 % too long", wrong_beam("--wavelength", lambda c: 1.2 * c.wavelength_a)),
    Mistake("energy_1pct", "E+1%", "--energy 1 % too high", wrong_beam("--energy", lambda c: 1.01 * true_energy_kev(c))),
    Mistake("calibrant_click", "cal+clk", "wrong calibrant (LaB6 ↔ CeO2), ring 1 clicked", wrong_calibrant(True)),
    Mistake("calibrant_auto", "cal-auto", "wrong calibrant (LaB6 ↔ CeO2), no click", wrong_calibrant(False)),
    Mistake("gap_click", "gap", "click in a module gap on ring 1, typed 1", click_in_gap),
    Mistake("half_saturated", "sat½", "half the image at the detector's full scale, ring 1 clicked in the good half",
            half_saturated),
    Mistake("off_2px", "off2", "click 2 px outside ring 1, typed 1", off_ring(2.0)),
    Mistake("off_4px", "off4", "click 4 px outside ring 1, typed 1", off_ring(4.0)),
    Mistake("off_8px", "off8", "click 8 px outside ring 1, typed 1", off_ring(8.0)),
    Mistake("five_clicks", "5clk", "five clicks on ring 1, one 2.9 px off, all typed 1", five_clicks_one_off),
    Mistake("strip_click", "strip", "one-arc strip: the arc clicked, typed 1", correct_click, strip=True),
    Mistake("strip_auto", "strip-a", "one-arc strip: no click", no_click, strip=True),
]

MISTAKES_BY_NAME = {m.name: m for m in MISTAKES}


def applies(mistake: Mistake, case: Case) -> bool:
    """The strip case gets the strip mistakes, every other case all the others."""
    return mistake.strip == case.strip
