#!/usr/bin/env python
"""Reproduce the paper's Iris experiment (section 5.2, appendix Table 2): test accuracy over seeds.

A 4-10-3 network per seed, trained with fpsnn's Iris defaults (``fpsnn.datasets.spec("iris")``) on the
fixed stratified 120/30 split; reported: mean and standard deviation of the final test accuracy.
Paper: 100 % test accuracy (one network, split not published). ``--variant penalty-scaled`` is Table 2
with tau1 = T/2 (the paper's tau1 = 1 lets the late-label penalty swamp the cross entropy at T = 16);
``--variant reference-spike`` is Table 2 plus a bias spike at t = 0 with fpsnn's loss, initialisation and
lr schedule (99.7 +- 1.0 % test, 9 of 10 seeds at 100 %). Measured figures and the reasons are in
fpsnn/datasets/iris.py.

    python tools/reproduce_iris.py --jobs 1            # 10 seeds, Table 2 as printed, in turn
    python tools/reproduce_iris.py --variant penalty-scaled
    python tools/reproduce_iris.py --variant reference-spike --jobs 1   # ~50 s
    python tools/reproduce_iris.py --t-sim 32          # simulate to 2 T (same accuracies)
    python tools/reproduce_iris.py --seeds 2 --epochs 5 --json
    python tools/reproduce_iris.py --variant reference-spike --fresh-splits  # held-out check, ~50 s

Seeds run through the sweep path (``fpsnn.sweep.run_seeds``): Ray tasks on ``--jobs`` CPUs when Ray is
installed, in turn otherwise, same results.

``--fresh-splits`` trains model seed 0 on N other stratified 120/30 splits (split seeds 0..N-1, not the
documented 42) instead of N model seeds on the documented split. The reference-spike settings were chosen
while the documented split's test accuracy was visible (validation = test there), so its 99.7 % is
optimistic; on fresh splits nothing was tuned: measured 98.3 +- 1.7 %, 5 of 10 splits at 100 %.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from fpsnn.sweep import add_seed_arguments, seed_options

VARIANTS = {"paper": "HYPERPARAMETERS", "penalty-scaled": "PENALTY_SCALED_HYPERPARAMETERS",
            "reference-spike": "REFERENCE_SPIKE_HYPERPARAMETERS"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (0..N-1)")
    p.add_argument("--epochs", type=int, help="override the default epoch count")
    p.add_argument("--variant", choices=tuple(VARIANTS), default="paper",
                   help="hyper-parameters: the paper's table, the table with tau1 = T/2, or fpsnn's variant "
                        "with a bias spike at t = 0 (see fpsnn/datasets/iris.py)")
    p.add_argument("--t-sim", type=float, help="end of the simulated window (default: T = 16)")
    p.add_argument("--fresh-splits", action="store_true",
                   help="model seed 0 on --seeds other splits (split seeds 0..N-1) instead of N model seeds")
    add_seed_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error("--seeds must be >= 1")

    from fpsnn.datasets import iris
    from fpsnn.sweep import run_seeds

    hyper = getattr(iris, VARIANTS[args.variant])
    if args.epochs is not None:
        hyper = hyper.replace(epochs=args.epochs)
    if args.t_sim is not None:
        hyper = hyper.replace(t_sim=args.t_sim)
    t0 = time.perf_counter()
    show = lambda r: print(f"  seed {r['seed']}: test {100 * r['test_accuracy']:.1f} %", file=sys.stderr)
    if args.fresh_splits:
        runs = []
        for split_seed in range(args.seeds):  # in this process: the split is a module setting
            iris.SPLIT_SEED = split_seed
            iris._split_indices.cache_clear()
            runs.append(dict(run_seeds("iris", [0], hyper, backend="sequential")[0], split_seed=split_seed))
            print(f"  split seed {split_seed}:", end="", file=sys.stderr)
            show(runs[-1])
    else:
        runs = run_seeds("iris", range(args.seeds), hyper, on_result=show, **seed_options(args))
    acc = np.array([r["test_accuracy"] for r in runs])
    result = {"seeds": args.seeds, "variant": args.variant, "fresh_splits": args.fresh_splits, "hyper": hyper.to_dict(), "epochs": hyper.epochs,
              "test_accuracy_mean": float(acc.mean()),
              "test_accuracy_std": float(acc.std()), "test_accuracies": acc.tolist(),
              "train_accuracies": [r["train_accuracy"] for r in runs], "n_perfect_test": int(np.sum(acc == 1.0)),
              "silent_outputs": [r["silent_outputs"] for r in runs], "dead_hidden": [r["dead_hidden"] for r in runs],
              "wall_s": time.perf_counter() - t0, "paper_test_accuracy": 1.0}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Iris: test accuracy {100 * acc.mean():.2f} +- {100 * acc.std():.2f} % over {args.seeds} seeds "
              f"({result['n_perfect_test']} at 100 %; paper: 100 %); {result['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
