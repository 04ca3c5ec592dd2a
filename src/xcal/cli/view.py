"""``xcal cake`` and ``xcal pattern``: one image integrated with a .poni."""

from __future__ import annotations

import sys
from pathlib import Path

from .options import apply_mask, check_outputs, session_for


def cmd_view(args) -> int:
    """``xcal cake`` and ``xcal pattern``: the format follows the extension of ``-o``."""
    from ..core.integration.formats import SIGMA_FORMATS
    from ..core.integration.integrator import calibrant_positions
    from ..core.integration.outputs import geometry_header, pattern_format, write_cake, write_pattern

    check_outputs(args, [("-o", args.output)], [args.image, args.poni, args.mask, args.calibrant])
    session = session_for(args)
    notes = session.load_poni(args.poni)
    for note in notes:
        print(f"Note: {note}", file=sys.stderr)
    apply_mask(session, args.mask)
    lines = None
    if args.calibrant:
        session.set_calibrant(args.calibrant)
        unit = getattr(args, "unit", "2th_deg")
        lines = calibrant_positions(session.dspacing, session.geometry.wavelength, unit)
    out = Path(args.output)
    if args.command == "cake":
        write_cake(out, session.cake(args.npt), lines, session.raw.name)
    else:
        sigma = pattern_format(out) in SIGMA_FORMATS
        pattern = session.integrator.pattern(session.data, session.geometry, session.invalid, args.npt, args.unit,
                                             sigma=sigma)
        header = [f"Image: {session.raw.name}", f"Geometry: {Path(args.poni).name}", *geometry_header(session.geometry)]
        write_pattern(out, pattern, header, title=session.raw.name, geometry=session.geometry)
    print(f"Wrote {out}")
    return 0
