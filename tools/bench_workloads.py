#!/usr/bin/env python
r"""Training speed of the temporal workloads: fpsnn's exact gradients vs snnTorch surrogate gradients.

For each workload (``japanese_vowels``, ``basic_motions``, ``mnist5k``; ``--workloads``) on the first
``--train-subset`` training and ``--test-subset`` test samples, with the data set's default
hyper-parameters and the same initial weights for both methods:

* fpsnn: ``fpsnn.training.Trainer`` (exact gradient, ``--grad-mode``, adjoint by default) for
  ``--epochs`` epochs: training samples per second (minibatch gradients + optimizer steps, evaluation
  excluded; numba compilation excluded by a warm-up), input and hidden spikes per sample (the trained
  network on the training subset), test accuracy.
* snnTorch: the same layers as ``snn.Synaptic`` neurons stepped at ``--dt`` (the time discretisation of
  ``tools/compare_surrogate.py``, which documents it), fast-sigmoid surrogate, fed the same encoded spike
  trains (several spikes of an input in one step add up), same minibatches' size; seconds per training
  epoch and test accuracy after as many epochs. Its read-out mirrors the data set's ``hyper.readout``
  (``compare_surrogate.snn_readout``): ``"mean_membrane"`` (japanese_vowels, basic_motions): a
  non-firing output layer (threshold 1e9, see ``compare_surrogate.NON_FIRING_THETA``), cross entropy of
  ``count_scale`` x its membrane potential averaged over the steps, class = argmax of that mean, as
  fpsnn's ``MeanMembraneCrossEntropy``; ``"first_spike"`` / ``"spike_count"`` (mnist5k): spike-count
  cross entropy (``snntorch.functional.ce_count_loss``), class = most output spikes. Both sides record
  their read-out in the JSON (``readout``, ``loss``).
* ``readout_check`` (snnTorch side, ``"mean_membrane"`` only): on the initial weights and the first
  ``--check-samples`` training samples, the snnTorch time-mean output potential vs fpsnn's closed form
  (``MeanMembraneCrossEntropy.scores``): (a) the output layer alone, fed fpsnn's own hidden spike times,
  which isolates the potential's scale and the time stepping; (b) the whole network from the input
  raster, where the hidden layer's discrete spikes (and fpsnn's ``max_spikes`` cap) also differ;
  (c) (one hidden layer) as (b) but the discrete hidden spikes cut at fpsnn's cap per neuron before
  they reach the output layer: what is left of (b) once the cap, which the snnTorch model lacks, is
  mirrored. ``hidden_capped_fraction_fpsnn``: (sample, hidden neuron) pairs at fpsnn's cap.
  Figures: ``rel_l2`` = ||V_snn - V_fpsnn|| / ||V_fpsnn|| over (sample, class), ``scale`` = least-squares
  factor V_snn ~ scale x V_fpsnn, ``argmax_agreement`` = fraction of samples with the same class.
* peak memory: the peak resident set size (MiB) of a fresh child process that runs only that method on
  that workload (``resource.getrusage``), so the two methods are measured apart.

Default run (< 2 minutes on an idle 2-core machine): 40 training / 40 test samples, 2 epochs.
The full study: ``--train-subset 0 --test-subset 0 --epochs 10`` (0 = the whole split).
``--json`` prints one JSON object: ``{"settings": ..., "workloads": {name: {"fpsnn": ..., "snntorch": ...,
"speedup_per_epoch": ...}}}``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

WORKLOADS = ("japanese_vowels", "basic_motions", "mnist5k")
INSTALL_HINT = "snnTorch comparison needs the 'compare' extra: pip install 'fpsnn[compare]'"


def multi_spike_raster(times: np.ndarray, dt: float, n_steps: int) -> np.ndarray:
    """Spike times (batch, n_in) or (batch, n_in, k) -> raster (n_steps, batch, n_in) float32 counts.

    A spike at ``g`` lands in step ``round(g / dt)`` (as ``compare_surrogate.spike_raster``); spikes of
    one input in one step add up; later than the last step they are dropped."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim == 2:
        times = times[:, :, None]
    fin = np.isfinite(times)
    idx = np.where(fin, np.rint(np.where(fin, times, 0.0) / dt), n_steps).astype(np.int64)
    b, i, _ = np.nonzero(idx < n_steps)
    raster = np.zeros((n_steps,) + times.shape[:2], dtype=np.float32)
    np.add.at(raster, (idx[idx < n_steps], b, i), 1.0)
    return raster


