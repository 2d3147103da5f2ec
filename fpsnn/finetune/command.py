"""``fpsnn hil``: fine-tune a model file for a chip (:func:`fine_tune_file`, :func:`configure_cli`, :func:`run_cli`).

The model file, its data set, its encoder and its loss settings are resolved by :mod:`fpsnn.resolve`
(the same pipeline as ``fpsnn eval`` and ``fpsnn deploy``), so the fine-tuner sees the very input
spikes the model was trained on.
"""
from __future__ import annotations

import time
from pathlib import Path

from .. import io
from ..training import TrainResult
from .finetuner import FineTuner, TargetLost
from .targets import MODES

__all__ = ["fine_tune_file", "configure_cli", "run_cli"]


def fine_tune_file(model, target: str, data: str | None = None, mode: str = "hil", epochs: int = 5,
                   out_dir=None, resume: bool = False, seed: int = 0, dt: float | None = None,
                   engine: str = "auto", mismatch: float = 0.0, mismatch_seed: int = 0, lr: float | None = None,
                   batch_size: int | None = None, train_subset: int | None = None, test_subset: int | None = None,
                   checkpoint_every: int | None = None, progress: bool = False,
                   calibrate: bool = False, compensate: bool = True) -> TrainResult:
    """Fine-tune the model file ``model`` (written by ``fpsnn train``) for chip ``target``.

    The data set (``data``: a name or ``"name:split"`` for the split measured after every epoch;
    default: the model's own), its encoder and the loss settings come from the model file
    (:func:`fpsnn.resolve.resolve_model`); ``epochs``, ``lr`` and ``batch_size`` override its
    hyper-parameters (the training ``lr`` is kept when ``lr`` is None). Other arguments as in
    :class:`~.finetuner.FineTuner`.
    """
    from ..resolve import resolve_model

    for arg, value in (("epochs", epochs), ("train_subset", train_subset), ("test_subset", test_subset)):
        if value is not None and (int(value) != value or value < (0 if arg == "epochs" else 1)):
            raise ValueError(f"{arg} = {value}: must be an integer >= {0 if arg == 'epochs' else 1}")
    ctx = resolve_model(model, data)
    if ctx.dataset is None or ctx.hyper is None:
        raise ValueError(f"--data: {model} does not name its data set; pass --data")
    if not compensate and not calibrate:
        raise ValueError("--no-compensate: only applies with --calibrate (it keeps the calibrated device's weights)")
    if dt is None:  # a model trained with --target knows its step (fpsnn deploy uses it too)
        from .chipaware import recorded_dt

        dt = recorded_dt(ctx.metadata, target)
    check_target(target, ctx.net, mode, engine, dt)
    changes = {"epochs": int(epochs)}
    if lr is not None:
        changes["lr"] = lr
    if batch_size is not None:
        changes["batch_size"] = batch_size
    hyper = ctx.hyper.replace(**changes)
    metadata = {"dataset": ctx.dataset, "encoder": ctx.encoder.to_dict(), "source_model": str(model),
                "train_subset": train_subset, "test_subset": test_subset}
    tuner = FineTuner(ctx.net, hyper, ctx.data("train", subset=train_subset), target, mode=mode,
                      test=ctx.data(subset=test_subset), dt=dt, engine=engine, mismatch=mismatch,
                      mismatch_seed=mismatch_seed, seed=seed, out_dir=out_dir, checkpoint_every=checkpoint_every,
                      progress=progress, calibrate=calibrate, compensate=compensate, metadata=metadata)
    return tuner.fit(resume=resume)


def check_target(target, net, mode: str, engine: str, dt) -> None:
    """Before any training: the target exists, the model fits it, the engine asked for is there and the
    time grid is sane (ValueError / RuntimeError naming the limit; not inside epoch 1)."""
    if not isinstance(target, str):
        return  # a backend-like object: its own checks
    from ..backends import get
    from ..backends.timegrid import check_grid

    backend = get(target)
    backend.check_fits(net)
    if dt is not None:
        check_grid(net.t_max, dt)
    if mode == "hil" and engine != "auto":
        ok, why = backend.available(engine)
        if not ok:
            raise RuntimeError(f"--engine {engine}: not available for {target} ({why})")


