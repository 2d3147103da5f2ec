"""``fpsnn deploy`` and ``fpsnn emulate``: a trained model -> a chip's artifacts, a report, accuracies.

:func:`deploy` resolves a model (:func:`fpsnn.resolve.resolve_model`), compiles it for a target
(:func:`fpsnn.backends.get`), writes the target's deployable files and ``report.json`` into a folder,
predicts the accuracy on the target's bit-accurate emulator (its vendor simulator when it has none)
and, with ``run_data``, runs the data on the target: the board when asked for (``board=True``; stops
when it is missing), else the vendor simulator, else the emulator, and says which one ran and why.
:func:`emulate` runs the emulator only. Both return one JSON-ready dict; the CLI prints it
(``--json``) or a summary.

Only the Backend protocol is used here (``compile``, ``check_fits``, ``resources``, ``perturb``,
``available``, ``potential_available``, ``run``, ``output_potential`` / ``readout_saturated`` through
:mod:`fpsnn.backends.readout`, ``write_artifacts``), so a new chip family needs nothing in this file.

Accuracy (fractions) follows the model's read-out (``hyper.readout`` of its metadata,
:func:`fpsnn.resolve.model_hyper`; ``readout=`` overrides it for files that record none, such as a
NIR graph): first spike (a silent output layer is a wrong answer) or spike count on the run's output
spikes, or, for an output layer that never fires (``membrane`` / ``mean_membrane``), its potential,
recorded by the run and dequantized by the chip family (:func:`fpsnn.backends.readout.chip_accuracy`).
Such a model is compiled with a ``readout_range`` estimated on the data it will run
(:func:`fpsnn.backends.readout.readout_range`), and samples whose potential still hit the chip's state
limit are counted (``readout_saturated``) and warned about. ``float_accuracy`` is the exact float
simulation of the same model on the same samples, scored with the same read-out. When the vendor
simulator of a target with an emulator ran, the report also counts the samples whose spikes (every
layer, every step) are identical to the emulator's, and for a membrane read-out those whose output
potential trace is too.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .artifact_set import check_out_dir, write_set
from .io import json_default
from .resolve import check_subset, read_model, resolve_model

__all__ = ["load_network", "load_data", "resources", "accuracy", "float_accuracy", "deploy", "emulate",
           "configure_deploy", "configure_emulate", "run_deploy", "run_emulate"]


# --------------------------------------------------------------------------------------------- inputs
def load_network(model):
    """``(net, metadata)`` from an :class:`fpsnn.Network` (metadata ``{}``) or a model file path."""
    net, metadata, _ = read_model(model)
    return net, metadata


def load_data(data, metadata: dict, subset: int | None = None, net=None):
    """Encoded input spike times and labels ``(x (batch, n_in), y (batch,), name)`` for a data spec.

    ``data`` is a data set name (``"yinyang"``), ``"name:split"`` (``"yinyang:validation"``; default
    split ``test``), ``None`` for the model's own data set (its ``metadata``), or a tuple ``(x, y)`` of
    already encoded spike times and labels. The encoder is the one stored with the model (another
    data set only when it encodes the same way, see :func:`fpsnn.resolve.resolve_model`), else the
    data set's default. ``subset`` keeps the first ``subset`` samples. With ``net``, the input count
    is checked against the network's.
    """
    check_subset(subset)
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"data: a tuple must be (spike times, labels), got {len(data)} items")
        x, y = np.asarray(data[0], dtype=np.float64), np.asarray(data[1])
        if len(x) != len(y):
            raise ValueError(f"data: {len(x)} input samples but {len(y)} labels")
        return x[:subset], y[:subset], "user data"
    ctx = resolve_model(net, data, metadata=metadata)
    x, y = ctx.data(subset=subset)
    return x, y, ctx.describe()


# --------------------------------------------------------------------------------------------- scores
def resources(net, chip, program=None) -> dict:
    """Deprecated: ``fpsnn.backends.get(chip_name).resources(net, program)`` (``chip``: a name or a
    :class:`fpsnn.backends.chips.ChipDescription`)."""
    import warnings

    from .backends import get, registry

    warnings.warn("fpsnn.deploy.resources is deprecated: use fpsnn.backends.get(name).resources(net, program)",
                  DeprecationWarning, stacklevel=2)
    backend = get(chip) if isinstance(chip, str) else registry.backend_class(chip.family)(chip)
    return backend.resources(net, program)


def accuracy(first_spikes, labels) -> float:
    """Fraction of samples whose first-firing output neuron is the label (silent = wrong); nan for none.

    ``first_spikes``: ``(batch, n_out)`` first output spike times (+inf = silent); the one evaluation
    (:func:`fpsnn.training.metrics_from_times`) on them as a one-layer result.
    """
    from .training import metrics_from_times

    first = np.asarray(first_spikes, dtype=np.float64)
    return metrics_from_times([first[:, :, None]], labels, t_max=np.inf)["accuracy"]


def float_accuracy(net, x, y, hyper=None) -> float:
    """Accuracy of the exact float simulation of ``net`` on input spike times ``x`` with labels ``y``,
    scored with ``hyper``'s read-out (:func:`fpsnn.training.evaluate`; None: first spike)."""
    from .training import evaluate

    return evaluate(net, x, y, hyper=hyper)["accuracy"]