def _data(name: str, train_subset: int, test_subset: int):
    from fpsnn import datasets

    spec = datasets.spec(name)
    enc = spec.encoder()
    x, y = datasets.load(name, "train")
    xt, yt = datasets.load(name, "test")
    x, y = x[:train_subset or None], y[:train_subset or None]
    xt, yt = xt[:test_subset or None], yt[:test_subset or None]
    return spec, (enc(x), y), (enc(xt), yt)


def run_fpsnn(name: str, args) -> dict:
    """One workload with fpsnn's exact gradients (see the module docstring)."""
    from fpsnn.losses import classifier_loss
    from fpsnn.training import Trainer

    spec, train, test = _data(name, args.train_subset, args.test_subset)
    hyper = spec.hyper.replace(epochs=args.epochs, grad_mode=args.grad_mode)
    trainer = Trainer(hyper, train, test, n_classes=spec.n_classes, seed=args.seed, progress=False)
    warm = trainer.initial_network()
    warm.value_and_grad(train[0][:2], classifier_loss(hyper, train[1][:2]), mode=hyper.grad_mode)
    result = trainer.fit()
    epoch_s = [r["wall_s"] for r in result.history[1:]]
    sim = result.net.simulate(train[0])
    n = len(train[1])
    return {"epoch_s": float(np.mean(epoch_s)) if epoch_s else None,
            "samples_per_s": n / float(np.mean(epoch_s)) if epoch_s else None,
            "test_accuracy": result.final.get("test_accuracy"), "train_accuracy": result.final["train_accuracy"],
            "readout": hyper.readout, "loss": type(classifier_loss(hyper, train[1][:1])).__name__,
            "count_scale": hyper.count_scale if hyper.readout in ("spike_count", "membrane", "mean_membrane") else None,
            "input_spikes_per_sample": float(np.isfinite(train[0]).reshape(n, -1).sum(axis=1).mean()),
            "hidden_spikes_per_sample": float(sum(np.isfinite(t).sum() for t in sim.times[:-1]) / n),
            "sizes": [int(result.net.n_inputs)] + list(result.net.sizes), "n_train": n, "n_test": len(test[1])}


