#!/usr/bin/env python
r"""How the exact gradient's cost grows: samples/s and memory against input spikes and hidden size.

Each point trains nothing: it times ``Network.value_and_grad`` (``--grad-mode``, adjoint by default;
first-spike cross entropy) on a batch of ``--batch`` synthetic samples, the median of ``--repeats``
calls after a warm-up, in a fresh child process whose peak resident set size (``resource.getrusage``,
MiB) is the point's memory. Network: ``--n-in`` inputs -> ``H`` hidden (optionally recurrent) -> 10
outputs, alpha = 2, beta = 1, theta = 1, window 5 time units, ``max_spikes`` 32.

Inputs: ``S`` spikes per sample, uniform on [0, 4] over the inputs (``ceil(S / n_in)`` slots each).
Weights are scaled to the drive so activity stays comparable across ``S`` and ``H``: hidden
``N(8 / S, 8 / S)`` (every hidden neuron receives all ``S`` input spikes of a sample), recurrent ``N(0, 0.5 / sqrt(H))`` (zero diagonal), output ``N(4 / H, 4 / H)``. Each point reports the
hidden and output spikes it produced, so cost can be read against all spikes, not only the inputs.

Fitted exponent: least squares of ``log(seconds per sample)`` on ``log(total spikes per sample)`` over
the input-spike sweep (one per hidden size and recurrence): 1 = linear.

Default (< 2 minutes idle): S in 10, 100, 1000; H in 32, 128; with and without recurrence.
Full study: ``--spikes 10,100,1000,10000 --hidden 32,128,512,1024``.
``--json`` prints ``{"settings", "points": [...], "exponents": [...]}``.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np


def point(spikes: int, hidden: int, recurrent: bool, args) -> dict:
    """Time and count one configuration in this process (see the module docstring)."""
    import fpsnn
    from fpsnn.losses import FirstSpikeCrossEntropy

    rng = np.random.default_rng(args.seed)
    n_in, batch = args.n_in, args.batch
    k = max(1, math.ceil(spikes / n_in))
    x = np.full((batch, n_in, k), np.inf)
    for b in range(batch):  # exactly `spikes` spikes per sample, spread over the inputs
        slots = rng.choice(n_in * k, size=min(spikes, n_in * k), replace=False)
        x[b].flat[slots] = rng.uniform(0.0, 4.0, size=slots.size)
    x = np.sort(x, axis=2)
    w1 = rng.normal(8.0 / spikes, 8.0 / spikes, size=(n_in, hidden))
    w2 = rng.normal(4.0 / hidden, 4.0 / hidden, size=(hidden, 10))
    rec = None
    if recurrent:
        r = rng.normal(0.0, 0.5 / math.sqrt(hidden), size=(hidden, hidden))
        np.fill_diagonal(r, 0.0)
        rec = [r, None]
    net = fpsnn.Network(weights=[w1, w2], recurrent=rec, alpha=2.0, beta=1.0, theta=1.0, t_max=5.0, max_spikes=32)
    labels = rng.integers(0, 10, size=batch)
    loss = FirstSpikeCrossEntropy(labels, tau0=0.5, tau1=2.0)
    net.value_and_grad(x[:1], FirstSpikeCrossEntropy(labels[:1]), mode=args.grad_mode)  # compile / warm up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        net.value_and_grad(x, loss, mode=args.grad_mode)
        times.append(time.perf_counter() - t0)
    sim = net.simulate(x)
    hid = float(np.isfinite(sim.times[0]).sum() / batch)
    out = float(np.isfinite(sim.times[1]).sum() / batch)
    s = float(np.median(times))
    return {"input_spikes": spikes, "hidden": hidden, "recurrent": recurrent, "batch": batch,
            "hidden_spikes": hid, "output_spikes": out, "total_spikes": spikes + hid + out,
            "seconds_per_batch": s, "samples_per_s": batch / s,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def _spawn(spikes: int, hidden: int, recurrent: bool, argv: list) -> dict:
    cmd = [sys.executable, __file__, "--child", f"{spikes}:{hidden}:{int(recurrent)}"] + argv
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"input_spikes": spikes, "hidden": hidden, "recurrent": recurrent, "error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exponents(points: list) -> list:
    """Fitted ``d log(s/sample) / d log(total spikes)`` per (hidden, recurrent) over the spike sweep."""
    out = []
    for key in sorted({(p["hidden"], p["recurrent"]) for p in points if "error" not in p}):
        ps = [p for p in points if "error" not in p and (p["hidden"], p["recurrent"]) == key]
        if len(ps) < 2:
            continue
        lx = np.log([p["total_spikes"] for p in ps])
        ly = np.log([p["seconds_per_batch"] / p["batch"] for p in ps])
        slope = float(np.polyfit(lx, ly, 1)[0])
        out.append({"hidden": key[0], "recurrent": key[1], "exponent": slope, "points": len(ps)})
    return out


def _ints(text: str, name: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise SystemExit(f"--{name}: expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"--{name}: every value must be >= 1, got {text!r}")
    return values


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spikes", default="10,100,1000", help="input spikes per sample (comma-separated)")
    p.add_argument("--hidden", default="32,128", help="hidden sizes (comma-separated)")
    p.add_argument("--recurrence", default="both", choices=("both", "off", "on"))
    p.add_argument("--n-in", type=int, default=100, help="input channels")
    p.add_argument("--batch", type=int, default=8, help="samples per timed call")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per point (median)")
    p.add_argument("--grad-mode", default="adjoint", choices=("adjoint", "forward"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = p.parse_known_args(argv)
    if args.n_in < 1 or args.batch < 1 or args.repeats < 1:
        p.error("need --n-in, --batch, --repeats >= 1")
    if args.child:
        s, h, r = (int(v) for v in args.child.split(":"))
        print(json.dumps(point(s, h, bool(r), args)))
        return 0
    spikes, hidden = _ints(args.spikes, "spikes"), _ints(args.hidden, "hidden")
    recs = {"both": (False, True), "off": (False,), "on": (True,)}[args.recurrence]
    forward = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--json"]
    points = []
    for h in hidden:
        for r in recs:
            for s in spikes:
                points.append(_spawn(s, h, r, forward))
                if not args.json:
                    print(json.dumps(points[-1]), flush=True)
    report = {"settings": {k: v for k, v in vars(args).items() if k not in ("child", "json")}, "points": points,
              "exponents": exponents(points)}
    if args.json:
        print(json.dumps(report))
    else:
        for e in report["exponents"]:
            print(f"hidden {e['hidden']}, recurrent {e['recurrent']}: cost ~ spikes^{e['exponent']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
