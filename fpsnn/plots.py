"""PNG figures of a trained network (matplotlib, Agg canvas; no pyplot global state is touched).

* :func:`first_spike_histograms`: first output spike times per output neuron, before vs after training,
  coloured by the true class (the paper's Fig. 4).
* :func:`membrane_traces`: output membrane potentials V(t) for one input, with the threshold and the
  spikes (the paper's Fig. 3), computed on a fine time grid by ``fpsnn.simulate.membrane_potential``
  from the simulated spike times.
* :func:`training_curves`: loss and accuracy per epoch from a training history.
* :func:`spike_raster`: input, hidden and output spikes for one input.
* :func:`temporal_sample`: one temporal sample on one time axis: input raster, hidden raster, output
  membrane potentials (with the spikes, or the read-out's potentials for a non-firing output layer).
* :func:`confusion_matrix`: per-class confusion matrix (rows: true class, columns: predicted; a last
  column for "no prediction" when some samples had none), counts and row percentages.

All times are in the network's time unit; potentials in threshold units (theta = 1 in the paper).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .network import Network

__all__ = ["first_spike_histograms", "membrane_traces", "training_curves", "spike_raster", "make_all",
           "save_figure", "membrane_figure", "training_figure", "raster_figure", "temporal_sample",
           "temporal_sample_figure", "confusion_matrix", "confusion_figure", "confusion_counts", "predictions"]

#: characters of a 9-point title line per inch of figure width (DejaVu Sans averages ~0.11 in a character)
_CHARS_PER_INCH_9PT = 11


def save_figure(fig: Figure, path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created, Agg canvas: no display needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return path


def _one_input(x, index: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not 0 <= index < len(x):
        raise ValueError(f"sample = {index}: must be in [0, {len(x) - 1}]")
    return x[index:index + 1]


def first_spike_histograms(first_after: np.ndarray, labels: np.ndarray, path, first_before=None,
                           t_max: float | None = None, title: str = "") -> Path:
    """Histograms of first output spike times (batch, n_out), one panel per output neuron.

    Rows: before training (if ``first_before`` is given) and after. Colours: the samples' true class.
    Silent outputs (inf) are counted in a separate bar at ``t_max`` labelled "silent".
    """
    labels = np.asarray(labels)
    rows = [("before training", first_before)] if first_before is not None else []
    rows.append(("after training", first_after))
    n_out = first_after.shape[1]
    classes = np.unique(labels)
    finite = np.concatenate([r[np.isfinite(r)] for _, r in rows])
    hi = t_max if t_max is not None else (finite.max() if finite.size else 1.0)
    bins = np.linspace(0.0, hi * 1.02 + 1e-9, 41)
    fig = Figure(figsize=(3.2 * n_out, 2.6 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n_out, squeeze=False, sharex=True)
    for r, (name, first) in enumerate(rows):
        for j in range(n_out):
            ax = axes[r, j]
            data = [np.where(np.isfinite(first[labels == c, j]), first[labels == c, j], hi * 1.01) for c in classes]
            ax.hist(data, bins=bins, stacked=True, label=[f"class {c}" for c in classes])
            ax.set_title(f"output {j}, {name}", fontsize=9)
            if r == len(rows) - 1:
                ax.set_xlabel("first spike time (silent at right edge)")
        axes[r, 0].set_ylabel("samples")
    axes[0, -1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def _wrapped(fig: Figure, text: str, fontsize: float = 9) -> str:
    """``text`` broken into lines that fit the width of ``fig`` at ``fontsize`` points."""
    width = int(fig.get_figwidth() * _CHARS_PER_INCH_9PT * 9 / fontsize)
    return textwrap.fill(text, width=max(width, 20), break_long_words=False)


def membrane_traces(net: Network, x_one: np.ndarray, path, n_points: int = 1000, title: str = "") -> Path:
    """Output-layer membrane potentials V(t) for one input ``x_one`` (1, n_in), on ``n_points`` times."""
    return save_figure(membrane_figure(net, x_one, n_points, title), path)


def membrane_figure(net: Network, x_one: np.ndarray, n_points: int = 1000, title: str = "") -> Figure:
    """The figure of :func:`membrane_traces` (the title wraps to the figure's width)."""
    from .simulate import membrane_potential

    res = net.simulate(x_one)
    grid = np.linspace(0.0, net.t_max, int(n_points))
    v = membrane_potential(net, x_one, res.times, grid, layer=-1)[0]
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for i in range(v.shape[0]):
        (line,) = ax.plot(grid, v[i], label=f"output {i}")
        spikes = res.times[-1][0, i]
        spikes = spikes[np.isfinite(spikes)]
        ax.plot(spikes, np.full(spikes.shape, float(net.theta[-1][i])), "v", color=line.get_color(), ms=7)
    if np.all(np.isfinite(net.theta[-1])):
        ax.axhline(float(np.max(net.theta[-1])), color="k", ls="--", lw=0.8, label="threshold")
    inputs = res.inputs[0][np.isfinite(res.inputs[0])]
    ax.plot(inputs, np.zeros_like(inputs), "|", color="gray", ms=12, label="input spikes")
    ax.set_xlabel("time")
    ax.set_ylabel("membrane potential V(t)")
    ax.legend(fontsize=8)
    cap = net.spike_caps[-1]
    capped = [i for i in range(v.shape[0]) if np.isfinite(res.times[-1][0, i]).sum() >= cap]
    note = f"; outputs {capped} reached max_spikes = {cap} and stay silent after" if capped else ""
    ax.set_title(_wrapped(fig, (title or "output membrane potentials") + " (triangles: spikes" + note + ")"),
                 fontsize=9)
    return fig


def training_curves(history: list, path, title: str = "") -> Path:
    """Loss (left) and train/test accuracy (right) per epoch; ``history`` as written by the trainer."""
    return save_figure(training_figure(history, title), path)


def _loss_axis(ax, values) -> None:
    """Log scale when the loss spans a decade or more, else linear; tick labels as plain numbers
    (matplotlib's log labels of a narrow range read like ``1.108x10^0``)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], dtype=np.float64)
    if v.size and v.max() >= 10 * v.min():
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.yaxis.set_major_formatter(ticker.ScalarFormatter(useOffset=False))


def training_figure(history: list, title: str = "") -> Figure:
    """The figure of :func:`training_curves`."""
    if not history:
        raise ValueError("history: empty, nothing to plot")
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [h["loss"] for h in history], label="train (mean over minibatches)")
    if "test_loss" in history[0]:
        ax_loss.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    _loss_axis(ax_loss, [h["loss"] for h in history] + [h.get("test_loss") for h in history])
    ax_loss.legend(fontsize=8)
    ax_acc.plot(epochs, [100 * h["train_accuracy"] for h in history], label="train")
    if "test_accuracy" in history[0]:
        ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in history], label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def spike_raster(net: Network, x_one: np.ndarray, path, title: str = "") -> Path:
    """Spike times of the inputs and of every layer for one input ``x_one`` (1, n_in)."""
    return save_figure(raster_figure(net, x_one, title), path)


def raster_figure(net: Network, x_one: np.ndarray, title: str = "") -> Figure:
    """The figure of :func:`spike_raster` (neuron axes tick whole neurons only)."""
    res = net.simulate(x_one)
    layers = [("inputs", res.inputs[0])] + [
        ("output" if l == net.n_layers - 1 else f"hidden {l + 1}", res.times[l][0]) for l in range(net.n_layers)]
    heights = [max(2, t.shape[0]) for _, t in layers]
    fig = Figure(figsize=(7, 1.5 + 0.02 * sum(heights) + 0.6 * len(layers)), layout="constrained")
    axes = fig.subplots(len(layers), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [np.sqrt(h) for h in heights]})[:, 0]
    for ax, (name, t) in zip(axes, layers):
        _raster_panel(ax, t, name)
    axes[-1].set_xlim(-0.02 * net.t_max, net.t_max)  # keeps spikes at t = 0 visible
    axes[-1].set_xlabel("time")
    axes[0].set_title(title or "spike raster")
    return fig


def _raster_panel(ax, t: np.ndarray, name: str) -> None:
    rows, cols = np.nonzero(np.isfinite(t))
    ax.vlines(t[rows, cols], rows - 0.4, rows + 0.4, color="k", lw=1)
    ax.set_ylim(-0.6, t.shape[0] - 0.4)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_ylabel(f"{name}\nneuron", fontsize=8)


def temporal_sample(net: Network, x_one: np.ndarray, path, n_points: int = 600, title: str = "") -> Path:
    """Input raster, hidden rasters and output potentials of one sample ``x_one`` (1, n_in[, k])."""
    return save_figure(temporal_sample_figure(net, x_one, n_points, title), path)


def temporal_sample_figure(net: Network, x_one: np.ndarray, n_points: int = 600, title: str = "") -> Figure:
    """The figure of :func:`temporal_sample`: one shared time axis (network time units), potentials in
    threshold units; output spikes as triangles on their traces."""
    from .simulate import membrane_potential

    res = net.simulate(x_one)
    grid = np.linspace(0.0, net.t_max, int(n_points))
    v = membrane_potential(net, x_one, res.times, grid, layer=-1)[0]
    n_hidden = net.n_layers - 1
    heights = [max(4, res.inputs[0].shape[0])] + [max(4, n) for n in net.sizes[:-1]] + [60]
    fig = Figure(figsize=(8, 2.0 + 0.6 * len(heights)), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [np.sqrt(h) for h in heights]})[:, 0]
    _raster_panel(axes[0], res.inputs[0], "input")
    for l in range(n_hidden):
        _raster_panel(axes[l + 1], res.times[l][0], f"hidden {l + 1}")
    ax = axes[-1]
    for i in range(v.shape[0]):
        (line,) = ax.plot(grid, v[i], lw=1, label=f"{i}")
        spikes = res.times[-1][0, i]
        spikes = spikes[np.isfinite(spikes)]
        ax.plot(spikes, np.full(spikes.shape, float(net.theta[-1][i])), "v", color=line.get_color(), ms=5)
    if np.all(np.isfinite(net.theta[-1])):
        ax.axhline(float(np.max(net.theta[-1])), color="k", ls="--", lw=0.8)
    ax.set_ylabel("output\npotential", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="output", title_fontsize=7)
    axes[-1].set_xlim(-0.02 * net.t_max, net.t_max)
    axes[-1].set_xlabel("time")
    axes[0].set_title(_wrapped(fig, title or "temporal sample"), fontsize=9)
    return fig


def predictions(net: Network, inputs: np.ndarray, labels: np.ndarray, hyper=None) -> np.ndarray:
    """Predicted classes of the float network by the read-out of ``hyper`` (first spike when ``None``;
    :func:`fpsnn.losses.classifier_loss`), -1 where a sample has no prediction (silent outputs)."""
    from .losses import FirstSpikeCrossEntropy, classifier_loss, predict_scores

    labels = np.asarray(labels)
    loss = FirstSpikeCrossEntropy(labels) if hyper is None else classifier_loss(hyper, labels)
    res = net.simulate(inputs)
    return predict_scores(loss.scores(net, res.inputs, res.times))


def confusion_counts(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes + 1)`` counts: row = true class, column = prediction, last = none (-1)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    if pred.shape != labels.shape:
        raise ValueError(f"pred: shape {pred.shape} differs from labels {labels.shape}")
    m = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    np.add.at(m, (labels, np.where(pred < 0, n_classes, pred)), 1)
    return m


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, path, n_classes: int | None = None,
                     class_names=None, title: str = "") -> Path:
    """Per-class confusion matrix of predictions ``pred`` (-1: none) against ``labels``."""
    return save_figure(confusion_figure(pred, labels, n_classes, class_names, title), path)


def confusion_figure(pred, labels, n_classes: int | None = None, class_names=None, title: str = "") -> Figure:
    """The figure of :func:`confusion_matrix`: cells coloured by row fraction, annotated with counts."""
    labels = np.asarray(labels)
    n = int(n_classes if n_classes is not None else labels.max() + 1)
    m = confusion_counts(pred, labels, n)
    if m[:, -1].sum() == 0:
        m = m[:, :-1]
    names = [str(c) for c in (class_names if class_names is not None else range(n))]
    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.45 * n
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for (i, j), c in np.ndenumerate(m):
        if c:
            ax.text(j, i, str(c), ha="center", va="center", fontsize=8, color="white" if frac[i, j] > 0.5 else "k")
    ax.set_xticks(range(m.shape[1]), names + (["none"] if m.shape[1] > n else []), fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true class")
    acc = 100.0 * np.trace(m[:, :n]) / max(m.sum(), 1)
    ax.set_title(_wrapped(fig, f"{title + ': ' if title else ''}accuracy {acc:.1f} % ({m.sum()} samples)"),
                 fontsize=9)
    fig.colorbar(im, ax=ax, label="fraction of the true class", shrink=0.8)
    return fig


def make_all(net: Network, inputs: np.ndarray, labels: np.ndarray, out_dir, history: list | None = None,
             initial_weights: list | None = None, sample: int = 0, title: str = "", hyper=None,
             n_classes: int | None = None) -> dict:
    """Write every figure into ``out_dir``; returns ``{figure name: path}``.

    ``inputs``: encoded input spike times (batch, n_in) or (batch, n_in, k); ``initial_weights``: the
    untrained weights for the "before" histograms (skipped when ``None``); ``history``: the training
    history (curves skipped when ``None``); ``sample``: which input the traces, the raster and the
    temporal-sample figure show; ``hyper``: the run's hyper-parameters (the read-out that the confusion
    matrix predicts with; ``None``: first spike); ``n_classes``: default the output count.
    """
    out_dir = Path(out_dir)
    first_after = net.simulate(inputs).first_spikes()
    first_before = None
    if initial_weights is not None:
        first_before = net.with_parameters(initial_weights, net.recurrent).simulate(inputs).first_spikes()
    x_one = _one_input(inputs, sample)
    paths = {
        "first_spike_histograms": first_spike_histograms(first_after, labels, out_dir / "first_spikes.png",
                                                         first_before, net.t_max, title),
        "membrane_traces": membrane_traces(net, x_one, out_dir / "membrane.png",
                                           title=f"{title}: output potentials, sample {sample} "
                                                 f"(class {int(np.asarray(labels)[sample])})"),
        "spike_raster": spike_raster(net, x_one, out_dir / "raster.png", title=f"{title}: sample {sample}"),
    }
    label = int(np.asarray(labels)[sample])
    paths["temporal_sample"] = temporal_sample(net, x_one, out_dir / "temporal_sample.png",
                                               title=f"{title}: sample {sample} (class {label})")
    paths["confusion_matrix"] = confusion_matrix(predictions(net, inputs, labels, hyper), labels,
                                                 out_dir / "confusion.png",
                                                 n_classes if n_classes is not None else net.sizes[-1], title=title)
    if history:
        paths["training_curves"] = training_curves(history, out_dir / "training.png", title)
    return paths