def readout_check(torch, snn, surrogate, hyper, net, x: np.ndarray, dt: float, n_steps: int, slope: float) -> dict:
    """Time-mean output potential (potential units), snnTorch vs fpsnn, for the non-firing read-out of
    fpsnn network ``net`` (built from ``hyper``: output theta = inf) on encoded inputs ``x``, snnTorch
    stepped at ``dt`` (time units) for ``n_steps`` steps; see the module docstring."""
    from compare_surrogate import NON_FIRING_THETA, build_model, layer_thresholds
    from fpsnn.losses import MeanMembraneCrossEntropy

    times = net.simulate(x).times
    v_fp = MeanMembraneCrossEntropy(np.zeros(len(x), dtype=np.int64)).scores(net, x, times)  # (n, n_out)
    thetas = layer_thresholds(hyper.theta, net.n_layers, "mean_membrane")

    def compare(v):
        v = np.asarray(v, dtype=np.float64)
        return {"rel_l2": float(np.linalg.norm(v - v_fp) / np.linalg.norm(v_fp)),
                "rel_max": float(np.max(np.abs(v - v_fp)) / np.max(np.abs(v_fp))),
                "scale": float(np.sum(v * v_fp) / np.sum(v_fp * v_fp)),
                "argmax_agreement": float(np.mean(np.argmax(v, axis=1) == np.argmax(v_fp, axis=1)))}

    with torch.no_grad():
        # (a) the read-out layer alone, driven by fpsnn's hidden (or input) spike times.
        pre = x if net.n_layers == 1 else times[-2]
        out_only = build_model(torch, snn, surrogate, [net.weights[-1]], hyper.alpha, hyper.beta, NON_FIRING_THETA,
                               dt, slope)
        v_a = out_only(torch.tensor(multi_spike_raster(pre, dt, n_steps)), mean_mem=True)[1].numpy()
        # (b) the whole network from the input raster.
        full = build_model(torch, snn, surrogate, net.weights, hyper.alpha, hyper.beta, thetas, dt, slope)
        spikes, v_b = full(torch.tensor(multi_spike_raster(x, dt, n_steps)), mean_mem=True)
        # (c) the discrete hidden spikes beyond fpsnn's per-neuron cap dropped (one hidden layer).
        caps = tuple(getattr(net, "spike_caps", ())) or (int(net.max_spikes),) * net.n_layers
        capped = None
        if net.n_layers == 2:
            s = spikes[0]
            kept = s * (torch.cumsum(s, dim=0) <= caps[0])
            capped = compare(out_only(kept, mean_mem=True)[1].numpy())
    n = len(x)
    at_cap = [float(np.mean(np.isfinite(t).sum(axis=2) >= k)) for t, k in zip(times[:-1], caps)]
    return {"samples": n, "dt": dt, "mean_abs_potential_fpsnn": float(np.mean(np.abs(v_fp))),
            "output_layer_on_fpsnn_hidden_spikes": compare(v_a), "full_network": compare(v_b.numpy()),
            "full_network_hidden_capped": capped, "hidden_spike_caps": list(caps[:-1]),
            "hidden_capped_fraction_fpsnn": at_cap,
            "hidden_spikes_per_sample_fpsnn": float(sum(np.isfinite(t).sum() for t in times[:-1]) / n),
            "hidden_spikes_per_sample_snntorch": float(sum(float(s.sum()) for s in spikes[:-1]) / n)}


