"""Does the image back this calibration? Ring numbers, wavelength, calibrant, what the data determine.

A least-squares fit always returns a geometry, and a wrong input (a mistyped ring number, a wrong
energy or calibrant) is absorbed by the distance and the tilts: the fit stays self-consistent and
its RMS can look fine. What the fit cannot change is the image. The tilt-corrected radial profile
(``peaks.ring_profile``) shows every ring whatever the geometry calls it; the ratios of the ring
radii say which calibrant lines they are, independently of the distance, and at which wavelength.
Each check below compares the calibration with that evidence and either confirms it, corrects it
(the ring numbers, stated plainly), or turns the verdict to *check* or *bad* with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from pyFAI.geometry import Geometry
from scipy.optimize import least_squares

from ...peaks.ring_profile import RingProfile, ring_profile
from ..errors import Cancelled, FitError, XcalError
from ..geometry.conics import fit_circle
from ..geometry.refinement import ControlPoints, FitResult, beam_centre_sigma_px, make_geometry, refine
from ..io.calibrants import list_calibrants, load_calibrant
from ..progress import Task, ensure_task
from .diagnostics import LEVELS, diagnose_points
from .pipeline import CalibrationResult, RefineOptions, thin_points
from .ring_indexing import Indexing, agreement, coincidence, index_rings, line_tangents, score_distance

HC_KEV_A = 12.398419843320026
PROFILE_TOLERANCE = 0.008  # relative radius agreement of a profile peak with a line (tilt-corrected radii)
MAX_SHIFT = 3  # ring-number shifts tried against the typed numbering
SAME_NUMBERS_REL = 0.03  # distances closer than this with the main ring's number unchanged: same numbering
SCORE_MARGIN = 1.5  # an alternative numbering must explain this much more ring strength to replace the typed one
EXPLAINED_OK = 0.8  # a numbering explaining this fraction of the rings' strength accounts for the image
ACCOUNTS_FOR_ALL = 0.97  # a numbering this complete leaves no room for a better one
CHECK_POINTS = 3000  # points of the wavelength check fit (the same fraction from every ring)
ASTRAY_MARGIN = 0.2  # a calibration accounting for this much less than a fresh numbering has gone astray
MIN_PEAKS = 3  # profile peaks needed before the calibrant or the wavelength can be judged from it
GROSS_WAVELENGTH_REL = 0.01  # a wavelength this far off is a wrong input, not a calibration detail
# A fitted wavelength must differ by more than this (and 3σ) to be reported: at the right energy,
# real detectors (parallax in thick sensors at high energy, flatness) move it by up to 0.65 %
# (dls2021 at 100 keV), more than the statistical σ says; a 1 % error stands out on every image
# that can tell it at all.
WAVELENGTH_MIN_REL = 0.0075
WAVELENGTH_UNDETERMINED_REL = 0.01  # σ(λ)/λ above this: one image cannot tell the wavelength
# A free-λ fit this far off that the ring spacing does not confirm has wandered along distance × λ
# (a local minimum); closer, the spacing cannot tell, and the fit's own answer stands as a warning.
WANDER_REL = 0.03
CENTRE_SIGMA_PX, DIST_SIGMA_REL, TILT_SIGMA_DEG = 1.0, 0.01, 1.0  # beyond these a parameter is not determined


@dataclass
class WavelengthCheck:
    """The wavelength the rings themselves prefer (λ free in a check fit), against the given one."""

    given: float  # metres
    fitted: float | None  # metres; None where the rings cannot tell
    sigma: float | None
    status: str  # "agrees", "differs", "wrong" (cannot index the rings), "undetermined", "refined"
    message: str

    def as_dict(self) -> dict:
        def a(x):
            return None if x is None else x * 1e10
        return {"given_A": a(self.given), "fitted_A": a(self.fitted), "sigma_A": a(self.sigma), "status": self.status,
                "message": self.message}


@dataclass
class Correction:
    """Something xcal changed on its own, said plainly; ``ring_shift`` can be undone by the user."""

    kind: str  # "ring numbers", "dropped click", "saturated pixels", "dead pixels", "fixed tilts"
    message: str
    ring_shift: int = 0  # for "ring numbers": added to every typed ring number


@dataclass
class TrustReport:
    """One verdict for a calibration: level, reasons worst first, corrections made, the checks' findings."""

    level: str  # "good", "check" or "bad"
    reasons: list[str]
    corrections: list[Correction] = field(default_factory=list)
    wavelength: WavelengthCheck | None = None
    matching_calibrants: list[str] = field(default_factory=list)
    graded: list[tuple[int, str]] = field(default_factory=list)  # every finding with its level (0 good, 1 check, 2 bad)

    @property
    def text(self) -> str:
        return f"{self.level.upper()}: " + " ".join(self.reasons)

    @property
    def ring_shift(self) -> int:
        return sum(c.ring_shift for c in self.corrections)

    def as_dict(self) -> dict:
        return {"level": self.level, "reasons": list(self.reasons), "text": self.text,
                "corrections": [c.message for c in self.corrections],
                "wavelength_check": None if self.wavelength is None else self.wavelength.as_dict(),
                "matching_calibrants": list(self.matching_calibrants)}


