"""``fpsnn deploy`` and ``fpsnn emulate``: a trained model -> a chip's artifacts, a report, accuracies.

:func:`deploy` loads a model, compiles it for a target (:func:`fpsnn.backends.get`), writes the
target's deployable files and ``report.json`` into a folder, predicts the accuracy on fpsnn's
bit-accurate emulator (the vendor simulator for DYNAP-SE2, which has none) and, with ``run_data``,
runs the data on the target: the board when asked for (``board=True``; stops when it is missing),
else the vendor simulator, else the emulator, and says which one ran and why. :func:`emulate` runs
the emulator only. Both return one JSON-ready dict; the CLI prints it (``--json``) or a summary.

Accuracy is the first-spike classification of :func:`fpsnn.losses.predict` (a silent output layer
is a wrong answer), in fractions; ``float_accuracy`` is the exact float simulation of the same model
on the same samples. When the vendor simulator of a digital target ran, the report also counts the
samples whose spikes (every layer, every step) are identical to the emulator's.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .io import json_default

__all__ = ["load_network", "load_data", "resources", "accuracy", "deploy", "emulate",
           "configure_deploy", "configure_emulate", "run_deploy", "run_emulate"]


# --------------------------------------------------------------------------------------------- inputs
def load_network(model):
    """``(net, metadata)`` from an :class:`fpsnn.Network` (metadata ``{}``) or a model file path."""
    from .network import Network

    if isinstance(model, Network):
        return model, {}
    from . import io

    path = Path(model)
    if not path.is_file():
        raise ValueError(f"model: no such file {str(path)!r}")
    return io.load_model(path)


def load_data(data, metadata: dict, subset: int | None = None):
    """Encoded input spike times and labels ``(x (batch, n_in), y (batch,), name)`` for a data spec.

    ``data`` is a data set name (``"yinyang"``), ``"name:split"`` (``"yinyang:validation"``; default
    split ``test``), ``None`` for the model's own data set (its metadata), or a tuple ``(x, y)`` of
    already encoded spike times and labels. The encoder is the one stored with the model, else the
    data set's default. ``subset`` keeps the first ``subset`` samples.
    """
    from . import datasets
    from .encoding import LatencyEncoder

    if subset is not None and (int(subset) != subset or subset < 1):
        raise ValueError(f"subset = {subset!r}: must be an integer >= 1")
    if isinstance(data, tuple):
        x, y = np.asarray(data[0], dtype=np.float64), np.asarray(data[1])
        if len(x) != len(y):
            raise ValueError(f"data: {len(x)} input samples but {len(y)} labels")
        return x[:subset], y[:subset], "user data"
    spec = data if data is not None else metadata.get("dataset")
    if spec is None:
        raise ValueError("data: the model file names no data set; pass one (e.g. 'yinyang' or 'yinyang:test')")
    name, _, split = str(spec).partition(":")
    split = split or "test"
    if name not in datasets.NAMES:
        raise ValueError(f"data: unknown data set {name!r}; expected one of {', '.join(datasets.NAMES)}")
    if split not in datasets.SPLITS:
        raise ValueError(f"data: unknown split {split!r}; expected one of {', '.join(datasets.SPLITS)}")
    if "encoder" in metadata and metadata.get("dataset", name) == name:
        enc = LatencyEncoder.from_dict(metadata["encoder"])
    else:
        ds = datasets.spec(name)
        enc = ds.encoder(ds.hyper)
    x, y = datasets.load(name, split)
    x, y = x[:subset], y[:subset]
    return enc(x), y, f"{name}:{split}"


# --------------------------------------------------------------------------------------------- report parts
def resources(net, chip, program=None) -> dict:
    """What ``net`` uses of ``chip`` (a :class:`fpsnn.chips.ChipDescription`): ``{what: [used, limit]}``.

    Counts come from the float network's non-zero pattern (what the mapper places): input channels,
    hidden neurons (all layers but the last), output neurons, synapses (non-zero weights, recurrent
    included), the largest fan-in of any neuron, the largest fan-out of any hidden neuron, layers.
    A synapse limit of ``None`` means the chip sets none of its own. DYNAP-SE2 (a ``program`` with
    ``destinations()``) limits a neuron's fan-out in destination cores, not synapses: its
    ``max_fan_out`` counts cores, and ``cores`` is added.
    """
    ff = [np.asarray(w) != 0 for w in net.weights]
    rec = [None if r is None else np.asarray(r) != 0 for r in net.recurrent]
    fan_in = max(int((f.sum(axis=0) + (0 if r is None else r.sum(axis=0))).max()) for f, r in zip(ff, rec))
    fan_out = 0
    for l in range(net.n_layers - 1):
        out = ff[l + 1].sum(axis=1) + (0 if rec[l] is None else rec[l].sum(axis=1))
        fan_out = max(fan_out, int(out.max()))
    synapses = sum(int(f.sum()) for f in ff) + sum(int(r.sum()) for r in rec if r is not None)
    extra = {}
    if program is not None and hasattr(program, "destinations"):
        fan_out = int(program.destinations().max(initial=0))
        extra["cores"] = [program.n_cores, chip.n_hidden // program.neurons_per_core]
    return {
        **extra,
        "inputs": [int(net.n_inputs), chip.n_inputs],
        "hidden_neurons": [int(sum(net.sizes[:-1])), chip.n_hidden],
        "output_neurons": [int(net.sizes[-1]), chip.n_outputs],
        "synapses": [synapses, None],
        "max_fan_in": [fan_in, chip.max_fan_in],
        "max_fan_out": [fan_out, chip.max_fan_out],
        "layers": [int(net.n_layers), chip.max_layers],
    }


def accuracy(first_spikes, labels) -> float:
    """Fraction of samples whose first-firing output neuron is the label (silent = wrong)."""
    from .losses import predict

    return float(np.mean(predict(first_spikes) == np.asarray(labels))) if len(labels) else float("nan")


def _identity(a, b) -> dict:
    """Samples whose event rasters agree in every layer, step and neuron: ``{samples, identical}``."""
    same = np.ones(len(a.rasters[0]), dtype=bool)
    for x, y in zip(a.rasters, b.rasters):
        same &= np.all(np.asarray(x).reshape(len(x), -1) == np.asarray(y).reshape(len(y), -1), axis=1)
    return {"samples": int(same.size), "identical": int(same.sum())}


def _run(backend, program, x, t_max, engine):
    t0 = time.perf_counter()
    res = backend.run(program, x, engine=engine, t_max=t_max)
    return res, time.perf_counter() - t0


def _engine_summary(res, y, wall) -> dict:
    return {"engine": res.engine, "engine_name": res.engine_name, "note": res.note,
            "accuracy": accuracy(res.first_spikes(), y), "wall_s": round(wall, 3)}


# --------------------------------------------------------------------------------------------- commands
def deploy(model, target: str, out_dir, run_data=None, board: bool = False, dt: float | None = None,
           subset: int | None = None, per_channel: bool = True, predict: bool = True, log=None,
           mismatch: float | None = None) -> dict:
    """Compile ``model`` for ``target``, write its artifacts and ``report.json`` into ``out_dir``.

    Args:
        model: a model file (``fpsnn train``) or an :class:`fpsnn.Network`.
        target: a name of :func:`fpsnn.backends.list`.
        out_dir: folder for the artifacts (created).
        run_data: data to run on the target (see :func:`load_data`), or None for no run.
        board: run on the board (an error, not a fallback, when it is unavailable).
        dt: chip step in the network's time unit; default the target's (Xylo ``t_max / 64``, others ``t_max / 128``).
        subset: first ``subset`` samples only (prediction and run).
        predict: also predict the accuracy on the emulator (the model's data set, or ``run_data``).
        log: callable taking one line (notes for a human, e.g. which engine ran instead of which).
        mismatch: DYNAP-SE2 only: DynapSim's parameter spread at 3 sigma, a fraction (0.1 = 10 %).

    Returns:
        The report (also in ``out_dir/report.json``): ``target``, ``engine`` / ``engine_name`` (what
        ran ``run_data``; without a run, what ran the prediction; None when nothing ran),
        ``accuracy`` and ``float_accuracy`` (of that run, fractions), ``resources``,
        ``quantization``, ``prediction``, ``run``, ``artifacts``.

    Raises:
        ValueError: unknown target, unreadable model, a network that does not fit (the message names
            the limit), bad data.
        RuntimeError: ``board=True`` but the board (or its software) is missing.
    """
    from . import backends

    log = log or (lambda line: None)
    backend = backends.get(target)
    if mismatch is not None:
        if backend.chip.family != "dynapse":
            raise ValueError(f"--mismatch: only the analog DYNAP-SE2 has parameter mismatch, not {target}")
        if not 0 <= mismatch < 1:
            raise ValueError(f"--mismatch = {mismatch}: must be a fraction in [0, 1) (0.1 = 10 % at 3 sigma)")
        backend.mismatch = float(mismatch)
    net, metadata = load_network(model)
    if board:
        ok, why = backend.available("board")
        if not ok:
            raise RuntimeError(f"{target}: no board run: {why}")
    program, qreport = backend.compile(net, dt=dt, per_channel=per_channel)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    artifacts = [str(p) for p in backend.write_artifacts(program, out)]
    report = {
        "target": target, "chip": backend.chip.name, "part": backend.chip.part,
        "model": str(model) if not hasattr(model, "weights") else "<Network>",
        "dt": float(qreport.dt), "engine": None, "engine_name": None, "accuracy": None,
        "float_accuracy": None, "resources": resources(net, backend.chip, program), "quantization": qreport.to_dict(),
        "prediction": None, "run": None, "artifacts": artifacts,
    }
    data_spec = run_data if run_data is not None else (metadata.get("dataset") if predict else None)
    emu = None
    if data_spec is not None:
        x, y, data_name = load_data(data_spec, metadata, subset)
        float_acc = _float_accuracy(net, x, y)
        pred_engine = "emulator" if backend.available("emulator")[0] else "vendor"
        if predict:
            ok, why = backend.available(pred_engine)
            if ok:
                emu, wall = _run(backend, program, x, net.t_max, pred_engine)
                report["prediction"] = {"data": data_name, "samples": int(len(y)), "float_accuracy": float_acc,
                                        **_engine_summary(emu, y, wall)}
                # without a run, the top-level fields say what the prediction ran (a run overrides them)
                report.update(engine=emu.engine, engine_name=emu.engine_name,
                              accuracy=report["prediction"]["accuracy"], float_accuracy=float_acc)
            else:
                report["prediction"] = {"data": data_name, "skipped": why}
        if run_data is not None:
            engine = "board" if board else "auto"
            if emu is not None and not board and emu.engine == "vendor":
                res, wall = emu, report["prediction"]["wall_s"]   # the prediction already ran the vendor simulator
            else:
                res, wall = _run(backend, program, x, net.t_max, engine)
            if res.note:
                log(f"fpsnn: {target}: {res.note}; ran {res.engine_name} instead")
            run = {"data": data_name, "samples": int(len(y)), "float_accuracy": float_acc,
                   **_engine_summary(res, y, wall)}
            if emu is not None and emu.engine == "emulator" and res.engine != "emulator":
                run["spikes_identical_to_emulator"] = _identity(res, emu)
            report["run"] = run
            report.update(engine=res.engine, engine_name=res.engine_name, accuracy=run["accuracy"],
                          float_accuracy=float_acc)
    from .io import write_atomic

    write_atomic(out / "report.json", json.dumps(report, indent=1, default=json_default).encode())
    report["artifacts"].append(str(out / "report.json"))
    return report


def emulate(model, target: str, data=None, dt: float | None = None, subset: int | None = None,
            per_channel: bool = True) -> dict:
    """Run ``data`` (see :func:`load_data`) through ``target``'s bit-accurate emulator only.

    Returns ``{target, engine, engine_name, data, samples, accuracy, float_accuracy, resources}``.
    Raises ValueError for a target without an emulator (DYNAP-SE2 is analog) or one the model does
    not fit.
    """
    from . import backends

    backend = backends.get(target)
    ok, why = backend.available("emulator")
    if not ok:
        raise ValueError(f"--target {target}: no bit-accurate emulator ({why}); use 'fpsnn deploy --run'")
    net, metadata = load_network(model)
    program, qreport = backend.compile(net, dt=dt, per_channel=per_channel)
    x, y, data_name = load_data(data, metadata, subset)
    res, wall = _run(backend, program, x, net.t_max, "emulator")
    return {"target": target, "data": data_name, "samples": int(len(y)), "dt": float(qreport.dt),
            "float_accuracy": _float_accuracy(net, x, y), **_engine_summary(res, y, wall),
            "resources": resources(net, backend.chip, program)}


def _float_accuracy(net, x, y) -> float:
    return accuracy(net.simulate(x).first_spikes(), y)


# --------------------------------------------------------------------------------------------- CLI glue
def _targets():
    from .chips import available

    return available()


def configure_deploy(p) -> None:
    """Arguments of ``fpsnn deploy``."""
    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--target", required=True, choices=_targets(), help="chip to deploy to")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the artifacts and report.json")
    p.add_argument("--run", metavar="DATA", help="run this data on the target: a data set name, or name:split "
                   "(default split: test); board with --board, else vendor simulator, else emulator")
    p.add_argument("--board", action="store_true", help="run on the chip (stop with an error when it is missing)")
    p.add_argument("--dt", type=float, help="chip time step in the model's time unit (default: Xylo t_max/64, others t_max/128)")
    p.add_argument("--subset", type=int, metavar="N", help="use only the first N samples")
    p.add_argument("--mismatch", type=float, metavar="F", help="DYNAP-SE2: DynapSim parameter mismatch, a "
                   "fraction at 3 sigma (0.1 = 10 %%)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")


def configure_emulate(p) -> None:
    """Arguments of ``fpsnn emulate``."""
    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--target", required=True, choices=_targets(), help="chip whose emulator runs the model")
    p.add_argument("--data", metavar="DATA", help="data set name or name:split (default: the model's, test split)")
    p.add_argument("--dt", type=float, help="chip time step in the model's time unit (default: Xylo t_max/64, others t_max/128)")
    p.add_argument("--subset", type=int, metavar="N", help="use only the first N samples")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")


def _print(args, result: dict, human: str) -> None:
    print(json.dumps(result, default=json_default) if args.json else human)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def _guard(fn):
    """Run a command; RuntimeError / ImportError (missing board or software) -> one line, exit 3.

    ValueError is left to the CLI's own handler (one line, exit 2).
    """
    import sys

    def wrapped(args) -> int:
        try:
            return fn(args)
        except (RuntimeError, ImportError) as exc:
            print(f"fpsnn: error: {exc}", file=sys.stderr)
            return 3

    return wrapped


@_guard
def run_deploy(args) -> int:
    """``fpsnn deploy``: exit 0, or 2 (bad input / does not fit), 3 (board or software missing)."""
    import sys

    rep = deploy(args.model, args.target, args.out, run_data=args.run, board=args.board, dt=args.dt,
                 subset=args.subset, log=lambda line: print(line, file=sys.stderr), mismatch=args.mismatch)
    res = rep["resources"]
    lines = [f"{args.target}: deployed to {args.out} ({', '.join(Path(a).name for a in rep['artifacts'])})",
             "resources: " + ", ".join(f"{k} {u}/{'-' if lim is None else lim}" for k, (u, lim) in res.items())]
    if rep["prediction"] and "accuracy" in rep["prediction"]:
        p = rep["prediction"]
        lines.append(f"predicted on {p['engine_name']}: accuracy {_pct(p['accuracy'])} "
                     f"(float {_pct(p['float_accuracy'])}, {p['data']}, {p['samples']} samples)")
    if rep["run"]:
        r = rep["run"]
        same = r.get("spikes_identical_to_emulator")
        lines.append(f"ran on {r['engine_name']}: accuracy {_pct(r['accuracy'])} (float {_pct(r['float_accuracy'])}, "
                     f"{r['data']}, {r['samples']} samples)"
                     + (f"; spikes identical to the emulator in {same['identical']}/{same['samples']} samples"
                        if same else ""))
    _print(args, rep, "\n".join(lines))
    return 0


@_guard
def run_emulate(args) -> int:
    """``fpsnn emulate``: exit 0, or 2 (bad input / does not fit / no emulator for the target)."""
    r = emulate(args.model, args.target, data=args.data, dt=args.dt, subset=args.subset)
    _print(args, r, f"{args.target} emulator: accuracy {_pct(r['accuracy'])} (float {_pct(r['float_accuracy'])}, "
                    f"{r['data']}, {r['samples']} samples)")
    return 0
