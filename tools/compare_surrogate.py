#!/usr/bin/env python
r"""Exact gradients (fpsnn) vs snnTorch surrogate gradients on Yin-Yang: the paper's Fig. 5 (left).

What is compared
----------------
One network, two training methods, same data, same initial weights, same minibatches:

* Network: 5 inputs (4 Yin-Yang features latency-coded on [0.15, 2.0] + a bias spike at 0.9, the
  encoder of ``fpsnn.datasets.spec("yinyang")``), 150 hidden and 3 output current-based LIF neurons,
  alpha = 1/tau_syn = 0.999, beta = 1/tau_mem = 1.0, theta = 1, window T = 2 (time units).
* Data: the 5000-sample training split, the 1000-sample test split (``--train-subset`` for quick checks).
* Initial weights: ``fpsnn.training.init_network`` with the weight stream of the run seed (exactly what
  ``fpsnn.training.Trainer`` draws: W1 ~ N(1.5, 0.8), W2 ~ N(2.0, 0.1)); copied into the snnTorch model.
* Minibatches: 150 samples, the same shuffling stream (``SeedSequence(seed).spawn(2)[1]``) for both,
  so both methods see the same minibatch sequence.
* "fpsnn": exact gradients in continuous time (``Trainer``, adjoint mode), first-spike cross entropy
  (tau0 = 0.2, tau1 = 1, gamma = 0.005), Adam lr 5e-4: the paper's Table 3 settings.
* "snntorch": discrete-time simulation with ``snn.Synaptic`` (subtractive reset, threshold 1, reset
  applied in the step of the spike), ``surrogate.fast_sigmoid(slope=25)`` as the spike derivative,
  spike-count cross entropy (``snntorch.functional.ce_count_loss``: softmax over the output spike
  counts), Adam (0.9, 0.999, 1e-8). Learning rate ``--lr-snntorch`` (default 5e-3, picked by a short sweep,
  dt = 0.02, seed 0: after 3 epochs on 1500 samples 5e-4 / 2e-3 / 5e-3 gave 31.9 / 36.3 / 42.5 % train
  accuracy; after 12 epochs on all 5000, 2e-3 gave 70.7 % train / 69.3 % test and 5e-3 88.7 / 89.4 %;
  larger rates were not tried). fpsnn keeps the paper's 5e-4 (``--lr-fpsnn`` to change it).
  ``docs/figures/compare_surrogate.png`` is ``--epochs 25 --lr-fpsnn 5e-3`` (both at 5e-3), one thread:
  fpsnn 93.2 % test at 0.24 s per epoch, snnTorch 94.8 % at 7.8 s per epoch (training + evaluation).
  Prediction: the output with most spikes (ties: the earlier first spike; no output spike: wrong).

The two losses are different functions (first-spike vs spike-count cross entropy); both are ~log 3 at a
chance-level start, so they share the loss axis as in the paper's figure, but only the accuracies are
directly comparable.

Other read-outs (for ``tools/bench_workloads.py``): the snnTorch side follows the ``readout`` of the
hyper-parameters it is given (:func:`snn_readout`). ``"first_spike"`` and ``"spike_count"`` train with
spike-count cross entropy as above; ``"mean_membrane"`` mirrors ``fpsnn.losses.MeanMembraneCrossEntropy``:
the output layer never fires (threshold :data:`NON_FIRING_THETA`), the logits are ``count_scale`` x its
membrane potential averaged over the N steps (the rectangle rule for the mean over [0, T]), and the class
is their argmax.

Time discretization and weight scaling
--------------------------------------
fpsnn integrates, per neuron, I' = -alpha I + sum_j W_ji sum_g delta(t - g) and V' = -beta V + I
(V drops by theta at each own spike). snnTorch's Synaptic neuron is
I[n] = alpha_d I[n-1] + X[n], V[n] = beta_d V[n-1] + I[n] (then V -= theta after a spike). With a step
dt (``--dt``, default 0.02: 100 steps on [0, T]; 0.01 doubles snnTorch's cost) this is the exact decay plus a rectangle rule for the
membrane integral when

* alpha_d = exp(-alpha dt), beta_d = exp(-beta dt);
* X[n] = dt * (s[n] @ W): the synaptic input is the continuous weight times dt. The trainable
  parameters are kept in fpsnn's units (W, not W*dt; the model multiplies by dt), so Adam learning
  rates mean the same thing for both methods;
* state n is the time t_n = n dt (n = 1..N, N = T/dt); an input spike at time g is delivered at step
  n = round(g/dt) + 1. The extra step compensates the rectangle rule's immediate jump V[n] = dt W
  (continuously, V(t) = W h(t - g) with h(0) = 0 and h'(0) = 1): the discrete potential then
  matches W h(t_n - g) to O(dt) without a systematic lead. Spikes delivered after step N are dropped
  (an input at exactly T cannot influence anything inside [0, T] in either model).
* a discrete spike at step n stands for a spike in (t_{n-1}, t_n]. Hidden spikes reach the output layer
  in the same step (snnTorch's usual layer-by-layer step), so output potentials lead the continuous ones
  by less than one step (measured: output first spikes earlier by ~dt/4 at initialisation).
* ``reset_delay=False``: V drops by theta in the step of the spike (as in continuous time, where V is
  exactly theta at the crossing); snnTorch then lets the surrogate gradient flow through this reset term.

The tool checks this numerically before training (``discretization_check`` in the JSON): (1) the
membrane trace of non-firing neurons (theta huge) driven by the real encoded inputs and the initial W1,
discrete vs ``fpsnn.simulate.membrane_potential``, relative max error; (2) the initial network's hidden and
output spikes, discrete vs ``fpsnn.Network.simulate``: fraction of (sample, neuron) pairs with equal
spike counts and the first-spike time differences. fpsnn caps spikes at ``max_spikes`` = 16 per neuron
(its loss needs only the first output spike); the discrete model has no cap. At initialisation the output
neurons (W2 ~ N(2, 0.1) from 150 busy hidden neurons) are driven far above threshold and hit the cap in
fpsnn (the discrete model fires in about every other step: ~50 spikes with dt = 0.02), so output counts
differ there while first spikes agree within one step. Measured on 200 training samples, seed 0: membrane
relative error 2.3 % (dt = 0.02; 1.1 % with dt = 0.01; 5000 % without the dt factor), hidden spike
counts equal for 93.5 % (96.8 %) of the pairs, first-spike |difference| 95th percentile 0.016 (0.008).

Wall time per epoch: training plus the evaluation of the train and test sets after the epoch, for both
(the fpsnn number is ``Trainer``'s history ``wall_s``; numba is warmed up first so compilation is not
counted). Both use ``--threads`` threads (numba and torch). On a shared machine the times are noisy.

    python tools/compare_surrogate.py --epochs 25 --seeds 1 --out /tmp/compare --json > /tmp/compare/run.json
    python tools/compare_surrogate.py --epochs 2 --train-subset 300 --out /tmp/compare/quick   # smoke test

Needs the optional extra: ``pip install 'fpsnn[compare]'`` (snntorch + torch). fpsnn itself never
imports torch.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

INSTALL_HINT = ("compare_surrogate needs the optional extra: pip install 'fpsnn[compare]' "
                "(or: pip install torch==2.13.0 snntorch)")


# ----------------------------------------------------------------------------------- discretization
def spike_raster(times: np.ndarray, dt: float, n_steps: int) -> np.ndarray:
    """Input spike times (batch, n_in) -> raster (n_steps, batch, n_in) float32: spike at g in step
    ``round(g/dt)`` (0-based; that is state n = round(g/dt) + 1 at time t_n = n dt). Later ones are dropped."""
    times = np.asarray(times, dtype=np.float64)
    idx = np.rint(times / dt).astype(np.int64)
    raster = np.zeros((n_steps,) + times.shape, dtype=np.float32)
    b, i = np.nonzero(idx < n_steps)
    raster[idx[b, i], b, i] = 1.0
    return raster


#: Threshold (potential units) of a non-firing snnTorch read-out layer, the counterpart of fpsnn's
#: theta = inf output layer under ``readout = "mean_membrane"``. Finite on purpose: snnTorch's
#: subtractive reset computes ``mem - reset * threshold`` every step, and with no spike (reset = 0) and
#: threshold = inf that is 0 * inf = NaN. 1e9 is never reached (read-out potentials are O(1-100)), its
#: float32 ``mem - threshold`` stays < 0, and the fast-sigmoid derivative there, ~1/(slope * 1e9)^2,
#: adds nothing measurable to the gradient.
NON_FIRING_THETA = 1e9

#: fpsnn read-out (``Hyperparameters.readout``) -> the snnTorch read-out that mirrors it here:
#: the spike read-outs keep snnTorch's spike-count cross entropy (``ce_count_loss``, the comparison of
#: the paper's figure); ``mean_membrane`` gets the same loss as fpsnn (:func:`snn_loss`).
SNN_READOUTS = {"first_spike": "spike_count", "spike_count": "spike_count", "mean_membrane": "mean_membrane"}


def snn_readout(hyper) -> str:
    """The snnTorch read-out for ``hyper.readout`` (``"first_spike"`` when absent), see
    :data:`SNN_READOUTS`: ``"spike_count"`` or ``"mean_membrane"``. ValueError for a read-out this
    tool does not mirror (``"membrane"``, the peak potential)."""
    readout = getattr(hyper, "readout", "first_spike")
    if readout not in SNN_READOUTS:
        raise ValueError(f"readout = {readout!r}: the snnTorch side mirrors only {', '.join(map(repr, SNN_READOUTS))}")
    return SNN_READOUTS[readout]


def layer_thresholds(theta: float, n_layers: int, readout: str = "spike_count") -> list:
    """Per-layer snnTorch thresholds: ``theta`` everywhere, the output layer :data:`NON_FIRING_THETA`
    under the ``"mean_membrane"`` read-out (potential units)."""
    out = [float(theta)] * int(n_layers)
    if readout == "mean_membrane":
        out[-1] = NON_FIRING_THETA
    return out


def build_model(torch, snn, surrogate, weights, alpha: float, beta: float, theta, dt: float,
                slope: float):
    """snnTorch model of the layered network: one ``snn.Synaptic`` layer per weight matrix.

    ``theta``: one threshold for every layer, or one per layer (:func:`layer_thresholds`), potential units.
    """
    thetas = [float(t) for t in np.broadcast_to(np.asarray(theta, dtype=np.float64), (len(weights),))]

    class SurrogateSNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dt = float(dt)
            # Parameters in fpsnn's units and layout (n_pre, n_post); the input current is dt * s @ W.
            self.weights = torch.nn.ParameterList(
                [torch.nn.Parameter(torch.tensor(np.asarray(w), dtype=torch.float32)) for w in weights])
            self.lifs = torch.nn.ModuleList([
                snn.Synaptic(alpha=math.exp(-alpha * dt), beta=math.exp(-beta * dt), threshold=th,
                             spike_grad=surrogate.fast_sigmoid(slope=slope), reset_mechanism="subtract",
                             reset_delay=False)
                for th in thetas])

        def forward(self, raster, record_mem: bool = False, mean_mem: bool = False):
            """raster (steps, batch, n_in) -> spikes of every layer [(steps, batch, n_l)] (+ membranes).

            ``record_mem``: also every layer's membrane potential [(steps, batch, n_l)];
            ``mean_mem``: also the last layer's potential averaged over the steps 1..N, (batch, n_out)
            (the rectangle rule for (1/T) * integral of V over [0, T]; potential units). One of the two.
            """
            n_steps, batch = raster.shape[0], raster.shape[1]
            # The first layer's input current does not depend on the state: one matmul for all steps.
            cur0 = self.dt * torch.matmul(raster, self.weights[0])
            syn = [torch.zeros(batch, w.shape[1]) for w in self.weights]
            mem = [torch.zeros(batch, w.shape[1]) for w in self.weights]
            spikes = [[] for _ in self.weights]
            mems = [[] for _ in self.weights]
            mem_sum = 0.0
            for t in range(n_steps):
                cur = cur0[t]
                for l, lif in enumerate(self.lifs):
                    if l > 0:
                        cur = self.dt * torch.matmul(spk, self.weights[l])
                    spk, syn[l], mem[l] = lif(cur, syn[l], mem[l])
                    spikes[l].append(spk)
                    if record_mem:
                        mems[l].append(mem[l])
                if mean_mem:
                    mem_sum = mem_sum + mem[-1]
            out = [torch.stack(s) for s in spikes]
            if record_mem:
                return out, [torch.stack(m) for m in mems]
            if mean_mem:
                return out, mem_sum / n_steps
            return out

    return SurrogateSNN()


def snn_output(model, raster, readout: str = "spike_count"):
    """What the loss of ``readout`` reads: ``"spike_count"``: the last layer's spikes (steps, batch,
    n_out); ``"mean_membrane"``: its time-averaged membrane potential (batch, n_out), potential units."""
    if readout == "mean_membrane":
        return model(raster, mean_mem=True)[1]
    return model(raster)[-1]


def snn_loss(torch, sf, readout: str = "spike_count", count_scale: float = 1.0):
    """The snnTorch loss of ``readout``, ``loss(output, labels)`` on :func:`snn_output`'s output:
    ``"spike_count"``: ``snntorch.functional.ce_count_loss`` (softmax of the output spike counts);
    ``"mean_membrane"``: cross entropy of ``count_scale`` (1/potential unit) x the mean potentials,
    the discrete counterpart of ``fpsnn.losses.MeanMembraneCrossEntropy``."""
    if readout == "spike_count":
        return sf.ce_count_loss()
    if readout != "mean_membrane":
        raise ValueError(f"readout = {readout!r}: must be 'spike_count' or 'mean_membrane'")
    scale = float(count_scale)

    def mean_membrane_ce(mean_mem, labels):
        return torch.nn.functional.cross_entropy(scale * mean_mem, labels)

    return mean_membrane_ce


def count_predict(counts: np.ndarray, first_step: np.ndarray) -> np.ndarray:
    """Class with most output spikes; ties -> the earlier first spike; no output spike -> -1."""
    n_steps = int(first_step.max()) + 1
    key = counts.astype(np.float64) * (n_steps + 1) - first_step
    pred = np.argmax(key, axis=1)
    pred[counts.sum(axis=1) == 0] = -1
    return pred


def discretization_check(torch, model, fp_net, x_enc: np.ndarray, dt: float, n_steps: int) -> dict:
    """Discrete (snnTorch) vs continuous (fpsnn) on the initial network; see the module docstring."""
    from fpsnn import Network
    from fpsnn.simulate import membrane_potential

    t_grid = dt * np.arange(1, n_steps + 1)
    raster = torch.tensor(spike_raster(x_enc, dt, n_steps))
    # (1) potential of non-firing neurons: the weight scaling and the input timing.
    silent = Network(weights=[fp_net.weights[0]], alpha=[fp_net.alpha[0]], beta=[fp_net.beta[0]], theta=1e9,
                     t_max=fp_net.t_max)
    v_cont = membrane_potential(silent, x_enc, silent.simulate(x_enc).times, t_grid, layer=0)  # (B, n, T)
    lif = model.lifs[0]
    saved = lif.threshold.clone()
    lif.threshold.fill_(1e9)
    with torch.no_grad():
        _, mems = model(raster, record_mem=True)
    lif.threshold.copy_(saved)
    v_disc = mems[0].numpy().transpose(1, 2, 0).astype(np.float64)
    scale = float(np.max(np.abs(v_cont)))
    trace_err = float(np.max(np.abs(v_disc - v_cont)) / scale)
    # Same comparison with the unscaled weights (X = s @ W instead of dt * s @ W): what a wrong mapping gives.
    trace_err_unscaled = float(np.max(np.abs(v_disc / dt - v_cont)) / scale)
    # (2) spikes of the initial network.
    res = fp_net.simulate(x_enc)
    with torch.no_grad():
        spikes = model(raster)
    layers = []
    for l, spk in enumerate(spikes):
        s = spk.numpy()  # (T, B, n)
        counts_d = s.sum(axis=0).astype(np.int64)
        counts_c = res.spike_counts(l)
        fired = s.any(axis=0)
        first_d = np.where(fired, (np.argmax(s, axis=0) + 1) * dt, np.inf)  # end of the spike's step
        first_c = res.first_spikes(l)
        both = np.isfinite(first_c) & np.isfinite(first_d)
        diff = first_d[both] - first_c[both]
        uncapped = counts_c < fp_net.spike_caps[l]
        layers.append({
            "layer": l, "equal_count_fraction": float(np.mean(counts_d == counts_c)),
            "equal_count_fraction_below_cap": float(np.mean((counts_d == counts_c)[uncapped]))
            if uncapped.any() else None, "capped_fraction": float(np.mean(~uncapped)),
            "mean_spikes_continuous": float(counts_c.mean()), "mean_spikes_discrete": float(counts_d.mean()),
            "first_spike_both_fire_fraction": float(both.mean()),
            "first_spike_dt_minus_exact_median": float(np.median(diff)) if diff.size else None,
            "first_spike_abs_diff_p95": float(np.percentile(np.abs(diff), 95)) if diff.size else None,
        })
    return {"samples": int(len(x_enc)), "dt": dt, "membrane_rel_max_error": trace_err,
            "membrane_rel_max_error_without_dt_scaling": trace_err_unscaled, "spikes": layers}


# ----------------------------------------------------------------------------------- snnTorch training
def evaluate_snn(torch, model, raster, labels: np.ndarray, loss_fn, chunk: int = 1000,
                 readout: str = "spike_count") -> dict:
    """Accuracy and mean loss of ``model`` on ``raster`` (steps, batch, n_in) with ``labels``.

    Prediction by ``readout``: ``"spike_count"``: :func:`count_predict`; ``"mean_membrane"``: the
    output with the highest time-averaged potential (as fpsnn's metrics). ``loss_fn``: :func:`snn_loss`'s.
    """
    n_steps = raster.shape[0]
    counts, first, means, loss_sum = [], [], [], 0.0
    with torch.no_grad():
        for s in range(0, len(labels), chunk):
            out = snn_output(model, raster[:, s:s + chunk], readout)
            y = torch.tensor(labels[s:s + chunk])
            loss_sum += float(loss_fn(out, y)) * len(y)
            o = out.numpy()
            if readout == "mean_membrane":
                means.append(o)
                continue
            counts.append(o.sum(axis=0))
            first.append(np.where(o.any(axis=0), np.argmax(o, axis=0), n_steps))
    if readout == "mean_membrane":
        pred = np.argmax(np.concatenate(means), axis=1)
    else:
        pred = count_predict(np.concatenate(counts), np.concatenate(first))
    return {"accuracy": float(np.mean(pred == labels)), "loss": loss_sum / len(labels)}


def train_snntorch(torch, snn, surrogate, sf, hyper, init_weights, train, test, seed: int, epochs: int,
                   lr: float, dt: float, slope: float, log=None) -> tuple[list, object]:
    x, y = train
    xt, yt = test
    n_steps = int(round(hyper.simulation_window / dt))
    torch.manual_seed(seed)
    readout = snn_readout(hyper)
    model = build_model(torch, snn, surrogate, init_weights, hyper.alpha, hyper.beta,
                        layer_thresholds(hyper.theta, len(init_weights), readout), dt, slope)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(hyper.beta1, hyper.beta2), eps=hyper.eps)
    loss_fn = snn_loss(torch, sf, readout, getattr(hyper, "count_scale", 1.0))
    r_train = torch.tensor(spike_raster(x, dt, n_steps))
    r_test = torch.tensor(spike_raster(xt, dt, n_steps))
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[1])  # Trainer's shuffling stream
    n = len(y)
    bs = min(int(hyper.batch_size or n), n)

    def row(epoch, loss, wall):
        tr = evaluate_snn(torch, model, r_train, y, loss_fn, readout=readout)
        te = evaluate_snn(torch, model, r_test, yt, loss_fn, readout=readout)
        return {"epoch": epoch, "loss": tr["loss"] if loss is None else loss, "train_accuracy": tr["accuracy"],
                "train_loss": tr["loss"], "test_accuracy": te["accuracy"], "test_loss": te["loss"], "wall_s": wall}

    history = [row(0, None, 0.0)]
    if log:
        log("snntorch", history[-1])
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        loss_sum = 0.0
        for b in range(-(-n // bs)):
            idx = order[b * bs:(b + 1) * bs]
            opt.zero_grad()
            out = snn_output(model, r_train[:, torch.as_tensor(idx)], readout)
            loss = loss_fn(out, torch.as_tensor(y[idx]))
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
        train_s = time.perf_counter() - t0
        history.append(row(epoch + 1, loss_sum / n, None))
        history[-1]["wall_s"] = time.perf_counter() - t0
        history[-1]["train_s"] = train_s
        if log:
            log("snntorch", history[-1])
    return history, model


# ----------------------------------------------------------------------------------- fpsnn training
def train_fpsnn(hyper, train, test, seed: int, log=None) -> tuple[list, list]:
    from fpsnn.losses import FirstSpikeCrossEntropy
    from fpsnn.training import Trainer

    class _LoggingTrainer(Trainer):
        def metrics(self, *a, **k):
            r = super().metrics(*a, **k)
            if log:
                log("fpsnn", r)
            return r

    trainer = _LoggingTrainer(hyper, train, test, n_classes=3, seed=seed, progress=False)
    # Warm-up (numba compilation of simulation and gradient) so that epoch times exclude it.
    warm = trainer.initial_network()
    warm.value_and_grad(train[0][:4], FirstSpikeCrossEntropy(train[1][:4], tau0=hyper.tau0, tau1=hyper.tau1,
                                                             gamma=hyper.gamma), mode=hyper.grad_mode)
    result = trainer.fit()
    keep = ("epoch", "loss", "train_accuracy", "train_loss", "test_accuracy", "test_loss", "wall_s")
    return [{k: r.get(k) for k in keep} for r in result.history], result.initial_weights


# ----------------------------------------------------------------------------------- summary and figure
def _summarise(runs: list) -> dict:
    """Per-method summary over seeds: finals (mean, std), wall per epoch, mean curves, per-seed curves."""
    keys = ("loss", "train_accuracy", "test_accuracy", "train_loss", "test_loss")
    n_ep = min(len(r["history"]) for r in runs)
    curves = {"epoch": list(range(n_ep))}
    for k in keys:
        curves[k] = np.mean([[h[k] for h in r["history"][:n_ep]] for r in runs], axis=0).tolist()
    walls = np.array([[h["wall_s"] for h in r["history"][:n_ep]] for r in runs])
    curves["wall_s_cumulative"] = np.cumsum(walls.mean(axis=0)).tolist()
    fin = lambda k: [r["history"][-1][k] for r in runs]  # noqa: E731
    out = {"final_train_accuracy": float(np.mean(fin("train_accuracy"))),
           "final_train_accuracy_std": float(np.std(fin("train_accuracy"))),
           "final_test_accuracy": float(np.mean(fin("test_accuracy"))),
           "final_test_accuracy_std": float(np.std(fin("test_accuracy"))),
           "final_loss": float(np.mean(fin("loss"))),
           "wall_s_per_epoch": float(walls[:, 1:].mean()) if n_ep > 1 else None,
           "curves": curves,
           "per_seed": [{"seed": r["seed"], "history": r["history"]} for r in runs]}
    train_s = [h["train_s"] for r in runs for h in r["history"][1:] if "train_s" in h]
    if train_s:
        out["train_s_per_epoch"] = float(np.mean(train_s))
    return out


def plot(summary: dict, path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    from fpsnn.plots import save_figure

    fig = Figure(figsize=(15, 4.2))
    ax_e, ax_t, ax_a = fig.subplots(1, 3)
    for name, style in (("fpsnn", dict(color="C0")), ("snntorch", dict(color="C3"))):
        m = summary[name]
        c = m["curves"]
        ax_e.plot(c["epoch"], c["loss"], marker=".", label=m["label"], **style)
        ax_t.plot(c["wall_s_cumulative"], c["loss"], marker=".", label=m["label"], **style)
        ax_a.plot(c["epoch"], [100 * a for a in c["test_accuracy"]], marker=".", label=m["label"] + " (test)",
                  **style)
        ax_a.plot(c["epoch"], [100 * a for a in c["train_accuracy"]], ls=":", alpha=0.7,
                  label=m["label"] + " (train)", **style)
    ax_e.set(xlabel="epoch", ylabel="training loss (mean over the epoch's minibatches)", title="loss vs epoch")
    ax_t.set(xlabel="wall time (s, training + per-epoch evaluation)", ylabel="training loss",
             title="loss vs wall time")
    ax_a.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy per epoch")
    for ax in (ax_e, ax_t, ax_a):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20, help="training epochs for both methods")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0..N-1), run one after another")
    p.add_argument("--out", default="compare_surrogate", help="output folder (figure + JSON)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--dt", type=float, default=0.02, help="snnTorch time step (time units)")
    p.add_argument("--slope", type=float, default=25.0, help="fast-sigmoid surrogate slope")
    p.add_argument("--lr-snntorch", type=float, default=5e-3, help="Adam learning rate of the surrogate run")
    p.add_argument("--lr-fpsnn", type=float, help="Adam learning rate of the exact run (default: paper, 5e-4)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for numba and torch")
    p.add_argument("--train-subset", type=int, help="first N training samples only (quick checks)")
    p.add_argument("--methods", default="fpsnn,snntorch", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs < 0 or args.seeds < 1 or args.threads < 1 or not args.dt > 0:
        p.error("need --epochs >= 0, --seeds >= 1, --threads >= 1, --dt > 0")

    try:
        import torch
        import snntorch
        import snntorch as snn
        import snntorch.functional as sf
        from snntorch import surrogate
    except ImportError as exc:
        print(f"{INSTALL_HINT} [{exc}]", file=sys.stderr)
        return 2

    import numba

    from fpsnn import datasets
    from fpsnn.training import init_network

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))

    spec = datasets.spec("yinyang")
    hyper = spec.paper.replace(epochs=args.epochs)
    if args.lr_fpsnn is not None:
        hyper = hyper.replace(lr=args.lr_fpsnn)
    enc = spec.encoder(hyper)
    x, y = datasets.load("yinyang", "train")
    xt, yt = datasets.load("yinyang", "test")
    x, y = x[:args.train_subset], y[:args.train_subset]
    train, test = (enc(x), y), (enc(xt), yt)
    n_steps = int(round(hyper.simulation_window / args.dt))
    if not math.isclose(n_steps * args.dt, hyper.simulation_window, rel_tol=1e-9):
        p.error(f"--dt {args.dt} must divide the window T = {hyper.simulation_window}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(method, r):
        print(f"  [{method:8s}] epoch {r['epoch']:3d}  loss {r['loss']:.4f}  train {100 * r['train_accuracy']:5.1f} %"
              f"  test {100 * r['test_accuracy']:5.1f} %  {r['wall_s'] or 0:6.1f} s", file=sys.stderr, flush=True)

    methods = args.methods.split(",")
    runs = {"fpsnn": [], "snntorch": []}
    checks = []
    for seed in range(args.seeds):
        init_seq = np.random.SeedSequence(seed).spawn(2)[0]  # the Trainer's weight stream for this seed
        net0 = init_network(hyper, train[0].shape[1], spec.n_classes, np.random.default_rng(init_seq))
        init_w = [w.copy() for w in net0.weights]
        model0 = build_model(torch, snn, surrogate, init_w, hyper.alpha, hyper.beta, hyper.theta, args.dt, args.slope)
        check = discretization_check(torch, model0, net0, train[0][:200], args.dt, n_steps)
        checks.append({"seed": seed, **check})
        print(f"seed {seed}: discretization check: membrane rel. error {check['membrane_rel_max_error']:.4f} "
              f"(without the dt scaling {check['membrane_rel_max_error_without_dt_scaling']:.1f}); "
              + "; ".join(f"layer {c['layer']}: equal counts {100 * c['equal_count_fraction']:.1f} %, "
                          f"first-spike diff median {c['first_spike_dt_minus_exact_median']}"
                          for c in check["spikes"]), file=sys.stderr, flush=True)
        if "fpsnn" in methods:
            hist, fp_init = train_fpsnn(hyper, train, test, seed, log)
            if not all(np.array_equal(a, b) for a, b in zip(fp_init, init_w)):
                raise RuntimeError("fpsnn's Trainer drew other initial weights than the copy given to snnTorch")
            runs["fpsnn"].append({"seed": seed, "history": hist})
        if "snntorch" in methods:
            hist, _ = train_snntorch(torch, snn, surrogate, sf, hyper, init_w, train, test, seed, args.epochs,
                                     args.lr_snntorch, args.dt, args.slope, log)
            runs["snntorch"].append({"seed": seed, "history": hist})

    summary = {}
    labels = {"fpsnn": f"exact gradient (fpsnn), first-spike CE, lr {hyper.lr:g}",
              "snntorch": f"surrogate (snnTorch fast sigmoid), count CE, lr {args.lr_snntorch:g}"}
    for name in methods:
        summary[name] = {"label": labels[name], **_summarise(runs[name])}
    if "fpsnn" in summary:
        summary["fpsnn"].update(loss_function="first-spike cross entropy (tau0 0.2, tau1 1, gamma 0.005)",
                                lr=hyper.lr, gradient=f"exact ({hyper.grad_mode} mode)")
    if "snntorch" in summary:
        summary["snntorch"].update(loss_function="snntorch.functional.ce_count_loss", lr=args.lr_snntorch,
                                   gradient=f"fast sigmoid surrogate, slope {args.slope:g}")
    result = {
        "settings": {"epochs": args.epochs, "seeds": args.seeds, "batch_size": hyper.batch_size,
                     "train_samples": len(y), "test_samples": len(yt), "dt": args.dt, "n_steps": n_steps,
                     "threads": args.threads, "alpha": hyper.alpha, "beta": hyper.beta, "theta": hyper.theta,
                     "T": hyper.simulation_window, "alpha_d": math.exp(-hyper.alpha * args.dt),
                     "beta_d": math.exp(-hyper.beta * args.dt), "torch": torch.__version__,
                     "snntorch": snntorch.__version__},
        "discretization_check": checks,
        "methods": summary,
    }
    fig_path = None
    if set(methods) == {"fpsnn", "snntorch"}:
        fig_path = plot(summary, out / "compare_surrogate.png",
                        f"Yin-Yang 5-150-3, {len(y)} train / {len(yt)} test, minibatch {hyper.batch_size}, "
                        f"{args.seeds} seed(s), same initial weights; snnTorch dt = {args.dt:g} ({n_steps} steps), "
                        f"{args.threads} thread(s)")
    result["figure"] = None if fig_path is None else str(fig_path)
    (out / "compare_surrogate.json").write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
    else:
        for name in methods:
            m = summary[name]
            print(f"{name:8s}: train {100 * m['final_train_accuracy']:.1f} %, test {100 * m['final_test_accuracy']:.1f} %"
                  f", final loss {m['final_loss']:.4f}, {m['wall_s_per_epoch'] or float('nan'):.1f} s/epoch")
        print(f"figure: {fig_path}; JSON: {out / 'compare_surrogate.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
