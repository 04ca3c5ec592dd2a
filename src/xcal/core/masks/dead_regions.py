"""Dead regions: patches of a detector that read one constant value where the image around them varies.

A dead module, a zeroed readout channel or a region a facility's software blanked reads the
same number in every pixel. Its edge is a step no ring has, and a ring crossing it is cut short:
such a patch is excluded like a gap and reported. Counting noise makes equal neighbours common
only where few counts fall, so a patch counts as dead only where the counts around it are high
enough that a flat patch of its size cannot happen by chance (or in non-integer data, where
exact equality is never chance). A value flat over a quarter of the image is the floor that
the image was thresholded at, not a dead region. The maximum's plateau is saturation, found
separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BLOCK = 8  # dead regions are found as blocks of BLOCK × BLOCK identical pixels: fast on 12 Mpx
MIN_BLOCKS = 2  # connected flat blocks; smaller flat patches are a hot/dead pixel finder's job
MIN_COUNTS = 20.0  # integer data: the patch's surroundings must read at least this (median)
FLOOR_FRACTION = 0.25  # one value over this much of the image is its floor (thresholded data), not dead
STEP_FRACTION = 0.3  # the closest tenth of the surroundings reads at least this fraction of their typical step


@dataclass
class DeadPixels:
    mask: np.ndarray  # True = dead
    patches: int
    count: int

    def describe(self) -> str:
        fraction = self.count / self.mask.size
        return (f"{self.count} pixels in {self.patches} dead region{'s' if self.patches > 1 else ''} (one constant value "
                f"where the image around varies, {100 * fraction:.2g} % of the image) were excluded.")


def find_dead(data: np.ndarray, invalid: np.ndarray | None = None) -> DeadPixels | None:
    """The dead regions of ``data`` (see the module docstring), or None if there are none."""
    rows, cols = (data.shape[0] // BLOCK) * BLOCK, (data.shape[1] // BLOCK) * BLOCK
    if rows == 0 or cols == 0:
        return None
    valid = np.isfinite(data) if invalid is None else (~invalid & np.isfinite(data))
    pixels = _blocks(data[:rows, :cols])
    good = _blocks(valid[:rows, :cols])
    low = pixels.min(axis=1).min(axis=2)  # two steps: ten times faster than axis=(1, 3)
    whole = good.all(axis=1).all(axis=2)
    flat = whole & (low == pixels.max(axis=1).max(axis=2))
    if np.count_nonzero(flat) < MIN_BLOCKS:
        return None
    levels, counts = np.unique(low[flat], return_counts=True)
    floor = levels[counts > FLOOR_FRACTION * np.count_nonzero(whole)]
    if len(floor):
        flat &= ~np.isin(low, floor)  # a thresholded image's floor, not a dead patch
    labels, n = ndimage.label(flat)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    big = np.flatnonzero(sizes >= MIN_BLOCKS)
    if len(big) == 0:
        return None
    keep = np.zeros(n + 1, np.int32)
    keep[big] = np.arange(1, len(big) + 1)
    patches = keep[labels]  # 1.. over the big patches only
    near = ndimage.maximum_filter(patches, size=3)
    plateau = np.empty(len(big))
    inside = patches > 0
    plateau[patches[inside] - 1] = low[inside]
    bi, bj = np.nonzero((near > 0) & ~inside)  # the blocks around each patch
    owner = near[bi, bj]
    order = np.argsort(owner, kind="stable")
    bi, bj, owner = bi[order], bj[order], owner[order]
    around, around_ok = pixels[bi, :, bj, :], good[bi, :, bj, :]
    bounds = np.searchsorted(owner, np.arange(1, len(big) + 2))
    dead = [i + 1 for i in range(len(big))
            if _stands_out(around[bounds[i]:bounds[i + 1]], around_ok[bounds[i]:bounds[i + 1]], plateau[i])]
    if not dead:
        return None
    mask = np.zeros(data.shape, bool)
    dead_blocks = np.isin(patches, dead)
    mask[:rows, :cols] = np.repeat(np.repeat(dead_blocks, BLOCK, axis=0), BLOCK, axis=1)
    edge = ndimage.binary_dilation(dead_blocks, structure=np.ones((3, 3), bool)) & ~dead_blocks
    edge = np.repeat(np.repeat(edge, BLOCK, axis=0), BLOCK, axis=1)
    values = np.isin(data[:rows, :cols], plateau[np.asarray(dead) - 1])
    mask[:rows, :cols] |= edge & values & valid[:rows, :cols]  # the patch's own pixels in the blocks along its edge
    return DeadPixels(mask, len(dead), int(np.count_nonzero(mask)))


def _blocks(array: np.ndarray) -> np.ndarray:
    """A (rows/B, B, cols/B, B) view of ``array`` cut in BLOCK × BLOCK blocks (no copy)."""
    r, c = array.shape
    return array.reshape(r // BLOCK, BLOCK, c // BLOCK, BLOCK)


def _stands_out(values: np.ndarray, valid: np.ndarray, level: float) -> bool:
    """Do the pixels around a patch all read far from its value?

    A dead patch is a step: even the closest tenth of its surroundings reads far from it. A
    floor that data were clipped at (dark-subtracted images) or a low-count region is a slope:
    the surroundings rise from the patch's value, and their closest tenth reads near it.
    """
    values = values[valid & (values != level)]  # the patch's own pixels at its unaligned edges are not around it
    if values.size < BLOCK * BLOCK:
        return False
    low, typical = np.percentile(np.abs(values - level), [10, 50])
    integer = bool(np.all(np.mod(values[:1000], 1) == 0))
    enough = typical >= MIN_COUNTS if integer else typical > 0
    return bool(enough and low > STEP_FRACTION * typical)
