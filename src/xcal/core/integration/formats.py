"""The pattern and cake file formats, by name and by extension.

Apart from the writers (``outputs``), which need pyFAI: the command line lists the formats in its
options and ``xcal --help`` must not wait for pyFAI's import.
"""

PATTERN_FORMATS = ("xy", "dat", "chi", "fxye", "nxs")
CAKE_FORMATS = ("tif", "npy", "png")
SIGMA_FORMATS = ("dat", "fxye", "nxs")  # the pattern formats that carry the standard errors
# file extension → format (GSAS-II opens NeXus patterns only as .h5 or .hdf)
PATTERN_SUFFIXES = {"xy": "xy", "dat": "dat", "chi": "chi", "fxye": "fxye", "nxs": "nxs", "h5": "nxs", "hdf5": "nxs",
                    "hdf": "nxs"}
CAKE_SUFFIXES = {"tif": "tif", "tiff": "tif", "npy": "npy", "png": "png"}
