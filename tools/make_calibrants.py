"""Regenerate ``calibrants/*.D`` from the calibrant files of the installed pyFAI.

Why: several of pyFAI's files stop after a few rings (Au 16, Ni 5, diamond 2, NIST Si 15 ...),
so a calibration at high energy or with a large detector runs out of rings. Where the cell
is known, this script lists every reflection the space group allows down to ``D_MIN``;
lamellar calibrants get ``ORDERS`` orders; the rest are copied unchanged. Every d-spacing of
pyFAI's file must come out again (within the precision pyFAI gives it), except the few that
pyFAI lists but the space group forbids (``FORBIDDEN``): the script stops otherwise.

Run from the repository root:  .venv/bin/python tools/make_calibrants.py
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyFAI
from pyFAI.crystallography.cell import Cell
from pyFAI.crystallography.space_groups import ReflectionCondition as RC
from pyFAI.utils import get_calibration_dir

D_MIN = 0.25  # Å: 2θ up to ~29° at 100 keV (λ = 0.124 Å)
ORDERS = 60  # lamellar calibrants: orders 00l kept
OUT = Path(__file__).resolve().parents[1] / "calibrants"
HEADER = "# d_spacing  # (h k l)  mult intensity"

Op = Callable[[int, int, int], tuple[int, int, int]]
# Generators of the Laue groups, acting on (h, k, l). m-3m also serves the m-3 cubics here,
# whose only conditions come from the centring, the same for all (h k l) of equal d.
LAUE: dict[str, list[Op]] = {
    "m-3m": [lambda h, k, l: (k, l, h), lambda h, k, l: (k, h, l), lambda h, k, l: (-h, k, l)],
    "4/mmm": [lambda h, k, l: (-k, h, l), lambda h, k, l: (k, h, l), lambda h, k, l: (h, k, -l)],
    "-3m1": [lambda h, k, l: (k, -h - k, l), lambda h, k, l: (k, h, -l), lambda h, k, l: (-h, -k, -l)],
    "6/mmm": [lambda h, k, l: (k, -h - k, l), lambda h, k, l: (-h, -k, l),
              lambda h, k, l: (k, h, l), lambda h, k, l: (h, k, -l)],
}


@dataclass(frozen=True)
class Spec:
    """A cell and the symmetry that selects its reflections."""

    cell: Callable[[], Cell]
    laue: str
    rule: str | None = None  # ReflectionCondition method name (space group)
    text: str = ""  # the cell as written in the file


def cubic(a: float, centring: str, group: str, rule: str | None = None) -> Spec:
    return Spec(lambda: Cell.cubic(a, centring), "m-3m", rule, f"{group} a={a} A")


def diamond(a: float) -> Spec:
    return Spec(lambda: Cell.diamond(a), "m-3m", None, f"Fd-3m a={a} A")


def hexagonal(a: float, c: float, group: str, laue: str, rule: str) -> Spec:
    return Spec(lambda: Cell.hexagonal(a, c), laue, rule, f"{group} (hexagonal axes) a={a} A c={c} A")


def tetragonal(a: float, c: float, group: str, rule: str) -> Spec:
    return Spec(lambda: Cell.tetragonal(a, c), "4/mmm", rule, f"{group} a={a} A c={c} A")


# Cells (Å) to the precision that reproduces pyFAI's d-spacings (its "Cell:" headers are rounded),
# i.e. the certified values of the NIST SRMs.
R3c, R3m = "group167_R3bar_c", "group166_R3bar_m"
CELLS: dict[str, Spec] = {
    "Al": cubic(4.0495, "F", "Fm-3m"),
    "Au": cubic(4.0782, "F", "Fm-3m"),
    "C60": cubic(14.26, "F", "Fm-3"),  # no condition beyond F
    "CuO": cubic(4.2685, "P", "Pn-3m", "group224_Pn3bar_m"),  # cuprite, Cu2O
    "NaCl": cubic(5.6401, "F", "Fm-3m"),
    "Ni": cubic(3.52387, "F", "Fm-3m"),
    "Pt": cubic(3.9231, "F", "Fm-3m"),
    "verneite": cubic(10.257, "I", "I2_13"),  # no condition beyond I
    "LaB6_SRM660a": cubic(4.1569162, "P", "Pm-3m"),
    "LaB6_SRM660b": cubic(4.15689, "P", "Pm-3m"),
    "LaB6_SRM660c": cubic(4.156826, "P", "Pm-3m"),
    "diamond": diamond(3.5668),
    "Si_SRM640": diamond(5.43088),
    "Si_SRM640a": diamond(5.430825),
    "Si_SRM640b": diamond(5.43094),
    "Si_SRM640c": diamond(5.4311946),
    "Si_SRM640d": diamond(5.43123),
    "Si_SRM640e": diamond(5.431179),
    "alpha_Al2O3": hexagonal(4.757, 12.9877, "R-3c", "-3m1", R3c),
    "alpha_Al2O3_SRM676": hexagonal(4.75919, 12.99183, "R-3c", "-3m1", R3c),
    "alpha_Al2O3_SRM676a_2008": hexagonal(4.7590914, 12.991779, "R-3c", "-3m1", R3c),
    "alpha_Al2O3_SRM676a_2015": hexagonal(4.759355, 12.99231, "R-3c", "-3m1", R3c),
    "Cr2O3": hexagonal(4.958979, 13.59592, "R-3c", "-3m1", R3c),
    "hydrocerussite": hexagonal(5.24656, 23.7023, "R-3m", "-3m1", R3m),
    "quartz": hexagonal(4.916, 5.4054, "P3_221", "-3m1", "group154_P3221"),
    "ZnO": hexagonal(3.249897, 5.20653, "P6_3mc", "6/mmm", "group186_P63mc"),
    "graphite": hexagonal(2.456, 6.696, "P6_3/mmc", "6/mmm", "group194_P63_mmc"),
    "TiO2": tetragonal(4.593927, 2.958875, "P4_2/mnm", "group136_P42mnm"),
    "cristobaltite": tetragonal(4.9717, 6.9223, "P4_12_12", "group92_P41_21_2"),
}
LAMELLAR = {"AgBh", "C14H30O"}
COPIED = {  # name: why pyFAI's file is kept as it is
    "LaB6": "already lists every reflection down to 0.1 A",
    "CeO2": "already lists every reflection down to 0.1 A",
    "Si": "already lists every reflection down to 0.1 A",
    "vanadinite": "its d-spacings are measured values, not computed from one cell",
    "PBBA": "molecular crystal with a 30 A monoclinic cell; higher orders are not seen",
    "lysozyme": "protein crystal; higher orders are not seen",
    "CrOx": "no cell known",
    "mock": "test pattern without a cell",
}
# Lines that pyFAI's files list although the space group forbids them: dropped.
FORBIDDEN = {
    "ZnO": ["(0 0 5)"],  # P6_3mc: 000l needs l even
    "TiO2": ["(4 0 1)", "(3 0 2)"],  # P4_2/mnm: h0l needs h + l even
    "Cr2O3": ["(4 -4 -7)"],  # R-3c: h-h0l needs l even
}


@dataclass
class Line:
    """One reflection, written the way pyFAI writes it."""

    d: float
    hkl: str = ""
    mult: int | None = None
    intensity: str = ""  # as pyFAI wrote it

    def __str__(self) -> str:
        text = f"{self.d:12.8f}"
        if self.hkl:
            text += f" # {self.hkl:10s}"
            if self.mult is not None:
                text += f" {self.mult:2d}"
            if self.intensity:
                text += f" {self.intensity}"
        return text.rstrip()


def read_pyfai(path: Path) -> tuple[list[str], list[Line]]:
    """The leading comment lines (title, cell, reference) and the reflections of a pyFAI file."""
    head, lines = [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        value, _, comment = raw.partition("#")
        if not value.strip():
            if not lines and raw.strip() and raw.strip() != HEADER:
                head.append(raw.strip())
            continue
        m = re.match(r"\s*(\([^)]*\))\s*(\d+)?\s*(\S+)?", comment)
        hkl, mult, intensity = m.groups() if m else ("", None, None)
        lines.append(Line(float(value), hkl or "", int(mult) if mult else None, intensity or ""))
    return head, lines


def symmetric_rule(rules: list[Callable[..., bool]], laue: str) -> Callable[[int, int, int], bool]:
    """Allow (h k l) only if every rule allows every member of its family.

    Why: several of pyFAI's space-group rules test only one member of a special family
    (P6_3mc checks hh-2hl for k == h, not h -2h l), and as pyFAI groups reflections by
    d-spacing one leaking member is enough to bring a forbidden ring back (ZnO 111).
    """
    memo: dict[tuple[int, int, int], bool] = {}

    def allowed(h: int, k: int, l: int) -> bool:
        if (h, k, l) not in memo:
            orbit, todo = {(h, k, l)}, [(h, k, l)]
            while todo:
                hkl = todo.pop()
                for op in LAUE[laue]:
                    new = op(*hkl)
                    if new not in orbit:
                        orbit.add(new)
                        todo.append(new)
            ok = all(rule(*m) for m in orbit for rule in rules)
            memo.update(dict.fromkeys(orbit, ok))
        return memo[(h, k, l)]

    return allowed


def from_cell(spec: Spec) -> list[Line]:
    """All allowed reflections down to D_MIN, equal d-spacings grouped (pyFAI's Cell does the work)."""
    cell = spec.cell()
    rules = list(cell.selection_rules) + ([getattr(RC, spec.rule)] if spec.rule else [])
    cell.selection_rules = [symmetric_rule(rules, spec.laue)]
    config = cell.build_calibrant_config(D_MIN)
    return [Line(r.dspacing, str(r.hkl), r.multiplicity) for r in config.reflections]


def same(pyfai_d: float, d: float) -> bool:
    """Equal within the precision pyFAI gives: 1e-5 relative, or ±5e-5 Å for 4-decimal values."""
    rounded = abs(pyfai_d * 1e4 - round(pyfai_d * 1e4)) < 1e-6
    return abs(pyfai_d - d) <= max(1e-5 * d, 5.1e-5 if rounded else 0.0)


def merge(name: str, new: list[Line], old: list[Line]) -> list[Line]:
    """Carry pyFAI's intensities over; stop if one of pyFAI's lines went missing unexplained."""
    lost = []
    for line in old:
        match = [n for n in new if same(line.d, n.d)]
        if match:
            match[0].intensity = line.intensity
        elif line.hkl not in FORBIDDEN.get(name, []):
            lost.append(line)
    if lost:
        sys.exit(f"{name}: pyFAI lines not reproduced: {[str(x) for x in lost]}")
    return new


def build(name: str, old: list[Line]) -> tuple[list[str], list[Line]]:
    """The "# Made:" comment lines and the reflections of calibrant ``name``."""
    source = f"pyFAI {pyFAI.version} {name}.D"
    if name in COPIED:
        return [f"# Made: copied unchanged from {source} ({COPIED[name]})"], old
    if name in LAMELLAR:
        d001 = old[0].d
        new = [Line(round(d001 / n, 8), f"(0 0 {n})") for n in range(1, ORDERS + 1)]
        return [f"# Made: tools/make_calibrants.py from {source}: orders 1-{ORDERS} of d001 = {d001} A"], \
            merge(name, new, old)
    spec = CELLS[name]
    made = [f"# Made: tools/make_calibrants.py from {source}: every reflection of {spec.text}",
            f"#   down to d = {D_MIN} A; intensities from pyFAI where it gives them"]
    if name in FORBIDDEN:
        made.append(f"#   dropped from pyFAI's list, forbidden by the space group: {' '.join(FORBIDDEN[name])}")
    return made, merge(name, from_cell(spec), old)


def main() -> None:
    sources = sorted(Path(get_calibration_dir()).glob("*.D"))
    unknown = {p.stem for p in sources} - CELLS.keys() - LAMELLAR - COPIED.keys()
    if unknown:
        sys.exit(f"no recipe for pyFAI calibrant(s) {sorted(unknown)}: add them to CELLS, LAMELLAR or COPIED")
    for path in sources:
        head, old = read_pyfai(path)
        made, lines = build(path.stem, old)
        text = "\n".join([*head, *made, "", HEADER, *map(str, lines)]) + "\n"
        assert "weak" not in text.lower()  # pyFAI's parser treats that word as a flag
        (OUT / path.name).write_text(text, encoding="utf-8")
        print(f"{path.stem:26s} {len(old):5d} -> {len(lines):5d} lines, d >= {lines[-1].d:.4f} Å")


if __name__ == "__main__":
    main()
