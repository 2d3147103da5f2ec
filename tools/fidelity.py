"""Fidelity of quantization: a trained model, float vs. the emulated integer program of each chip.

For every digital chip that can hold the network and every chip step ``dt`` (network time units per
step), the model is compiled (``fpsnn.backends.get(chip).compile``: quantize + map), the test set
runs on fpsnn's bit-accurate emulator of that chip (``backend.run(..., engine="emulator")``, which
encodes the inputs with :func:`fpsnn.backends.timegrid.encode` and decodes the event rasters with
:func:`fpsnn.backends.timegrid.decode`: an event of step ``k`` is reported at ``(k + 1) * dt``), and the result
is compared with the exact float simulation of the same model on the same samples:

* ``float_accuracy`` / ``chip_accuracy``: first-spike classification (:func:`fpsnn.losses.predict`;
  an all-silent output layer counts as wrong), fractions in [0, 1]; ``agreement``: fraction of
  samples whose float and chip predictions are the same class; ``output_ties``: fraction of samples
  where two or more outputs fire first in the same chip step (the chip cannot rank them).
* ``float_output_margin``: 10th percentile and median over the samples of the gap between the
  float model's earliest and second-earliest output spike (time units): the timing resolution the
  classification needs; compare it with ``dt``.
* ``output`` / ``hidden``: first-spike times of the output layer / of all hidden neurons, compared
  per (sample, neuron) pair: ``rmse`` and ``bias`` (mean chip - float, time units) over the pairs
  where both fire (``both``: their fraction), ``one_fires``: fraction of pairs where exactly one of
  the two fires. ``rmse`` is ``null`` when no pair fires in both.
* ``tau_syn`` / ``tau_mem``: per layer, ``[min, max]`` over the neurons of the time constant
  (time units) the chip's decay codes implement, next to the float model's ``1/alpha``, ``1/beta``.
* ``binding_limits``, ``clipped``, ``rounded_to_zero``: from the chip's QuantizationReport.

A chip the network does not fit (compile raises ValueError naming the limit) is skipped with that
one line (a ``dt`` the mapper refuses while others work is listed under ``skipped_dt``). A chip
without a bit-accurate emulator (DYNAP-SE2 is analog) is skipped with its reason. Usage::

    python tools/fidelity.py MODEL [--chips xylo-audio2,loihi2] [--dt 0.04,0.02,0.01,0.005,auto]
                             [--subset N] [--json] [--plot out.png]

``auto`` in ``--dt`` adds, per chip, the step a chip-aware model recorded for it (``fpsnn train
--target``), else the step with the best emulated accuracy on the model's *validation* split
(:func:`fpsnn.finetune.chipaware.resolve_dt`); that run is marked ``auto``. The table ends with one
line per chip and one column per step: the chip accuracy at every step side by side.

Exit status: 0, or 2 for a bad argument or an unreadable model (one line naming it on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DEFAULT_DTS = (0.04, 0.02, 0.01, 0.005)


# --------------------------------------------------------------------------------------------- metrics
def first_spike_error(float_first, chip_first) -> dict:
    """Compare two ``(batch, n)`` first-spike-time arrays (+inf = silent), time units.

    Returns ``{"rmse", "bias", "both", "one_fires", "pairs"}``: RMSE and mean signed difference
    (chip - float) over the pairs where both fire (``None`` if there is none), the fraction of pairs
    where both fire and where exactly one fires, and the number of pairs.
    """
    f = np.asarray(float_first, dtype=np.float64)
    c = np.asarray(chip_first, dtype=np.float64)
    if f.shape != c.shape:
        raise ValueError(f"first spikes: float {f.shape} and chip {c.shape} shapes differ")
    ff, cf = np.isfinite(f), np.isfinite(c)
    both = ff & cf
    diff = c[both] - f[both]
    pairs = int(f.size)
    return {"rmse": float(np.sqrt(np.mean(diff ** 2))) if diff.size else None,
            "bias": float(np.mean(diff)) if diff.size else None,
            "both": float(both.mean()) if pairs else None,
            "one_fires": float((ff ^ cf).mean()) if pairs else None,
            "pairs": pairs}


def output_ties(first) -> float:
    """Fraction of samples whose earliest output time is shared by two or more output neurons.

    On a chip, outputs that cross threshold in the same step get the same reported time, and
    :func:`fpsnn.losses.predict` then picks the lowest index: a tie is a coin the chip cannot toss.
    """
    f = np.asarray(first, dtype=np.float64)
    if f.size == 0:
        return 0.0
    earliest = f.min(axis=1, keepdims=True)
    shared = (f == earliest).sum(axis=1) >= 2
    return float(np.mean(shared & np.isfinite(earliest[:, 0])))


def decision_margin(first) -> dict:
    """How far apart the float model's first and second output spikes are (time units).

    ``{"p10", "median"}`` over the samples where at least two outputs fire (``None`` if none): a chip
    whose ``dt`` is above these gaps must put the competing outputs into one step (a tie) or swap them.
    """
    f = np.sort(np.asarray(first, dtype=np.float64), axis=1)
    if f.shape[1] < 2:
        return {"p10": None, "median": None}
    two = np.isfinite(f[:, 1])  # rows where a second output fires (no inf - inf elsewhere)
    gap = f[two, 1] - f[two, 0]
    if gap.size == 0:
        return {"p10": None, "median": None}
    return {"p10": float(np.quantile(gap, 0.1)), "median": float(np.median(gap))}


def _hidden_first(times) -> np.ndarray:
    """First spike times of every hidden neuron (all layers but the last), ``(batch, n_hidden_total)``."""
    firsts = [t[:, :, 0] if t.shape[2] else np.full(t.shape[:2], np.inf) for t in times[:-1]]
    return np.concatenate(firsts, axis=1) if firsts else np.zeros((times[-1].shape[0], 0))


def _span(values) -> list:
    """``[min, max]`` of an array of time constants (time units)."""
    a = np.asarray(values, dtype=np.float64)
    return [float(a.min()), float(a.max())]


def _taus(net, report) -> dict:
    """Per layer: the float time constants and those the chip's decay codes implement (time units)."""
    return {
        "tau_syn": [{"float": _span(1.0 / a), "chip": _span(e)}
                    for a, e in zip(net.alpha, report.effective_tau_syn)],
        "tau_mem": [{"float": _span(1.0 / b), "chip": _span(e)}
                    for b, e in zip(net.beta, report.effective_tau_mem)],
    }


