"""Chip-aware training: size and constrain a network for one chip from the start, then fine-tune it there.

``fpsnn train DATA --target CHIP`` runs :func:`fit_for_target`:

1. :func:`constrain_hyper` caps the hidden layers by the chip's limits (neurons the inputs reach,
   neurons that drive the outputs, fan-in, fan-out, total hidden neurons, layers), all read from the
   chip description (``backend.chip``) and checked on the initial network with ``backend.check_fits``,
   and snaps the time constants ``1/alpha``, ``1/beta`` to those the chip's decay codes implement at
   its default step (``backend.dequantize`` of the compiled initial network). A data set the chip can
   never hold (more input channels or classes than it has) is a ValueError naming the limit.
2. Float training of the constrained network (:func:`fpsnn.training.fit_dataset`).
3. For a target with a bit-accurate emulator: :func:`choose_dt` picks the chip step with the best
   emulated accuracy on the *validation* split (never the test split), then a short quantization-aware
   fine-tune (:class:`~.finetuner.FineTuner`, ``mode="qat"``) at that step, with the model's own loss
   (first-spike cross entropy, or the read-out loss of a membrane read-out); the fine-tuned weights
   are kept only when they score higher on the emulator on the validation split, scored with the
   model's read-out (QAT is kept "where it helps", measured per run). Then a fine-tune *in the
   loop* on the emulator (``mode="hil"``, engine ``"emulator"``) from the network kept so far: the
   gradients are taken at the spike times the chip's integer arithmetic produces at that step, so it
   also trains for what QAT does not model (the time grid, the integer decays, saturation); kept only
   when the validation accuracy on the emulator rises again. A target without an emulator (DYNAP-SE2,
   analog) keeps the float weights at its default step (``fpsnn hil`` fine-tunes on DynapSim).
4. The model file ``out_dir/model.fpsnn`` records ``metadata["chip"] = {"target", "dt", ...}``;
   ``fpsnn deploy`` and ``fpsnn emulate`` use that step when ``--dt`` is not given (:func:`recorded_dt`),
   and ``--dt auto`` runs :func:`choose_dt` on the model's validation split (:func:`resolve_dt`).

Measured results (float vs chip per target): ``docs/chips.md``.
"""
from __future__ import annotations

import math
from dataclasses import replace as _replace
from pathlib import Path

import numpy as np

__all__ = ["constrain_hyper", "hidden_caps", "snap_time_constants", "dt_candidates", "choose_dt", "pick_step",
           "recorded_dt", "recorded_compile", "resolve_dt", "fit_for_target", "DT_STEPS"]

#: Steps per window tried by :func:`choose_dt` (``dt = t_max / steps``), coarse to fine.
DT_STEPS = (32, 48, 64, 96, 128, 256)