def model_readout(net, metadata: dict, readout: str | None = None):
    """The hyper-parameters that say how ``net`` is read out: the model's own (``metadata``,
    :func:`fpsnn.resolve.model_hyper`) with ``readout`` overriding theirs when given; None (first
    spike) for a bare network without ``readout``.

    Raises ValueError when the read-out and the output layer disagree: an output layer that never
    fires (``theta = inf``) needs ``membrane`` or ``mean_membrane``, which need such a layer.
    """
    from dataclasses import MISSING, fields

    from .datasets import Hyperparameters
    from .losses import MEMBRANE_READOUTS, readout_of
    from .resolve import model_hyper

    hyper = model_hyper(metadata)
    if readout is not None:
        if hyper is not None:
            hyper = hyper.replace(readout=readout)
        elif readout != "first_spike":
            # a file without hyper-parameters: the read-out settings' defaults (n_read, count_scale, ...)
            from types import SimpleNamespace

            hyper = SimpleNamespace(**{**{f.name: f.default for f in fields(Hyperparameters) if f.default is not MISSING},
                                       "readout": readout})
    kind = readout_of(hyper)
    if net.readout and kind not in MEMBRANE_READOUTS:
        raise ValueError(f"model: the output layer never fires (theta = inf), so read-out {kind!r} cannot score it"
                         f"{'' if hyper is not None else ' (the model records no read-out)'}; pass --readout "
                         f"{' or '.join(MEMBRANE_READOUTS)}")
    if not net.readout and kind in MEMBRANE_READOUTS:
        raise ValueError(f"model: read-out {kind!r} reads a non-firing output layer (theta = inf), but this model's "
                         "output layer fires; pass --readout first_spike or spike_count")
    return hyper


def _readout_range(net, hyper, datasets_, log, target: str):
    """The ``readout_range`` a membrane read-out is compiled with (None for a spike read-out): from the
    float potential on the data that will run (every given ``(x, y, name)``), else synthetic inputs."""
    from .backends.readout import needs_potential, readout_range

    if not needs_potential(hyper):
        return None
    if not datasets_:
        r = readout_range(net)
        log(f"fpsnn: {target}: no data given: the read-out's potential range ({r:.4g}) is estimated on synthetic "
            "inputs (one spike per input); samples beyond it are counted as saturated")
        return r
    return max(readout_range(net, x) for x, _, _ in datasets_)