def configure_cli(p) -> None:
    """Arguments of ``fpsnn hil`` (see :func:`fine_tune_file`)."""
    from ..datasets import NAMES

    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--target", required=True, help="chip name (see hw_configs/), e.g. xylo-audio2, loihi2")
    p.add_argument("--data", metavar="NAME[:SPLIT]",
                   help=f"data set ({', '.join(NAMES)}) or a data file FILE.npz|FILE.csv (default: the one in the "
                        "model file) and the split measured after every epoch (default: the model's test split)")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (default 5)")
    p.add_argument("--mode", choices=MODES, default="hil",
                   help="hil: measure on the target; qat: offline, exact simulation of the quantized network")
    p.add_argument("--engine", choices=("auto", "emulator", "vendor", "board"), default="auto",
                   help="which engine of the target runs the minibatches (default auto)")
    p.add_argument("--dt", type=float, help="chip step in the model's time units (default: the step the model "
                   "recorded for the target with 'fpsnn train --target', else the target's)")
    p.add_argument("--mismatch", type=float, default=0.0, metavar="F",
                   help="run on a device with mismatch F, a fraction (0.1 = 10 %%; the chip family's mismatch "
                        "model, the same meaning as 'fpsnn deploy --mismatch')")
    p.add_argument("--mismatch-seed", type=int, default=0, help="which emulated device (seed of the mismatch)")
    p.add_argument("--calibrate", action="store_true",
                   help="hil: first estimate the device's weight gains with probe programs, "
                        "divide the weights by the gains, then compute the gradients for that device "
                        "(recommended with device mismatch)")
    p.add_argument("--no-compensate", action="store_true",
                   help="with --calibrate: keep the weights, only correct the gradients")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default: the model's)")
    p.add_argument("--train-subset", type=int, metavar="N", help="use only the first N training samples")
    p.add_argument("--test-subset", type=int, metavar="N", help="measure only the first N test samples per epoch")
    p.add_argument("--checkpoint-every", type=int, metavar="B", help="also checkpoint every B minibatches")
    p.add_argument("--seed", type=int, default=0, help="minibatch shuffling seed (default 0)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: <model's folder>/<mode>-<target>-seed<seed>); "
                   "it belongs to this run: another run's directory is refused without --force")
    p.add_argument("--force", action="store_true", help="overwrite a directory that holds another run")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.fpsnn if present")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args) -> int:
    """``fpsnn hil``: exit 0 when done, 3 when the target (or the engine asked for) is missing or was lost
    (resume with ``--resume``). The run directory defaults to one next to the model file, so fine-tuning
    two models never shares it."""
    import json
    import sys

    from ..training.runfiles import claim_run_dir

    model = Path(args.model)
    out = (args.out if args.out is not None            # a string: '' is refused, not taken as '.'
           else model.parent / f"{args.mode}-{args.target}-seed{args.seed}")
    identity = {"command": "hil", "model": str(model.resolve()), "target": args.target, "mode": args.mode,
                **{k: v for k, v in vars(args).items() if k not in ("model", "out", "target", "mode", "epochs",
                                                                     "resume", "force", "json", "no_progress")
                   and not k.startswith("_")}}
    t0 = time.perf_counter()
    try:
        with claim_run_dir(out, identity, force=args.force, resume=args.resume) as out:
                result = fine_tune_file(args.model, args.target, data=args.data, mode=args.mode, epochs=args.epochs,
                                    out_dir=out, resume=args.resume, seed=args.seed, dt=args.dt, engine=args.engine,
                                    mismatch=args.mismatch, mismatch_seed=args.mismatch_seed, lr=args.lr,
                                    batch_size=args.batch_size, train_subset=args.train_subset,
                                    test_subset=args.test_subset, checkpoint_every=args.checkpoint_every,
                                    progress=not args.no_progress, calibrate=args.calibrate,
                                    compensate=not args.no_compensate)
    except (TargetLost, RuntimeError) as exc:
        print(f"fpsnn: error: {exc}", file=sys.stderr)
        return 3
    first, final = result.history[0], result.final
    summary = {"model": str(result.model_path), "target": args.target, "mode": args.mode, "epochs": result.epochs,
               "test_accuracy_before": first.get("test_accuracy"), "test_accuracy": final.get("test_accuracy"),
               "history": result.history, "wall_s": time.perf_counter() - t0}
    if args.json:
        print(json.dumps(summary, default=io.json_default))
    else:
        print(f"{args.mode} on {args.target}: {result.epochs} epochs, test accuracy "
              f"{100 * (first.get('test_accuracy') or 0):.2f} % -> {100 * (final.get('test_accuracy') or 0):.2f} %, "
              f"{summary['wall_s']:.1f} s -> {result.model_path}")
    return 0