# --------------------------------------------------------------------------------------------- sizing
def hidden_caps(chip, sizes: tuple, n_inputs: int, n_classes: int, recurrent: tuple) -> tuple:
    """The largest hidden layer sizes (at most ``sizes``) a dense network can place on ``chip``.

    Per hidden layer ``l``: the first is reached by the inputs (``chip.input_targets``), the last
    drives the outputs (``chip.output_sources``); every hidden neuron feeds the next layer, whose
    neurons receive one connection per source (``chip.max_fan_in``, halved with recurrence since a
    recurrent neuron also receives its own layer), and every neuron of a later hidden layer is one
    destination of each neuron before it (``chip.max_fan_out``). The total is then scaled down to
    ``chip.n_hidden``.
    """
    caps = []
    n = len(sizes)
    for l, size in enumerate(sizes):
        cap = min(int(size), chip.max_fan_in)
        if l == 0:
            cap = min(cap, chip.input_targets)
        if l == n - 1:
            cap = min(cap, chip.output_sources)
        if l > 0:
            cap = min(cap, chip.max_fan_out)
        if recurrent[l]:
            cap = min(cap, max(1, (chip.max_fan_in - (n_inputs if l == 0 else 0)) // 2), chip.max_fan_out // 2)
        caps.append(max(1, cap))
    total = sum(caps)
    if total > chip.n_hidden:
        caps = [max(1, c * chip.n_hidden // total) for c in caps]
    return tuple(caps)


def _recurrent_flags(hyper) -> tuple:
    flags = tuple(getattr(hyper, "recurrent", ()) or ())
    return flags if flags else (False,) * len(hyper.hidden)


def _initial_net(hyper, n_inputs: int, n_classes: int, seed: int = 0):
    from ..training.params import init_network

    return init_network(hyper, n_inputs, n_classes, np.random.default_rng(seed))


def snap_time_constants(hyper, backend, n_inputs: int, n_classes: int) -> tuple:
    """``(hyper, note)``: ``alpha``, ``beta`` replaced by the values the chip's decay codes implement
    at its default step, read from ``backend.dequantize`` of the compiled initial network (median
    over the neurons). ``note`` is "" when nothing changed by more than 0.1 %."""
    net = _initial_net(hyper, n_inputs, n_classes)
    program, _ = backend.compile(net)
    chip_net = backend.dequantize(program, like=net)
    alpha = float(np.median(np.concatenate([np.ravel(a) for a in chip_net.alpha])))
    beta = float(np.median(np.concatenate([np.ravel(b) for b in chip_net.beta])))
    if not (math.isfinite(alpha) and math.isfinite(beta) and alpha > 0 and beta > 0):
        return hyper, ""
    if abs(alpha / hyper.alpha - 1) < 1e-3 and abs(beta / hyper.beta - 1) < 1e-3:
        return hyper, ""
    note = (f"time constants snapped to the chip's decay codes at dt = {backend.default_dt(net):.4g}: "
            f"alpha {hyper.alpha:g} -> {alpha:.4g}, beta {hyper.beta:g} -> {beta:.4g} (1/time unit)")
    return hyper.replace(alpha=alpha, beta=beta), note


def constrain_hyper(hyper, target, n_inputs: int, n_classes: int, snap: bool = True) -> tuple:
    """``(hyper, notes)``: ``hyper`` sized and constrained to fit chip ``target`` (a name or a backend).

    Hidden layers beyond the chip's ``max_layers - 1`` are dropped, each hidden layer is capped by
    :func:`hidden_caps`, and (``snap``) the time constants are snapped (:func:`snap_time_constants`).
    ``notes`` lists every change in words. The constrained initial network is checked with
    ``backend.check_fits``.

    Raises:
        ValueError: the data need more input channels or classes than the chip has (the message names
            the limit), or a network of these sizes still does not fit (the chip's own message).
    """
    from ..backends import get

    backend = get(target) if isinstance(target, str) else target
    chip = backend.chip
    if n_inputs > chip.n_inputs:
        raise ValueError(f"inputs = {n_inputs} > {chip.n_inputs} input channels on {chip.name}: encode the data "
                         f"with {chip.n_inputs} input channels or fewer")
    if n_classes > chip.n_outputs:
        raise ValueError(f"outputs = {n_classes} > {chip.n_outputs} output neurons on {chip.name}: use a data set "
                         f"with {chip.n_outputs} classes or fewer")
    notes = []
    sizes, flags = tuple(hyper.hidden), _recurrent_flags(hyper)
    max_hidden_layers = chip.max_layers - 1
    if len(sizes) > max_hidden_layers:
        notes.append(f"hidden layers {len(sizes)} -> {max_hidden_layers} ({chip.name} maps at most "
                     f"{max_hidden_layers} hidden layer(s))")
        keep = max_hidden_layers
        hyper = hyper.replace(hidden=sizes[:keep], init_mean=tuple(hyper.init_mean[:keep]) + (hyper.init_mean[-1],),
                              init_std=tuple(hyper.init_std[:keep]) + (hyper.init_std[-1],),
                              **({"recurrent": flags[:keep]} if getattr(hyper, "recurrent", None) else {}))
        sizes, flags = sizes[:keep], flags[:keep]
    if any(flags) and not chip.recurrent:
        notes.append(f"recurrence dropped ({chip.name} has no hidden -> hidden connections)")
        hyper, flags = hyper.replace(recurrent=(False,) * len(sizes)), (False,) * len(sizes)
    caps = hidden_caps(chip, sizes, n_inputs, n_classes, flags)
    if caps != sizes:
        notes.append(f"hidden {','.join(map(str, sizes))} -> {','.join(map(str, caps))} (the most {chip.name} holds: "
                     f"inputs reach {chip.input_targets}, outputs are driven by {chip.output_sources}, fan-in "
                     f"{chip.max_fan_in}, fan-out {chip.max_fan_out}, {chip.n_hidden} hidden neurons)")
        hyper = hyper.replace(hidden=caps)
    backend.check_fits(_initial_net(hyper, n_inputs, n_classes))
    if snap:
        hyper, note = snap_time_constants(hyper, backend, n_inputs, n_classes)
        if note:
            notes.append(note)
    return hyper, notes


# --------------------------------------------------------------------------------------------- the step
def dt_candidates(t_max: float, steps=DT_STEPS) -> list:
    """Chip steps ``t_max / s`` for ``s`` in ``steps`` that the time grid accepts (time units)."""
    from ..backends.timegrid import check_grid

    out = []
    for s in steps:
        dt = float(t_max) / s
        try:
            check_grid(t_max, dt)
        except ValueError:
            continue
        out.append(dt)
    return out


def choose_dt(net, target, x, y, candidates=None, log=None, hyper=None) -> tuple:
    r"""``(dt, {dt: accuracy})``: the chip step with the best emulated accuracy on ``(x, y)``.

    ``x, y`` must be a split the model is not scored on (validation). Accuracy follows ``hyper``'s
    read-out (:func:`fpsnn.backends.readout.chip_accuracy`; None: first spike); a membrane read-out is
    compiled with the potential range of ``x`` (:func:`fpsnn.backends.readout.readout_range`). The
    chip's default step is kept unless another scores higher by more than one standard error of the
    best accuracy on ``len(y)`` samples, :math:`\sqrt{p(1-p)/n}`: a difference that small is noise
    of the split, not a better step (seen: 94.9 vs 94.5 % on 1000 validation samples picked a step
    that scored 1.2 points lower on the test split). Other ties go to the step closest to the
    default. Steps the mapper refuses are left out. ValueError when ``target`` has no bit-accurate
    emulator (an analog chip) or no candidate compiles.
    """
    from ..backends import get

    backend = get(target) if isinstance(target, str) else target
    ok, why = backend.available("emulator")
    if not ok:
        raise ValueError(f"dt: 'auto' needs a bit-accurate emulator, {backend.name} has none ({why}); pass --dt")
    log = log or (lambda line: None)
    scores, default, refused = {}, backend.default_dt(net), ""
    candidates = dt_candidates(net.t_max) if candidates is None else list(candidates)
    r_range = _readout_range(net, hyper, x)
    for dt in candidates:
        try:
            scores[float(dt)] = _chip_accuracy(backend, net, dt, x, y, hyper, r_range)
        except ValueError as exc:
            log(f"fpsnn: dt {dt:.4g} skipped: {exc}")
            refused = str(exc)
            continue
        log(f"fpsnn: dt {dt:.4g} ({net.t_max / dt:.0f} steps): validation accuracy {100 * scores[float(dt)]:.2f} %")
    if not scores:
        raise ValueError(f"{refused} (no step of {', '.join(f'{d:.4g}' for d in candidates)} compiles for "
                         f"{backend.name})")
    return pick_step(scores, default, len(y)), scores


def pick_step(scores: dict, default: float, samples: int) -> float:
    """The step :func:`choose_dt` keeps from ``{dt: accuracy on samples}``: the chip's ``default`` unless
    another step scores higher by more than one standard error of the best, else the best (ties: the
    step closest to the default)."""
    best, top = max(scores.items(), key=lambda kv: (kv[1], -abs(math.log(kv[0] / default))))
    at_default = next((d for d in scores if math.isclose(d, default)), None)
    if at_default is not None and top - scores[at_default] <= math.sqrt(top * (1.0 - top) / max(samples, 1)):
        return at_default
    return best


def recorded_dt(metadata: dict, target: str) -> float | None:
    """The chip step a chip-aware model file recorded for ``target`` (None: none, or another target)."""
    chip = (metadata or {}).get("chip") or {}
    return float(chip["dt"]) if chip.get("target") == target and chip.get("dt") is not None else None


def recorded_compile(metadata: dict, target: str, dt: float | None) -> dict:
    """The ``compile`` keyword arguments a model file recorded for ``target`` at step ``dt`` (a model
    fine-tuned in the loop: ``backend.mapping_settings`` of its last program); ``{}`` for none, another
    target or another step (the settings were fitted at the recorded step)."""
    chip = (metadata or {}).get("chip") or {}
    kwargs = chip.get("compile") or {}
    if not kwargs or chip.get("target") != target:
        return {}
    if dt is not None and chip.get("dt") is not None and not math.isclose(float(dt), float(chip["dt"])):
        return {}
    return dict(kwargs)


def resolve_dt(dt, net, metadata: dict, target: str, log=None, subset: int | None = None):
    """The ``dt`` a deploy uses: a number as given; None: the model's recorded step for ``target``
    (:func:`recorded_dt`), else None (the target's default); ``"auto"``: the recorded step, else
    :func:`choose_dt` on the model's *validation* split (ValueError when the model names no data)."""
    if dt is None or (not isinstance(dt, str)):
        return recorded_dt(metadata, target) if dt is None else float(dt)
    if dt != "auto":
        raise ValueError(f"dt = {dt!r}: a step in the model's time unit, or 'auto'")
    known = recorded_dt(metadata, target)
    if known is not None:
        return known
    from ..resolve import resolve_model

    ctx = resolve_model(net, None, metadata=metadata)
    if ctx.dataset is None:
        raise ValueError("--dt auto: the model names no data set to take a validation split from; pass --dt")
    x, y = ctx.data("validation", subset=subset)
    from ..resolve import model_hyper

    return choose_dt(net, target, x, y, log=log, hyper=model_hyper(metadata))[0]


# --------------------------------------------------------------------------------------------- the run
def _source_of(source, hyper):
    """``(hyper, encoder, n_classes, load(split))`` of a data set name or a DataSet."""
    from .. import datasets

    if isinstance(source, datasets.DataSet):
        hyper = source.default_hyper() if hyper is None else hyper
        return hyper, source.encoder(hyper), source.n_classes, source.load
    spec = datasets.spec(source)
    hyper = spec.hyper if hyper is None else hyper
    return hyper, spec.encoder(hyper), spec.n_classes, (lambda split: datasets.load(source, split))


def _readout_range(net, hyper, x):
    """The ``readout_range`` of a membrane read-out on ``x`` (None for a spike read-out)."""
    from ..backends.readout import needs_potential, readout_range

    return readout_range(net, x) if needs_potential(hyper) else None


def _chip_accuracy(backend, net, dt, x, y, hyper=None, r_range=None) -> float:
    """Emulated accuracy of ``net`` at step ``dt`` on ``(x, y)``, scored with ``hyper``'s read-out."""
    from ..backends.readout import chip_accuracy, needs_potential

    if needs_potential(hyper) and r_range is None:
        r_range = _readout_range(net, hyper, x)
    program, report = backend.compile(net, dt=dt, **({} if r_range is None else {"readout_range": r_range}))
    res = backend.run(program, x, engine="emulator", t_max=net.t_max, record=needs_potential(hyper))
    return chip_accuracy(backend, program, report, res, y, hyper, net.t_max)["accuracy"]


def fit_for_target(source, target: str, hyper=None, seed: int = 0, out_dir=None, qat_epochs: int = 10,
                   qat_lr: float | None = None, hil_epochs: int = 10, train_subset: int | None = None,
                   test_subset: int | None = None,
                   validation_subset: int | None = None, progress: bool = False, resume: bool = False,
                   until_accuracy: float | None = None, log=None):
    """Train ``source`` (a data set name or a :class:`fpsnn.datasets.DataSet`) for chip ``target``.

    Steps and what is kept: module docstring. ``hyper`` defaults to the data set's; it is constrained
    by :func:`constrain_hyper`. ``qat_epochs`` (0: none) and ``qat_lr`` (default: the training ``lr``)
    set the quantization-aware fine-tune, ``hil_epochs`` (0: none) the fine-tune in the loop on the
    emulator after it (same learning rate). ``out_dir`` receives the float run (``model.fpsnn``, then
    overwritten by the chosen network), ``qat/`` and ``hil/`` (the fine-tune runs) and nothing else.

    Returns:
        The :class:`fpsnn.training.TrainResult` of the float run with ``net`` and ``model_path`` of
        the chosen network; its model file's ``metadata["chip"]`` holds ``target``, ``dt``, ``notes``
        and the validation accuracies that chose the step and decided on QAT and the in-the-loop stage.
    """
    from .. import io
    from ..backends import get
    from ..training import fit_dataset
    from .finetuner import FineTuner

    log = log or (lambda line: None)
    backend = get(target)
    for name, value in (("qat_epochs", qat_epochs), ("hil_epochs", hil_epochs)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} = {value}: must be an integer >= 0")
    hyper, encoder, n_classes, load = _source_of(source, hyper)
    x_train, y_train = load("train")
    x_train, y_train = encoder(x_train[:train_subset]), y_train[:train_subset]
    hyper, notes = constrain_hyper(hyper, backend, x_train.shape[1], n_classes)
    for note in notes:
        log(f"fpsnn: {target}: {note}")
    result = fit_dataset(source, hyper, seed=seed, out_dir=out_dir, progress=progress, resume=resume,
                         train_subset=train_subset, test_subset=test_subset, until_accuracy=until_accuracy)
    net = result.net
    x_val, y_val = load("validation")
    x_val, y_val = encoder(x_val[:validation_subset]), y_val[:validation_subset]
    from ..training import evaluate

    chip = {"target": target, "dt": None, "hidden": list(hyper.hidden), "notes": notes,
            "validation": {"samples": int(len(y_val)), "float": evaluate(net, x_val, y_val, hyper)["accuracy"]}}
    if backend.available("emulator")[0]:
        dt, scores = choose_dt(net, backend, x_val, y_val, log=log, hyper=hyper)
        chip["validation"].update(chip_by_dt={f"{k:.6g}": v for k, v in scores.items()}, chip=scores[dt])
        chip["dt"] = dt
        best = scores[dt]
        for mode, epochs, label in (("qat", qat_epochs, "QAT"), ("hil", hil_epochs, "in the loop on the emulator")):
            if not epochs:
                continue
            tuned = FineTuner(net, hyper.replace(epochs=int(epochs), **({"lr": qat_lr} if qat_lr else {})),
                              (x_train, y_train), target, mode=mode, dt=dt, seed=seed, progress=progress,
                              engine="emulator" if mode == "hil" else "auto",
                              out_dir=None if out_dir is None else Path(out_dir) / mode).fit(resume=resume)
            acc = _chip_accuracy(backend, tuned.net, dt, x_val, y_val, hyper)
            kept = acc > best
            chip["validation"].update({mode: acc, f"{mode}_epochs": int(epochs), f"{mode}_kept": bool(kept)})
            log(f"fpsnn: {target}: {label}, {epochs} epochs at dt {dt:.4g}: validation accuracy on the emulator "
                f"{100 * best:.2f} % -> {100 * acc:.2f} % ({'kept' if kept else 'not kept'})")
            if kept:
                net, best = tuned.net, acc
                chip["validation"]["chip"] = acc
    else:
        chip["dt"] = backend.default_dt(net)
        chip["notes"] = notes + [f"no bit-accurate emulator for {target}: the target's default step, no QAT"]
    if result.model_path is not None:
        stored = io.read_file(result.model_path)
        metadata = {**stored.metadata, "chip": chip}
        io.save_model(result.model_path, net, metadata, arrays=stored.arrays)
    return _replace(result, net=net)