def _identity(a, b) -> dict:
    """Samples whose event rasters agree in every layer, step and neuron: ``{samples, identical}``, and
    when both runs recorded the output layer's state, ``potential_identical``: samples whose output
    state traces agree at every step too."""
    same = np.ones(len(a.rasters[0]), dtype=bool)
    for x, y in zip(a.rasters, b.rasters):
        same &= np.all(np.asarray(x).reshape(len(x), -1) == np.asarray(y).reshape(len(y), -1), axis=1)
    out = {"samples": int(same.size), "identical": int(same.sum())}
    if a.state and b.state and a.state[-1] and b.state[-1]:
        traces = same.copy()
        for key in a.state[-1].keys() & b.state[-1].keys():
            u, v = np.asarray(a.state[-1][key]), np.asarray(b.state[-1][key])
            traces &= np.all(u.reshape(len(u), -1) == v.reshape(len(v), -1), axis=1)
        out["potential_identical"] = int(traces.sum())
    return out


#: A run expected to take longer than this (seconds) is announced with an estimate and shows progress.
PROGRESS_AFTER_S = 3.0
_FIRST_CHUNK = 8


def _pad_cat(arrays: list) -> np.ndarray:
    """Concatenate ``(batch_i, n, k_i)`` spike-time arrays along the batch, +inf padding to the widest k."""
    k = max(a.shape[2] for a in arrays)
    return np.concatenate([np.pad(a, ((0, 0), (0, 0), (0, k - a.shape[2])), constant_values=np.inf)
                           for a in arrays])


def _run_chunked(backend, program, x, t_max, engine, log, record: bool = False):
    """``backend.run`` on ``x`` (``record``: with the state traces); the first few samples are timed,
    and when the whole run is expected to take more than :data:`PROGRESS_AFTER_S` the rest runs in
    chunks with an estimate and progress lines (a vendor simulator such as Lava takes about 2 s per
    sample)."""
    from .backends.base import RunResult

    n = len(x)
    t0 = time.perf_counter()
    first = backend.run(program, x[:_FIRST_CHUNK], engine=engine, t_max=t_max, record=record)
    if n <= _FIRST_CHUNK:
        return first
    per = (time.perf_counter() - t0) / _FIRST_CHUNK
    parts, done = [first], _FIRST_CHUNK
    expected = per * (n - done)
    if expected <= PROGRESS_AFTER_S:
        parts.append(backend.run(program, x[done:], engine=first.engine, t_max=t_max, record=record))
    else:
        log(f"fpsnn: running {n} samples on {first.engine_name}: about {expected:.0f} s more "
            f"({per:.2f} s per sample)")
        chunk = max(1, int(PROGRESS_AFTER_S / max(per, 1e-9)))
        while done < n:
            parts.append(backend.run(program, x[done:done + chunk], engine=first.engine, t_max=t_max, record=record))
            done = min(n, done + chunk)
            left = (time.perf_counter() - t0) / done * (n - done)
            log(f"fpsnn: {done}/{n} samples on {first.engine_name}, about {left:.0f} s left")
    layers = len(first.times)
    rasters = ([np.concatenate([p.rasters[l] for p in parts]) for l in range(layers)]
               if all(p.rasters for p in parts) else [])
    state = ([{k: np.concatenate([p.state[l][k] for p in parts]) for k in first.state[l]} for l in range(layers)]
             if all(p.state for p in parts) else [])
    return RunResult(times=[_pad_cat([p.times[l] for p in parts]) for l in range(layers)], rasters=rasters,
                     engine=first.engine, engine_name=first.engine_name, note=first.note, state=state)


