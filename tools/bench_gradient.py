#!/usr/bin/env python
"""Throughput of forward pass + exact gradient on the paper's Yin-Yang network.

Network: 5 inputs (4 features + bias spike at 0.9), 150 hidden, 3 outputs; weights N(1.5, 0.8) and
N(2.0, 0.1); alpha = 0.999, beta = 1, theta = 1, t_max = 2; batch 150 of random Yin-Yang-like input
times in [0.15, 2]. Prints samples per second for both gradient modes (after a warm-up call that
compiles the event loops), samples per CPU-second (what each core contributes, independent of other
load on the machine) and the peak resident memory of the process.

Each mode is timed over at least ``--min-seconds`` of back-to-back batches after three warm-up
batches (a training epoch is such a run of batches; a handful of calls is at the mercy of thread
start-up and frequency ramps).

    python tools/bench_gradient.py [--batch 150] [--min-seconds 2] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numba
import numpy as np

import fpsnn


def yinyang_network(rng) -> fpsnn.Network:
    w1 = rng.normal(1.5, 0.8, (5, 150))
    w2 = rng.normal(2.0, 0.1, (150, 3))
    return fpsnn.Network(weights=[w1, w2], alpha=0.999, beta=1.0, theta=1.0, t_max=2.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=150)
    ap.add_argument("--min-seconds", type=float, default=2.0, help="time each mode for at least this long")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    net = yinyang_network(rng)
    x = np.concatenate([0.15 + 1.85 * rng.random((args.batch, 4)), np.full((args.batch, 1), 0.9)], axis=1)
    labels = rng.integers(0, 3, args.batch)
    loss = fpsnn.losses.FirstSpikeCrossEntropy(labels, tau0=0.2, tau1=1.0, gamma=0.005)

    out = {"batch": args.batch, "threads": numba.get_num_threads()}
    for mode in ("adjoint", "forward"):
        for _ in range(3):  # compile, then warm up threads and caches
            net.value_and_grad(x, loss, mode=mode)
        repeats = 0
        t0, c0 = time.perf_counter(), time.process_time()
        while repeats == 0 or time.perf_counter() - t0 < args.min_seconds:
            net.value_and_grad(x, loss, mode=mode)
            repeats += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        # samples per CPU-second: robust to other load on the machine; x cores = an idle machine's rate
        out[mode] = {"samples_per_s": repeats * args.batch / wall, "s_per_batch": wall / repeats,
                     "samples_per_cpu_s": repeats * args.batch / cpu, "batches": repeats}
    res = net.simulate(x)
    out["spikes_per_sample"] = {"hidden": float(res.spike_counts(0).sum(1).mean()),
                                "output": float(res.spike_counts(1).sum(1).mean())}
    out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out["load_average"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out))
    else:
        for mode in ("adjoint", "forward"):
            print(f"{mode:8s}: {out[mode]['samples_per_s']:10.0f} samples/s  ({out[mode]['s_per_batch'] * 1e3:.2f} ms "
                  f"per batch of {args.batch}; {out[mode]['samples_per_cpu_s']:.0f} samples per CPU-second)")
        print(f"spikes per sample: {out['spikes_per_sample']}; threads: {out['threads']}; peak memory: "
              f"{out['peak_mem_mb']:.0f} MB; load average {out['load_average']:.1f}")


if __name__ == "__main__":
    main()
