"""Integrate many images with one calibration: files, folders (with a glob), HDF5 stacks.

Frames are spread over a pool of worker processes (two by default: the machine's cores), each
building its integrator once. A bad file is reported and the batch goes on; results that exist
are never overwritten unless asked; Cancel stops between frames and reports what was done.
"""

from __future__ import annotations

import fnmatch
import glob
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from pyFAI.geometry import Geometry

from ..errors import Cancelled, XcalError
from ..io.atomic import check_writable, remove_stale_temporaries
from ..io.images import HDF5_EXTENSIONS, frame_count, image_files_in_folder, load_image, split_hdf5_source
from ..io.poni import read_poni, resolve_legacy
from ..progress import Task, ensure_task
from .batch_job import Item, ItemResult, Recipe, Worker, failure_reason, init_worker, process_item

DEFAULT_WORKERS = 2
# Starting worker processes costs seconds (each imports pyFAI): fewer frames run in this process.
MIN_POOL_ITEMS = 8


def _context() -> multiprocessing.context.BaseContext:
    """forkserver: workers copy no thread of this process (a GUI's, pyFAI's); spawn where unavailable."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["xcal.core.beamtime.batch_job"])
    return context


def start_worker_server() -> None:
    """Start the process that forks the workers now, so its imports overlap with other work."""
    context = _context()
    if context.get_start_method() == "forkserver":
        import multiprocessing.forkserver

        multiprocessing.forkserver.ensure_running()


@dataclass
class BatchReport:
    """What a batch did, item by item, for the summary at the end."""

    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def _with(self, status: str) -> list[ItemResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[ItemResult]:
        return self._with("done")

    @property
    def skipped(self) -> list[ItemResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[ItemResult]:
        return self._with("failed")

    def extend(self, other: "BatchReport") -> None:
        self.results += other.results
        self.seconds += other.seconds
        self.cancelled |= other.cancelled

    def summary(self) -> str:
        """One line of counts, then one line per skipped or failed item with its reason."""
        rate = f" in {self.seconds:.1f} s ({len(self.done) / self.seconds:.1f} frames/s)" if self.seconds > 0 and self.done else ""
        lines = [f"Integrated {len(self.done)}, skipped {len(self.skipped)}, failed {len(self.failed)}{rate}"
                 + (" — cancelled" if self.cancelled else "") + "."]
        lines += [f"  skipped {r.item.label}: {r.reason}" for r in self.skipped]
        lines += [f"  failed  {r.reason}" for r in self.failed]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        def entry(r: ItemResult) -> dict:
            return {"source": r.item.source, "frame": r.item.frame, "reason": r.reason, "outputs": r.outputs}

        return {"done": [entry(r) for r in self.done], "skipped": [entry(r) for r in self.skipped],
                "failed": [entry(r) for r in self.failed], "seconds": self.seconds, "cancelled": self.cancelled}


# -- sources -----------------------------------------------------------------------------------


def expand_sources(inputs: Iterable[str | os.PathLike], pattern: str = "*") -> tuple[list[Item], list[ItemResult]]:
    """Frames to integrate from files, folders (files matching ``pattern``), globs and HDF5 stacks.

    Every frame of an HDF5 dataset is an item; other files give their first frame. Inputs that
    cannot be opened, whatever the reader raises (a corrupt HDF5 file: h5py's RuntimeError), come
    back as failed results (the batch goes on without them); two inputs that would write the same
    output names are refused the same way.
    """
    items: list[Item] = []
    failed: list[ItemResult] = []
    for source in _files(inputs, pattern, failed):
        try:
            items += _frames(source)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            item = Item(source, 0, _stem(source))
            failed.append(ItemResult(item, "failed", failure_reason(item, exc, "cannot be read")))
    owners: dict[str, Item] = {}
    unique = []
    for item in items:
        first = owners.setdefault(item.stem, item)
        if first is item:
            unique.append(item)
        else:
            failed.append(ItemResult(item, "failed", f"{item.label}: its output name {item.stem} is already "
                                                     f"that of {first.label}; rename one or integrate them apart."))
    return unique, failed


def _files(inputs: Iterable[str | os.PathLike], pattern: str, failed: list[ItemResult]) -> list[str]:
    files: list[str] = []
    for entry in map(os.fspath, inputs):
        path = split_hdf5_source(entry)[0]
        if os.path.isdir(path):
            try:
                files += [str(p) for p in image_files_in_folder(path) if fnmatch.fnmatch(p.name, pattern)]
            except OSError as exc:
                failed.append(ItemResult(Item(entry, 0, _stem(entry)), "failed", f"{entry}: cannot list the folder ({exc})."))
        elif not os.path.exists(path) and glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                failed.append(ItemResult(Item(entry, 0, _stem(entry)), "failed", f"{entry}: no file matches."))
            files += matches
        else:
            files.append(entry)
    return files


def _frames(source: str) -> list[Item]:
    path, dataset = split_hdf5_source(source)
    stem = _stem(path)
    if dataset is None and Path(path).suffix.lower().lstrip(".") not in HDF5_EXTENSIONS:
        if not os.path.isfile(path):
            raise XcalError(f"{path}: file not found.")
        return [Item(source, 0, stem)]
    n = frame_count(source)
    if n == 1:
        return [Item(source, 0, stem)]
    width = max(4, len(str(n - 1)))
    return [Item(source, k, f"{stem}_{k:0{width}d}") for k in range(n)]


def _stem(path: str) -> str:
    name = Path(split_hdf5_source(path)[0]).name
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    return name.rpartition(".")[0] or name


def batch_geometry(poni: str | os.PathLike, items: list[Item]) -> tuple[Geometry, list[str]]:
    """The .poni's geometry and notes; a file without detector orientation (legacy Dioptas?) is
    read the way that fits the first readable image, as the GUI and ``xcal pattern`` do."""
    read = read_poni(poni, legacy_dioptas=False)
    if read.had_orientation:
        return read.geometry, read.notes
    for item in items[:5]:
        try:
            image = load_image(item.source, item.frame)
        except Exception:  # noqa: BLE001 - any unreadable frame: its own item reports why
            continue
        resolved = resolve_legacy(poni, image.data, image.invalid)
        return resolved.geometry, resolved.notes
    return read.geometry, read.notes


def prepare_output_folder(folder: Path) -> None:
    """Create the output folder if needed, make sure results can be written there, and remove the
    temporary files of writes killed there earlier; any problem is one error naming the folder."""
    if folder.exists() and not folder.is_dir():
        raise XcalError(f"{folder}: cannot hold the results: it is a file, not a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        check_writable(folder)
        remove_stale_temporaries(folder)
    except OSError as exc:
        raise XcalError(f"{folder}: cannot hold the results ({exc.strerror or exc}).") from None


def pending(items: list[Item], recipe: Recipe) -> tuple[list[Item], list[ItemResult]]:
    """Items with some output still to write, and the others as skipped (unless ``overwrite``)."""
    if recipe.overwrite:
        return list(items), []
    todo, skipped = [], []
    for item in items:
        if all(p.exists() for p in recipe.outputs(item)):
            skipped.append(ItemResult(item, "skipped", "its results exist (overwrite not asked)"))
        else:
            todo.append(item)
    return todo, skipped


# -- running -----------------------------------------------------------------------------------


class BatchRunner:
    """Runs items of one recipe on ``workers`` processes (1: in this process); reusable (watch mode)."""

    def __init__(self, recipe: Recipe, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise XcalError(f"The number of workers must be at least 1 (got {workers}).")
        prepare_output_folder(recipe.folder)
        self.recipe = recipe
        self.workers = workers
        if workers > 1:
            start_worker_server()
        self._pool: ProcessPoolExecutor | None = None
        self._local: Worker | None = None

    def __enter__(self) -> "BatchRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, items: list[Item], task: Task | None = None) -> BatchReport:
        """Integrate ``items`` (skipping those whose results exist); progress and Cancel through ``task``."""
        task = ensure_task(task)
        t0 = time.perf_counter()
        todo, skipped = pending(items, self.recipe)
        report = BatchReport(skipped)
        try:
            if self.workers == 1 or (len(todo) < MIN_POOL_ITEMS and self._pool is None):
                self._run_here(todo, report, task)
            else:
                self._run_pool(todo, report, task)
        except Cancelled:
            report.cancelled = True
            finished = {id(r.item) for r in report.results}
            report.results += [ItemResult(i, "skipped", "cancelled") for i in todo if id(i) not in finished]
        report.seconds = time.perf_counter() - t0
        return report

    def _run_here(self, todo: list[Item], report: BatchReport, task: Task) -> None:
        if self._local is None:
            self._local = Worker(self.recipe)
        for k, item in enumerate(todo):
            task.report(k / len(todo), Path(split_hdf5_source(item.source)[0]).name)
            report.results.append(self._local.process(item))
        task.report(1.0, "done")

    def _pool_executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=init_worker,
                                             initargs=(self.recipe, os.getpid()))
        return self._pool

    def _run_pool(self, todo: list[Item], report: BatchReport, task: Task) -> None:
        """Keep a few items queued per worker (so Cancel is quick); survive a worker that dies.

        A dead worker (a reader crashing on a corrupt file, the out-of-memory killer) breaks the
        pool: the items then in flight are retried one at a time in a new pool, and only one that
        kills a worker on its own is reported as failed.
        """
        queue, suspects = deque(todo), deque()
        running: dict[Future, tuple[Item, bool]] = {}  # future → (item, run alone)
        last, before = "", len(report.results)
        task.report(0.0, f"starting {self.workers} workers")
        try:
            while queue or suspects or running:
                alone = bool(suspects)
                source, limit = (suspects, 1) if alone else (queue, 4 * self.workers)
                while source and len(running) < limit:
                    item = source.popleft()
                    try:
                        future = self._pool_executor().submit(process_item, item, None, self.recipe.token)
                    except BrokenProcessPool:  # a worker died since the last look
                        source.appendleft(item)
                        self._abandon(running, suspects)
                        break
                    running[future] = (item, alone)
                finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    item, was_alone = running.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken = True
                        if was_alone:
                            report.results.append(ItemResult(item, "failed", f"{item.label}: the worker process "
                                                             "died while integrating it (crash or out of memory)."))
                        else:
                            suspects.append(item)
                    else:
                        result = _result(future, item)
                        report.results.append(written_by_this_run(result, self.recipe) if was_alone else result)
                        last = Path(split_hdf5_source(item.source)[0]).name
                if broken:
                    self._abandon(running, suspects)
                task.report((len(report.results) - before) / len(todo), last)
        except BaseException:
            for future in running:
                future.cancel()
            for future, (item, _) in running.items():  # those already running finish; keep their results
                if not future.cancelled():
                    report.results.append(_result(future, item))
            raise

    def _abandon(self, running: dict[Future, tuple[Item, bool]], suspects: deque[Item]) -> None:
        """The pool is broken: its items in flight become suspects, run one at a time in a new pool."""
        suspects.extend(item for item, _ in running.values())
        running.clear()
        self.close()


def written_by_this_run(result: ItemResult, recipe: Recipe) -> ItemResult:
    """An item that had results to write when the run began, tried again after its worker died
    (a pool's, or a Dask worker whose results Dask computes again), skipped as its results all
    exist now: the first try wrote them (atomically). It was integrated by this run: done."""
    if result.status != "skipped":
        return result
    outputs = [str(p) for p in recipe.outputs(result.item)]
    return ItemResult(result.item, "done", outputs=outputs, seconds=result.seconds)


def _result(future: Future, item: Item) -> ItemResult:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a worker that died (out of memory...) fails its item only
        return ItemResult(item, "failed", f"{item.label}: the worker process failed ({type(exc).__name__}: {exc}).")


def run_batch(items: list[Item], recipe: Recipe, workers: int = DEFAULT_WORKERS, task: Task | None = None) -> BatchReport:
    """Integrate ``items`` once with a fresh pool (see :class:`BatchRunner`)."""
    with BatchRunner(recipe, workers) as runner:
        return runner.run(items, task)
