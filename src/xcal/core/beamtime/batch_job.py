"""What a batch worker does with one frame: load, integrate, write; never raises.

A :class:`Recipe` holds everything a worker needs (geometry, mask, settings, corrections,
outputs) and travels once to each worker process (process pool or Dask), where a
:class:`Worker` builds its integrator and look-up tables once and reuses them for every frame.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyFAI.geometry import Geometry

from ..errors import ImageError, XcalError
from ..geometry.detectors import detector_mask
from ..integration.corrections import Corrections
from ..integration.formats import SIGMA_FORMATS
from ..integration.integrator import IntegrationSettings, Integrator
from ..integration.outputs import write_cake, write_pattern
from ..io.atomic import process_running
from ..io.images import load_image


@dataclass(frozen=True)
class Item:
    """One frame to integrate and the stem of its output files."""

    source: str  # a file, or "file.h5::/dataset"
    frame: int
    stem: str

    @property
    def label(self) -> str:
        return f"{self.source} [frame {self.frame}]" if self.frame or "::" in self.source else self.source


@dataclass
class ItemResult:
    item: Item
    status: str  # "done", "skipped" or "failed"
    reason: str = ""
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Recipe:
    """The batch's constants; pickled once per worker (keep the arrays few: mask and corrections)."""

    geometry: Geometry
    settings: IntegrationSettings
    folder: Path
    formats: tuple[str, ...] = ("xy",)  # pattern formats
    cake_formats: tuple[str, ...] = ()
    mask: np.ndarray | None = None  # the user's, raw frame; the detector's gaps are added
    corrections: Corrections = field(default_factory=Corrections)
    header: list[str] = field(default_factory=list)  # lines common to every output header
    overwrite: bool = False
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # identifies the batch in worker caches

    def outputs(self, item: Item) -> list[Path]:
        return [self.folder / f"{item.stem}.{fmt}" for fmt in (*self.formats, *(f"cake.{c}" for c in self.cake_formats))]

    @property
    def needs_sigma(self) -> bool:
        return any(fmt in SIGMA_FORMATS for fmt in self.formats)


def failure_reason(item: Item, exc: Exception, what: str) -> str:
    """One line naming the item and its problem, whatever raised it.

    xcal's own errors already say what is wrong; the readers' (h5py, fabio, numpy) and the
    system's (RuntimeError, OSError, MemoryError...) are named with ``what`` went wrong.
    """
    if isinstance(exc, XcalError):
        message = str(exc)
        return message if item.source in message else f"{item.label}: {message}"
    return f"{item.label}: {what} ({type(exc).__name__}: {exc or 'no detail'})."


class Worker:
    """Integrates items of one recipe; keeps the integrator (and its tables) between items."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.integrator = Integrator(sparse=True, background=False)
        self._mask: np.ndarray | None = None
        self._shape: tuple[int, int] | None = None

    def _static_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The user's mask plus the detector's gaps, computed for the first image's shape."""
        if self._shape != shape:
            recipe = self.recipe
            if recipe.mask is not None and recipe.mask.shape != shape:
                raise ImageError(f"the image is {shape[0]} x {shape[1]} pixels but the mask is "
                                 f"{recipe.mask.shape[0]} x {recipe.mask.shape[1]}.")
            try:
                gaps = detector_mask(recipe.geometry.detector, shape)
            except XcalError as exc:
                raise ImageError(f"the image does not fit the geometry's detector: {exc}") from None
            parts = [m for m in (recipe.mask, gaps) if m is not None]
            self._mask = np.logical_or.reduce(parts) if parts else None
            self._shape = shape
        return self._mask

    def process(self, item: Item) -> ItemResult:
        t0 = time.perf_counter()
        try:
            outputs = self._process(item)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            return ItemResult(item, "failed", failure_reason(item, exc, "unexpected error"),
                              seconds=time.perf_counter() - t0)
        if not outputs:
            return ItemResult(item, "skipped", "its results exist (overwrite not asked)", seconds=time.perf_counter() - t0)
        return ItemResult(item, "done", outputs=[str(p) for p in outputs], seconds=time.perf_counter() - t0)

    def _process(self, item: Item) -> list[Path]:
        recipe = self.recipe
        todo = [p for p in recipe.outputs(item) if recipe.overwrite or not p.exists()]
        if not todo:
            return []
        image = load_image(item.source, item.frame)
        mask = self._static_mask(image.shape)
        settings, header = recipe.settings, [f"Image: {image.name}", *recipe.header]
        cakes = [p for p in todo if p.name.startswith(f"{item.stem}.cake.")]
        patterns = [p for p in todo if p not in cakes]
        if patterns:
            pattern = self.integrator.integrate(image.data, recipe.geometry, settings, mask, recipe.corrections,
                                                image.invalid, sigma=recipe.needs_sigma)
            for path in patterns:
                write_pattern(path, pattern, header, title=image.name, geometry=recipe.geometry,
                              settings=recipe.settings)
        if cakes:
            cake = self.integrator.integrate_cake(image.data, recipe.geometry, settings, mask, recipe.corrections,
                                                  image.invalid)
            for path in cakes:
                write_cake(path, cake, title=image.name)
        return todo


# -- worker-process state (process pool, Dask) ------------------------------------------------------

_WORKERS: dict[str, Worker] = {}


def init_worker(recipe: Recipe, parent: int) -> None:
    """Process-pool initializer: the process's Worker, built before the first item arrives.

    Ctrl-C is left to the parent (process ``parent``), which stops the batch between frames and
    reports; if the parent is killed, the worker ends too.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with(parent)
    _WORKERS.clear()
    _WORKERS[recipe.token] = Worker(recipe)


def _end_with(parent: int, poll_s: float = 0.5) -> None:
    """End this process once ``parent`` has ended.

    A parent killed with -9 cannot stop its workers, and nothing else would: they wait for the
    next frame forever, and the fork server waits for them. (The fork server, not the batch's
    process, is the workers' parent: PR_SET_PDEATHSIG or os.getppid cannot tell.) A write cut
    short leaves a temporary file that the next batch into the folder removes.
    """
    def watch() -> None:
        while process_running(parent):
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="xcal-parent-watch", daemon=True).start()


def process_item(item: Item, recipe: Recipe | None = None, token: str | None = None) -> ItemResult:
    """Integrate ``item`` with this process's Worker for the recipe (built at the first call)."""
    key = recipe.token if recipe is not None else token
    worker = _WORKERS.get(key)
    if worker is None:
        if recipe is None:
            raise RuntimeError("process_item: no recipe for this batch in this process")
        _WORKERS.clear()  # one batch at a time per process: free the previous one's tables
        worker = _WORKERS[key] = Worker(recipe)
    return worker.process(item)
