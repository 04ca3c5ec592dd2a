"""A beamtime's images: sample images with the session's calibration, batches of files and HDF5
stacks on local cores or Dask, watched folders."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "batch": ["BatchReport", "BatchRunner", "expand_sources", "run_batch"],
    "batch_job": ["Item", "Recipe"],
    "dask_batch": ["run_on_dask"],
    "sample": ["integrate_sample", "save_sample_pattern", "working_sample"],
    "watch": ["watch_folder"],
})
