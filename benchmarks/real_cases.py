"""The real beamline images with a trustworthy reference calibration (see shared/data/real/SOURCES.md).

Shared by the tests and the benchmark: each case names the image, its reference .poni, the
calibrant, the detector to choose, and which tolerances its reference supports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RealCase:
    name: str
    image: str
    poni: str
    calibrant: str
    detector: str | None  # pyFAI name; None: generic from the reference's pixel size
    centre_tol_px: float  # agreement expected with the reference
    dist_tol_pct: float
    note: str = ""


REAL_CASES = [
    RealCase("dioptas_CeO2_Pilatus1M", "dioptas_CeO2_Pilatus1M_30keV.tif", "dioptas_CeO2_Pilatus1M_30keV.poni", "CeO2", "Pilatus1M", 0.3, 0.1),
    RealCase("cpf_CeO2_Pilatus1M", "cpf_CeO2_Pilatus1M_30keV.tif", "cpf_CeO2_Pilatus1M_30keV.poni", "CeO2", "Pilatus1M", 0.3, 0.1),
    RealCase("dls2021_CeO2_Pilatus2M", "dls2021_CeO2_Pilatus2M_100keV_737mm.cbf", "dls2021_CeO2_Pilatus2M_100keV_737mm.poni", "CeO2", "Pilatus2MCdTe", 0.3, 0.1),
    RealCase("aps1idc_CeO2_Pilatus2M", "aps1idc_CeO2_Pilatus2M_61keV.hdf5::/imageseries/images", "aps1idc_CeO2_Pilatus2M_61keV.poni", "CeO2", "Pilatus2M", 0.3, 0.1),
    RealCase("cms_LaB6_Pilatus800k", "cms_LaB6_Pilatus800k_12p7keV.tiff", "cms_LaB6_Pilatus800k_12p7keV.poni", "LaB6", "Pilatus1M", 2.0, 0.2,
             "only 5 rings, beam at the corner of the missing quarter; its two references differ by 1.3 px, 0.08 %"),
    RealCase("cms_AgBH_Pilatus800k", "cms_AgBH_Pilatus800k_12p7keV.tiff", "cms_AgBH_Pilatus800k_12p7keV.poni", "AgBh", "Pilatus1M", 3.0, 2.0,
             "grazing incidence, broad sample bands beyond AgBh order 7; both references approximate (2θ off by up to 0.09°)"),
    RealCase("chess_CeO2_Dexela2923", "chess_CeO2_Dexela2923_29p8keV.h5::/data", "chess_CeO2_Dexela2923_29p8keV.poni", "CeO2", None, 3.0, 0.3,
             "reference is an approximate rigid fit of 4 sub-panels (0.015° residual)"),
    RealCase("aps15idd_AgBh_Pilatus100k", "aps15idd_AgBh_Pilatus100k_16p9keV.hdf5", "aps15idd_AgBh_Pilatus100k_16p9keV.poni", "AgBh", "Pilatus100k", 3.0, 1.0,
             "reference from the NeXus header only (distance ~0.35 % short); beam centre outside the detector"),
]
