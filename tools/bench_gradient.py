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

``--contended`` times every mode twice in the same run: quiet, and while one CPU-bound competitor
process (a pure-Python busy loop, not pinned) runs, in ``--blocks`` alternating blocks of each (the
competitor is paused with SIGSTOP during the quiet blocks), so a drift of the machine's speed falls on
both figures alike. The ratio
contended / quiet says how gracefully the parallel code shares a busy machine: with N cores, N
threads and one competitor, a fair scheduler leaves this process N / (N + 1) of the CPU (2 cores:
~67 %); a parallel region whose join waits for a descheduled thread falls far below that.
Compare ratios measured in the same run: other load on the machine changes both figures.

``runtime`` in the JSON says which process settings of :mod:`fpsnn.runtime` were in force; run with
``FPSNN_TUNE_RUNTIME=0`` for the figures without them (an A/B in one session).

    python tools/bench_gradient.py [--batch 150] [--min-seconds 2] [--contended [--blocks 4]] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numba
import numpy as np

import fpsnn

MODES = ("adjoint", "forward")


def yinyang_network(rng) -> fpsnn.Network:
    w1 = rng.normal(1.5, 0.8, (5, 150))
    w2 = rng.normal(2.0, 0.1, (150, 3))
    return fpsnn.Network(weights=[w1, w2], alpha=0.999, beta=1.0, theta=1.0, t_max=2.0)


@contextmanager
def competitor():
    """One CPU-bound process (a pure-Python busy loop, not pinned to a core) for the block: yields a
    function ``run(on)`` that lets it run (``on``) or pauses it (SIGSTOP; POSIX), so quiet and
    contended blocks can alternate in one run."""
    # a busy loop that ends with its parent, should the benchmark be killed before its clean-up
    loop = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(100000):\n        pass"
    proc = subprocess.Popen([sys.executable, "-c", loop],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def run(on: bool) -> None:
        os.kill(proc.pid, signal.SIGCONT if on else signal.SIGSTOP)
        time.sleep(0.05)  # let the scheduler see the change before the clock starts

    try:
        time.sleep(0.2)  # let it reach the busy loop before the clock starts
        yield run
    finally:
        proc.kill()
        proc.wait()


def _timed(net, x, loss, mode: str, min_seconds: float) -> tuple:
    """``(batches, wall s, CPU s)`` of back-to-back batches of ``value_and_grad`` for at least ``min_seconds``."""
    repeats = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while repeats == 0 or time.perf_counter() - t0 < min_seconds:
        net.value_and_grad(x, loss, mode=mode)
        repeats += 1
    return repeats, time.perf_counter() - t0, time.process_time() - c0


def _rates(batches: int, wall: float, cpu: float, batch: int) -> dict:
    # samples per CPU-second: robust to other load on the machine; x cores = an idle machine's rate
    return {"samples_per_s": batches * batch / wall, "s_per_batch": wall / batches,
            "samples_per_cpu_s": batches * batch / cpu, "batches": batches}


def time_mode(net, x, loss, mode: str, batch: int, min_seconds: float) -> dict:
    """Back-to-back batches of ``value_and_grad`` for at least ``min_seconds``: rates and counts."""
    return _rates(*_timed(net, x, loss, mode, min_seconds), batch)


def alternate(net, x, loss, mode: str, batch: int, min_seconds: float, blocks: int, run) -> tuple:
    """Quiet and contended rates from ``blocks`` alternating blocks of each (``run``: :func:`competitor`'s
    switch), ``min_seconds`` in all per condition: the machine's own drift (frequency, other load)
    then falls on both conditions alike instead of on the one measured later."""
    totals = {False: np.zeros(3), True: np.zeros(3)}   # batches, wall s, CPU s
    for block in range(2 * blocks):
        on = bool(block % 2)
        run(on)
        totals[on] += _timed(net, x, loss, mode, min_seconds / blocks)
    run(False)
    return tuple(_rates(int(n), wall, cpu, batch) for n, wall, cpu in (totals[False], totals[True]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=150)
    ap.add_argument("--min-seconds", type=float, default=2.0, help="time each mode for at least this long")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contended", action="store_true",
                    help="also time every mode while one CPU-bound competitor process runs")
    ap.add_argument("--blocks", type=int, default=4,
                    help="with --contended: alternate this many quiet and contended blocks per mode (default 4; "
                         "1 = all quiet, then all contended)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.blocks < 1:
        ap.error(f"--blocks = {args.blocks}: must be >= 1")
    if args.batch < 1:
        ap.error(f"--batch = {args.batch}: must be >= 1")
    if not args.min_seconds > 0:
        ap.error(f"--min-seconds = {args.min_seconds}: must be > 0")

    rng = np.random.default_rng(args.seed)
    net = yinyang_network(rng)
    x = np.concatenate([0.15 + 1.85 * rng.random((args.batch, 4)), np.full((args.batch, 1), 0.9)], axis=1)
    labels = rng.integers(0, 3, args.batch)
    loss = fpsnn.losses.FirstSpikeCrossEntropy(labels, tau0=0.2, tau1=1.0, gamma=0.005)

    out = {"batch": args.batch, "threads": numba.get_num_threads(), "cpus": os.cpu_count(),
           "threading_layer": numba.config.THREADING_LAYER, "runtime": getattr(fpsnn.kernels, "RUNTIME", None),  # None: a version without fpsnn.runtime (A/B)
           "load_average_start": os.getloadavg()[0]}
    for mode in MODES:
        for _ in range(3):  # compile, then warm up threads and caches
            net.value_and_grad(x, loss, mode=mode)
        if not args.contended:
            out[mode] = time_mode(net, x, loss, mode, args.batch, args.min_seconds)
            continue
        with competitor() as run:
            out[mode], out.setdefault("contended", {})[mode] = alternate(
                net, x, loss, mode, args.batch, args.min_seconds, args.blocks, run)
        out.setdefault("contended_ratio", {})[mode] = (out["contended"][mode]["samples_per_s"]
                                                       / out[mode]["samples_per_s"])
    res = net.simulate(x)
    out["spikes_per_sample"] = {"hidden": float(res.spike_counts(0).sum(1).mean()),
                                "output": float(res.spike_counts(1).sum(1).mean())}
    out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out["load_average"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out))
        return
    for mode in MODES:
        print(f"{mode:8s}: {out[mode]['samples_per_s']:10.0f} samples/s  ({out[mode]['s_per_batch'] * 1e3:.2f} ms "
              f"per batch of {args.batch}; {out[mode]['samples_per_cpu_s']:.0f} samples per CPU-second)")
        if args.contended:
            c = out["contended"][mode]
            print(f"{'':8s}  {c['samples_per_s']:10.0f} samples/s with one CPU-bound competitor "
                  f"({100 * out['contended_ratio'][mode]:.0f} % of quiet)")
    print(f"spikes per sample: {out['spikes_per_sample']}; threads: {out['threads']}; peak memory: "
          f"{out['peak_mem_mb']:.0f} MB; load average {out['load_average']:.1f}")


if __name__ == "__main__":
    main()