def _run(backend, program, qreport, x, y, t_max, engine, hyper=None, log=None) -> tuple:
    """Run and score with ``hyper``'s read-out (:func:`fpsnn.backends.readout.chip_accuracy`):
    ``(RunResult, {engine, engine_name, note, accuracy, readout[, readout_saturated], wall_s})``."""
    from .backends.readout import chip_accuracy, needs_potential

    t0 = time.perf_counter()
    res = _run_chunked(backend, program, x, t_max, engine, log or (lambda line: None), record=needs_potential(hyper))
    wall = time.perf_counter() - t0
    scored = chip_accuracy(backend, program, qreport, res, y, hyper, t_max)
    return res, {"engine": res.engine, "engine_name": res.engine_name, "note": res.note, **scored,
                 "wall_s": round(wall, 3)}


def _check_mismatch(mismatch, mismatch_seed) -> None:
    if mismatch is None:
        return
    if not (isinstance(mismatch, (int, float)) and math.isfinite(mismatch) and 0 <= mismatch < 1):
        raise ValueError(f"mismatch = {mismatch}: must be a fraction in [0, 1) (0.1 = 10 %)")
    if isinstance(mismatch_seed, bool) or int(mismatch_seed) != mismatch_seed or mismatch_seed < 0:
        raise ValueError(f"mismatch_seed = {mismatch_seed!r}: must be an integer >= 0 (it identifies the device)")