@dataclass
class _Finding:
    level: int  # 0 good (information), 1 check, 2 bad
    text: str


def _kev(wavelength: float) -> float:
    return HC_KEV_A / (wavelength * 1e10)


# -- ring numbers -----------------------------------------------------------------------------------


@dataclass
class NumberingCheck:
    typed: Indexing | None  # the numbering the calibration used, scored on the profile
    best: Indexing | None  # the best numbering the profile allows
    shift: int  # ring-number shift that turns the typed numbering into ``best`` (0: none, or not a shift)

    @property
    def contradicted(self) -> bool:
        """The image numbers its rings otherwise: a better numbering gives some ring another line.

        A better score for the same main ring's number at a distance a few per cent off is a
        geometry a little off (sub-panels of a detector at different heights split the rings), not
        wrong numbers.
        """
        if self.best is None:
            return False
        if self.typed is None:
            return self.best.matched >= 2
        if not self.shift and abs(self.best.distance / self.typed.distance - 1) < SAME_NUMBERS_REL:
            return False  # the same lines a little further or nearer: a detector that is not one flat plane
        return self.best.score > self.typed.score + SCORE_MARGIN and self.best.matched >= self.typed.matched


def check_numbering(profile: RingProfile, geometry: Geometry, dspacing: np.ndarray, main_ring: int | None) -> NumberingCheck:
    """Score the calibration's numbering on the image's rings against shifts of ±1…±3 and free indexing.

    Under the calibrated geometry a profile peak at ρ has tan 2θ = ρ·pixel / D. A numbering shifted
    by ``s`` puts the main picked ring on line ``main_ring + s``, i.e. the same rings at a distance
    D·tan 2θ(main + s) / tan 2θ(main); each hypothesis is scored by how many rings it explains and
    how many lines it predicts where the image shows none.
    """
    if len(profile) == 0:
        return NumberingCheck(None, None, 0)
    radii, snr = profile.radii, profile.snr
    tan_tth, ok = line_tangents(dspacing, geometry.wavelength)
    typed = score_distance(radii, snr, profile.pixel, tan_tth, ok, geometry.dist, PROFILE_TOLERANCE)
    best, best_shift = typed, 0
    if main_ring is not None and np.isfinite(tan_tth[main_ring]):
        for shift in [s for k in range(1, MAX_SHIFT + 1) for s in (k, -k)]:
            line = main_ring + shift
            if line < 0 or line >= len(tan_tth) or not np.isfinite(tan_tth[line]):
                continue
            distance = geometry.dist * tan_tth[main_ring] / tan_tth[line]
            found = score_distance(radii, snr, profile.pixel, tan_tth, ok, distance, PROFILE_TOLERANCE, refit=True)
            if found is not None and (best is None or found.score > best.score):
                best, best_shift = found, shift
    if typed is not None and agreement(typed, snr) >= ACCOUNTS_FOR_ALL:
        return NumberingCheck(typed, best, best_shift)  # every ring on a line, none missing: nothing can do better
    free = index_rings(radii, snr, profile.pixel, dspacing, geometry.wavelength, keep=1, rel_tolerance=PROFILE_TOLERANCE)
    if free and (best is None or free[0].score > best.score + 1e-9):
        best, best_shift = free[0], _shift_for(free[0], profile, geometry, tan_tth, main_ring)
    return NumberingCheck(typed, best, best_shift)


