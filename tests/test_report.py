"""Calibration reports: written atomically, read back, and saying what the diagnostics say."""

from __future__ import annotations

import base64
import re
from functools import lru_cache

import numpy as np
import pytest

from benchmarks.synthetic_cases import CASES_BY_NAME, dspacing_of, make_cached
from xcal.core.calibration import report
from xcal.core.calibration.diagnostics import diagnose, diagnose_session
from xcal.core.calibration.report import ReportInputs, geometry_table, report_format, write_report
from xcal.core.calibration.session import CalibrationSession
from xcal.core.errors import XcalError
from xcal.core.geometry.refinement import make_geometry, refine
from xcal.core.integration.integrator import Integrator
from xcal.core.io.images import Image
from xcal.peaks.ring_extraction import extract_rings

NAME = "CeO2_Pilatus1M_tilted"
PDF_PAGES = 5  # summary, residuals versus χ, residual map, cake, pattern


@lru_cache(maxsize=None)
def fitted():
    """(diagnostics of a fit, report inputs) on a synthetic image, once per worker."""
    image, truth, _ = make_cached(NAME)
    invalid, dspacing = image < 0, dspacing_of(CASES_BY_NAME[NAME].calibrant)
    points = extract_rings(image, invalid, truth, dspacing)
    fit = refine(make_geometry(truth, {"dist": truth.dist * 1.001}), points, dspacing)
    integrator = Integrator()
    cake = integrator.cake(image, fit.geometry, invalid, 500, 180)
    pattern = integrator.pattern(image, fit.geometry, invalid, 1000)
    inputs = ReportInputs(f"synthetic:{NAME}", "CeO2", dspacing, cake, pattern)
    return diagnose(fit, image, invalid, dspacing, cake=cake), inputs


def pdf_pages(data: bytes) -> int:
    """Page objects in a PDF (matplotlib writes page dictionaries uncompressed)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def test_html_report_holds_geometry_verdict_and_images(tmp_path):
    d, inputs = fitted()
    path = write_report(tmp_path / "report.html", inputs, d)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    g = d.geometry
    for number in (f"{g.dist * 1e3:.6g}", f"{g.poni1 * 1e3:.6g}", f"{np.degrees(g.rot1):.6g}", f"{g.wavelength * 1e10:.6g}"):
        assert number in text, f"geometry value {number} missing"
    assert f"±{d.sigma['dist'] * 1e3:.2g}" in text, "the distance has its 1σ"
    assert "GOOD" in text and d.verdict.reasons[0].split(";")[0] in text
    assert np.isfinite(d.straightness.rms_px) and f"{d.straightness.rms_px:.3f} px RMS" in text
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 5, "correlations + four plots, all embedded"
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert "src='http" not in text and 'src="http' not in text, "self-contained"
    for ring in d.rings[:3]:
        assert f"<td>{ring.ring + 1}</td>" in text and f"<td>{ring.count}</td>" in text


def test_pdf_report_is_a_pdf_with_one_page_per_part(tmp_path):
    d, inputs = fitted()
    data = write_report(tmp_path / "report.PDF", inputs, d).read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(data) == PDF_PAGES


@pytest.mark.parametrize("name", ["report.png", "report", "report.htm"])
def test_other_suffixes_are_refused(tmp_path, name):
    d, inputs = fitted()
    with pytest.raises(XcalError, match=r"\.html or \.pdf"):
        report_format(name)
    with pytest.raises(XcalError, match=name):
        write_report(tmp_path / name, inputs, d)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_report(tmp_path, monkeypatch):
    d, inputs = fitted()
    path = tmp_path / "report.html"
    path.write_text("old report")

    def broken(*_):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(report, "report_figures", broken)
    with pytest.raises(RuntimeError):
        write_report(path, inputs, d)
    assert path.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"], "no temporary file left behind"


def test_fit2d_uncertainties_match_sampling():
    """The propagated 1σ of the beam centre agrees with sampling the fit's covariance."""
    d, _ = fitted()
    rows = {name: (float(value), sigma) for name, value, sigma, _ in geometry_table(d)}
    free = d.correlations.free
    s = np.array([d.sigma[p] for p in free])
    cov = d.correlations.matrix * np.outer(s, s)
    rng = np.random.default_rng(0)
    xs = []
    for sample in rng.multivariate_normal(np.zeros(len(free)), cov, 400):
        g = make_geometry(d.geometry, {p: getattr(d.geometry, p) + v for p, v in zip(free, sample)})
        xs.append(g.getFit2D()["centerX"])
    sigma_x = float(rows["beam centre x"][1].lstrip("±"))
    assert sigma_x == pytest.approx(np.std(xs), rel=0.2)
    assert rows["wavelength"][1] == "fixed" and rows["rot 3"][1] == "fixed"


def test_report_from_a_session_with_a_loaded_geometry(tmp_path):
    name = "LaB6_Pilatus300k_short"
    case = CASES_BY_NAME[name]
    image, truth, _ = make_cached(name)
    session = CalibrationSession()
    session.set_image(Image(image, "lab6.tif", 0, 1))
    session.set_detector(case.detector)
    session.set_calibrant(case.calibrant)
    session.add_geometry("loaded", truth)
    d = diagnose_session(session)
    text = write_report(tmp_path / "r.html", session, d).read_text(encoding="utf-8")
    assert "lab6.tif" in text and "LaB6" in text
    assert "no fit, no uncertainties" in text


def test_a_geometry_that_finds_no_ring_is_bad_and_still_reported(tmp_path):
    """A blank image: no points, no cake lines; the verdict says so and the report is still written."""
    _, inputs = fitted()
    image, truth, _ = make_cached(NAME)
    blank = np.full(image.shape, 10.0, dtype=np.float32)
    d = diagnose(truth, blank, image < 0, inputs.dspacing)
    assert d.verdict.level == "bad" and "No calibrant ring" in d.verdict.reasons[0]
    assert d.n_points == 0 and np.isnan(d.straightness.rms_px) and np.isnan(d.residual_map.mean_px).all()
    assert pdf_pages(write_report(tmp_path / "blank.pdf", inputs, d).read_bytes()) == PDF_PAGES