# --------------------------------------------------------------------------------------------- commands
def deploy(model, target: str, out_dir, run_data=None, board: bool = False, dt: float | None = None,
           subset: int | None = None, per_channel: bool = True, predict: bool = True, log=None,
           mismatch: float | None = None, mismatch_seed: int = 0, data=None, readout: str | None = None) -> dict:
    """Compile ``model`` for ``target``, write its artifacts and ``report.json`` into ``out_dir``.

    Everything is checked and run before anything is written; the artifacts and the report are then
    written as one set (into a temporary folder next to ``out_dir``, then moved in), so a failure never
    leaves new artifacts next to an old report, and the artifacts of an earlier deploy into the same
    folder that this one does not write are removed.

    Args:
        model: a model file (``fpsnn train``), a NIR graph file (``.nir``) or an :class:`fpsnn.Network`.
        target: a name of :func:`fpsnn.backends.available_targets`.
        out_dir: folder for the artifacts (created).
        run_data: data to run on the target (see :func:`load_data`; a data file too), or None for no run.
        board: run on the board (an error, not a fallback, when it is unavailable).
        dt: chip step in the network's time unit; ``"auto"``: the best on the model's validation split
            (:func:`fpsnn.finetune.chipaware.resolve_dt`); default: the step the model recorded for
            ``target`` (``fpsnn train --target``), else the target's (``backend.default_dt(net)``).
        subset: first ``subset`` samples only (prediction and run).
        predict: also predict the accuracy on the emulator (``data``, else the model's data set, or ``run_data``).
        log: callable taking one line (notes for a human: which engine ran instead of which, accuracy
            lost to quantization, chip limits that bound the mapping, progress of long runs).
        mismatch: run (prediction and ``run_data``) on a device with this mismatch, a fraction whose
            meaning is the chip family's mismatch model (``backend.perturb``); the artifacts are the
            nominal program's. None: the nominal device.
        mismatch_seed: which device (the same seed draws the same deviations).
        data: the data of the prediction (default: the model's own data set or data file).
        readout: how to score the output layer (``fpsnn.datasets.READOUTS``); default: the read-out the
            model file records (:func:`model_readout`). A membrane read-out runs with the output
            potential recorded; engines that cannot return it are skipped (``"auto"``) or refused.

    Returns:
        The report (also in ``out_dir/report.json``): ``target``, ``engine`` / ``engine_name`` (what
        ran ``run_data``; without a run, what ran the prediction; None when nothing ran),
        ``accuracy`` and ``float_accuracy`` (of that run, fractions), ``resources``,
        ``quantization``, ``prediction``, ``run``, ``artifacts``, ``mismatch``, ``warnings``.

    Raises:
        ValueError: unknown target, unreadable model, a network that does not fit (the message names
            the limit; a membrane read-out on a chip whose neurons always fire), a read-out that does not
            match the output layer, bad data, an unusable ``out_dir``, a time grid with too many steps.
        RuntimeError: ``board=True`` but the board (or its software) is missing, or it cannot return
            the output potential a membrane read-out needs.
    """
    from . import backends
    from .backends.readout import needs_potential, readout_of
    from .backends.timegrid import check_grid

    log = log or (lambda line: None)
    backend = backends.get(target)
    _check_mismatch(mismatch, mismatch_seed)
    check_subset(subset)
    out = check_out_dir(out_dir)
    net, metadata, path = read_model(model)
    hyper = model_readout(net, metadata, readout)
    backend.check_fits(net)
    if board:
        ok, why = backend.available("board")
        if not ok:
            raise RuntimeError(f"{target}: no board run: {why}")
        ok, why = backend.potential_available("board") if needs_potential(hyper) else (True, "")
        if not ok:
            raise RuntimeError(f"{target}: no board run of a {readout_of(hyper)} read-out: {why}")
    dt = _model_dt(dt, net, metadata, target, log, subset)
    # every data spec is resolved (and so checked) before anything runs or is written
    pred_spec = data if data is not None else run_data
    pred_data = run_data_data = None
    if predict and (pred_spec is not None or metadata.get("dataset") or metadata.get("data")):
        pred_data = load_data(pred_spec, metadata, subset, net=net)
    if run_data is not None:
        run_data_data = pred_data if data is None and pred_data is not None else load_data(run_data, metadata, subset,
                                                                                              net=net)
    r_range = _readout_range(net, hyper, [d for d in (pred_data, run_data_data) if d is not None], log, target)
    from .finetune.chipaware import recorded_compile

    # a model fine-tuned in the loop is mapped as it was fine-tuned (e.g. DYNAP-SE2's fitted weight gains)
    program, qreport = backend.compile(net, dt=dt, per_channel=per_channel, **recorded_compile(metadata, target, dt),
                                       **({} if r_range is None else {"readout_range": r_range}))
    check_grid(net.t_max, qreport.dt)
    device = program if not mismatch else backend.perturb(program, float(mismatch), seed=int(mismatch_seed))
    report = {
        "target": target, "chip": backend.chip.name, "part": backend.chip.part,
        "model": str(path) if path is not None else "<Network>",
        "dt": float(qreport.dt), "readout": readout_of(hyper), "engine": None, "engine_name": None, "accuracy": None,
        "float_accuracy": None, "resources": backend.resources(net, program), "quantization": qreport.to_dict(),
        "mismatch": None if not mismatch else {"spread": float(mismatch), "seed": int(mismatch_seed)},
        "prediction": None, "run": None, "artifacts": [], "warnings": [],
    }
    emu = None
    if pred_data is not None:
        x, y, data_name = pred_data
        base = {"data": data_name, "samples": int(len(y)), "float_accuracy": float_accuracy(net, x, y, hyper)}
        pred_engine = "emulator" if backend.available("emulator")[0] else "vendor"
        ok, why = backend.available(pred_engine)
        if ok and needs_potential(hyper):
            ok, why = backend.potential_available(pred_engine)
        if ok:
            emu, summary = _run(backend, device, qreport, x, y, net.t_max, pred_engine, hyper, log)
            report["prediction"] = {**base, **summary}
        else:
            report["prediction"] = {"data": data_name, "skipped": why}
    if run_data_data is not None:
        x, y, data_name = run_data_data
        base = {"data": data_name, "samples": int(len(y)), "float_accuracy": float_accuracy(net, x, y, hyper)}
        if emu is not None and not board and emu.engine == "vendor" and data is None:
            res, summary = emu, report["prediction"]   # the prediction already ran the vendor simulator
        else:
            res, summary = _run(backend, device, qreport, x, y, net.t_max, "board" if board else "auto", hyper, log)
        if res.note:
            log(f"fpsnn: {target}: {res.note}; ran {res.engine_name} instead")
        report["run"] = {**base, **summary}
        if emu is not None and emu.engine == "emulator" and res.engine != "emulator" and data is None:
            report["run"]["spikes_identical_to_emulator"] = _identity(res, emu)
    # the top-level fields say what the run ran, else what the prediction ran
    top = report["run"] or (report["prediction"] if emu is not None else None)
    if top is not None:
        report.update(engine=top["engine"], engine_name=top["engine_name"], accuracy=top["accuracy"],
                      float_accuracy=top["float_accuracy"])
    report["warnings"] = deploy_warnings(report, qreport)
    for line in report["warnings"]:
        log(f"fpsnn: warning: {line}")
    report["artifacts"] = write_set(out, lambda folder: backend.write_artifacts(program, folder), report)
    return report


