"""Many seeds of one training recipe, in parallel worker processes: :func:`run_seeds`."""
from __future__ import annotations

import time

from .trainer import fit_dataset

__all__ = ["run_seeds"]


def _summary_of_run(args: tuple) -> dict:
    """Worker of :func:`run_seeds` (module level so process pools can pickle it)."""
    name, hyper, seed, kwargs = args
    t0 = time.perf_counter()
    r = fit_dataset(name, hyper, seed=seed, progress=False, **kwargs)
    return {"seed": seed, "epochs": r.epochs, "stopped_early": r.stopped_early,
            "train_accuracy": r.final["train_accuracy"], "test_accuracy": r.final.get("test_accuracy"),
            "silent_outputs": r.final["silent_outputs"], "dead_hidden": r.final["dead_hidden"],
            "loss": r.final["loss"], "wall_s": time.perf_counter() - t0,
            "epoch_wall_s": [row["wall_s"] for row in r.history[1:]]}


def run_seeds(name: str, seeds, hyper=None, jobs: int = 1, on_result=None,
              **kwargs) -> list:
    """Train ``name`` once per seed (in ``jobs`` worker processes) and return one summary dict per run.

    ``kwargs`` go to :func:`fit_dataset` (e.g. ``until_accuracy``, ``train_subset``); ``on_result(summary)``
    is called as each run finishes (for progress display). Results are ordered by seed. Worker
    processes are started with the "spawn" method and one numba thread each, so ``jobs`` runs share the
    cores without oversubscribing them.
    """
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    if int(jobs) < 1:
        raise ValueError(f"jobs = {jobs}: must be >= 1")
    tasks = [(name, hyper, int(s), kwargs) for s in seeds]
    results = []
    if int(jobs) == 1:
        for task in tasks:
            results.append(_summary_of_run(task))
            if on_result:
                on_result(results[-1])
        return results
    previous = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # read by numba at import time in each spawned worker
    try:
        with ProcessPoolExecutor(max_workers=int(jobs), mp_context=get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_summary_of_run, t) for t in tasks]):
                results.append(fut.result())
                if on_result:
                    on_result(results[-1])
    finally:
        if previous is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = previous
    return sorted(results, key=lambda r: r["seed"])
