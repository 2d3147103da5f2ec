"""The fault table of issue 12: run every case through the real ``fpsnn`` console script and count outcomes.

    python tools/fault_table.py            # one line per case, then the counts
    python tools/fault_table.py --json     # one JSON object: {"counts": {...}, "cases": [...]}

Each case is a command line a user could type (a bad path, a bad value, Ctrl-C, a concurrent writer,
an absurd time grid...) with the outcome it must have: an exit status and a message on stderr, or
success, and for the data-loss cases a check that no file was lost or left inconsistent. The outcome
of every run is classified as one of

* ``clear``: the expected exit status and message, no traceback (or, for a success case, success);
* ``traceback``: a Python traceback reached the user;
* ``hang``: no exit within the case's time limit;
* ``silent wrong``: exit 0 where a refusal or a warning was due (or another unexpected status);
* ``data lost``: files were overwritten, mixed or lost.

``tests/cli/test_robustness.py`` runs the same cases (one test each), so the table in the docs is
measured by this script, not claimed. The cases share one small XOR model trained at the start.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

CLASSES = ("clear", "traceback", "hang", "silent wrong", "data lost")
TIMEOUT_S = 300


# ------------------------------------------------------------------------------------------- running
@dataclass
class Run:
    """One finished (or timed-out) command."""

    rc: int | None
    out: str
    err: str

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.err


def fpsnn(*args, cwd=None, env=None, timeout=TIMEOUT_S) -> Run:
    """Run ``python -m fpsnn.cli ARGS`` (the console script's code) and collect its output."""
    cmd = [sys.executable, "-m", "fpsnn.cli", *map(str, args)]
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env or os.environ.copy(), capture_output=True, text=True,
                           timeout=timeout)
        return Run(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as exc:
        return Run(None, exc.stdout or "", exc.stderr or "")


def digest(folder: Path) -> dict:
    """``{relative path: sha256}`` of every file under ``folder`` (lock files excluded)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".fpsnn.lock"}


@dataclass
class Case:
    """A command and the outcome it must have.

    Attributes:
        name: short identifier (the test id).
        issue_class: the issue's heading the case comes from.
        run: ``run(workdir) -> (Run, data_ok)``: performs the case; ``data_ok`` False when files were lost.
        rc: the exit status expected.
        message: a regular expression the stderr must match (the stdout for a success case).
    """

    name: str
    issue_class: str
    run: Callable
    rc: int
    message: str = ""
    notes: dict = field(default_factory=dict)


def classify(case: Case, run: Run, data_ok: bool) -> str:
    """The outcome class of one finished case (see the module docstring)."""
    if run.rc is None:
        return "hang"
    if run.traceback:
        return "traceback"
    if not data_ok:
        return "data lost"
    text = run.err if case.rc else run.out + run.err
    if run.rc != case.rc or (case.message and not re.search(case.message, text)):
        return "silent wrong"
    if case.rc == 2 and len([l for l in run.err.splitlines() if l.startswith("fpsnn: error")]) != 1:
        return "silent wrong"   # a refusal is exactly one 'fpsnn: error' line
    return "clear"


# ------------------------------------------------------------------------------------------- fixtures
class Workdir:
    """A scratch folder with the models the cases start from (trained once)."""

    def __init__(self, root: Path):
        self.root = root
        self.model = root / "xor" / "model.fpsnn"
        r = fpsnn("train", "xor", "--out", root / "xor", "--epochs", "3", "--no-progress", "--seed", "1")
        if r.rc != 0:
            raise RuntimeError(f"fixture: training the XOR model failed:\n{r.err}")

    def fresh(self, name: str) -> Path:
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        return path

    def copy_model(self, name: str) -> Path:
        folder = self.fresh(name)
        folder.mkdir(parents=True)
        shutil.copy(self.model, folder / "model.fpsnn")
        return folder / "model.fpsnn"


def _simple(*args) -> Callable:
    """A case that runs one command in the work folder; ``{root}`` and ``{model}`` are substituted."""

    def run(w: Workdir):
        return fpsnn(*[str(a).format(root=w.root, model=w.model) for a in args], cwd=w.root), True

    return run


# ------------------------------------------------------------------------------------------- data cases
def _other_run_out(w: Workdir):
    out = w.fresh("taken")
    first = fpsnn("train", "xor", "--out", out, "--epochs", "1", "--seed", "1", "--no-progress")
    before = digest(out)
    r = fpsnn("train", "xor", "--out", out, "--epochs", "1", "--seed", "2", "--no-progress")
    return r, first.rc == 0 and digest(out) == before


def _hil_default_out(w: Workdir):
    a, b = w.copy_model("hil-a"), w.copy_model("hil-b")
    runs = [fpsnn("hil", m, "--target", "xylo-audio2", "--mode", "qat", "--epochs", "0", "--no-progress",
                  cwd=w.root) for m in (a, b)]
    ok = all((m.parent / "qat-xylo-audio2-seed0" / "model.fpsnn").is_file() for m in (a, b))
    bad = next((r for r in runs if r.rc != 0), runs[-1])
    return bad, ok


def _concurrent(w: Workdir):
    out = w.fresh("busy")
    cmd = [sys.executable, "-m", "fpsnn.cli", "train", "xor", "--out", str(out), "--epochs", "100000",
           "--seed", "3", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_ctrl_c_default)
    try:
        deadline = time.time() + TIMEOUT_S
        while not (out / "checkpoint.fpsnn").exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.2)
        second = fpsnn("train", "xor", "--out", out, "--epochs", "1", "--seed", "5", "--no-progress")
        owner = json.loads((out / "run.json").read_text())
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=TIMEOUT_S)
    return second, owner.get("seed") == 3


def _deploy_stale(w: Workdir):
    out = w.fresh("deployed")
    ok = fpsnn("deploy", w.model, "--target", "xylo-audio2", "--out", out, "--subset", "4")
    before = digest(out)
    r = fpsnn("deploy", w.model, "--target", "xylo-audio2", "--out", out, "--run", "xor:nosuchsplit")
    return r, ok.rc == 0 and "report.json" in before and digest(out) == before


# ------------------------------------------------------------------------------------------- interrupt
def _ctrl_c_default():
    """In the child, before exec: Ctrl-C (SIGINT) at its default disposition, so the case measures the
    CLI's handling of it. A parent started as a background job of a non-interactive shell (``cmd &``,
    some CI runners) passes SIGINT on as *ignored*, and Python then installs no handler: every
    interrupt case would hang for reasons outside fpsnn."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(cmd: list, out: Path) -> Run:
    """Start ``cmd``, send Ctrl-C (SIGINT) once ``out`` holds a checkpoint, collect the outcome."""
    p = subprocess.Popen([sys.executable, "-m", "fpsnn.cli", *map(str, cmd)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_default)
    deadline = time.time() + TIMEOUT_S
    while not (out / "checkpoint.fpsnn").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try:
        stdout, stderr = p.communicate(timeout=60)
        return Run(p.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, stderr = p.communicate()
        return Run(None, stdout, stderr)


def interrupt_train(w: Workdir):
    """Ctrl-C after the first checkpoint of a long training run: one line, exit 130, checkpoint kept, and
    ``--resume`` finishes it."""
    out = w.fresh("interrupted")
    run = _interrupt(["train", "xor", "--out", out, "--epochs", "100000", "--no-progress"], out)
    if run.rc is None:
        return run, True
    resumed = fpsnn("train", "xor", "--out", out, "--resume", "--epochs", "1", "--no-progress")
    return run, resumed.rc == 0 and (out / "model.fpsnn").is_file()


def interrupt_hil(w: Workdir):
    """The same for a fine-tuning run (``fpsnn hil``, the same epoch loop)."""
    out = w.fresh("hil-interrupted")
    run = _interrupt(["hil", w.model, "--target", "xylo-audio2", "--mode", "qat", "--epochs", "100000", "--out", out,
                      "--no-progress"], out)
    return run, (out / "checkpoint.fpsnn").is_file()


# ------------------------------------------------------------------------------------------- traceback cases
def _out_is_file(w: Workdir):
    f = w.root / "a-file"
    f.write_text("x")
    return fpsnn("train", "xor", "--out", f, "--epochs", "1", "--no-progress"), f.read_text() == "x"


def _out_under_file(w: Workdir):
    f = w.root / "a-file2"
    f.write_text("x")
    return fpsnn("train", "xor", "--out", f / "sub", "--epochs", "1", "--no-progress"), True


def _out_read_only(w: Workdir):
    d = w.fresh("read-only")
    d.mkdir()
    d.chmod(0o555)
    try:
        return fpsnn("train", "xor", "--out", d / "sub", "--epochs", "1", "--no-progress"), True
    finally:
        d.chmod(0o755)


def _config_dir(w: Workdir):
    return fpsnn("train", "xor", "--config", w.root, "--out", w.fresh("c"), "--no-progress"), True


def _unknown_hyper_key(w: Workdir):
    import fpsnn.io as fio

    net, md = fio.load_model(w.model)
    md["hyper"] = dict(md["hyper"], key_from_the_future=1)
    path = w.copy_model("future")
    fio.save_model(path, net, md)
    return fpsnn("eval", path), True


def _toml(w: Workdir, text: str, name: str) -> Path:
    path = w.root / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _config_case(text, name):
    def run(w: Workdir):
        cfg = _toml(w, text, name)
        return fpsnn("train", "xor", "--config", cfg, "--out", w.fresh("cfg-" + name), "--no-progress"), True

    return run


def _non_writable_home(w: Workdir):
    home = w.fresh("home")
    home.mkdir()
    home.chmod(0o555)
    env = dict(os.environ, HOME=str(home))
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # root writes anywhere: a home under a file instead
        (w.root / "home-file").write_text("x")
        env["HOME"] = str(w.root / "home-file" / "home")
    env.pop("NUMBA_CACHE_DIR", None)
    try:
        return fpsnn("eval", w.model, env=env), True
    finally:
        home.chmod(0o755)


def _big_model(w: Workdir) -> Path:
    out = w.root / "wide"
    if not (out / "model.fpsnn").exists():
        fpsnn("train", "xor", "--out", out, "--hidden", "100", "--epochs", "0", "--no-progress", "--force")
    return out / "model.fpsnn"


def _dynapse_misfit(w: Workdir):
    return fpsnn("hil", _big_model(w), "--target", "dynapse2", "--epochs", "1", "--out", w.fresh("dyn"),
                 "--no-progress"), True


def _model_dir_named_fpsnn(w: Workdir):
    d = w.fresh("dir.fpsnn")
    d.mkdir()
    return fpsnn("deploy", d, "--target", "xylo-audio2", "--out", w.fresh("d2")), True


# ------------------------------------------------------------------------------------------- the table
CASES = [
    # data lost or left inconsistent
    Case("train-out-of-another-run", "data", _other_run_out, 2, r"holds another run"),
    Case("hil-default-out-next-to-model", "data", _hil_default_out, 0, r"qat on xylo-audio2"),
    Case("concurrent-writers", "data", _concurrent, 2, r"another fpsnn run is writing"),
    Case("deploy-bad-run-keeps-old-set", "data", _deploy_stale, 2, r"unknown split"),
    # tracebacks instead of one line
    Case("out-is-a-file", "traceback", _out_is_file, 2, r"is a file, not a directory"),
    Case("out-under-a-file", "traceback", _out_under_file, 2, r"is a file, not a directory"),
    Case("out-read-only", "traceback", _out_read_only, 2, r"permission denied|not writable",
         {"needs_non_root": True}),
    Case("model-is-a-directory", "traceback", _simple("eval", "{root}"), 2, r"is a directory"),
    Case("config-is-a-directory", "traceback", _config_dir, 2, r"is a directory"),
    Case("unknown-hyper-key", "traceback", _unknown_hyper_key, 0, r"accuracy"),
    Case("max-spikes-1e9", "traceback", _simple("train", "xor", "--max-spikes", "1000000000", "--out",
                                                 "{root}/ms"), 2, r"GiB"),
    Case("ctrl-c-train", "traceback", interrupt_train, 130, r"interrupted at epoch \d+.*resume with --resume"),
    Case("ctrl-c-hil", "traceback", interrupt_hil, 130, r"interrupted at epoch \d+.*resume with --resume"),
    Case("non-writable-home", "traceback", _non_writable_home, 0, r"accuracy"),
    # hangs
    Case("deploy-dt-1e-6", "hang", _simple("deploy", "{model}", "--target", "xylo-audio2", "--dt", "1e-6",
                                           "--run", "xor", "--out", "{root}/h1"), 2, r"steps.*limit"),
    Case("emulate-dt-1e-7", "hang", _simple("emulate", "{model}", "--target", "loihi2", "--dt", "1e-7"), 2,
         r"steps.*limit"),
    # exit 0 with a wrong or surprising result
    Case("config-epochs-1.5", "silent", _config_case("epochs = 1.5\n", "frac.toml"), 2,
         r"frac\.toml: key 'epochs' = 1\.5: must be an integer"),
    Case("lr-1e30", "silent", _simple("train", "xor", "--lr", "1e30", "--out", "{root}/lr", "--no-progress"), 1,
         r"diverged"),
    Case("t-input-max-1e-300", "silent", _simple("train", "xor", "--t-input-max", "1e-300", "--out", "{root}/t"),
         2, r"t_input_max"),
    Case("out-empty", "silent", _simple("train", "xor", "--out", ""), 2, r"empty path"),
    Case("no-compensate-without-calibrate", "silent",
         _simple("hil", "{model}", "--target", "xylo-audio2", "--no-compensate", "--out", "{root}/nc"), 2,
         r"--no-compensate: only applies with --calibrate"),
    Case("dt-1e9", "silent", _simple("emulate", "{model}", "--target", "xylo-audio2", "--dt", "1e9"), 2,
         r"fewer than 4"),
    # misleading errors
    Case("lr-inf", "misleading", _simple("train", "xor", "--lr", "inf", "--out", "{root}/li"), 2,
         r"--lr = inf: must be a finite number"),
    Case("config-epochs-ten", "misleading", _config_case('epochs = "ten"\n', "ten.toml"), 2,
         r"ten\.toml: key 'epochs' = 'ten': must be an integer"),
    Case("config-binary", "misleading", _config_case(b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "bin.toml"), 2,
         r"bin\.toml: not (a text file|valid TOML)"),
    Case("hil-engine-board-missing", "misleading",
         _simple("hil", "{model}", "--target", "xylo-audio2", "--engine", "board", "--out", "{root}/hb",
                 "--no-progress"), 3, r"--engine board: not available"),
    Case("hil-dynapse-does-not-fit", "misleading", _dynapse_misfit, 2, r"fan|64"),
    Case("deploy-dir-named-fpsnn", "misleading", _model_dir_named_fpsnn, 2, r"is a directory"),
    Case("eval-other-dataset", "misleading", _simple("eval", "{model}", "--dataset", "iris"), 2,
         r"trained on xor, not iris"),
]


def run_case(case: Case, w: Workdir) -> dict:
    """Run one case; ``{name, issue_class, outcome, rc, expected_rc, stderr_tail, wall_s}``."""
    if case.notes.get("needs_non_root") and hasattr(os, "geteuid") and os.geteuid() == 0:
        return {"name": case.name, "issue_class": case.issue_class, "outcome": "skipped (root ignores permissions)",
                "rc": None, "expected_rc": case.rc, "stderr_tail": [], "wall_s": 0.0}
    t0 = time.perf_counter()
    run, data_ok = case.run(w)
    outcome = classify(case, run, data_ok)
    return {"name": case.name, "issue_class": case.issue_class, "outcome": outcome, "rc": run.rc,
            "expected_rc": case.rc, "stderr_tail": run.err.strip().splitlines()[-3:],
            "wall_s": round(time.perf_counter() - t0, 1)}


def counts(rows: list) -> dict:
    """``{"cases tried": n, "clear": ..., "traceback": ..., ..., "skipped": k}`` (skipped cases not tried)."""
    tried = [r for r in rows if not r["outcome"].startswith("skipped")]
    c = {"cases tried": len(tried)}
    c.update({k: sum(r["outcome"] == k for r in tried) for k in CLASSES})
    c["skipped"] = len(rows) - len(tried)
    return c


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", nargs="*", help="run only these case names")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fpsnn-faults-") as tmp:
        w = Workdir(Path(tmp))
        rows = []
        for case in CASES:
            if args.only and case.name not in args.only:
                continue
            rows.append(run_case(case, w))
            if not args.json:
                r = rows[-1]
                print(f"{r['outcome']:>12}  {r['name']}  (exit {r['rc']}, {r['wall_s']} s)", flush=True)
    result = {"counts": counts(rows), "cases": rows}
    print(json.dumps(result, indent=1) if args.json else json.dumps(result["counts"]))
    return 0 if all(r["outcome"] == "clear" or r["outcome"].startswith("skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