#: A deploy whose chip accuracy is this many points (fraction) below the float model's is warned about.
ACCURACY_LOSS_WARNING = 0.05


#: A ``binding_limits`` line with one of these words says a chip limit was hit (the others describe the
#: mapping: which limit set a scale, the pipeline delay).
LIMIT_HIT_WORDS = ("reached", "clipped", "saturat", "exceed")


def deploy_warnings(report: dict, qreport) -> list:
    """Lines a user must see: accuracy lost on the chip (beyond :data:`ACCURACY_LOSS_WARNING`) and the
    chip limits the mapping hit (the ``binding_limits`` of the quantization report that say so)."""
    from .backends.readout import RANGE_MARGIN

    lines = []
    for what in ("prediction", "run"):
        r = report.get(what) or {}
        if r.get("accuracy") is not None and r.get("float_accuracy") is not None:
            lost = r["float_accuracy"] - r["accuracy"]
            if lost > ACCURACY_LOSS_WARNING:
                lines.append(f"{what} on {r['engine_name']}: accuracy {100 * r['accuracy']:.1f} % vs float "
                             f"{100 * r['float_accuracy']:.1f} %: {100 * lost:.1f} points lost (warning above "
                             f"{100 * ACCURACY_LOSS_WARNING:.0f}); try another --dt or fine-tune with 'fpsnn hil'")
        if r.get("readout_saturated"):
            lines.append(f"{what} on {r['engine_name']}: the {r['readout']} read-out's potential hit the chip's state "
                         f"limit in {r['readout_saturated']}/{r['samples']} samples (their scores are clipped): its "
                         f"range is {RANGE_MARGIN:g} x the float potential's peak on the data given (synthetic inputs "
                         "without data); deploy with --data covering the data you run")
    for limit in getattr(qreport, "binding_limits", []) or []:
        if any(word in limit for word in LIMIT_HIT_WORDS):
            lines.append(f"chip limit: {limit}")
    return lines


def _model_dt(dt, net, metadata: dict, target: str, log, subset) -> float | None:
    """The step to compile with (:func:`fpsnn.finetune.chipaware.resolve_dt`: a number, the model's
    recorded step, or ``"auto"``), its grid checked; None: the target's default."""
    from .backends.timegrid import check_grid
    from .finetune.chipaware import resolve_dt

    dt = resolve_dt(dt, net, metadata, target, log=log, subset=subset)
    if dt is not None:
        check_grid(net.t_max, dt)
    return dt


