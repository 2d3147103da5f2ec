"""``fpsnn sweep CONFIG.toml``: grid or random search over hyper-parameters and seeds, on Ray or in turn.

A *trial* is one training run, ``fpsnn.train.fit_dataset(dataset, hyper, seed, out_dir, resume=True)``,
in its own run directory whose name is derived from the trial's parameters (readable part + a hash of
everything that defines the run except the epoch budget). So:

- a worker killed mid-trial: Ray runs the task again (``max_retries``) and it resumes from the run
  directory's last per-epoch checkpoint, bit for bit (the trainer's resume guarantee);
- a killed sweep: run the same command again; finished trials are read back from their
  ``trial.json``, unfinished ones resume from their checkpoints;
- a longer epoch budget in the config continues every trial from where it stopped.

Trials run as Ray tasks (one CPU and one numba thread each; local Ray by default, a cluster with
``--address ray://HOST:10001``) or, with ``backend="sequential"``, one after the other in this process:
the results are the same (a run does not depend on the thread count). Ray is imported only inside
functions; without it, ``backend="auto"`` falls back to sequential and ``"ray"`` gives one line naming
the ``ray`` extra.

Config (TOML)::

    dataset = "yinyang"
    seeds = 2                     # or a list [0, 5, 7]
    epochs = 3                    # overrides the data set's default
    out = "runs/sweep"            # the CLI's --out wins
    train_subset = 500            # optional: test_subset, until_accuracy too
    [hyper]                       # base hyper-parameters (fpsnn.datasets.Hyperparameters fields)
    batch_size = 50
    [grid]                        # every combination of these lists ...
    lr = [1e-3, 3e-3]
    tau0 = [0.2, 0.5]
    [random]                      # ... or n_trials draws (seeded) from these distributions
    n_trials = 8
    seed = 0
    lr = { log_uniform = [1e-4, 1e-2] }   # also uniform = [a, b], int_uniform = [a, b], choice = [...]
    [ray]
    num_cpus = 2                  # local Ray only
    max_retries = 3               # reruns of a trial whose worker died

Results in the output folder: ``results.csv`` and ``results.json`` (one row per trial: parameters, seed,
final test/train accuracy, epochs, wall and CPU seconds of this invocation, resumed-from epoch, run
directory) and ``sweep.png`` (test accuracy vs each swept parameter, mean +- std over seeds).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["load_config", "trials_from_config", "seed_tasks", "trial_name", "run_trial", "run_trials", "run_seeds",
           "run_sweep", "write_results", "plot_sweep", "tree_cpu_seconds", "add_seed_arguments",
           "seed_options", "configure", "run", "TRIAL_FILE", "BACKENDS"]

TRIAL_FILE = "trial.json"
BACKENDS = ("auto", "ray", "sequential")
_TOP_KEYS = {"dataset", "seeds", "epochs", "out", "train_subset", "test_subset", "until_accuracy", "hyper",
             "grid", "random", "ray"}
_DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


# ------------------------------------------------------------------------------------------- config
def load_config(path) -> dict:
    """Read a sweep TOML file (ValueError with the file name when it does not parse)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config: {path} is not valid TOML ({exc})") from None


def _seeds(value) -> list:
    seeds = list(range(int(value))) if isinstance(value, int) else list(value)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds = {value!r}: a count >= 1 or a list of integers >= 0")
    return seeds


def _draw(name: str, dist, rng: np.random.Generator):
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in _DISTRIBUTIONS:
        raise ValueError(f"random.{name} = {dist!r}: one of {{{', '.join(d + ' = [...]' for d in _DISTRIBUTIONS)}}}")
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError(f"random.{name}.choice: a non-empty list")
        return args[int(rng.integers(len(args)))]
    if not isinstance(args, list) or len(args) != 2 or not args[0] < args[1]:
        raise ValueError(f"random.{name}.{kind} = {args!r}: two bounds [low, high] with low < high")
    lo, hi = args
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    if kind == "int_uniform":
        return int(rng.integers(int(lo), int(hi) + 1))
    if lo <= 0:
        raise ValueError(f"random.{name}.log_uniform = {args!r}: bounds must be > 0")
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _parameter_sets(config: dict) -> list:
    grid, rand = config.get("grid"), config.get("random")
    if grid and rand:
        raise ValueError("config: give [grid] or [random], not both")
    if grid:
        for k, v in grid.items():
            if not isinstance(v, list) or not v:
                raise ValueError(f"grid.{k} = {v!r}: a non-empty list of values")
        return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if rand:
        rand = dict(rand)
        n = rand.pop("n_trials", None)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"random.n_trials = {n!r}: an integer >= 1")
        rng = np.random.default_rng(int(rand.pop("seed", 0)))
        return [{k: _draw(k, d, rng) for k, d in rand.items()} for _ in range(n)]
    return [{}]


