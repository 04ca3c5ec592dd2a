"""The same batch on an existing Dask cluster (optional extra: ``pip install 'xcal[dask]'``).

Each Dask worker process builds the recipe's integrator once (cached by the recipe's token) and
writes the outputs itself, so the output folder must be on a file system the workers share with
this machine, and xcal must be installed where they run. Without the extra nothing else changes:
``dask`` is imported only here, only when a scheduler address is given.
"""

from __future__ import annotations

import time
from pathlib import Path

from .batch import BatchReport, pending
from .batch_job import Item, ItemResult, Recipe, process_item
from .errors import Cancelled, XcalError
from .images import split_hdf5_source
from .progress import Task, ensure_task


def _distributed():
    try:
        import distributed
    except ImportError:
        raise XcalError("Running on a Dask cluster needs the optional dependencies: "
                        "pip install 'xcal[dask]' (dask and distributed).") from None
    return distributed


def run_on_dask(items: list[Item], recipe: Recipe, address: str, task: Task | None = None,
                timeout_s: float = 10.0) -> BatchReport:
    """Integrate ``items`` on the Dask scheduler at ``address`` (e.g. ``tcp://host:8786``)."""
    distributed = _distributed()
    task = ensure_task(task)
    t0 = time.perf_counter()
    recipe.folder.mkdir(parents=True, exist_ok=True)
    todo, skipped = pending(items, recipe)
    report = BatchReport(skipped)
    try:
        client = distributed.Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise XcalError(f"Cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        task.report(0.0, f"sending to {address}")
        shared = client.scatter(recipe, broadcast=True, hash=False)
        futures = client.map(process_item, todo, recipe=shared, pure=False)
        owner = {future.key: item for future, item in zip(futures, todo)}
        try:
            for k, future in enumerate(distributed.as_completed(futures, loop=client.loop), 1):
                item = owner[future.key]
                report.results.append(_result(future, item))
                task.report(k / len(todo), Path(split_hdf5_source(item.source)[0]).name)
        except Cancelled:
            client.cancel(futures)
            report.cancelled = True
            finished = {id(r.item) for r in report.results}
            report.results += [ItemResult(i, "skipped", "cancelled") for i in todo if id(i) not in finished]
    report.seconds = time.perf_counter() - t0
    return report


def _result(future, item: Item) -> ItemResult:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a lost worker fails its items only
        return ItemResult(item, "failed", f"{item.label}: the Dask task failed ({type(exc).__name__}: {exc}).")
