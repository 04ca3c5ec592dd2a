"""Files in and out: images (every format fabio and h5py read, checked), .poni, calibrants,
Dioptas' conventions, atomic writes."""

from ..public import exports

__all__, __getattr__ = exports(__name__, {
    "atomic": ["atomic_write_bytes", "atomic_write_text", "atomic_writer"],
    "calibrants": ["list_calibrants", "load_calibrant"],
    "dioptas_files": ["save_session_for_dioptas", "write_dioptas_poni"],
    "file_checks": ["file_problem"],
    "images": ["Image", "frame_count", "hdf5_datasets", "load_image"],
    "poni": ["read_poni", "write_poni"],
})