def trials_from_config(config: dict, out_dir=None) -> list:
    """One task dict per (parameter set, seed), in a stable order; ValueError names a bad key.

    ``out_dir`` (default: the config's ``out``, else ``runs/sweep``) holds one run directory per trial;
    ``out_dir=False`` trains in memory (no checkpoints, no resumption).
    """
    from . import datasets

    unknown = set(config) - _TOP_KEYS
    if unknown:
        raise ValueError(f"config: unknown keys {sorted(unknown)}; valid: {', '.join(sorted(_TOP_KEYS))}")
    name = config.get("dataset")
    if name not in datasets.NAMES:
        raise ValueError(f"dataset = {name!r}: one of {', '.join(datasets.NAMES)}")
    hyper = datasets.spec(name).hyper.replace(**config.get("hyper", {}))
    if "epochs" in config:
        hyper = hyper.replace(epochs=config["epochs"])
    if out_dir is None:
        out_dir = config.get("out", "runs/sweep")
    options = {k: config.get(k) for k in ("train_subset", "test_subset", "until_accuracy")}
    seeds = _seeds(config.get("seeds", 1))
    return [task for params in _parameter_sets(config)
            for task in seed_tasks(name, seeds, hyper.replace(**params), out_dir, params, **options)]


def seed_tasks(dataset: str, seeds, hyper=None, out_dir=None, params: dict | None = None, **options) -> list:
    """One task per seed of one hyper-parameter set (``None``: the data set's defaults).

    ``out_dir``: folder of the run directories (``None`` / ``False``: train in memory); ``params``: the
    swept values (they name the run directory); ``options``: ``train_subset``, ``test_subset``,
    ``until_accuracy`` of :func:`fpsnn.train.fit_dataset`.
    """
    from . import datasets

    unknown = set(options) - {"train_subset", "test_subset", "until_accuracy"}
    if unknown:
        raise ValueError(f"options: unknown {sorted(unknown)}; valid: train_subset, test_subset, until_accuracy")
    hyper = datasets.spec(dataset).hyper if hyper is None else hyper
    tasks = []
    for seed in _seeds(list(seeds)):
        task = {"dataset": dataset, "hyper": hyper.to_dict(), "seed": seed, "params": dict(params or {}),
                "train_subset": None, "test_subset": None, "until_accuracy": None, **options}
        task["name"] = trial_name(task)
        task["run_dir"] = None if out_dir in (None, False) else str(Path(out_dir) / task["name"])
        tasks.append(task)
    return tasks


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_name(task: dict) -> str:
    """``lr=0.001_tau0=0.2_seed=3-<hash>``: readable parameters + 8 hex digits of a hash of the data set,
    the full hyper-parameters (epochs excluded, so a longer budget resumes), the seed and the options."""
    ident = {k: v for k, v in task.items() if k not in ("name", "run_dir", "params", "hyper")}
    ident["hyper"] = {k: v for k, v in task["hyper"].items() if k != "epochs"}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    readable = "_".join(f"{k}={_fmt(v)}" for k, v in sorted(task["params"].items()))
    readable = "".join(c if c.isalnum() or c in ".=_-" else "-" for c in readable)
    return f"{readable + '_' if readable else ''}seed={task['seed']}-{digest}"