def _shift_for(best: Indexing, profile: RingProfile, geometry: Geometry, tan_tth: np.ndarray, main_ring: int | None) -> int:
    """The shift of the main ring's number that ``best`` implies: the line it gives the profile ring
    nearest to where the calibration put the main ring (0: none). A guess; the recalibration decides."""
    if main_ring is None or not np.isfinite(tan_tth[main_ring]):
        return 0
    expected = geometry.dist * tan_tth[main_ring] / profile.pixel
    k = int(np.argmin(np.abs(profile.radii - expected)))
    return int(best.lines[k] - main_ring) if best.lines[k] >= 0 else 0


# -- calibrant and wavelength from the profile --------------------------------------------------------------


def _agreement_at(profile: RingProfile, dspacing: np.ndarray, wavelength: float) -> tuple[float, Indexing | None]:
    """How well the best numbering of the profile's rings with these lines accounts for them (see ``agreement``)."""
    best = index_rings(profile.radii, profile.snr, profile.pixel, dspacing, wavelength, keep=1, rel_tolerance=2 * PROFILE_TOLERANCE)
    if not best:
        return 0.0, None
    return agreement(best[0], profile.snr), best[0]


def best_wavelength(profile: RingProfile, dspacing: np.ndarray, given: float) -> tuple[float, float] | None:
    """(wavelength, agreement) that best accounts for the profile's rings, from given/25 to given·25.

    Ring ratios depend on the wavelength only through the curvature of tan 2θ(1/d), and the inner
    rings number alike at any wavelength: the innermost ring numbered at the given wavelength
    (or its neighbour line) anchors the distance for every trial wavelength of a log grid, each
    scored by how well it accounts for all rings; distance and wavelength fitted to the winner's
    numbered rings give the value. None where no numbering accounts for the rings, or the rings
    cannot tell the wavelength (small angles).
    """
    d = np.asarray(dspacing, float)
    _, start = _agreement_at(profile, d, given)
    if start is None or not (start.lines >= 0).any():
        return None
    k0 = int(np.flatnonzero(start.lines >= 0)[0])
    grid = given * np.exp(np.arange(np.log(1 / 25), np.log(25), 0.01))
    best: tuple[float, Indexing] | None = None
    for line in (start.lines[k0], start.lines[k0] - 1, start.lines[k0] + 1):
        if line < 0:
            continue
        for lam in grid:
            tan_tth, ok = line_tangents(d, lam)
            if line not in ok:
                continue
            distance = profile.radii[k0] * profile.pixel / tan_tth[line]
            found = score_distance(profile.radii, profile.snr, profile.pixel, tan_tth, ok, distance, 2 * PROFILE_TOLERANCE, refit=True)
            if found is not None and (best is None or agreement(found, profile.snr) > agreement(best[1], profile.snr)):
                best = (float(lam), found)
        if best is not None and agreement(best[1], profile.snr) >= EXPLAINED_OK:
            break
    if best is None:
        return None
    fitted = _fit_wavelength(profile, d, best[1], best[0])
    if fitted is None:
        return None
    return fitted, _agreement_at(profile, d, fitted)[0]


