"""Time fpsnn's bit-accurate emulators against the vendors' reference simulators.

Workload: a Yin-Yang-sized network (4 + 1 inputs, 150 hidden, 3 outputs), 200 steps, a batch of
1000 latency-coded samples (every input channel spikes once in the first half of the window). The
emulator runs the whole batch in one call; the reference runs the same inputs sample by sample (a
target may give the reference fewer samples when it is very slow: times are then compared per
sample). Both results are compared on the samples both ran. Wall-clock and CPU (process) times are
both reported: on a shared machine the CPU-time ratio is the steadier figure.

    python tools/bench_emulators.py                 # a table
    python tools/bench_emulators.py --json          # one JSON object
    python tools/bench_emulators.py --targets xylo --batch 200

Each target is one row of TARGETS: ``build(rng) -> program``, ``emulate(program, raster)``,
``reference()`` (imports the vendor code and returns its runner; ImportError skips the row with its
message) and ``ref_batch`` (None = the whole batch).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

N_IN, N_HIDDEN, N_OUT, STEPS, BATCH = 5, 150, 3, 200, 1000


@dataclass
class Target:
    """One emulator / reference pair (see the module docstring)."""

    build: Callable
    emulate: Callable
    reference: Callable
    ref_batch: int | None = None
    note: str = ""


def latency_raster(rng, batch: int, steps: int = STEPS, n_in: int = N_IN) -> np.ndarray:
    """One spike per input channel at a random time in the first half of the window, ``(batch, steps, n_in)``."""
    from fpsnn.backends import timegrid

    times = rng.uniform(0, steps / 2, size=(batch, n_in, 1))
    return timegrid.encode(times, dt=1.0, steps=steps)


# ---------------------------------------------------------------------------- Xylo
def _xylo_program(rng):
    """A float Yin-Yang-sized network quantized for XyloAudio 2 (time unit: one step)."""
    from fpsnn.backends.xylo.mapping import quantize_xylo
    from fpsnn.network import Network

    net = Network(weights=[rng.normal(0.3, 1.0, (N_IN, N_HIDDEN)), rng.normal(0.2, 0.5, (N_HIDDEN, N_OUT))],
                  alpha=1 / 5.0, beta=1 / 10.0, theta=1.0, t_max=float(STEPS))
    program, _ = quantize_xylo(net, "xylo-audio2", dt=1.0)
    return program


def _xylosim():
    from fpsnn.backends.xylo.vendor import run_xylosim, xylosim_available

    ok, reason = xylosim_available()
    if not ok:
        raise ImportError(reason)
    return run_xylosim


# ---------------------------------------------------------------------------- Loihi
# Rows for Lava / Loihi: the emulator is fpsnn.backends.loihi.emulator (LoihiProgram.run), the reference Lava's
# fixed-point CPU simulator through fpsnn.backends.loihi.vendor.run_lava_fixed_pt. Lava takes seconds
# per sample, so it runs `ref_batch` samples and the comparison is per sample.
def _loihi_program(rng):
    from fpsnn.backends.loihi.program import LoihiProgram

    return LoihiProgram(layers=[
        dict(weights=rng.integers(-60, 120, (N_IN, N_HIDDEN)), du=800, dv=400, vth=150),
        dict(weights=rng.integers(-60, 120, (N_HIDDEN, N_OUT)), du=800, dv=400, vth=600),
    ], dt=1.0)


def _lava():
    from fpsnn.backends.loihi.vendor import run_lava_fixed_pt

    return lambda program, raster: run_lava_fixed_pt(program, raster, record=False)


TARGETS = {
    "xylo": Target(build=_xylo_program, emulate=lambda p, r: p.run(r), reference=_xylosim,
                   note="fpsnn XyloProgram (numba) vs xylosim 0.1.3 (C++), XyloAudio 2 program"),
    "loihi": Target(build=_loihi_program, emulate=lambda p, r: p.run(r), reference=_lava, ref_batch=4,
                    note="fpsnn LoihiProgram vs Lava 0.10 fixed_pt (Loihi2SimCfg)"),
}


# ---------------------------------------------------------------------------- runner
def _same(a, b) -> bool:
    return len(a.spikes) == len(b.spikes) and all(np.array_equal(x, y) for x, y in zip(a.spikes, b.spikes))


def bench(name: str, target: Target, batch: int, seed: int) -> dict:
    """Time one target; returns a row dict (``skipped`` holds the reason when it could not run)."""
    rng = np.random.default_rng(seed)
    try:
        program = target.build(rng)
        reference = target.reference()
    except ImportError as exc:
        return {"target": name, "skipped": f"{exc}"}
    raster = latency_raster(rng, batch)
    if name == "loihi":
        raster = np.minimum(raster, 1)  # Lava's RingBuffer sends binary spikes
    target.emulate(program, raster[:2])  # compile (numba) outside the timed call
    t0, c0 = time.perf_counter(), time.process_time()
    emu = target.emulate(program, raster)
    t_emu, c_emu = time.perf_counter() - t0, time.process_time() - c0
    n_ref = batch if target.ref_batch is None else min(batch, target.ref_batch)
    t0, c0 = time.perf_counter(), time.process_time()
    ref = reference(program, raster[:n_ref])
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    sub = type(emu)(spikes=[s[:n_ref] for s in emu.spikes])
    per_emu, per_ref = t_emu / batch, t_ref / n_ref
    return {
        "target": name, "note": target.note, "batch": batch, "steps": int(raster.shape[1]),
        "emulator_s": t_emu, "reference_s": t_ref, "reference_batch": n_ref,
        "emulator_cpu_s": c_emu, "reference_cpu_s": c_ref,
        "cpu_speedup": (c_ref / n_ref) / (c_emu / batch) if c_emu > 0 else float("inf"),
        "emulator_s_per_sample": per_emu, "reference_s_per_sample": per_ref,
        "speedup": per_ref / per_emu, "identical": _same(sub, ref),
        "hidden_events_per_sample": float(emu.spikes[0].sum() / batch),
        "output_events_per_sample": float(emu.spikes[-1].sum() / batch),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, from {sorted(TARGETS)}")
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    names = [t for t in args.targets.split(",") if t]
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        ap.error(f"unknown targets {unknown}; choose from {sorted(TARGETS)}")
    if args.batch < 2:
        ap.error("--batch must be >= 2")
    rows = [bench(n, TARGETS[n], args.batch, args.seed) for n in names]
    if args.json:
        print(json.dumps({"workload": {"inputs": N_IN, "hidden": N_HIDDEN, "outputs": N_OUT,
                                       "steps": STEPS, "batch": args.batch}, "rows": rows}))
    else:
        for r in rows:
            if "skipped" in r:
                print(f"{r['target']:6s} skipped: {r['skipped']}")
                continue
            print(f"{r['target']:6s} emulator {r['emulator_s']:.3f} s ({r['batch']} samples)  "
                  f"reference {r['reference_s']:.3f} s ({r['reference_batch']} samples)  "
                  f"speedup {r['speedup']:.1f}x per sample (CPU time: {r['cpu_speedup']:.1f}x)  "
                  f"identical={r['identical']}  "
                  f"[{r['hidden_events_per_sample']:.1f} hidden / {r['output_events_per_sample']:.2f} output events per sample]")
    return 0 if all(r.get("identical", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