def run_snntorch(name: str, args) -> dict:
    """The same workload and initial weights trained with snnTorch surrogate gradients, with the
    read-out that mirrors the data set's ``hyper.readout`` (module docstring)."""
    import torch
    import snntorch as snn
    import snntorch.functional as sf
    from snntorch import surrogate

    from compare_surrogate import (NON_FIRING_THETA, build_model, evaluate_snn, layer_thresholds, snn_loss,
                                   snn_output, snn_readout)
    from fpsnn.training import init_network

    spec, (x, y), (xt, yt) = _data(name, args.train_subset, args.test_subset)
    hyper = spec.hyper
    readout = snn_readout(hyper)
    init_seq, shuffle_seq = np.random.SeedSequence(int(args.seed)).spawn(2)
    net0 = init_network(hyper, x.shape[1], spec.n_classes, np.random.default_rng(init_seq))
    n_steps = int(round(hyper.simulation_window / args.dt))
    check = None
    if readout == "mean_membrane":
        check = readout_check(torch, snn, surrogate, hyper, net0, x[:args.check_samples], args.dt, n_steps, args.slope)
    torch.manual_seed(args.seed)
    thetas = layer_thresholds(hyper.theta, len(net0.weights), readout)
    model = build_model(torch, snn, surrogate, net0.weights, hyper.alpha, hyper.beta, thetas, args.dt, args.slope)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr_snntorch)
    count_scale = float(hyper.count_scale)
    loss_fn = snn_loss(torch, sf, readout, count_scale)
    r_train = torch.tensor(multi_spike_raster(x, args.dt, n_steps))
    r_test = torch.tensor(multi_spike_raster(xt, args.dt, n_steps))
    rng = np.random.default_rng(shuffle_seq)
    n, bs = len(y), min(int(hyper.batch_size or len(y)), len(y))
    epoch_s = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        for b in range(-(-n // bs)):
            idx = torch.as_tensor(order[b * bs:(b + 1) * bs])
            opt.zero_grad()
            loss = loss_fn(snn_output(model, r_train[:, idx], readout), torch.as_tensor(y[order[b * bs:(b + 1) * bs]]))
            loss.backward()
            opt.step()
        epoch_s.append(time.perf_counter() - t0)
    train = evaluate_snn(torch, model, r_train, y, loss_fn, readout=readout)
    test = evaluate_snn(torch, model, r_test, yt, loss_fn, readout=readout)
    mean_membrane = readout == "mean_membrane"
    return {"epoch_s": float(np.mean(epoch_s)) if epoch_s else None,
            "samples_per_s": n / float(np.mean(epoch_s)) if epoch_s else None,
            "test_accuracy": test["accuracy"], "train_accuracy": train["accuracy"], "dt": args.dt,
            "n_steps": n_steps, "readout": readout,
            "loss": ("cross entropy of count_scale x mean output membrane potential" if mean_membrane
                     else "snntorch.functional.ce_count_loss"),
            "count_scale": count_scale if mean_membrane else None,
            "output_threshold": NON_FIRING_THETA if mean_membrane else float(hyper.theta),
            "lr": args.lr_snntorch, "readout_check": check}


def _child(name: str, method: str, args) -> dict:
    """Run one (workload, method) in this process and add its peak RSS (MiB)."""
    out = (run_fpsnn if method == "fpsnn" else run_snntorch)(name, args)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def _spawn(name: str, method: str, argv: list) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", f"{name}:{method}"] + argv
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated data set names")
    p.add_argument("--epochs", type=int, default=2, help="training epochs for both methods (>= 1)")
    p.add_argument("--train-subset", type=int, default=40, help="first N training samples (0: all)")
    p.add_argument("--test-subset", type=int, default=40, help="first N test samples (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grad-mode", default="adjoint", choices=("adjoint", "forward"))
    p.add_argument("--dt", type=float, default=0.02, help="snnTorch time step (time units)")
    p.add_argument("--slope", type=float, default=25.0, help="fast-sigmoid surrogate slope")
    p.add_argument("--lr-snntorch", type=float, default=5e-3, help="snnTorch Adam learning rate")
    p.add_argument("--no-snntorch", action="store_true", help="fpsnn only")
    p.add_argument("--check-samples", type=int, default=40,
                   help="training samples of the snnTorch-vs-fpsnn read-out potential check (mean_membrane)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = p.parse_known_args(argv)
    if (args.epochs < 1 or args.train_subset < 0 or args.test_subset < 0 or not args.dt > 0
            or args.check_samples < 1):
        p.error("need --epochs >= 1, --train-subset >= 0, --test-subset >= 0, --dt > 0, --check-samples >= 1")
    if args.child:
        name, method = args.child.split(":")
        print(json.dumps(_child(name, method, args)))
        return 0
    names = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        p.error(f"--workloads: unknown {unknown}; valid: {', '.join(WORKLOADS)}")
    forward = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--json"]
    report = {"settings": {k: v for k, v in vars(args).items() if k not in ("child", "json")}, "workloads": {}}
    for name in names:
        row = {"fpsnn": _spawn(name, "fpsnn", forward)}
        if not args.no_snntorch:
            row["snntorch"] = _spawn(name, "snntorch", forward)
            a, b = row["fpsnn"].get("epoch_s"), row["snntorch"].get("epoch_s")
            row["speedup_per_epoch"] = b / a if a and b else None
        report["workloads"][name] = row
        if not args.json:
            print(name, json.dumps(row), flush=True)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