def _fit_wavelength(profile: RingProfile, d: np.ndarray, indexing: Indexing, lam: float) -> float | None:
    """Distance and wavelength fitted to the numbered rings' radii; None where that leaves λ undetermined."""
    sel = indexing.lines >= 0
    if sel.sum() < 3:
        return None
    rho, lines = profile.radii[sel] * profile.pixel, indexing.lines[sel]

    def residual(x):
        return x[0] * np.tan(2 * np.arcsin(np.clip(x[1] / (2 * d[lines]), 0, 0.999))) / rho - 1.0

    x0 = np.array([indexing.distance, lam * 1e10])
    sol = least_squares(residual, x0, x_scale=x0 * 1e-3, bounds=([1e-3, x0[1] / 30], [50.0, x0[1] * 30]))
    jac = sol.jac
    try:
        var = np.linalg.inv(jac.T @ jac)[1, 1] * 2 * sol.cost / max(len(rho) - 2, 1)
    except np.linalg.LinAlgError:
        return None
    if not sol.success or not np.sqrt(var) < WAVELENGTH_UNDETERMINED_REL * sol.x[1]:
        return None
    return float(sol.x[1]) * 1e-10


def matching_calibrants(profile: RingProfile, wavelength: float, exclude: str | None) -> list[str]:
    """Calibrants (xcal's and the user's) whose lines account for the profile's rings at this wavelength."""
    found = []
    for name in list_calibrants():
        if exclude and name.lower() == exclude.lower():
            continue
        try:
            dspacing = np.asarray(load_calibrant(name).dspacing, float)
        except XcalError:
            continue
        tan_tth = line_tangents(dspacing, wavelength)[0]
        if coincidence(profile.radii, profile.snr, tan_tth, PROFILE_TOLERANCE) < EXPLAINED_OK:
            continue
        score, indexing = _agreement_at(profile, dspacing, wavelength)
        if indexing is not None and score >= EXPLAINED_OK and indexing.matched >= MIN_PEAKS:
            found.append((score, name))
    return [name for _, name in sorted(found, reverse=True)]


def _strong(profile: RingProfile) -> RingProfile:
    """The profile's clear rings only: the strongest peaks and those within 1/8 of the strongest."""
    if len(profile) == 0:
        return profile
    keep = profile.snr >= max(np.sort(profile.snr)[::-1][: 30][-1], profile.snr.max() / 8.0)
    return RingProfile(profile.radii[keep], profile.snr[keep], profile.pixel)


def check_wavelength_fit(fit: FitResult, dspacing: np.ndarray, fix: tuple[str, ...]) -> WavelengthCheck:
    """λ free in a check fit on the calibration's own points: what the rings say of the wavelength."""
    given = fit.geometry.wavelength
    if "wavelength" in fit.free:
        sigma = fit.sigma.get("wavelength")
        return WavelengthCheck(given, given, sigma, "refined",
                               f"The wavelength was refined: {given * 1e10:.5f} ± {_fmt_sigma(sigma)} Å ({_kev(given):.3f} keV).")
    try:
        check = refine(fit.geometry, thin_points(fit.points, CHECK_POINTS), dspacing, tuple(p for p in fix if p != "wavelength"),
                       accept_iteration_limit=True)
    except FitError:
        return WavelengthCheck(given, None, None, "undetermined", "The rings cannot determine the wavelength on their own.")
    lam, sigma = check.geometry.wavelength, check.sigma.get("wavelength", float("inf"))
    if not np.isfinite(sigma) or sigma > WAVELENGTH_UNDETERMINED_REL * given:
        return WavelengthCheck(given, lam, sigma, "undetermined",
                               f"One image cannot tell the wavelength here (the rings give ±{_fmt_sigma(sigma)} Å, "
                               f"{100 * sigma / given:.2g} %): the given {given * 1e10:.5f} Å was used; calibrate several "
                               "distances together to measure it.")
    delta = lam / given - 1.0
    if abs(lam - given) > 3 * sigma and abs(delta) > WAVELENGTH_MIN_REL:
        return WavelengthCheck(given, lam, sigma, "differs",
                               f"The rings fit λ = {lam * 1e10:.5f} ± {_fmt_sigma(sigma)} Å ({_kev(lam):.3f} keV) better than the "
                               f"given {given * 1e10:.5f} Å ({_kev(given):.3f} keV), {100 * delta:+.2f} %: check the energy "
                               "(or the detector's pixel size); a wrong wavelength moves the distance by as much.")
    return WavelengthCheck(given, lam, sigma, "agrees",
                           f"The rings agree with the given wavelength: free, they give {lam * 1e10:.5f} ± {_fmt_sigma(sigma)} Å.")


