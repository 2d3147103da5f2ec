"""The ``fpsnn`` console script: ``fpsnn train | eval | plot | deploy | emulate | demo | hil | sweep | export``.

Each subcommand is one :class:`Command`: a name, a one-line help, a ``configure(parser)`` that adds its
arguments and a ``run(args) -> exit status``; both may be given as ``"module:function"`` strings, imported
only when that subcommand is used. ``main`` configures only the sub-parser of the command on the command
line, so ``fpsnn --help`` and ``fpsnn --version`` import no numerical module (no numba, no chip backend).
Nothing imports this module but the console script (and ``python -m fpsnn.cli``).

Output contract: progress bars and notes go to stderr; with ``--json`` stdout carries exactly one JSON
object. Bad input exits with status 2 and a one-line ``fpsnn: error: ...`` on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from importlib import import_module
from typing import Callable, Union

from .cli_input import (_hyper_fields, _number_ok, _read_toml, check_hyper_ranges, check_hyper_values,
                        check_memory)

__all__ = ["Command", "COMMANDS", "build_parser", "main", "hyperparameters_from", "model_context"]


@dataclass(frozen=True)
class Command:
    """One subcommand: ``configure`` adds its arguments, ``run`` does the work and returns an exit status.

    Either may be a ``"package.module:function"`` string, imported on first use (keeps ``--help`` fast).
    """

    name: str
    help: str
    configure: Union[Callable[[argparse.ArgumentParser], None], str]
    run: Union[Callable[[argparse.Namespace], int], str]

    @staticmethod
    def _resolve(target):
        if callable(target):
            return target
        module, _, name = target.partition(":")
        return getattr(import_module(module), name)

    def configure_parser(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments to ``parser``."""
        self._resolve(self.configure)(parser)

    def execute(self, args: argparse.Namespace) -> int:
        """Run the command; its exit status."""
        return int(self._resolve(self.run)(args) or 0)


# ------------------------------------------------------------------------------------------- helpers
def _emit(args, result: dict, human: str) -> None:
    """Print ``result`` as one JSON object (``--json``) or ``human`` text on stdout."""
    if getattr(args, "json", False):
        from .io import json_default

        print(json.dumps(result, default=json_default, allow_nan=True))
    else:
        print(human)


_TUPLE_ITEM = {"hidden": int, "init_mean": float, "init_std": float, "max_spikes": int}
_TUPLE_HELP = {"hidden": "hidden sizes",
               "max_spikes": "max_spikes: most spikes per neuron, one value for every layer or one per layer "
                             "(output last; 32,1 = 32 in the hidden layer, 1 in the output)"}
_CHOICES = {"optimizer": ("adam", "sgd"), "schedule": ("none", "step", "cosine"), "grad_mode": ("adjoint", "forward")}


class _PerLayer(argparse.Action):
    """``--hidden 64 32`` or ``--hidden 64,32``: one value per layer, spaces or commas (``--max-spikes 32``:
    one value, which Hyperparameters applies to every layer)."""

    def __call__(self, parser, namespace, values, option_string=None):
        kind = _TUPLE_ITEM[self.dest[3:]]
        try:
            parsed = tuple(kind(v) for token in values for v in token.split(",") if v.strip())
        except ValueError:
            parser.error(f"{option_string}: expected {kind.__name__} values separated by spaces or commas, "
                         f"got {' '.join(values)!r}")
        setattr(namespace, self.dest, parsed)


def _scalar_parser(annotation: str):
    """argparse ``type`` for a Hyperparameters field annotation (``"float | None"`` accepts ``none``)."""
    base = {"float": float, "int": int, "str": str}[annotation.split("|")[0].strip()]
    if "None" not in annotation:
        return base

    def parse(text: str):
        return None if text.lower() == "none" else base(text)

    parse.__name__ = base.__name__  # argparse names the type in its error messages
    return parse