# --------------------------------------------------------------------------------------------- the run
def fidelity(model, chips, dts, subset: int | None = None, log=None) -> dict:
    """Float vs. emulated-chip comparison of ``model`` on its data set's test split.

    Args:
        model: a model file (``fpsnn train``); its metadata names the data set and the encoder
            (:func:`fpsnn.resolve.resolve_model`).
        chips: chip names (:func:`fpsnn.backends.available_targets`); chips without a bit-accurate
            emulator (analog ones) are skipped with a reason.
        dts: chip steps, network time units per step, each finite and > 0, or ``"auto"``.
        subset: use only the first ``subset`` test samples.
        log: callable taking one progress line (or None).

    Returns:
        ``{"model", "epochs", "data", "samples", "t_max", "float_accuracy", "float_output_margin",
        "chips": [{"chip", "family", "skipped" (reason or None), "skipped_dt" ([{"dt", "reason"}]: steps
        the mapper refused while others worked), "runs": [{"dt", "steps",
        "chip_accuracy", "agreement", "output_ties", "output", "hidden", "tau_syn", "tau_mem",
        "binding_limits", "clipped", "rounded_to_zero", "wall_s"}]}]}`` (fields: module docstring).
    """
    from fpsnn import backends
    from fpsnn.backends import timegrid
    from fpsnn.deploy import accuracy
    from fpsnn.finetune.chipaware import resolve_dt
    from fpsnn.losses import predict
    from fpsnn.resolve import resolve_model

    log = log or (lambda line: None)
    ctx = resolve_model(model)
    net, metadata = ctx.net, ctx.metadata
    x, y = ctx.data(subset=subset)
    data_name = ctx.describe()
    sim = net.simulate(x)
    float_out, float_hidden = sim.first_spikes(-1), _hidden_first(sim.times)
    float_pred = predict(float_out)
    result = {"model": str(model),
              "epochs": metadata.get("epochs"), "data": data_name, "samples": int(len(y)),
              "t_max": float(net.t_max), "float_accuracy": accuracy(float_out, y),
              "float_output_margin": decision_margin(float_out), "chips": []}
    for name in chips:
        backend = backends.get(name)
        entry = {"chip": name, "family": backend.family, "skipped": None, "skipped_dt": [], "runs": []}
        result["chips"].append(entry)
        ok, why = backend.available("emulator")
        if not ok:
            entry["skipped"] = f"no bit-accurate emulator ({why}): not part of this tool"
            continue
        for dt in dts:
            t0 = time.perf_counter()
            auto = dt == "auto"
            try:
                if auto:
                    dt = resolve_dt("auto", net, metadata, name, subset=subset)
                program, report = backend.compile(net, dt=dt)
            except ValueError as exc:
                # Mostly structure (neurons, fan-in), the same at every dt; but some refusals depend
                # on dt (Loihi: a threshold below one vth unit at a small dt), so each dt is tried.
                entry["skipped_dt"].append({"dt": dt if auto else float(dt), "reason": str(exc)})
                continue
            res = backend.run(program, x, engine="emulator", t_max=net.t_max)
            chip_out = res.first_spikes(-1)
            run = {"dt": float(dt), "auto": auto, "steps": timegrid.n_steps(net.t_max, dt),
                   "chip_accuracy": accuracy(chip_out, y),
                   "agreement": float(np.mean(predict(chip_out) == float_pred)),
                   "output_ties": output_ties(chip_out),
                   "output": first_spike_error(float_out, chip_out),
                   "hidden": first_spike_error(float_hidden, _hidden_first(res.times)),
                   **_taus(net, report),
                   "binding_limits": list(report.binding_limits),
                   "clipped": {k: v for k, v in report.clipped.items() if v},
                   "rounded_to_zero": {k: v for k, v in report.rounded_to_zero.items() if v},
                   "wall_s": round(time.perf_counter() - t0, 3)}
            entry["runs"].append(run)
            log(f"{name} dt={dt:g}: chip accuracy {run['chip_accuracy']:.3f} ({run['wall_s']:.1f} s)")
        if not entry["runs"] and entry["skipped_dt"]:
            reasons = list(dict.fromkeys(d["reason"] for d in entry["skipped_dt"]))
            # the auto step's reason repeats a fixed step's with its own words added: keep the longer one
            reasons = [r for r in reasons if not any(r != o and r in o for o in reasons)]
            entry["skipped"], entry["skipped_dt"] = "; ".join(reasons), []
    return result