def _fmt_sigma(sigma: float | None) -> str:
    return "?" if sigma is None or not np.isfinite(sigma) else f"{sigma * 1e10:.2g}"


# -- what the data determine ---------------------------------------------------------------------------


def undetermined(fit: FitResult) -> list[str]:
    """Free parameters whose 1σ exceeds what any later use could live with, described."""
    out = []
    centre = beam_centre_sigma_px(fit.geometry, fit.free, fit.sigma, fit.correlation)
    if not centre <= CENTRE_SIGMA_PX:
        out.append(f"beam centre ±{centre:.3g} px")
    s = fit.sigma.get("dist")
    if s is not None and not s <= DIST_SIGMA_REL * fit.geometry.dist:
        out.append(f"distance ±{100 * s / fit.geometry.dist:.3g} %")
    for name in ("rot1", "rot2"):
        s = fit.sigma.get(name)
        if s is not None and not s <= np.deg2rad(TILT_SIGMA_DEG):
            out.append(f"{name} ±{np.degrees(s):.3g}°")
    return out


# -- the whole check -----------------------------------------------------------------------------------------


def check_calibration(
    data: np.ndarray,
    invalid: np.ndarray | None,
    dspacing: np.ndarray,
    result: CalibrationResult,
    options: RefineOptions | None = None,
    calibrant: str | None = None,
    picks: ControlPoints | None = None,
    recalibrate: Callable[[int], CalibrationResult] | None = None,
    notes: list[Correction] | None = None,
    task: Task | None = None,
) -> tuple[CalibrationResult, TrustReport]:
    """Check ``result`` against the image; returns the result to keep (ring numbers corrected) and the verdict.

    :param picks: the user's picks with their typed ring numbers (None: no numbers typed); the ring
        with most points is the main ring, whose number the check may shift.
    :param recalibrate: runs the calibration again with every typed ring number shifted by the given
        amount; used when the image says the typed numbers are off.
    :param notes: corrections already made before the fit (dropped clicks, saturated pixels).
    """
    opts = options or RefineOptions()
    task = ensure_task(task)
    task.report(0.0, "Checking the calibration against the image")
    dspacing = np.asarray(dspacing, float)
    main_ring = int(np.bincount(picks.rings).argmax()) if picks is not None and len(picks) else None
    findings: list[_Finding] = []
    corrections = list(notes or [])
    geometry = result.geometry
    given = geometry.wavelength
    profile = _evidence(data, invalid, result, dspacing, picks)
    matches: list[str] = []
    wavelength: WavelengthCheck | None = None

    # 1. Ring numbers: the typed ones against what the ring spacing says.
    numbering = check_numbering(profile, geometry, dspacing, main_ring) if len(profile) >= 2 else None
    task.check()
    if numbering is not None and numbering.contradicted and numbering.shift and recalibrate is not None:
        task.report(0.2, "Trying the ring numbers the image suggests")
        result, corrected = _try_shift(data, invalid, dspacing, result, numbering, main_ring, recalibrate)
        if corrected is not None:
            corrections.append(corrected)
            geometry = result.geometry
            profile = _evidence(data, invalid, result, dspacing, picks)
            numbering = check_numbering(profile, geometry, dspacing, main_ring + corrected.ring_shift)

    # 2. Calibrant and gross wavelength: does this calibration account for the rings on the image?
    task.check()
    task.report(0.6, "Checking the calibrant and the wavelength")
    fraction = accounted(profile, geometry, dspacing)
    inputs_ok = True
    if len(profile) >= MIN_PEAKS and fraction < EXPLAINED_OK:
        contradicted = numbering is not None and numbering.contradicted
        inputs_ok, wavelength, matches = _explain_rings(profile, dspacing, given, calibrant, fraction, findings, contradicted)
    if inputs_ok and numbering is not None and numbering.contradicted:
        findings.append(_Finding(2, _numbering_message(numbering, geometry, main_ring)))
    elif len(profile) < 2 and len(result.fit.rings) >= 3:
        # the same rings averaged about the right centre stand out even when faint or spotty
        findings.append(_Finding(2, "The rings do not line up about this calibration's beam centre (averaged around it "
                                    "they show no clear ring): the fit went astray, most often from a ring traced wrongly "
                                    "from the click. Pick the ring again, or pick another ring."))
    elif len(profile) < 2 and main_ring is not None:
        findings.append(_Finding(1, f"Only one ring shows: its number ({main_ring + 1}) and the wavelength alone set the "
                                    "distance, and the image cannot check them."))

    # 3. What the data determine.
    task.check()
    fit = result.fit
    loose = undetermined(fit)
    loose = loose if inputs_ok else []  # wrong inputs come first; what they leave undetermined says nothing
    if loose and {"rot1", "rot2"} <= set(fit.free):
        fixed = _with_tilts_fixed(fit, dspacing, opts)
        if fixed is not None:
            result = CalibrationResult(fixed, result.history + [fixed.geometry], result.iterations, result.picks, result.warnings)
            fit, loose = fixed, undetermined(fixed)
            corrections.append(Correction("fixed tilts", "The rings are too short or too few to determine the tilts: "
                                                         "they were fixed at 0 (rot1 = rot2 = 0)."))
            findings.append(_Finding(1, "The tilts were fixed at 0: the image cannot determine them."))
    if loose:
        findings.append(_Finding(2, "The image does not determine the geometry (" + ", ".join(loose) + "): one arc or one short "
                                    "ring cannot fix distance, centre and tilt together. Calibrate a series of images, or "
                                    "start from a known geometry (--poni) and fix what the image cannot show."))

    # 4. The wavelength, finely, where the rest holds.
    if wavelength is None and inputs_ok and not loose:
        wavelength = check_wavelength_fit(fit, dspacing, tuple(opts.fix))
        if wavelength.status == "differs" and abs(wavelength.fitted / given - 1) > GROSS_WAVELENGTH_REL:
            # a fit that moved far from the given value may sit in a local minimum: ask the rings directly
            found = best_wavelength(profile, dspacing, given)
            if found is not None and _better_wavelength(found, given, _agreement_at(profile, dspacing, given)[0]):
                wavelength = _wrong_wavelength(given, found[0], calibrant)
                findings.append(_Finding(2, wavelength.message))
            elif abs(wavelength.fitted / given - 1) > WANDER_REL:  # not confirmed by the spacing: a wander
                wavelength = WavelengthCheck(given, None, wavelength.sigma, "undetermined",
                                             f"The rings cannot pin the wavelength here: freed, the fit wanders to "
                                             f"{wavelength.fitted * 1e10:.4f} Å, which their spacing does not confirm; "
                                             f"the given {given * 1e10:.5f} Å was used.")
        if wavelength.status == "differs":
            findings.append(_Finding(1, wavelength.message))

    # 5. The fit's own diagnostics (residual shapes), without the display cake.
    diagnosis = diagnose_points(fit, dspacing, data.shape, result.warnings).verdict
    findings += [_Finding(LEVELS.index(diagnosis.level), text) for text in diagnosis.reasons]
    report = _report(findings, corrections, wavelength, matches)
    if not result.settled and report.level != "bad":  # only then is another pass worth the user's click
        report.reasons.append("The refinement had not settled: press Refine again.")
    return result, report


