"""The batch on a Dask cluster (``xcal.core.beamtime.dask_batch``), against a local cluster this test starts:
the same files and numbers as on this machine's workers, a corrupt file reported, and clear
messages when the scheduler cannot be reached or the optional extra is missing."""

from __future__ import annotations

import builtins
import os
import signal
import sys
import time

import fabio
import numpy as np
import pytest
from pyFAI.detectors import detector_factory
from pyFAI.geometry import Geometry

from xcal.core.beamtime.batch import expand_sources, run_batch
from xcal.core.beamtime.batch_job import Recipe
from xcal.core.calibration.synthetic import ring_image
from xcal.core.errors import XcalError
from xcal.core.integration.integrator import IntegrationSettings
from xcal.core.io.calibrants import load_calibrant
from xcal.core.progress import Task

distributed = pytest.importorskip("distributed")
from xcal.core.beamtime.dask_batch import run_on_dask


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, like two cores of a remote machine."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local.scheduler_address


@pytest.fixture()
def files(tmp_path):
    g = Geometry(detector=detector_factory("Pilatus100k"), wavelength=0.3e-10, dist=0.1, poni1=0.017, poni2=0.04)
    image = ring_image(g, load_calibrant("CeO2"), g.detector.shape, fwhm_deg=0.08, noise=True, seed=4)
    folder = tmp_path / "data"
    folder.mkdir()
    for k in range(6):
        fabio.tifimage.TifImage(image * (k + 1)).write(str(folder / f"f_{k}.tif"))
    (folder / "f_3b.tif").write_bytes(b"II*\x00 broken")
    return g, folder


def test_dask_batch_matches_local_batch(cluster, files, tmp_path) -> None:
    g, folder = files
    items, _ = expand_sources([folder])
    settings = IntegrationSettings(npt=600, unit="q_A^-1")
    report = run_on_dask(items, Recipe(g, settings, tmp_path / "dask", ("xy", "dat")), cluster)
    assert len(report.done) == 6 and [r.item.stem for r in report.failed] == ["f_3b"]
    assert "f_3b.tif: cannot be read as an image" in report.failed[0].reason
    local = run_batch(items, Recipe(g, settings, tmp_path / "local", ("xy", "dat")), workers=1)
    for k in range(6):
        a = np.loadtxt(tmp_path / "dask" / f"f_{k}.dat")
        b = np.loadtxt(tmp_path / "local" / f"f_{k}.dat")
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert len(local.done) == 6
    again = run_on_dask(items, Recipe(g, settings, tmp_path / "dask", ("xy", "dat")), cluster)
    assert len(again.skipped) == 6 and len(again.failed) == 1  # nothing overwritten


def test_cli_on_the_cluster(cluster, files, tmp_path, capsys) -> None:
    from xcal.cli import main
    from xcal.core.io.poni import write_poni

    g, folder = files
    write_poni(tmp_path / "g.poni", g)
    rc = main(["integrate", str(folder), "--poni", str(tmp_path / "g.poni"), "--dask", cluster, "-o", str(tmp_path / "o"),
               "--glob", "f_[0-2].tif"])
    out = capsys.readouterr().out
    assert rc == 0 and "Integrated 3, skipped 0, failed 0" in out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["f_0.xy", "f_1.xy", "f_2.xy"]


def test_unreachable_scheduler_is_one_clear_error(files, tmp_path) -> None:
    g, folder = files
    items, _ = expand_sources([folder])
    with pytest.raises(XcalError, match=r"Cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_on_dask(items, Recipe(g, IntegrationSettings(), tmp_path / "out"), "tcp://127.0.0.1:9", timeout_s=1)


def test_missing_extra_names_the_install(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed":
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(XcalError, match=r"pip install 'xcal\[dask\]'"):
        run_on_dask([], None, "tcp://nowhere:8786")


@pytest.mark.parametrize("victims", ["the busiest worker", "every worker"])
def test_workers_killed_mid_run_cost_no_frame(cluster, files, tmp_path, victims) -> None:
    """The frames of a killed worker are computed again elsewhere (Dask lost their results); their
    files, written in this run, make the second try a skip: they count as integrated all the same.
    With every worker killed, Dask cancels them instead (the scattered recipe is lost): sent again."""
    g, folder = files
    items = [i for i in expand_sources([folder])[0] if i.stem != "f_3b"]
    out = tmp_path / "out"
    killed = []
    with distributed.Client(cluster, set_as_default=False) as admin:
        admin.wait_for_workers(2)

        def progress(fraction: float, message: str) -> None:
            if killed or fraction == 0:  # after the first result
                return
            for _ in range(1500):  # every frame written (30 s at most), most results not yet received
                if all((out / f"{i.stem}.xy").exists() for i in items):
                    break
                time.sleep(0.02)
            held = admin.has_what()
            workers = [max(held, key=lambda address: len(held[address]))] if victims != "every worker" else None
            killed.extend(admin.run(os.getpid, workers=workers).values())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

        report = run_on_dask(items, Recipe(g, IntegrationSettings(npt=300), out), cluster, Task(progress))
    assert killed
    assert len(report.done) == len(items) and not report.skipped and not report.failed, report.summary()