# ------------------------------------------------------------------------------------------- trials
def run_trial(task: dict, threads: int | None = None) -> dict:
    """Train one trial (resuming its run directory) and return its result row; ``threads`` caps numba."""
    from . import io
    from .datasets import Hyperparameters
    from .train import CHECKPOINT_NAME, fit_dataset

    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    run_dir = None if task.get("run_dir") is None else Path(task["run_dir"])
    hyper = Hyperparameters(**task["hyper"])
    if run_dir is not None:
        done = run_dir / TRIAL_FILE
        if done.is_file():
            row = json.loads(done.read_text())
            if row.get("epochs_budget") == hyper.epochs:
                return row
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "worker.pid").write_text(str(os.getpid()))
        ck = run_dir / CHECKPOINT_NAME
        resumed_from = int(io.load_checkpoint(ck).metadata["epoch"]) if ck.is_file() else 0
    else:
        resumed_from = 0
    t0, c0 = time.perf_counter(), time.process_time()
    r = fit_dataset(task["dataset"], hyper, seed=task["seed"], out_dir=run_dir, progress=False,
                    resume=run_dir is not None, train_subset=task.get("train_subset"),
                    test_subset=task.get("test_subset"), until_accuracy=task.get("until_accuracy"))
    final = r.final
    row = {"trial": task["name"], "dataset": task["dataset"], **task["params"], "seed": task["seed"],
           "test_accuracy": final.get("test_accuracy"), "train_accuracy": final["train_accuracy"],
           "loss": final["loss"], "epochs": r.epochs, "epochs_budget": hyper.epochs,
           "stopped_early": r.stopped_early, "silent_outputs": final["silent_outputs"],
           "dead_hidden": final["dead_hidden"], "wall_s": time.perf_counter() - t0,
           "cpu_s": time.process_time() - c0, "resumed_from_epoch": resumed_from,
           "epoch_wall_s": [h["wall_s"] for h in r.history[1:]], "run_dir": task.get("run_dir")}
    if run_dir is not None:
        from .io import write_atomic

        write_atomic(run_dir / TRIAL_FILE, json.dumps(row, indent=1).encode())
    return row


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run_trials(tasks: list, backend: str = "auto", address: str | None = None, num_cpus: int | None = None,
               max_retries: int = 3, on_result=None) -> list:
    """Run every task (Ray tasks or in turn) and return the rows in task order.

    Args:
        backend: ``"ray"``, ``"sequential"``, or ``"auto"`` (Ray when installed and more than one CPU or
            a cluster is asked for, else sequential).
        address: Ray cluster (``None``: local Ray with ``num_cpus`` CPUs, default all).
        max_retries: Ray reruns of a trial whose worker process died (it resumes from its checkpoint).
        on_result: called with each row as it arrives (progress display).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend = {backend!r}: one of {', '.join(BACKENDS)}")
    if num_cpus is not None and int(num_cpus) < 1:
        raise ValueError(f"num_cpus = {num_cpus}: must be >= 1")
    if int(max_retries) < 0:
        raise ValueError(f"max_retries = {max_retries}: must be >= 0")
    if backend == "auto":
        wants_parallel = address is not None or num_cpus is None or int(num_cpus) > 1
        backend = "ray" if wants_parallel and _ray_available() else "sequential"
    if backend == "sequential":
        rows = []
        for task in tasks:
            rows.append(run_trial(task))
            if on_result:
                on_result(rows[-1])
        return rows
    from .distributed import connect

    ray = connect(address, num_cpus)
    remote = ray.remote(num_cpus=1, max_retries=int(max_retries))(run_trial)
    pending = {remote.remote(task, 1): i for i, task in enumerate(tasks)}
    rows = [None] * len(tasks)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            rows[pending.pop(ref)] = row = ray.get(ref)
            if on_result:
                on_result(row)
    return rows


# ------------------------------------------------------------------------------------------- results
def write_results(rows: list, out_dir, swept: list) -> dict:
    """``results.json``, ``results.csv`` and ``sweep.png`` in ``out_dir``; returns their paths."""
    import csv
    import io as _io

    from .io import json_default, write_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "figure": out / "sweep.png"}
    write_atomic(paths["json"], json.dumps(rows, indent=1, default=json_default).encode())
    columns = list(dict.fromkeys(k for r in rows for k in r if k != "epoch_wall_s"))
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items() if k in columns})
    write_atomic(paths["csv"], buf.getvalue().encode())
    plot_sweep(rows, swept, paths["figure"])
    return paths


def plot_sweep(rows: list, swept: list, path) -> Path:
    """Test accuracy (%) vs each swept parameter: one point per parameter set, mean +- std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict = {}
    for r in rows:
        key = json.dumps({k: r.get(k) for k in swept}, sort_keys=True)
        groups.setdefault(key, []).append(100 * (r["test_accuracy"] if r["test_accuracy"] is not None else math.nan))
    names = swept or ["seed"]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        if swept:
            xs = [json.loads(k)[name] for k in groups]
            acc = list(groups.values())
        else:
            xs, acc = [r["seed"] for r in rows], [[100 * r["test_accuracy"]] for r in rows]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
        pos = xs if numeric else [sorted(map(str, set(map(str, xs)))).index(str(v)) for v in xs]
        ax.errorbar(pos, [np.mean(a) for a in acc], yerr=[np.std(a) for a in acc], fmt="o", capsize=3)
        if numeric and min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        if not numeric:
            labels = sorted(set(map(str, xs)))
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{len(rows)} trials, mean +- std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def tree_cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds of a process and all its live descendants (Linux ``/proc``; else None).

    Counts what local Ray's own processes (GCS, raylet, workers) spend, not only the trials.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in proc.iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    root = os.getpid() if pid is None else int(pid)
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, (ppid, _) in stats.items() if ppid == parent and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(stats[p][1] for p in tree if p in stats)