def accounted(profile: RingProfile, geometry: Geometry, dspacing: np.ndarray) -> float:
    """How well ``geometry`` accounts for the profile's rings (``agreement`` of the numbering it implies).

    Features inside the first calibrant line (beamstop edges, the direct beam's tail, air
    scatter) are no calibrant ring under any numbering this geometry makes, and do not count.
    """
    tan_tth, ok = line_tangents(dspacing, geometry.wavelength)
    if len(profile) == 0 or len(ok) == 0:
        return 0.0
    inner = 0.9 * geometry.dist * tan_tth[ok].min() / profile.pixel
    beyond = profile.radii >= inner
    if not beyond.any():
        return 0.0
    radii, snr = profile.radii[beyond], profile.snr[beyond]
    typed = score_distance(radii, snr, profile.pixel, tan_tth, ok, geometry.dist, PROFILE_TOLERANCE)
    return agreement(typed, snr) if typed is not None else 0.0


def _evidence(data: np.ndarray, invalid: np.ndarray | None, result: CalibrationResult, dspacing: np.ndarray,
              picks: ControlPoints | None) -> RingProfile:
    """The image's rings as a profile about the calibrated geometry, or a sharper one if that is poor.

    A geometry gone astray (wrong numbers, wrong calibrant) blurs the profile it is judged on, so
    where its own profile does not account for the rings, the first guess and an untilted circle
    through the picked (else the best-fitted) ring are tried too, and the sharpest profile (most
    ring signal) is the evidence.
    """
    profile = _strong(ring_profile(data, invalid, result.geometry))
    if accounted(profile, result.geometry, dspacing) >= EXPLAINED_OK:
        return profile
    points = picks if picks is not None and len(picks) >= 3 else result.fit.points
    others = [_strong(ring_profile(data, invalid, g)) for g in (result.history[0], _untilted(result.geometry, points))]
    return max([profile, *others], key=lambda p: float(p.snr.sum()))


