"""Installation: Qt only with the gui extra, and the application says what is missing instead of failing.

The command line and the Python API are run here with PyQt5 and pyqtgraph made unimportable (a
meta-path finder that refuses them), as after ``pip install xcal`` without the extra. The
system-library check is tested against the real xcb plugin of the installed PyQt5 wheel: what
``ldd`` reports missing is what the dynamic loader fails on, and every system library Qt links
has its Debian package in the table the README's apt-get line is checked against.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import fabio
import numpy as np
import pytest
from pyFAI.detectors import Detector

from xcal.core.geometry.refinement import new_geometry
from xcal.core.io.poni import write_poni
from xcal.gui import system_check
from xcal.gui.system_check import (
    DEPENDENCY_PACKAGES,
    GUI_MODULES,
    PACKAGES,
    gui_install_command,
    gui_problem,
    install_command,
    pyqt_folder,
    qt_import_problem,
    unresolved_libraries,
    xcb_binaries,
)

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

WITHOUT_QT = textwrap.dedent('''
    import sys

    class RefuseQt:
        """What an environment without the gui extra does: PyQt5 and pyqtgraph cannot be imported."""
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PyQt5", "pyqtgraph"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, RefuseQt())
''')
# Modules of xcal.gui that must import without Qt: the start-up check, and the example the README uses.
QT_FREE_GUI_MODULES = ("xcal.gui.app", "xcal.gui.system_check", "xcal.gui.example")


def run_python(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def requirement_names(requirements: list[str]) -> set[str]:
    return {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in requirements}


# --- the gui extra -------------------------------------------------------------------------------


def test_qt_is_only_in_the_gui_extra() -> None:
    extras = PYPROJECT["optional-dependencies"]
    gui = {name.lower() for name in GUI_MODULES}
    assert requirement_names(extras["gui"]) == gui
    assert not gui & requirement_names(PYPROJECT["dependencies"])
    assert "xcal[gui]" in extras["test"]  # the suite tests the application


def test_make_installs_the_gui_extra_to_run_and_the_test_extra_to_test() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    plan = subprocess.run(["make", "-n", "-B", "run", "test"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    steps = plan.splitlines()
    run_install = next(i for i, s in enumerate(steps) if s.endswith('-e ".[gui]"'))
    assert run_install < next(i for i, s in enumerate(steps) if s.endswith("xcal --example"))
    test_install = next(i for i, s in enumerate(steps) if s.endswith('-e ".[test]"'))
    assert test_install < next(i for i, s in enumerate(steps) if "pytest" in s)


def test_command_line_and_api_run_without_qt(tmp_path: Path) -> None:
    """Every module outside xcal.gui imports, ``xcal --help`` answers and ``xcal pattern`` writes its file."""
    shape = (120, 160)
    detector = Detector(pixel1=1e-4, pixel2=1e-4, max_shape=shape)
    write_poni(tmp_path / "g.poni", new_geometry(detector, dist=0.1, poni1=0.006, poni2=0.008, wavelength=1e-10))
    fabio.edfimage.EdfImage(data=np.random.default_rng(0).poisson(100, shape).astype(np.float32)).write(str(tmp_path / "i.edf"))
    code = WITHOUT_QT + textwrap.dedent(f'''
        import importlib, pkgutil
        import xcal
        names = [m.name for m in pkgutil.walk_packages(xcal.__path__, "xcal.") if not m.name.startswith("xcal.gui")]
        for name in names + {list(QT_FREE_GUI_MODULES)!r}:
            importlib.import_module(name)
        assert {{"xcal.core.calibration.session", "xcal.peaks.ring_finder", "xcal.cli"}} <= set(sys.modules), names
        from xcal.cli import main
        try:
            main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        sys.exit(main(["pattern", "i.edf", "--poni", "g.poni", "-o", "i.xy"]))
    ''')
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: xcal" in proc.stdout and "Wrote i.xy" in proc.stdout
    assert (tmp_path / "i.xy").is_file()


def test_application_without_the_gui_extra_says_how_to_get_it() -> None:
    for argv in ([], ["--example"]):
        proc = run_python(WITHOUT_QT + f"from xcal.cli import main\nsys.exit(main({argv!r}))")
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and f"{shlex.quote(sys.executable)} -m pip install" in proc.stderr, proc.stderr
        assert '[gui]"' in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("origin, extra", [
    ('{"url": "file:///home/me/xcal", "dir_info": {"editable": true}}', '-e "/home/me/xcal[gui]"'),  # make run, pip -e
    ('{"url": "file:///home/me/xcal", "dir_info": {}}', '"/home/me/xcal[gui]"'),  # pip install .
    (None, '"xcal[gui]"'),  # from the package index: no direct_url.json
])
def test_gui_install_command_installs_from_where_xcal_came(origin: str | None, extra: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    class Installed:
        def read_text(self, name: str) -> str | None:
            return origin if name == "direct_url.json" else None

    monkeypatch.setattr(system_check.metadata, "distribution", lambda name: Installed())
    assert gui_install_command() == f"{shlex.quote(sys.executable)} -m pip install {extra}"


def test_license_is_mit() -> None:
    assert PYPROJECT["license"] == "MIT" and PYPROJECT["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


# --- the system libraries of Qt's xcb plugin --------------------------------------------------------


@pytest.fixture(scope="module")
def qt_binaries() -> list[Path]:
    """The real xcb plugin and Qt modules of the installed PyQt5 wheel."""
    pyqt = pyqt_folder()
    binaries = xcb_binaries(pyqt) if pyqt and sys.platform.startswith("linux") else []
    if not binaries or shutil.which("ldd") is None:
        pytest.skip("no PyQt5 wheel with an xcb plugin, or no ldd (not Linux)")
    return binaries


def test_probe_agrees_with_the_dynamic_loader(qt_binaries: list[Path]) -> None:
    """What ldd calls missing is exactly why loading the plugin fails; nothing missing, it loads."""
    missing = unresolved_libraries(qt_binaries)
    load = subprocess.run([sys.executable, "-c", "import ctypes, sys\nfor p in sys.argv[1:]: ctypes.CDLL(p)",
                           *map(str, qt_binaries)], capture_output=True, text=True, timeout=60)
    if missing:
        assert load.returncode != 0 and any(library in load.stderr for library in missing), load.stderr
    else:
        assert load.returncode == 0, load.stderr


def test_every_system_library_qt_links_has_its_package(qt_binaries: list[Path]) -> None:
    """The README's apt-get line (the table) covers every library the wheel's Qt links from the system."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    bundled = {path.name: path for path in qt_binaries[0].parents[2].glob("lib/*.so*")}  # Qt5/lib of the wheel
    todo, seen, system = list(qt_binaries), set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        dynamic = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True, check=True).stdout
        for line in dynamic.splitlines():
            if "(NEEDED)" in line:
                name = line.split("[")[1].rstrip("]")
                if name in bundled:
                    todo.append(bundled[name])
                else:
                    system.add(name)
    c_runtime = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libstdc++.so.6", "libgcc_s.so.1"}
    unknown = {name for name in system - c_runtime if not name.startswith("ld-linux")} - set(PACKAGES) - set(DEPENDENCY_PACKAGES)
    assert not unknown
    assert {"libxcb-icccm.so.4", "libxcb-xinerama.so.0", "libxkbcommon-x11.so.0"} <= system


@pytest.fixture
def loader_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ldd that reports two of the xcb plugin's libraries missing, as on a fresh Debian."""
    ldd = tmp_path / "ldd"
    ldd.write_text('#!/bin/sh\nfor f in "$@"; do echo "$f:"; echo "\tlibxcb-icccm.so.4 => not found"; '
                   'echo "\tlibxcb-keysyms.so.1 => not found"; echo "\tlibc.so.6 => /lib/libc.so.6 (0x1)"; done\n')
    ldd.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_missing_libraries_give_the_apt_line_only_for_x11(qt_binaries: list[Path], loader_missing: None) -> None:
    message = gui_problem({})
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert message.splitlines()[-1].strip() == "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    assert gui_problem({"QT_QPA_PLATFORM": "xcb"}) == message
    for platform in ("offscreen", "wayland", "offscreen;xcb"):
        assert gui_problem({"QT_QPA_PLATFORM": platform}) is None


def test_xcal_prints_the_apt_line_instead_of_qt_abort(qt_binaries: list[Path], loader_missing: None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    proc = run_python("import sys\nfrom xcal.cli import main\nsys.exit(main(['--example']))", env=env)
    assert proc.returncode == 1
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in proc.stderr
    assert "Qt platform plugin" not in proc.stderr and "Traceback" not in proc.stderr


def test_install_command() -> None:
    assert install_command(["libgthread-2.0.so.0", "libglib-2.0.so.0", "libxcb-util.so.1"]) == \
        "sudo apt-get install libglib2.0-0 libxcb-util1"
    assert install_command(["libGL.so.1", "libfoo.so.3"]) == \
        "sudo apt-get install libgl1; and the packages that provide libfoo.so.3"
    error = ImportError("libGL.so.1: cannot open shared object file: No such file or directory")
    assert qt_import_problem(error).splitlines()[-1].strip() == "sudo apt-get install libgl1"
