"""The same batch on an existing Dask cluster (optional extra: ``pip install 'xcal[dask]'``).

Each Dask worker process builds the recipe's integrator once (cached by the recipe's token) and
writes the outputs itself, so the output folder must be on a file system the workers share with
this machine, and xcal must be installed where they run. Without the extra nothing else changes:
``dask`` is imported only here, only when a scheduler address is given.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import Cancelled, XcalError
from ..io.images import split_hdf5_source
from ..progress import Task, ensure_task
from .batch import BatchReport, pending, prepare_output_folder, written_by_this_run
from .batch_job import Item, ItemResult, Recipe, process_item


def _distributed():
    try:
        import distributed
    except ImportError:
        raise XcalError("Running on a Dask cluster needs the optional dependencies: "
                        "pip install 'xcal[dask]' (dask and distributed).") from None
    return distributed


def run_on_dask(items: list[Item], recipe: Recipe, address: str, task: Task | None = None,
                timeout_s: float = 10.0) -> BatchReport:
    """Integrate ``items`` on the Dask scheduler at ``address`` (e.g. ``tcp://host:8786``).

    A worker that dies costs no frame: Dask computes its frames again, even those it had
    finished (their results are lost with it), and an item with results to write when the run
    began that comes back skipped was integrated in this run, so it counts as done. Frames Dask
    cancels instead (it may take the scattered recipe for lost with the worker) are sent once more.
    """
    distributed = _distributed()
    task = ensure_task(task)
    t0 = time.perf_counter()
    prepare_output_folder(recipe.folder)
    todo, skipped = pending(items, recipe)
    report = BatchReport(skipped)
    try:
        client = distributed.Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise XcalError(f"Cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        task.report(0.0, f"sending to {address}")
        try:
            cancelled = _send(distributed, client, todo, recipe, report, task, last_try=False)
            _send(distributed, client, cancelled, recipe, report, task, last_try=True)
        except Cancelled:
            report.cancelled = True
            finished = {id(r.item) for r in report.results}
            report.results += [ItemResult(i, "skipped", "cancelled") for i in todo if id(i) not in finished]
    report.seconds = time.perf_counter() - t0
    return report


def _send(distributed, client, items: list[Item], recipe: Recipe, report: BatchReport, task: Task,
          last_try: bool) -> list[Item]:
    """Integrate ``items`` on the cluster into ``report``; returns those Dask cancelled (unless ``last_try``)."""
    if not items:
        return []
    shared = client.scatter(recipe, broadcast=True, hash=False)
    futures = client.map(process_item, items, recipe=shared, pure=False)
    owner = {future.key: item for future, item in zip(futures, items)}
    cancelled, total = [], len(items) + len(report.results)
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            item = owner[future.key]
            result = _result(future, item)
            if future.status == "cancelled" and not last_try:  # possibly after it finished: its result lost
                cancelled.append(item)
                continue
            report.results.append(written_by_this_run(result, recipe))
            task.report(len(report.results) / total, Path(split_hdf5_source(item.source)[0]).name)
    except Cancelled:
        client.cancel(futures)
        raise
    return cancelled


def _result(future, item: Item) -> ItemResult:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a lost worker fails its items only
        return ItemResult(item, "failed", f"{item.label}: the Dask task failed ({type(exc).__name__}: {exc}).")
