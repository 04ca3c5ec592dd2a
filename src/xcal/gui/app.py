"""Start the application: ``xcal``, ``xcal IMAGE [--frame N]`` or ``xcal --example``.

Qt is imported only once :mod:`.system_check` has found what it needs, so that a missing GUI extra
or system library is one message with the command that installs it, not a traceback or Qt's abort.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from types import TracebackType

from .system_check import gui_problem, qt_import_problem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xcal",
        description="Calibrate 2D X-ray diffraction detectors. Without a command, opens the application; "
                    "see 'xcal calibrate|cake|pattern -h' for the command line.",
    )
    parser.add_argument("image", nargs="?", help="image to open (HDF5: file.h5::/path/to/dataset)")
    parser.add_argument("--frame", type=int, default=0, help="frame of a multi-frame file (default 0)")
    parser.add_argument("--example", action="store_true", help="open a synthetic CeO2 image, ready to calibrate")
    return parser


def run_gui(argv: list[str] | None = None) -> int:
    """Open the main window; returns the application's exit status."""
    args = _parser().parse_args(argv)
    problem = gui_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    try:
        from PyQt5.QtWidgets import QApplication
    except ImportError as exc:
        print(qt_import_problem(exc), file=sys.stderr)
        return 1
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("xcal")
    app.setOrganizationName("xcal")
    window = MainWindow()

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """A bug in a Qt slot is shown and logged; PyQt's default would abort the application."""
        traceback.print_exception(kind, exc, tb, file=sys.stderr)
        window.show_message(f"Unexpected error: {kind.__name__}: {exc}")

    previous, sys.excepthook = sys.excepthook, excepthook
    window.show()
    if args.example:
        window.open_example()
    elif args.image:
        window.open_source(args.image, args.frame)
    try:
        return app.exec_()
    finally:
        sys.excepthook = previous
