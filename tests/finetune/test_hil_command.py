"""``fpsnn hil``: a model file in, a fine-tuned model file out (fpsnn.finetune.command)."""
import json

from fpsnn import io
from fpsnn.cli import main

CHIP = "xylo-audio2"


def test_cli_hil_fine_tunes_a_model_file_and_resumes(model_file, tmp_path, capsys):
    model = model_file
    argv = ["hil", str(model), "--target", CHIP, "--engine", "emulator", "--epochs", "1", "--train-subset", "60",
            "--test-subset", "40", "--out", str(tmp_path / "run"), "--json", "--no-progress"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 1 and len(out["history"]) == 2 and 0 <= out["test_accuracy"] <= 1
    assert (tmp_path / "run" / "model.fpsnn").exists()
    assert main(argv[:6] + ["--epochs", "2"] + argv[8:] + ["--resume"]) == 0   # one more epoch from the checkpoint
    assert json.loads(capsys.readouterr().out)["epochs"] == 2
    assert main(["hil", str(model), "--target", "no-such-chip"]) == 2
    assert "target: unknown 'no-such-chip'" in capsys.readouterr().err


def test_cli_hil_calibrate_on_a_device_with_mismatch(model_file, tmp_path, capsys):
    model = model_file
    argv = ["hil", str(model), "--target", CHIP, "--engine", "emulator", "--epochs", "1", "--train-subset", "60",
            "--test-subset", "40", "--mismatch", "0.2", "--calibrate", "--out", str(tmp_path / "run"), "--json",
            "--no-progress"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["history"][0]["device_model"]["source"] == "probe"
    assert io.load_model(tmp_path / "run" / "model.fpsnn")[1]["fine_tune"]["calibrate"] is True


def test_cli_hil_uses_the_step_the_model_recorded(model_file, tmp_path, capsys):
    """A model trained with --target records its chip step; hil fine-tunes at that step unless --dt."""
    net, metadata = io.load_model(model_file)[:2]
    recorded = tmp_path / "chip.fpsnn"
    io.save_model(recorded, net, {**metadata, "chip": {"target": CHIP, "dt": 0.0625}})
    base = ["hil", str(recorded), "--target", CHIP, "--engine", "emulator", "--epochs", "1", "--train-subset", "30",
            "--test-subset", "20", "--json", "--no-progress"]
    for extra, want in (([], 0.0625), (["--dt", "0.03125"], 0.03125)):
        out_dir = tmp_path / f"run{len(extra)}"
        assert main(base + extra + ["--out", str(out_dir)]) == 0
        capsys.readouterr()
        assert io.load_model(out_dir / "model.fpsnn")[1]["fine_tune"]["dt"] == want