def run_seeds(dataset: str, seeds, hyper=None, backend: str = "auto", jobs: int | None = None,
              address: str | None = None, out_dir=None, on_result=None, **options) -> list:
    """Train ``dataset`` once per seed through the sweep path; rows ordered by seed.

    What the reproduction tools call: Ray with ``jobs`` CPUs (or the cluster at ``address``) when
    installed, in turn otherwise (``backend="auto"``; ``jobs=1`` runs in turn). ``out_dir`` makes every
    seed's run resumable; ``options`` as in :func:`seed_tasks`.
    """
    if jobs is not None and int(jobs) < 1:
        raise ValueError(f"jobs = {jobs}: must be >= 1")
    if backend == "auto" and address is None and jobs is not None and not _ray_available() and int(jobs) > 1:
        from .distributed import RAY_MISSING

        print(f"note: {RAY_MISSING}; running the seeds in turn", file=sys.stderr)
    tasks = seed_tasks(dataset, seeds, hyper, out_dir, **options)
    rows = run_trials(tasks, backend=backend, address=address, num_cpus=jobs, on_result=on_result)
    return sorted(rows, key=lambda r: r["seed"])


def run_sweep(config: dict, out_dir=None, backend: str = "auto", address: str | None = None,
              num_cpus: int | None = None, on_result=None) -> dict:
    """Run a sweep config (see the module docstring) and write its results; returns a summary."""
    ray_cfg = config.get("ray", {})
    out_dir = Path(out_dir if out_dir is not None else config.get("out", "runs/sweep"))
    tasks = trials_from_config(config, out_dir)
    t0 = time.perf_counter()
    rows = run_trials(tasks, backend=backend, address=address,
                      num_cpus=num_cpus if num_cpus is not None else ray_cfg.get("num_cpus"),
                      max_retries=ray_cfg.get("max_retries", 3), on_result=on_result)
    swept = list((config.get("grid") or {}).keys()) + [k for k in (config.get("random") or {})
                                                      if k not in ("n_trials", "seed")]
    paths = write_results(rows, out_dir, swept)
    return {"trials": len(rows), "out": str(out_dir), "swept": swept, "wall_s": time.perf_counter() - t0,
            "files": {k: str(v) for k, v in paths.items()},
            "best": max(rows, key=lambda r: r["test_accuracy"] or -1.0) if rows else None}


# ------------------------------------------------------------------------------------------- CLI
def add_seed_arguments(p, jobs: int = 2) -> None:
    """The options every seed-study tool shares: ``--jobs``, ``--backend``, ``--address``, ``--out``."""
    p.add_argument("--jobs", type=int, default=jobs, help=f"CPUs of local Ray (default {jobs}; 1: in turn)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="ray | sequential | auto (Ray when installed and --jobs > 1; default)")
    p.add_argument("--address", help="Ray cluster address, e.g. ray://HOST:10001 (default: local Ray)")
    p.add_argument("--out", help="keep every seed's checkpointed run directory here (a rerun resumes)")


def seed_options(args) -> dict:
    """:func:`run_seeds` keywords from :func:`add_seed_arguments`' options."""
    return {"jobs": args.jobs, "backend": args.backend, "address": args.address, "out_dir": args.out}


def configure(p) -> None:
    p.add_argument("config", metavar="CONFIG.toml", help="sweep definition (see `fpsnn.sweep`'s docstring)")
    p.add_argument("--address", help="Ray cluster address, e.g. ray://HOST:10001 (default: local Ray)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="ray | sequential | auto (Ray when installed; default)")
    p.add_argument("--num-cpus", type=int, help="CPUs of local Ray (default: the config's [ray] num_cpus, else all)")
    p.add_argument("--out", help="output folder (default: the config's out, else runs/sweep)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args) -> int:
    """``fpsnn sweep``: exit status 0, or 2 with one line when Ray is asked for and missing."""
    from .distributed import RAY_MISSING

    if (args.backend == "ray" or args.address) and not _ray_available():
        print(f"fpsnn: error: {RAY_MISSING}", file=sys.stderr)
        return 2
    note = lambda r: print(f"  {r['trial']}: test {100 * (r['test_accuracy'] or 0):.1f} % "
                           f"(epoch {r['epochs']}, resumed from {r['resumed_from_epoch']})", file=sys.stderr)
    summary = run_sweep(load_config(args.config), out_dir=args.out, backend=args.backend, address=args.address,
                        num_cpus=args.num_cpus, on_result=note)
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        best = summary["best"]
        print(f"{summary['trials']} trials in {summary['wall_s']:.0f} s -> {summary['files']['csv']}, "
              f"{summary['files']['figure']}; best test {100 * (best['test_accuracy'] or 0):.1f} % ({best['trial']})")
    return 0
