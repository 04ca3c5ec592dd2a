"""What the application needs before Qt starts, said in one message with the command that fixes it.

Without the ``gui`` extra, ``import PyQt5`` fails with a traceback; without the X11 libraries that
PyQt5's wheel leaves to the system, Qt prints "could not load the Qt platform plugin "xcb"" and
aborts without naming the library. Both are checked here first, without loading Qt: the extra by
looking for its modules, the libraries by asking ``ldd`` which ones the xcb plugin and the Qt
modules xcal uses cannot find.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

GUI_MODULES = ("PyQt5", "pyqtgraph", "contourpy")  # the gui extra of pyproject.toml

# The PyQt5 extension modules xcal's window loads (with pyqtgraph's), beside the xcb plugin.
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtOpenGL", "QtPrintSupport", "QtSvg")

# Debian/Ubuntu package of every system library that PyQt5's wheel (Qt 5.15) loads for the window:
# the libraries linked by the xcb platform plugin, its GL integrations and the Qt modules above.
# The libraries those need come with these packages.
PACKAGES: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libXext.so.6": "libxext6",
    "libxcb.so.1": "libxcb1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
# What the listed packages pull in, and the C/C++ runtime Python itself needs: named when missing,
# never part of the README's list.
DEPENDENCY_PACKAGES: dict[str, str] = {
    "libxcb-util.so.1": "libxcb-util1",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libexpat.so.1": "libexpat1",
    "libpng16.so.16": "libpng16-16",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libz.so.1": "zlib1g",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}

_NOT_FOUND = re.compile(r"^\s*(\S+) => not found\s*$", re.MULTILINE)
_CANNOT_OPEN = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


def missing_gui_modules() -> list[str]:
    """The gui extra's modules that cannot be imported (found without importing them)."""
    missing = []
    for name in GUI_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken installation, or a finder that refuses the name
            found = False
        if not found:
            missing.append(name)
    return missing


def gui_install_command() -> str:
    """pip's command for the gui extra: this Python's pip (``xcal`` may run from a venv not activated), from
    the folder this xcal was installed from if it was (a clone).

    pip records a local origin in ``direct_url.json``; a bare ``xcal[gui]`` would look for xcal on
    the package index instead.
    """
    try:
        origin = json.loads(metadata.distribution("xcal").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        origin = {}
    url = urlparse(origin.get("url", ""))
    pip = f"{shlex.quote(sys.executable)} -m pip install"
    if url.scheme == "file" and isinstance(origin.get("dir_info"), dict):
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return f'{pip} {editable}"{url2pathname(url.path)}[gui]"'
    return f'{pip} "xcal[gui]"'


def qt_platform(environ: Mapping[str, str]) -> str:
    """The platform plugin Qt 5 tries first: ``QT_QPA_PLATFORM``'s first entry, else xcb (X11) on Linux."""
    value = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    return value or ("xcb" if sys.platform.startswith("linux") else "")


def pyqt_folder() -> Path | None:
    """PyQt5's package folder, found without loading Qt (None if PyQt5 is absent)."""
    try:
        spec = importlib.util.find_spec("PyQt5")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def xcb_binaries(pyqt: Path) -> list[Path]:
    """The xcb platform plugin, its GL integrations and the Qt modules xcal uses, as PyQt5's wheel lays them out.

    A PyQt5 from the system's packages keeps Qt elsewhere: nothing is found, nothing is checked,
    and the system's package manager has installed what it needs.
    """
    plugins = sorted(pyqt.glob("Qt*/plugins/platforms/libqxcb.so"))
    if not plugins:
        return []
    gl = sorted(plugins[0].parent.parent.glob("xcbglintegrations/*.so"))
    modules = [path for name in QT_MODULES for path in sorted(pyqt.glob(f"{name}.*so"))]
    return plugins + gl + modules


def unresolved_libraries(binaries: Iterable[Path]) -> list[str]:
    """The shared libraries the dynamic loader cannot find for these binaries, their own needs included (``ldd``)."""
    binaries = [str(path) for path in binaries]
    ldd = shutil.which("ldd")
    if not binaries or ldd is None:
        return []
    try:
        output = subprocess.run([ldd, *binaries], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(set(_NOT_FOUND.findall(output)))


def install_command(libraries: Iterable[str]) -> str:
    """The apt-get line that installs these libraries; a library of unknown package is named as such."""
    known = PACKAGES | DEPENDENCY_PACKAGES
    libraries = list(libraries)
    packages = sorted({known[lib] for lib in libraries if lib in known})
    unknown = [lib for lib in libraries if lib not in known]
    command = f"sudo apt-get install {' '.join(packages)}" if packages else ""
    if unknown:
        command += ("; and " if command else "install ") + f"the packages that provide {', '.join(unknown)}"
    return command


def missing_libraries_message(libraries: list[str]) -> str:
    """Which libraries are missing and, on Debian/Ubuntu, the command that installs them."""
    lines = [f"xcal: the application's window cannot start: Qt needs {', '.join(libraries)}, "
             "which this system does not have. Install them with (Debian/Ubuntu):",
             f"    {install_command(libraries)}"]
    return "\n".join(lines)


def gui_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the window cannot start, with the command that fixes it; None when nothing is known to be missing.

    The libraries are checked only for X11 (xcb): ``QT_QPA_PLATFORM=offscreen`` or wayland need
    none of the X libraries.
    """
    missing = missing_gui_modules()
    if missing:
        return f"xcal: the application needs the GUI extra ({', '.join(missing)} missing): {gui_install_command()}"
    environ = os.environ if environ is None else environ
    pyqt = pyqt_folder()
    if qt_platform(environ) != "xcb" or pyqt is None:
        return None
    libraries = unresolved_libraries(xcb_binaries(pyqt))
    return missing_libraries_message(libraries) if libraries else None


def qt_import_problem(error: ImportError) -> str:
    """One message for Qt failing to load anyway (another platform, a PyQt5 not from its wheel)."""
    library = _CANNOT_OPEN.search(str(error))
    if library:
        return missing_libraries_message([library.group(1)])
    return f"xcal: the application cannot load Qt: {error}"