def emulate(model, target: str, data=None, dt: float | None = None, subset: int | None = None,
            per_channel: bool = True, log=None, readout: str | None = None) -> dict:
    """Run ``data`` (see :func:`load_data`) through ``target``'s bit-accurate emulator only.

    Returns ``{target, engine, engine_name, data, samples, accuracy, float_accuracy, readout,
    resources}`` (``readout_saturated`` too for a membrane read-out, see :func:`deploy`); ``log`` takes
    progress lines of a long run; ``readout`` overrides the model's read-out (:func:`model_readout`).
    Raises ValueError for a target without an emulator (an analog chip) or one the model does not fit.
    """
    from . import backends

    backend = backends.get(target)
    ok, why = backend.available("emulator")
    if not ok:
        raise ValueError(f"target: {target} has no bit-accurate emulator ({why}); targets with one: "
                         f"{', '.join(emulated_targets())}; or use 'fpsnn deploy --run'")
    from .backends.timegrid import check_grid

    check_subset(subset)
    net, metadata, _ = read_model(model)
    hyper = model_readout(net, metadata, readout)
    backend.check_fits(net)
    dt = _model_dt(dt, net, metadata, target, log, subset)
    x, y, data_name = load_data(data, metadata, subset, net=net)
    r_range = _readout_range(net, hyper, [(x, y, data_name)], log or (lambda line: None), target)
    program, qreport = backend.compile(net, dt=dt, per_channel=per_channel,
                                       **({} if r_range is None else {"readout_range": r_range}))
    check_grid(net.t_max, qreport.dt)
    _, summary = _run(backend, program, qreport, x, y, net.t_max, "emulator", hyper, log)
    return {"target": target, "data": data_name, "samples": int(len(y)), "dt": float(qreport.dt),
            "float_accuracy": float_accuracy(net, x, y, hyper), **summary,
            "resources": backend.resources(net, program)}


def emulated_targets() -> list:
    """Targets with a bit-accurate emulator (the digital chips), by name."""
    from . import backends

    return [name for name in backends.available_targets() if backends.get(name).available("emulator")[0]]