def _untilted(geometry: Geometry, points: ControlPoints) -> Geometry:
    """An untilted geometry centred on the circle through the ring with most points: a profile free
    of any tilt or ring number a fit assumed."""
    sel = points.rings == np.bincount(points.rings).argmax()
    try:
        circle = fit_circle(points.rows[sel], points.cols[sel])
    except ValueError:
        return geometry
    detector = geometry.detector
    return make_geometry(geometry, {"poni1": (circle.row + 0.5) * detector.pixel1, "poni2": (circle.col + 0.5) * detector.pixel2,
                                    "rot1": 0.0, "rot2": 0.0, "rot3": 0.0})


def _explain_rings(profile: RingProfile, dspacing: np.ndarray, given: float, calibrant: str | None, fraction: float,
                   findings: list[_Finding], numbering_contradicted: bool) -> tuple[bool, WavelengthCheck | None, list[str]]:
    """Why the calibration leaves rings unexplained: the wavelength, the calibrant, or neither (all bad).

    Returns whether the inputs still stand (the numbering alone may be at fault), the wavelength
    finding and the calibrants that match.
    """
    name = calibrant or "the calibrant"
    at_given, _ = _agreement_at(profile, dspacing, given)
    grown = best_wavelength(profile, dspacing, given)
    if grown is not None and _better_wavelength(grown, given, at_given):
        check = _wrong_wavelength(given, grown[0], calibrant)
        findings.append(_Finding(2, check.message))
        return False, check, []
    if at_given >= EXPLAINED_OK:  # the calibrant's lines fit the rings at this wavelength, numbered afresh
        if fraction < at_given - ASTRAY_MARGIN and not numbering_contradicted:  # else the numbers say why
            findings.append(_Finding(2, f"This calibration accounts for only {100 * fraction:.0f} % of the rings on the image, "
                                        f"although {name}'s lines fit {100 * at_given:.0f} % of them: the fit went astray (a "
                                        "click off its ring, wrong ring numbers, or a start far off). Pick the ring again, or "
                                        "pick a second ring."))
        return True, None, []
    matches = matching_calibrants(profile, given, calibrant)
    if matches:
        findings.append(_Finding(2, f"The rings on the image do not match {name}'s lines at {given * 1e10:.5f} Å "
                                    f"({100 * max(fraction, at_given):.0f} % of their strength explained); they match "
                                    f"{', '.join(matches[:5])}: choose the right calibrant."))
        return False, None, matches
    findings.append(_Finding(1, f"{name}'s lines account for only {100 * max(fraction, at_given):.0f} % of the rings on the "
                                "image, and no other calibrant, wavelength or numbering does better: other phases, a "
                                "sample's rings or detector edges? Check the cake."))
    return True, None, []


