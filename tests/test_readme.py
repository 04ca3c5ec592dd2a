"""The README's examples work as written: its Python blocks run, its ``xcal`` and ``pip`` lines parse.

A new user copies them first; an example that stopped working is a bug report waiting to happen.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from xcal.cli.main import COMMANDS, build_parser
from xcal.gui.app import _parser as gui_parser
from xcal.gui.system_check import PACKAGES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.MULTILINE | re.DOTALL)


def shell_commands() -> list[list[str]]:
    """Every command of the README's bash blocks as argv, continuation lines joined, comments dropped."""
    commands = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands


def test_python_examples_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """In order, in one empty folder, each in a namespace of its own: as a reader pastes them."""
    monkeypatch.chdir(tmp_path)
    examples = blocks("python")
    assert len(examples) >= 2
    for number, code in enumerate(examples, 1):
        exec(compile(code, f"README.md, Python example {number}", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "Integrated 1, skipped 0, failed 0" in out
    assert (tmp_path / "CeO2.poni").is_file() and (tmp_path / "integrated" / "CeO2_Pilatus1M_30keV_200mm.xy").is_file()


def test_xcal_command_lines_parse() -> None:
    """Each ``xcal …`` line parses with the parser ``xcal`` would hand it to (a command's, or the application's)."""
    lines = [argv[1:] for argv in shell_commands() if Path(argv[0]).name == "xcal"]
    assert len(lines) >= 10
    for argv in lines:
        parser = build_parser() if argv and argv[0] in COMMANDS else gui_parser()
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"README line 'xcal {shlex.join(argv)}' does not parse (exit {exc.code})")


def test_pip_lines_name_existing_extras() -> None:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = [m for argv in shell_commands() if argv[:2] == ["pip", "install"] for m in re.findall(r"\[(\w+)]", " ".join(argv))]
    named += re.findall(r"""pip install ['"]xcal\[(\w+)]""", README)  # mentioned in prose and comments
    assert {"gui", "dask"} <= set(named) <= extras


def test_apt_line_is_what_the_check_knows() -> None:
    """The README's package list and the start-up check's table are one list."""
    (line,) = [argv for argv in shell_commands() if argv[:3] == ["sudo", "apt-get", "install"]]
    assert sorted(line[3:]) == sorted(set(PACKAGES.values()))