# --------------------------------------------------------------------------------------------- output
def _fmt(v, spec=".4f") -> str:
    return "-" if v is None else format(v, spec)


def _tau_text(layers, key) -> str:
    """Per layer, the chip's tau (a range when the neurons differ), joined by '/' (hidden first)."""
    parts = []
    for layer in layers:
        lo, hi = layer[key]
        parts.append(f"{lo:.3g}" if np.isclose(lo, hi) else f"{lo:.3g}-{hi:.3g}")
    return "/".join(parts)


def _dt_label(run) -> str:
    return f"{run['dt']:.4g}" + (" (auto)" if run.get("auto") else "")


def accuracy_by_dt(result: dict) -> list:
    """Lines of a second table: one row per chip, one column per step, the chip accuracy in each cell
    (float accuracy first, ``-`` where the chip refused the step)."""
    labels = list(dict.fromkeys(_dt_label(r) for c in result["chips"] for r in c["runs"]))
    if not labels:
        return []
    header = ["chip accuracy by dt", "float"] + [f"dt {label}" for label in labels]
    rows = []
    for c in result["chips"]:
        if c["runs"]:
            cells = {_dt_label(r): _fmt(r["chip_accuracy"]) for r in c["runs"]}
            rows.append([c["chip"] + ":", _fmt(result["float_accuracy"])] + [cells.get(label, "-") for label in labels])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    return ["", "  ".join(h.ljust(w) for h, w in zip(header, widths))] + [
        "  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]


def format_table(result: dict) -> str:
    """The human-readable report: a header, one table row per (chip, dt), then the binding limits."""
    margin = result["float_output_margin"]
    lines = [f"model {result['model']} (epochs {result['epochs']}), {result['data']}, {result['samples']} samples, "
             f"t_max {result['t_max']:g}; float accuracy {result['float_accuracy']:.4f}",
             f"float gap between first and second output spike: 10th percentile {_fmt(margin['p10'], '.4g')}, "
             f"median {_fmt(margin['median'], '.4g')}",
             "times in network time units; RMSE over (sample, neuron) pairs where float and chip both fire, "
             "1-fires = fraction where exactly one fires; tau per layer, hidden/output"]
    runs = [r for c in result["chips"] for r in c["runs"]]
    if runs:
        first = runs[0]
        lines.append(f"float tau_syn {_tau_text(first['tau_syn'], 'float')}, "
                     f"tau_mem {_tau_text(first['tau_mem'], 'float')}")
    header = ("chip", "dt", "steps", "float acc", "chip acc", "agree", "ties", "out RMSE", "out bias", "out 1-fires",
              "hid RMSE", "hid 1-fires", "tau_syn chip", "tau_mem chip")
    rows = []
    for c in result["chips"]:
        for r in c["runs"]:
            rows.append((c["chip"], _dt_label(r), str(r["steps"]), _fmt(result["float_accuracy"]),
                         _fmt(r["chip_accuracy"]), _fmt(r["agreement"]), _fmt(r["output_ties"]),
                         _fmt(r["output"]["rmse"]),
                         _fmt(r["output"]["bias"], "+.4f"), _fmt(r["output"]["one_fires"]),
                         _fmt(r["hidden"]["rmse"]), _fmt(r["hidden"]["one_fires"]),
                         _tau_text(r["tau_syn"], "chip"), _tau_text(r["tau_mem"], "chip")))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    lines += accuracy_by_dt(result)
    for c in result["chips"]:
        if c["skipped"]:
            lines.append(f"{c['chip']}: skipped: {c['skipped']}")
            continue
        # Limits shared by every dt are listed once; the others under the dt they belong to.
        per_dt = [r["binding_limits"] + [f"clipped {k}: {v}" for k, v in r["clipped"].items()]
                  + [f"rounded to 0 {k}: {v}" for k, v in r["rounded_to_zero"].items()] for r in c["runs"]]
        common = [l for l in per_dt[0] if all(l in other for other in per_dt)] if per_dt else []
        lines.append(f"{c['chip']}: binding limits (every dt): " + ("; ".join(common) or "none"))
        lines += [f"  dt {d['dt'] if d['dt'] == 'auto' else format(d['dt'], 'g')}: skipped: {d['reason']}"
                  for d in c["skipped_dt"]]
        for r, limits in zip(c["runs"], per_dt):
            extra = [l for l in limits if l not in common]
            if extra:
                lines.append(f"  dt {r['dt']:g}: " + "; ".join(extra))
    return "\n".join(lines)


def plot(result: dict, path) -> None:
    """PNG: accuracy vs dt (float as a dashed line) and first-spike RMSE vs dt per chip (log dt axis)."""
    from matplotlib.figure import Figure

    from fpsnn.plots import save_figure

    fig = Figure(figsize=(11, 4.2))
    ax_acc, ax_rmse = fig.subplots(1, 2)
    for c in result["chips"]:
        if not c["runs"]:
            continue
        dt = [r["dt"] for r in c["runs"]]
        line, = ax_acc.plot(dt, [r["chip_accuracy"] for r in c["runs"]], "o-", label=c["chip"])
        nan = lambda v: np.nan if v is None else v  # noqa: E731 - a silent layer has no RMSE: a gap
        ax_rmse.plot(dt, [nan(r["output"]["rmse"]) for r in c["runs"]], "o-", color=line.get_color(),
                     label=f"{c['chip']} output")
        ax_rmse.plot(dt, [nan(r["hidden"]["rmse"]) for r in c["runs"]], "s--", color=line.get_color(),
                     label=f"{c['chip']} hidden")
    ax_acc.axhline(result["float_accuracy"], color="k", ls=":", label="float")
    ax_acc.set(xscale="log", xlabel="dt (time units)", ylabel="test accuracy", title="accuracy vs dt")
    ax_rmse.set(xscale="log", yscale="log", xlabel="dt (time units)", ylabel="first-spike RMSE (time units)",
                title="spike-time RMSE vs dt (both fire)")
    for ax in (ax_acc, ax_rmse):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{result['model']}: {result['data']}, {result['samples']} samples")
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------------------------- CLI
def _digital_chips() -> list:
    """Chips with a bit-accurate emulator (the digital ones)."""
    from fpsnn.deploy import emulated_targets

    return emulated_targets()


def _parse_chips(text: str) -> list:
    from fpsnn.backends import available_targets

    known = available_targets()
    valid = ", ".join(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--chips {text!r}: no chip named; expected a comma-separated list of {valid}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--chips: unknown {', '.join(map(repr, unknown))}; expected from {valid}")
    return names


def _parse_dts(text: str) -> list:
    dts = []
    for part in text.split(","):
        if part.strip() == "auto":
            dts.append("auto")
            continue
        try:
            dt = float(part)
        except ValueError:
            raise ValueError(f"--dt {text!r}: {part!r} is not a number (comma-separated steps in time units)") from None
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"--dt {text!r}: {part!r} must be finite and > 0 (time units per step)")
        dts.append(dt)
    return dts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fidelity.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="model file written by 'fpsnn train' (its metadata names the data set and encoder)")
    p.add_argument("--chips", help="comma-separated chips (default: every digital chip: "
                   f"{','.join(_digital_chips())})")
    p.add_argument("--dt", default=",".join(f"{d:g}" for d in DEFAULT_DTS),
                   help="comma-separated chip steps in the model's time unit, 'auto' for the model's recorded "
                        "step or the best on its validation split (default %(default)s)")
    p.add_argument("--subset", type=int, metavar="N", help="use only the first N test samples")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--plot", metavar="PNG", help="write accuracy and RMSE vs dt per chip to this PNG")
    return p


def main(argv=None) -> int:
    """Run the tool; returns the exit status (0, or 2 with one line on stderr for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        chips = _parse_chips(args.chips) if args.chips is not None else _digital_chips()
        dts = _parse_dts(args.dt)
        if args.subset is not None and args.subset < 1:
            raise ValueError(f"--subset {args.subset}: must be >= 1")
        result = fidelity(args.model, chips, dts, subset=args.subset,
                          log=None if args.json else lambda line: print(line, file=sys.stderr))
    except (ValueError, FileNotFoundError) as exc:
        print(f"fidelity.py: error: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
