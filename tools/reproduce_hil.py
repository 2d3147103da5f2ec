#!/usr/bin/env python
"""Yin-Yang on Xylo Audio 2 and Loihi 2 emulators: float, quantized, QAT and hardware-in-the-loop accuracy.

Per seed (the seed sets the float initialisation, the minibatch order and the emulated device):

1. train a float network (cached in ``--cache``, so a rerun with more chips or spreads skips it);
2. per chip: test accuracy of the float network deployed as is (plain quantization); after offline
   quantization-aware fine-tuning (``mode="qat"``, no chip); after in-the-loop fine-tuning on the
   chip emulator starting from the QAT network (``mode="hil"``);
3. per chip and mismatch spread (``--spreads``): the QAT network deployed on a device with that
   mismatch (device seed = run seed), before and after in-the-loop fine-tuning on that device.
   "Before" is exactly "offline fine-tuning on the unperturbed model", the baseline HIL must beat.
   Three in-the-loop variants, all from the QAT network with the same settings:

   * ``hil``: the gradient of the nominal chip network at the measured times;
   * ``calibrated`` (the method, ``FineTuner(calibrate=True)``, ``fpsnn hil --calibrate``): probe
     programs measure each synapse's weight-to-threshold gain on the device
     (:func:`fpsnn.finetune.calibrate_device`), the weights are divided by the gains, and the gradient is
     taken on the calibrated device model; ``calibrated_start`` is the accuracy right after the
     division, before any in-the-loop step;
   * ``upper_bound`` (``--no-upper-bound`` skips it): the same with the emulator's true mismatch
     factors, time constants included (:func:`fpsnn.finetune.true_device_model`), which no real chip
     reports (meant as an upper bound; measured, it is not one on Xylo).

   "Recovered fraction" = (after - before) / (unperturbed chip after HIL - before), summed over seeds.

Every accuracy is measured on the emulator (bit-accurate integer arithmetic; time grid = the
backend's default step, Xylo ``t_max / 64``, Loihi ``t_max / 128``) on the first ``--test-subset``
test samples, except "float" (exact continuous-time simulation). Output: a Markdown table (mean +- std
over seeds), optionally one JSON object (``--json``), and a plot of test accuracy vs in-the-loop epoch per
case (``--plot``). The measured table and figure of the defaults: ``docs/finetune.md``.

    python tools/reproduce_hil.py --seeds 2 --epochs 4 --train-subset 300        # a quick look
    python tools/reproduce_hil.py --json --plot hil.png --log hil.jsonl           # the table: 10 seeds, ~8 min
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

CHIPS = ("xylo-audio2", "loihi2")


def _float_model(seed, hyper, train, test, cache: Path | None):
    from fpsnn import io
    from fpsnn.training import Trainer

    path = None
    if cache is not None:
        tag = f"h{hyper.hidden[0]}-e{hyper.epochs}-lr{hyper.lr:g}-b{hyper.batch_size}-n{len(train[1])}"
        path = cache / f"float-{tag}-seed{seed}.fpsnn"
        if path.exists():
            return io.load_model(path)[0]
    net = Trainer(hyper, train, test, n_classes=3, seed=seed, progress=False).fit().net
    if path is not None:
        io.save_model(path, net, {"seed": seed, "hyper": hyper.to_dict()})
    return net


def run_seed(seed: int, args, log=print) -> dict:
    from fpsnn import datasets
    from fpsnn import finetune as hil
    from fpsnn.training import evaluate

    spec = datasets.spec("yinyang")
    hyper = spec.paper.replace(hidden=(args.hidden,), lr=args.float_lr, batch_size=args.batch_size,
                               epochs=args.float_epochs)
    enc = spec.encoder(hyper)
    x, y = datasets.load("yinyang", "train")
    xt, yt = datasets.load("yinyang", "test")
    train = (enc(x[:args.train_subset]), y[:args.train_subset])
    test = (enc(xt[:args.test_subset]), yt[:args.test_subset])
    t0 = time.perf_counter()
    net = _float_model(seed, hyper, train, test, args.cache)
    out = {"seed": seed, "float": evaluate(net, *test)["accuracy"], "float_s": time.perf_counter() - t0}
    log(f"seed {seed}: float {100 * out['float']:.1f} %")
    ft = hyper.replace(epochs=args.epochs, lr=args.lr, schedule=args.schedule, lr_decay=0.05)
    for chip in args.chips:
        r = {"plain": hil.evaluate_on(chip, net, *test, hyper, engine="emulator")["accuracy"]}
        qat = hil.FineTuner(net, ft, train, chip, mode="qat", seed=seed).fit().net
        r["qat"] = hil.evaluate_on(chip, qat, *test, hyper, engine="emulator")["accuracy"]
        run = hil.FineTuner(qat, ft, train, chip, mode="hil", test=test, seed=seed, engine="emulator").fit()
        r["hil"] = run.final["test_accuracy"]
        r["hil_curve"] = [row["test_accuracy"] for row in run.history]
        r["hil_bad_slopes"] = sum(row["n_bad_slopes"] for row in run.history)
        for spread in args.spreads:
            device = hil.resolve_target(chip, spread, mismatch_seed=seed)
            before = hil.evaluate_on(device, qat, *test, hyper, engine="emulator")["accuracy"]
            kw = dict(mode="hil", test=test, seed=seed, mismatch=spread, mismatch_seed=seed, engine="emulator")
            run = hil.FineTuner(qat, ft, train, chip, **kw).fit()
            m = {"before": before, "after": run.final["test_accuracy"],
                 "curve": [row["test_accuracy"] for row in run.history]}
            t_cal = time.perf_counter()
            cal = hil.FineTuner(qat, ft, train, chip, calibrate=True, **kw).fit()
            m["calibrated"] = cal.final["test_accuracy"]
            m["calibrated_start"] = cal.history[0]["test_accuracy"]
            m["calibrated_curve"] = [row["test_accuracy"] for row in cal.history]
            m["calibrated_s"] = time.perf_counter() - t_cal
            m["device_model"] = cal.history[0]["device_model"]
            if args.upper_bound:
                true = hil.true_device_model(chip, qat, spread, seed)
                m["upper_bound"] = hil.FineTuner(qat, ft, train, chip, device_model=true, **kw).fit().final["test_accuracy"]
            r[f"mismatch{spread:g}"] = m
        out[chip] = r
        log(f"seed {seed} {chip}: plain {100 * r['plain']:.1f}, qat {100 * r['qat']:.1f}, hil {100 * r['hil']:.1f}"
            + "".join(f", mismatch {s:g}: {100 * r[f'mismatch{s:g}']['before']:.1f} -> "
                      f"{100 * r[f'mismatch{s:g}']['after']:.1f} (calibrated "
                      f"{100 * r[f'mismatch{s:g}']['calibrated']:.1f})" for s in args.spreads))
    out["wall_s"] = time.perf_counter() - t0
    return out


def _stat(values) -> tuple[float, float]:
    v = 100 * np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std())


def summarize(runs: list, args) -> dict:
    table = {"float": _stat([r["float"] for r in runs])}
    for chip in args.chips:
        row = {k: _stat([r[chip][k] for r in runs]) for k in ("plain", "qat", "hil")}
        row["hil_minus_float"] = _stat([r[chip]["hil"] - r["float"] for r in runs])
        for s in args.spreads:
            key = f"mismatch{s:g}"
            before = np.array([r[chip][key]["before"] for r in runs])
            ref = np.array([r[chip]["hil"] for r in runs])   # the unperturbed chip after HIL
            lost = ref - before
            row[key] = {"before": _stat(before)}
            for name in ("after", "calibrated_start", "calibrated", "upper_bound"):
                if not all(name in r[chip][key] for r in runs):   # logs of older versions, --no-upper-bound
                    continue
                after = np.array([r[chip][key][name] for r in runs])
                row[key][name] = _stat(after)
                # fraction of the accuracy the mismatch cost (vs the unperturbed chip after HIL) that was won back
                row[key][f"{name}_recovered"] = float(np.sum(after - before) / np.sum(lost)) if np.sum(lost) > 0 else None
                row[key][f"{name}_minus_before"] = _stat(after - before)
            row[key]["recovered_fraction"] = row[key].get("calibrated_recovered", row[key].get("after_recovered"))
        table[chip] = row
    return table


def markdown(table: dict, args) -> str:
    f = lambda ms: f"{ms[0]:.2f} ± {ms[1]:.2f}"
    rf = lambda v: "n/a" if v is None else f"{v:.2f}"
    lines = [f"Yin-Yang test accuracy (%), {args.seeds} seeds, mean ± std; 5-{args.hidden}-3, "
             f"{args.train_subset} training / {args.test_subset} test samples, float {args.float_epochs} epochs, "
             f"fine-tuning {args.epochs} epochs (lr {args.lr:g}, schedule {getattr(args, 'schedule', 'none')}), dt = the backend default "
             "(Xylo t_max/64, Loihi t_max/128)", "",
             "| chip | float | plain quantization | QAT | HIL | HIL - float |", "|---|---|---|---|---|---|"]
    for chip in args.chips:
        r = table[chip]
        lines.append(f"| {chip} | {f(table['float'])} | {f(r['plain'])} | {f(r['qat'])} | {f(r['hil'])} | "
                     f"{f(r['hil_minus_float'])} |")
    if args.spreads:
        cols = [("after", "HIL, nominal gradient"), ("calibrated_start", "calibrated + compensated, before HIL"),
                ("calibrated", "**calibrated HIL**"), ("upper_bound", "HIL with the true mismatch factors (emulator only)")]
        m0 = table[args.chips[0]][f"mismatch{args.spreads[0]:g}"]
        cols = [(k, name) for k, name in cols if k in m0]
        rec = [(k, name) for k, name in cols if f"{k}_recovered" in m0 and k != "calibrated_start"]
        lines += ["", "| chip | mismatch | QAT model on the device (offline baseline) | "
                  + " | ".join(name for _, name in cols) + " | "
                  + " | ".join(f"recovered fraction: {name.strip('*')}" for _, name in rec) + " |",
                  "|---|---|---|" + "---|" * (len(cols) + len(rec))]
        for chip in args.chips:
            for s in args.spreads:
                m = table[chip][f"mismatch{s:g}"]
                lines.append(f"| {chip} | {100 * s:g} % | {f(m['before'])} | " + " | ".join(f(m[k]) for k, _ in cols)
                             + " | " + " | ".join(rf(m[f"{k}_recovered"]) for k, _ in rec) + " |")
        lines += ["", "Recovered fraction = (after - before) / (unperturbed chip after HIL - before), sums over "
                  "seeds. "
                  "The last variant uses the emulator's true mismatch factors, which a real chip does not report."]
    return "\n".join(lines)


def plot(runs: list, args, path) -> Path:
    from matplotlib.figure import Figure

    from fpsnn.plots import save_figure

    fig = Figure(figsize=(5 * len(args.chips), 4))
    for i, chip in enumerate(args.chips):
        ax = fig.add_subplot(1, len(args.chips), i + 1)
        cases = [("no mismatch", [r[chip]["hil_curve"] for r in runs], "-", None)]
        for i, s in enumerate(args.spreads):
            color = f"C{i + 1}"
            cases.append((f"mismatch {100 * s:g} %, nominal gradient", [r[chip][f"mismatch{s:g}"]["curve"] for r in runs],
                          "--", color))
            if all("calibrated_curve" in r[chip][f"mismatch{s:g}"] for r in runs):
                cases.append((f"mismatch {100 * s:g} %, calibrated", [r[chip][f"mismatch{s:g}"]["calibrated_curve"]
                                                                      for r in runs], "-", color))
        for label, curves, ls, color in cases:
            c = 100 * np.array(curves)
            ep = np.arange(c.shape[1])
            ax.errorbar(ep, c.mean(axis=0), yerr=c.std(axis=0), marker="o", ms=3, capsize=2, ls=ls, color=color,
                        label=label)
        ax.axhline(100 * np.mean([r["float"] for r in runs]), color="k", ls="--", lw=1, label="float")
        ax.set_xlabel("in-the-loop epoch (0: QAT net; calibrated: compensated)")
        ax.set_ylabel("test accuracy on the emulator (%)")
        ax.set_title(f"{chip} ({len(runs)} seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (0..N-1), default 10")
    p.add_argument("--epochs", type=int, default=20, help="QAT and HIL fine-tuning epochs (default 20)")
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning learning rate (Adam), default 0.01")
    p.add_argument("--schedule", choices=("none", "cosine"), default="cosine",
                   help="fine-tuning learning-rate schedule (default cosine: to 0.05 lr over the epochs)")
    p.add_argument("--float-epochs", type=int, default=40, help="float training epochs (default 40)")
    p.add_argument("--float-lr", type=float, default=0.01, help="float training learning rate (default 0.01)")
    p.add_argument("--hidden", type=int, default=30, help="hidden neurons (default 30)")
    p.add_argument("--batch-size", type=int, default=50, help="minibatch size (default 50)")
    p.add_argument("--train-subset", type=int, default=600, help="training samples (default 600 of 5000)")
    p.add_argument("--test-subset", type=int, default=1000, help="test samples (default all 1000)")
    p.add_argument("--chips", nargs="+", default=list(CHIPS), choices=CHIPS)
    p.add_argument("--spreads", nargs="*", type=float, default=[0.1, 0.2], help="mismatch spreads (default 0.1 0.2)")
    p.add_argument("--no-upper-bound", dest="upper_bound", action="store_false",
                   help="skip the upper bound (HIL with the emulator's true mismatch factors)")
    p.add_argument("--cache", type=Path, default=Path("runs/reproduce_hil"), help="float model cache directory")
    p.add_argument("--plot", metavar="PNG", help="write accuracy vs in-the-loop epoch here")
    p.add_argument("--log", type=Path, metavar="JSONL", help="append each seed's results here as it finishes")
    p.add_argument("--from-log", type=Path, metavar="JSONL",
                   help="run nothing: make the table and plot from the seeds recorded in a --log file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (table on stderr)")
    args = p.parse_args(argv)
    for name in ("seeds", "epochs", "float_epochs", "hidden", "batch_size", "train_subset", "test_subset"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} = {getattr(args, name)}: must be >= 1")
    if any(not 0 <= s <= 1 for s in args.spreads):
        p.error(f"--spreads = {args.spreads}: each must be in [0, 1]")
    t0 = time.perf_counter()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    runs = []
    if args.from_log is not None:
        records = [json.loads(line) for line in open(args.from_log) if line.strip()]
        if not records:
            p.error(f"--from-log {args.from_log}: no seeds recorded")
        recorded = records[0]["settings"]
        for key in ("epochs", "lr", "float_epochs", "hidden", "train_subset", "test_subset", "chips", "spreads"):
            setattr(args, key, recorded[key])
        args.schedule = recorded.get("schedule", "none")
        runs = [r["run"] for r in records]
        args.seeds = len(runs)
    for seed in range(len(runs), args.seeds):
        runs.append(run_seed(seed, args, log))
        if args.log is not None:  # partial results survive an interrupted long run
            with open(args.log, "a") as fh:
                settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
                fh.write(json.dumps({"settings": settings, "run": runs[-1]}) + "\n")
    table = summarize(runs, args)
    md = markdown(table, args)
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "table": table, "runs": runs, "wall_s": time.perf_counter() - t0}
    if args.plot:
        result["plot"] = str(plot(runs, args, args.plot))
    if args.json:
        print(md, file=sys.stderr)
        print(json.dumps(result))
    else:
        print(md)
        print(f"\n{result['wall_s']:.0f} s" + (f"; plot: {result['plot']}" if args.plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