def _add_hyper_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per hyper-parameter, generated from the dataclass so the two never drift apart."""
    from .datasets import READOUTS

    choices = {**_CHOICES, "readout": READOUTS}
    group = parser.add_argument_group("hyper-parameters (default: the --preset's values for the data set)")
    for f in _hyper_fields():
        flag = "--" + f.name.replace("_", "-")
        if f.name in _TUPLE_ITEM:
            group.add_argument(flag, dest=f"hp_{f.name}", action=_PerLayer, nargs="+", metavar="V",
                               help=_TUPLE_HELP.get(f.name, f"{f.name}, one value per layer"))
        else:
            group.add_argument(flag, dest=f"hp_{f.name}", type=_scalar_parser(str(f.type)),
                               choices=choices.get(f.name), metavar=None if f.name in choices else "V",
                               help=f"{f.name} ({f.type})")


def hyperparameters_from(dataset: str, config: dict | None = None, flags: dict | None = None,
                         preset: str = "default"):
    """The data set's ``preset`` (``"default"`` or ``"paper"``), updated by a TOML ``config`` dict, then
    by command-line ``flags``.

    ``config`` keys are :class:`fpsnn.datasets.Hyperparameters` field names (plus ``seed``, handled by
    the caller); an unknown key is a ValueError listing the valid ones.
    """
    from . import datasets

    hyper = datasets.spec(dataset).preset(preset)
    changes = {k: v for k, v in (config or {}).items() if k != "seed"}
    changes.update({k: v for k, v in (flags or {}).items() if v is not None})
    return hyper.replace(**changes)


# ------------------------------------------------------------------------------------------- train
def _configure_train(p: argparse.ArgumentParser) -> None:
    from .datasets import NAMES

    p.add_argument("dataset", nargs="?", choices=NAMES, help="data set to train on (or --data FILE)")
    p.add_argument("--data", metavar="FILE", help="train on your own data: an .npz or .csv file (docs/data.md)")
    p.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="starting hyper-parameters: 'default' = fpsnn's best known recipe for the data set "
                        "(Yin-Yang: silent-neuron bump + cosine lr 2e-3; Iris: reference spike; recorded temporal "
                        "sets: mean-potential read-out), 'paper' = the paper's appendix tables exactly, for "
                        "reproduction (temporal sets: the first-spike loss) (docs/training-presets.md)")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of hyper-parameters (flat keys; 'seed' allowed)")
    p.add_argument("--init", metavar="FILE", help="start from this model's weights and neuron parameters instead of "
                   "random ones: a NIR graph (.nir, e.g. written by snnTorch, Norse, Rockpool; docs/nir.md) or an "
                   "fpsnn model file; its sizes must match the data")
    p.add_argument("--out", metavar="DIR", help="output directory (default: runs/<dataset>-seed<seed>); it belongs "
                   "to this run: another run's directory is refused without --force")
    p.add_argument("--force", action="store_true", help="overwrite a directory that holds another run")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.fpsnn if present")
    p.add_argument("--seed", type=int, default=None, help="run seed (initial weights, shuffling); default 0")
    p.add_argument("--train-subset", type=int, metavar="N", help="use only the first N training samples")
    p.add_argument("--until-accuracy", type=float, metavar="A",
                   help="stop once the training accuracy reaches A (fraction, e.g. 1.0)")
    p.add_argument("--target", metavar="CHIP", help="train for this chip (see hw_configs/): size and constrain the "
                   "network to fit it, pick its step on the validation split, fine-tune with quantization in the "
                   "loop where that helps, and record the target and step in the model file")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_hyper_flags(p)


def _train_source(args):
    """``(data set name or DataSet, its default hyper-parameters, a name for files and messages)``."""
    if bool(args.dataset) == bool(args.data):
        raise ValueError("dataset: name a bundled data set or give --data FILE (exactly one)")
    if args.dataset:
        from . import datasets

        return args.dataset, datasets.spec(args.dataset).preset(args.preset), args.dataset
    from .datasets import load_file

    ds = load_file(args.data)
    return ds, ds.default_hyper(), Path(args.data).stem


def _run_train(args) -> int:
    from .training.runfiles import claim_run_dir

    config = _read_toml(args.config) if args.config else {}
    check_hyper_values(config, f"--config {args.config}")
    if "seed" in config and not _number_ok(config["seed"], "int"):
        raise ValueError(f"--config {args.config}: key 'seed' = {config['seed']!r}: must be an integer")
    flags = {k[3:]: v for k, v in vars(args).items() if k.startswith("hp_")}
    check_hyper_values(flags, "flag")
    source, defaults, name = _train_source(args)
    changes = {k: v for k, v in config.items() if k != "seed"}
    changes.update({k: v for k, v in flags.items() if v is not None})
    hyper = defaults.replace(**changes)
    check_hyper_ranges(hyper)
    seed = args.seed if args.seed is not None else int(config.get("seed", 0))
    if seed < 0:
        raise ValueError(f"--seed = {seed}: must be >= 0")
    out = args.out if args.out is not None else Path("runs") / f"{name}-seed{seed}"   # '' is refused, not '.'
    identity = {"command": "train", "data": args.dataset or str(Path(args.data).resolve()), "seed": seed,
                "hyper": {k: v for k, v in hyper.to_dict().items() if k != "epochs"},
                "train_subset": args.train_subset,
                **({"init": str(Path(args.init).resolve())} if getattr(args, "init", None) else {}),
                **({"target": args.target} if getattr(args, "target", None) else {})}
    with claim_run_dir(out, identity, force=args.force, resume=args.resume) as out:
        if args.resume and not (out / "checkpoint.fpsnn").exists():
            print(f"fpsnn: no checkpoint in {out}; starting a fresh run", file=sys.stderr)
        t0 = time.perf_counter()
        result = _fit(args, source, hyper, seed, out)
    final = result.final
    summary = {
        "dataset": name, "seed": seed, "epochs": result.epochs,
        "train_accuracy": final["train_accuracy"], "test_accuracy": final.get("test_accuracy"),
        "loss": final["loss"], "dead_hidden": final["dead_hidden"], "silent_outputs": final["silent_outputs"],
        "wall_s": time.perf_counter() - t0, "model": str(result.model_path),
        "checkpoint": str(result.checkpoint_path), "hyperparameters": hyper.to_dict(),
    }
    _emit(args, summary, f"{name}: {result.epochs} epochs, train accuracy "
                         f"{100 * summary['train_accuracy']:.2f} %, test accuracy "
                         f"{100 * (summary['test_accuracy'] or 0):.2f} %, {summary['wall_s']:.1f} s -> {result.model_path}")
    return 0


def _fit(args, source, hyper, seed: int, out: Path):
    """Train ``source`` (a data set name or a DataSet) into ``out``."""
    from .training import fit_dataset

    _check_train_memory(hyper, args.train_subset or 0)
    init = _initial_network(args.init, hyper) if getattr(args, "init", None) else None
    if getattr(args, "target", None):
        if init is not None:
            raise ValueError("--init: not together with --target (chip-aware training sizes its own network; "
                             "deploy the imported model with fpsnn deploy, or fine-tune it with fpsnn hil)")
        from .finetune.chipaware import fit_for_target

        return fit_for_target(source, args.target, hyper, seed=seed, out_dir=out, progress=not args.no_progress,
                              resume=args.resume, train_subset=args.train_subset, until_accuracy=args.until_accuracy,
                              log=lambda line: print(line, file=sys.stderr, flush=True))
    return fit_dataset(source, hyper, seed=seed, out_dir=out, progress=not args.no_progress, resume=args.resume,
                       train_subset=args.train_subset, until_accuracy=args.until_accuracy, init=init)


def _initial_network(path, hyper):
    """The network ``--init`` names: a NIR graph (window: its own, else the hyper-parameters') or a model file."""
    from .resolve import read_model

    if str(path).endswith(".nir"):
        from . import nir

        if not Path(path).is_file():
            raise ValueError(f"--init {path}: no such file")
        graph = nir._nir().read(str(path))   # one line naming the extra when nir is missing
        t_max = None if "t_max" in (getattr(graph, "metadata", None) or {}) else hyper.simulation_window
        return nir.load(graph, t_max=t_max)
    return read_model(path)[0]


def _check_train_memory(hyper, n_subset: int) -> None:
    """Refuse a ``max_spikes`` whose spike-time buffers cannot fit in memory, before loading anything big."""
    # A lower bound (batch known, else one sample; two output neurons): never refuses a run that fits.
    batch = hyper.batch_size or n_subset or 1
    check_memory(batch, tuple(hyper.hidden) + (2,), hyper.max_spikes)


# ------------------------------------------------------------------------------------------- eval
def model_context(model_path, dataset: str | None):
    """Deprecated (one release): ``fpsnn.resolve.resolve_model(model_path, dataset)``, as the old tuple
    ``(net, metadata, dataset name, encoder, hyper)``."""
    import warnings

    from .resolve import resolve_model

    warnings.warn("fpsnn.cli.model_context is deprecated: use fpsnn.resolve.resolve_model", DeprecationWarning,
                  stacklevel=2)
    ctx = resolve_model(model_path, dataset)
    if ctx.dataset is None:
        raise ValueError(f"--dataset: {model_path} does not name its data set; pass --dataset")
    return ctx.net, ctx.metadata, ctx.dataset, ctx.encoder, ctx.hyper


def _configure_eval(p: argparse.ArgumentParser) -> None:
    from .datasets import NAMES, SPLITS

    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--dataset", choices=NAMES, help="data set (default: the one in the model file)")
    p.add_argument("--data", metavar="FILE", help="a data file (.npz or .csv) instead of a bundled data set")
    p.add_argument("--split", choices=SPLITS, default="test", help="split to evaluate (default: test)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _resolve(args):
    """The model's context for ``--dataset`` (ValueError naming the flag when the model names none)."""
    from .resolve import resolve_model

    data = getattr(args, "data", None)
    if data is not None and args.dataset is not None:
        raise ValueError("--data: give --dataset or --data, not both")
    ctx = resolve_model(args.model, data if data is not None else args.dataset)
    if ctx.dataset is None:
        raise ValueError(f"--dataset: {args.model} does not name its data set; pass --dataset or --data FILE")
    return ctx


def _run_eval(args) -> int:
    from .train import evaluate

    ctx = _resolve(args)
    name = ctx.dataset
    x, y = ctx.data(args.split)
    m = evaluate(ctx.net, x, y, ctx.hyper)
    result = {"model": args.model, "dataset": name, "split": args.split, "n": len(y),
              **{k: v for k, v in m.items() if k != "first_spikes"}}
    _emit(args, result, f"{name}/{args.split}: accuracy {100 * m['accuracy']:.2f} % ({len(y)} samples), "
                        f"loss {m['loss']:.4f}, silent outputs {100 * m['silent_outputs']:.1f} %")
    return 0


# ------------------------------------------------------------------------------------------- plot
def _configure_plot(p: argparse.ArgumentParser) -> None:
    from .datasets import NAMES, SPLITS

    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--dataset", choices=NAMES, help="data set (default: the one in the model file)")
    p.add_argument("--split", choices=SPLITS, default="test", help="split for histograms (default: test)")
    p.add_argument("--sample", type=int, default=0,
                   help="index (in the split) of the sample for traces, raster and the temporal-sample figure")
    p.add_argument("--out", metavar="DIR", required=True, help="directory for the PNG files")
    p.add_argument("--json", action="store_true", help="print one JSON object (the figure paths) on stdout")


def _run_plot(args) -> int:
    from . import io, plots

    ctx = _resolve(args)
    net = ctx.net
    initial = io.read_file(args.model).arrays
    x, y = ctx.data(args.split)
    if not 0 <= args.sample < len(y):
        raise ValueError(f"--sample = {args.sample}: must be in [0, {len(y) - 1}]")
    init_w = [initial[f"initial/weights/{l}"] for l in range(net.n_layers)] if "initial/weights/0" in initial else None
    paths = plots.make_all(net, x, y, args.out, history=ctx.metadata.get("history"), initial_weights=init_w,
                           sample=args.sample, title=f"{ctx.dataset} ({args.split})", hyper=ctx.hyper)
    _emit(args, {"figures": {k: str(v) for k, v in paths.items()}},
          "\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


# ------------------------------------------------------------------------------------------- export
def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--nir", required=True, metavar="FILE.nir", help="write the network as a NIR graph (needs the "
                   "'nir' extra: pip install 'fpsnn[nir]')")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _run_export(args) -> int:
    from .nir import export_file
    from .resolve import read_model

    read_model(args.model)                      # one-line errors for a directory, a missing or damaged file
    target = Path(args.nir)
    if target.is_dir():
        raise ValueError(f"--nir {target}: is a directory; name the file to write (e.g. {target / 'model.nir'})")
    path = export_file(args.model, target)
    _emit(args, {"model": args.model, "nir": str(path)}, f"{args.model} -> {path}")
    return 0


# ------------------------------------------------------------------------------------------- table
COMMANDS: list[Command] = [
    Command("train", "train on a bundled data set or --data FILE (--preset default | paper, --target CHIP)", _configure_train, _run_train),
    Command("eval", "accuracy and loss of a model file on a data set split", _configure_eval, _run_eval),
    Command("plot", "figures: first-spike histograms, membrane traces, curves, raster", _configure_plot, _run_plot),
    Command("deploy", "quantize a model for a chip, write its artifacts and report, optionally run data on it",
            "fpsnn.deploy:configure_deploy", "fpsnn.deploy:run_deploy"),
    Command("emulate", "run data through a chip's bit-accurate emulator only", "fpsnn.deploy:configure_emulate",
            "fpsnn.deploy:run_emulate"),
    Command("demo", "train Yin-Yang briefly, plot it, deploy it to the Xylo Audio 2 and Loihi 2 emulators",
            "fpsnn.demo:configure", "fpsnn.demo:run"),
    Command("hil", "fine-tune a model for a chip from spike times measured on it (or offline: --mode qat)",
            "fpsnn.finetune.command:configure_cli", "fpsnn.finetune.command:run_cli"),
    Command("sweep", "grid or random search over hyper-parameters and seeds (in turn or on Ray)",
            "fpsnn.sweep:configure", "fpsnn.sweep:run"),
    Command("export", "write a model file in an interchange format (NIR)", _configure_export, _run_export),
]


def _version() -> str:
    from . import __version__

    return f"fpsnn {__version__}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per entry of :data:`COMMANDS`.

    ``only``: configure the arguments of that command alone (the others get their name and help only,
    which is all ``fpsnn --help`` shows); None configures every command.
    """
    parser = argparse.ArgumentParser(prog="fpsnn", description="Exact-gradient spiking networks: train, "
                                     "evaluate, plot, and deploy to chips or their emulators.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if only is None or cmd.name == only:
            cmd.configure_parser(p)
        p.set_defaults(_command=cmd)
    return parser


def _command_name(argv: list) -> str:
    """The subcommand named on the command line ("" when none is): the first word that is not an option
    (the top-level options ``--help`` and ``--version`` take no value)."""
    return next((a for a in argv if not a.startswith("-")), "")


def _os_error_line(exc: OSError) -> str:
    """One line for a file-system error: the path and the reason, no traceback."""
    where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
    return f"{where.strip() or 'file'}: {exc.strerror or exc}"


def main(argv=None) -> int:
    """Entry point of the ``fpsnn`` console script; returns the exit status.

    Exit statuses: 0 done; 2 bad input (one line naming the argument and the limit); 1 a run diverged
    (the last good checkpoint is kept); 3 a board or its software is missing (the commands' own);
    130 interrupted (Ctrl-C; a training run's checkpoint is kept)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command_name(argv))
    args = parser.parse_args(argv)
    try:
        return args._command.execute(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"fpsnn: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # PermissionError, IsADirectoryError, NotADirectoryError, disk full...
        print(f"fpsnn: error: {_os_error_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("fpsnn: error: out of memory; use a smaller --subset, --batch-size or --max-spikes", file=sys.stderr)
        return 2
    except ArithmeticError as exc:
        from .training.loop import Diverged

        if not isinstance(exc, Diverged):
            raise
        print(f"fpsnn: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemError) as exc:
        from .training.loop import is_interrupt

        if not is_interrupt(exc):
            raise
        why = str(exc) if str(exc) else "interrupted (a training run resumes from its last checkpoint with --resume)"
        print(f"fpsnn: {why}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
