"""Headless calibration engine (no Qt): the CLI, the Python API and the tests use it directly.

Subpackages by capability, each importing only those below it:

- ``errors``, ``progress``, ``public``: the bottom, used everywhere;
- ``geometry``: detectors, image orientation, conics, the point model and least squares;
- ``io``: images, ``.poni``, calibrants, Dioptas' conventions, atomic writes;
- (``xcal.peaks``: the peak and ring search, over ``geometry``);
- ``masks`` and ``integration``: the user's mask and unusable pixels; patterns, cakes and their files;
- ``circle``: the manual circle fit of SAXS and fibre users;
- ``calibration``: the session, the clicked and no-click pipelines, the checks, diagnostics, reports;
- ``beamtime``: sample images with a calibration, batches, watched folders, Dask.
"""