def _better_wavelength(found: tuple[float, float], given: float, at_given: float) -> bool:
    """Whether a wavelength found on the rings is a clearly better account of them than the given one:
    it accounts for them (or for far more of them than the given one) and differs grossly."""
    lam, score = found
    clearly = score >= EXPLAINED_OK and score > at_given + 0.05 or score >= 0.65 and score > at_given + 0.15
    return bool(clearly and abs(lam / given - 1) > GROSS_WAVELENGTH_REL)


def _wrong_wavelength(given: float, lam: float, calibrant: str | None) -> WavelengthCheck:
    return WavelengthCheck(given, lam, None, "wrong",
                           f"The rings cannot be indexed at the given wavelength {given * 1e10:.5f} Å ({_kev(given):.3f} keV): "
                           f"they fit {calibrant or 'the calibrant'}'s lines at λ ≈ {lam * 1e10:.4f} Å ({_kev(lam):.3f} keV). "
                           "Check the energy.")


def _try_shift(data, invalid, dspacing, result: CalibrationResult, numbering: NumberingCheck, main_ring: int,
               recalibrate: Callable[[int], CalibrationResult]) -> tuple[CalibrationResult, Correction | None]:
    """Calibrate with the numbers the image suggests; keep it if it explains the image clearly better."""
    shift = numbering.shift
    try:
        other = recalibrate(shift)
    except Cancelled:
        raise
    except XcalError:  # the shifted numbers cannot even be fitted: the typed ones stand
        return result, None
    profile = _strong(ring_profile(data, invalid, other.geometry))
    again = check_numbering(profile, other.geometry, dspacing, main_ring + shift)
    if again.contradicted or again.typed is None or numbering.typed is not None and again.typed.score < numbering.typed.score + SCORE_MARGIN:
        return result, None
    typed, used = main_ring + 1, main_ring + shift + 1
    message = (f"You clicked ring {used} but typed {typed}: ring {used} was used (every typed number moved by {shift:+d}); "
               f"the ring spacing on the image says so ({again.typed.matched} rings fit the calibrant's lines with it).")
    return other, Correction("ring numbers", message, shift)


def _numbering_message(numbering: NumberingCheck, geometry: Geometry, main_ring: int | None) -> str:
    best = numbering.best
    assert best is not None
    where = ""
    if main_ring is not None and numbering.shift:
        where = f" The ring numbered {main_ring + 1} looks like ring {main_ring + numbering.shift + 1}."
    return (f"The ring spacing on the image contradicts this calibration's ring numbers: numbered otherwise, "
            f"{best.matched} rings fit at {best.distance * 1e3:.1f} mm instead of {geometry.dist * 1e3:.1f} mm.{where} "
            "Check the ring numbers (and the calibrant).")


def _with_tilts_fixed(fit: FitResult, dspacing: np.ndarray, opts: RefineOptions) -> FitResult | None:
    """The fit again with rot1 = rot2 = 0 held, if that determines the rest."""
    start = make_geometry(fit.geometry, {"rot1": 0.0, "rot2": 0.0})
    try:
        fixed = refine(start, fit.points, dspacing, tuple(set(opts.fix) | {"rot1", "rot2"}), accept_iteration_limit=True)
    except FitError:
        return None
    if undetermined(fixed) or fixed.rms_px > max(2.0 * fit.rms_px, 0.5):
        return None
    return fixed


def _report(findings: list[_Finding], corrections: list[Correction], wavelength: WavelengthCheck | None,
            matches: list[str]) -> TrustReport:
    serious = sorted((f for f in findings if f.level > 0), key=lambda f: -f.level)
    if serious:
        level = LEVELS[serious[0].level]
        reasons = [f.text for f in serious]
    else:
        level = "good"
        reasons = [f.text for f in findings if f.level == 0][:1] or ["The calibration agrees with the image."]
    if corrections and level == "good":
        reasons = reasons + [c.message for c in corrections]
    if wavelength is not None and wavelength.status == "undetermined" and level != "good":
        reasons = reasons + [wavelength.message]  # a wrong energy may be what the other findings show
    graded = [(f.level, f.text) for f in findings] + [(0, c.message) for c in corrections]
    return TrustReport(level, _unique(reasons), corrections, wavelength, matches, graded)


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in items if not (x in seen or seen.add(x))]