# --------------------------------------------------------------------------------------------- CLI glue
def _dt_arg(text: str):
    """``--dt``: a number (time units per chip step) or ``auto``."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--dt {text!r}: a step in the model's time unit or 'auto'") from None


_dt_arg.__name__ = "dt"  # argparse names the type in its error message


def _readout_arg(p) -> None:
    from .datasets import READOUTS

    p.add_argument("--readout", choices=READOUTS, help="how the output layer is scored (default: the read-out the "
                   "model file records; needed for a NIR graph whose output layer never fires)")


def configure_deploy(p) -> None:
    """Arguments of ``fpsnn deploy``."""
    from .backends import available_targets

    p.add_argument("model", help="model file written by 'fpsnn train', or a NIR graph (FILE.nir)")
    p.add_argument("--target", required=True, choices=available_targets(), help="chip to deploy to")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the artifacts and report.json "
                   "(written as one set after every check and run succeeded)")
    p.add_argument("--data", metavar="DATA", help="data of the emulator prediction: a data set name[:split] or "
                   "a data file FILE.npz|FILE.csv[:split] (default: the model's own)")
    p.add_argument("--run", metavar="DATA", help="run this data on the target: a data set name, name:split "
                   "(default split: test) or a data file; board with --board, else vendor simulator, else "
                   "emulator. Vendor simulators are slow: Lava (Loihi 2) takes about 2 s per sample, so use "
                   "--subset; runs longer than a few seconds print an estimate and progress")
    p.add_argument("--board", action="store_true", help="run on the chip (stop with an error when it is missing)")
    p.add_argument("--dt", type=_dt_arg, help="chip time step in the model's time unit, or 'auto' (the best on the "
                   "model's validation split); default: the step the model recorded for the target "
                   "('fpsnn train --target'), else the target's")
    p.add_argument("--subset", type=int, metavar="N", help="use only the first N samples")
    p.add_argument("--mismatch", type=float, metavar="F", help="run on a device with mismatch F, a fraction "
                   "(0.1 = 10 %%; the chip family's mismatch model); the artifacts stay nominal")
    p.add_argument("--mismatch-seed", type=int, default=0, metavar="S", help="which device (default 0)")
    _readout_arg(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")


def configure_emulate(p) -> None:
    """Arguments of ``fpsnn emulate`` (only targets that have a bit-accurate emulator are offered)."""
    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--target", required=True, choices=emulated_targets(), help="chip whose emulator runs the model")
    p.add_argument("--data", metavar="DATA", help="data set name or name:split, or a data file "
                   "FILE.npz|FILE.csv[:split] (default: the model's own, test split)")
    p.add_argument("--dt", type=_dt_arg, help="chip time step in the model's time unit, or 'auto' (the best on the "
                   "model's validation split); default: the step the model recorded for the target "
                   "('fpsnn train --target'), else the target's")
    p.add_argument("--subset", type=int, metavar="N", help="use only the first N samples")
    _readout_arg(p)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")


def _print(args, result: dict, human: str) -> None:
    print(json.dumps(result, default=json_default) if args.json else human)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def _guard(fn):
    """Run a command; RuntimeError / ImportError (missing board or software) -> one line, exit 3.

    ValueError is left to the CLI's own handler (one line, exit 2).
    """
    import functools
    import sys

    @functools.wraps(fn)
    def wrapped(args) -> int:
        try:
            return fn(args)
        except (RuntimeError, ImportError) as exc:
            print(f"fpsnn: error: {exc}", file=sys.stderr)
            return 3

    return wrapped


def _readout_note(r: dict) -> str:
    """``", mean_membrane read-out"`` (and saturated samples) for a run not scored by first spikes."""
    if r.get("readout", "first_spike") == "first_spike":
        return ""
    sat = r.get("readout_saturated")
    return f", {r['readout']} read-out" + (f", {sat} saturated" if sat else "")


def _summary_lines(args, rep: dict) -> list:
    res = rep["resources"]
    lines = [f"{args.target}: deployed to {args.out} ({', '.join(Path(a).name for a in rep['artifacts'])})",
             "resources: " + ", ".join(f"{k} {u}/{'-' if lim is None else lim}" for k, (u, lim) in res.items())]
    if rep["prediction"] and "accuracy" in rep["prediction"]:
        p = rep["prediction"]
        lines.append(f"predicted on {p['engine_name']}: accuracy {_pct(p['accuracy'])} "
                     f"(float {_pct(p['float_accuracy'])}, {p['data']}, {p['samples']} samples{_readout_note(p)})")
    if rep["run"]:
        r = rep["run"]
        same = r.get("spikes_identical_to_emulator")
        lines.append(f"ran on {r['engine_name']}: accuracy {_pct(r['accuracy'])} (float {_pct(r['float_accuracy'])}, "
                     f"{r['data']}, {r['samples']} samples{_readout_note(r)})"
                     + (f"; spikes identical to the emulator in {same['identical']}/{same['samples']} samples"
                        if same else ""))
    return lines


@_guard
def run_deploy(args) -> int:
    """``fpsnn deploy``: exit 0, or 2 (bad input / does not fit), 3 (board or software missing)."""
    import sys

    rep = deploy(args.model, args.target, args.out, run_data=args.run, board=args.board, dt=args.dt,
                 subset=args.subset, log=lambda line: print(line, file=sys.stderr, flush=True),
                 mismatch=args.mismatch, mismatch_seed=getattr(args, "mismatch_seed", 0),
                 data=getattr(args, "data", None), readout=getattr(args, "readout", None))
    _print(args, rep, "\n".join(_summary_lines(args, rep)))
    return 0


@_guard
def run_emulate(args) -> int:
    """``fpsnn emulate``: exit 0, or 2 (bad input / does not fit / no emulator for the target)."""
    import sys

    r = emulate(args.model, args.target, data=args.data, dt=args.dt, subset=args.subset,
                log=lambda line: print(line, file=sys.stderr, flush=True), readout=getattr(args, "readout", None))
    _print(args, r, f"{args.target} emulator: accuracy {_pct(r['accuracy'])} (float {_pct(r['float_accuracy'])}, "
                    f"{r['data']}, {r['samples']} samples{_readout_note(r)})")
    return 0
