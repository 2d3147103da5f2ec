"""``fpsnn demo``: the whole path on its embedded default, from nothing to a network on chip emulators.

1. train the paper's Yin-Yang network (5-150-3, exact gradients) for 30 epochs at a learning rate of
   3e-3 (the paper trains 300 epochs at 5e-4; this short schedule reaches ~94 % in well under a minute);
2. write its figures (first-spike histograms before/after, membrane traces, raster, curves);
3. deploy it to Xylo Audio 2 and Loihi 2: integer program + artifacts + a report, and the test set run
   on each chip's bit-accurate emulator (``fpsnn deploy --run`` runs the vendor simulators: slower).

Everything lands in one folder (default ``runs/demo``); the summary names every file.

The event loops are numba-compiled and cached on disk. On a fresh install the first run compiles them
(minutes on a slow machine); the demo says so before it starts, and ``tools/setup.sh`` runs
:func:`warm_up` once so that a newcomer's first demo only loads the cache.
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

DEFAULT_TARGETS = ("xylo-audio2", "loihi2")


def run_demo(out_dir="runs/demo", epochs: int = 30, lr: float = 3e-3, seed: int = 0, targets=DEFAULT_TARGETS,
             subset: int = 1000, progress: bool = True, log=None) -> dict:
    """Train, plot and deploy; returns a JSON-ready summary.

    Args:
        out_dir: output folder (created).
        epochs: training epochs (the paper trains 300).
        lr: Adam learning rate (the paper's is 5e-4, for 300 epochs).
        seed: initialisation and shuffling seed.
        targets: chip names to deploy to.
        subset: test samples run on each chip's emulator.
        progress: show progress bars on stderr.
        log: callable taking one line of notes (default: stderr).
    """
    from . import datasets, plots
    from .deploy import deploy
    from .resolve import resolve_model
    from .train import fit_dataset

    log = log or (lambda line: print(line, file=sys.stderr))
    out = Path(out_dir)
    t0 = time.perf_counter()
    warm = warm_up(log)
    log(f"fpsnn: simulator ready ({warm:.0f} s); training Yin-Yang for {int(epochs)} epochs")
    spec = datasets.spec("yinyang")
    hyper = replace(spec.paper, epochs=int(epochs), lr=float(lr))   # Table 3 at a faster lr: 30 epochs
    result = fit_dataset("yinyang", hyper, seed=seed, out_dir=out, progress=progress)
    x_test, y_test = resolve_model(result.model_path).data("test")   # the spikes the model was trained on
    figures = plots.make_all(result.net, x_test, y_test, out / "figures",
                             history=result.history, initial_weights=result.initial_weights, title="Yin-Yang")
    deployments = {}
    for target in targets:
        report = deploy(result.model_path, target, out / target, run_data=None, subset=subset, log=log)
        pred = report["prediction"] or {}
        deployments[target] = {"engine_name": pred.get("engine_name"), "accuracy": pred.get("accuracy"),
                               "float_accuracy": pred.get("float_accuracy"), "dt": report["dt"],
                               "folder": str(out / target)}
    final = result.final
    return {"model": str(result.model_path), "epochs": result.epochs,
            "train_accuracy": final["train_accuracy"], "test_accuracy": final.get("test_accuracy"),
            "figures": {k: str(v) for k, v in figures.items()}, "deployments": deployments,
            "wall_s": time.perf_counter() - t0}


def warm_up(log=None) -> float:
    """Compile (or load from numba's disk cache) every loop the demo runs, on a few samples; seconds taken.

    Trains Yin-Yang for one epoch on 8 samples in memory (simulation, adjoint gradients, evaluation),
    computes one membrane trace and runs the samples on each default target's emulator: the same
    argument types as the demo, so the demo finds every loop compiled. ``docs/robustness.md`` has the
    measured times.
    """
    from . import datasets
    from .deploy import emulate
    from .train import fit_dataset

    t0 = time.perf_counter()
    (log or (lambda line: None))("fpsnn: preparing the compiled simulator (a fresh install compiles it once, "
                                 "which can take a few minutes; later runs load it from the cache)")
    spec = datasets.spec("yinyang")
    result = fit_dataset("yinyang", replace(spec.hyper, epochs=1, batch_size=4), train_subset=8, test_subset=8)
    x, y = datasets.load("yinyang", "test")
    enc = spec.encoder(spec.hyper)
    import numpy as np

    from .simulate import membrane_potential

    one = enc(x[:1])
    membrane_potential(result.net, one, result.net.simulate(one).times, np.linspace(0.0, result.net.t_max, 8),
                       layer=-1)   # the membrane-trace figure's loop
    for target in DEFAULT_TARGETS:
        emulate(result.net, target, data=(enc(x[:8]), y[:8]))
    return time.perf_counter() - t0


def configure(p) -> None:
    """Arguments of ``fpsnn demo``."""
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30; the paper: 300)")
    p.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 3e-3; the paper: 5e-4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                   help=f"comma-separated chips to deploy to (default {','.join(DEFAULT_TARGETS)})")
    p.add_argument("--subset", type=int, default=1000, help="test samples run on each chip (default: all 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args) -> int:
    """``fpsnn demo``: run :func:`run_demo` and print its summary; exit 0."""
    import json

    summary = run_demo(args.out, epochs=args.epochs, lr=args.lr, seed=args.seed,
                       targets=[t for t in args.targets.split(",") if t], subset=args.subset,
                       progress=not args.no_progress)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"Yin-Yang, {summary['epochs']} epochs: train {100 * summary['train_accuracy']:.1f} %, "
          f"test {100 * summary['test_accuracy']:.1f} %  -> {summary['model']}")
    for name, path in summary["figures"].items():
        print(f"  figure {name}: {path}")
    for target, d in summary["deployments"].items():
        print(f"  {target}: {100 * d['accuracy']:.1f} % on {d['engine_name']} (float model "
              f"{100 * d['float_accuracy']:.1f} %, dt = {d['dt']:.4g}) -> {d['folder']}")
    print(f"done in {summary['wall_s']:.0f} s")
    return 0
