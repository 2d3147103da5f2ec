"""tools/fidelity.py on a tiny untrained Yin-Yang network: JSON fields, ranges, and RMSE vs dt.

Why a finer ``dt`` must not give a larger first-spike RMSE than a very coarse one here: the chip's
errors against the float model are of two kinds. (1) The time grid: an input is delivered at the
start of its step (up to ``dt`` early), an event is reported at the end of its step (up to ``dt``
late), the membrane integrates the current one step at a time (Euler), and the hidden -> output hop
costs one more step (Xylo) or every Dense stage one step (Loihi): all O(dt). (2) Errors that do not
shrink with ``dt``: 8-bit weight rounding (the scales fill the int8 / mantissa range at every dt)
and decay codes whose effective tau differs from the float one (Xylo's bit-shift codes are a factor
up to sqrt(2) off at any dt). With ``dt = t_max / 8 = 0.25`` the grid terms alone are a sizeable
fraction of a step (0.25: the output delay by itself is one step), far above what (2) produces for
this network; at ``dt = 0.02`` (100 steps) they are ~10x smaller. A larger fine-dt RMSE would mean
the time grid, the decoding or the pipeline-latency handling is broken. (Very fine steps are not
used: there the threshold headroom stops the weights from filling int8 and Xylo's integer decay of
small states (at least 1 per step) distorts the dynamics, so RMSE need not keep falling.)
"""
import json

import numpy as np
import pytest

from fpsnn import datasets, io
from fpsnn.train import init_network

COARSE, FINE = 0.25, 0.02
CHIPS = ("xylo-audio2", "loihi2")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 5-20-3 Yin-Yang network with the paper's initialisation (untrained: it fires, ~chance accuracy)."""
    ds = datasets.spec("yinyang")
    hyper = ds.hyper.replace(hidden=(20,))
    net = init_network(hyper, n_inputs=5, n_outputs=3, rng=np.random.default_rng(2))
    path = tmp_path_factory.mktemp("fidelity") / "tiny.fpsnn"
    io.save_model(path, net, {"dataset": "yinyang", "encoder": ds.encoder(hyper).to_dict(), "epochs": 0})
    return path


@pytest.fixture(scope="module")
def report(tiny_model, fidelity_tool):
    import contextlib
    import io as text_io

    out = text_io.StringIO()
    with contextlib.redirect_stdout(out):
        status = fidelity_tool.main([str(tiny_model), "--chips", ",".join(CHIPS + ("dynapse2",)),
                               "--dt", f"{COARSE},{FINE}", "--subset", "100", "--json"])
    assert status == 0
    return json.loads(out.getvalue())


def test_json_fields_and_ranges(report):
    assert report["samples"] == 100 and report["data"] == "yinyang:test"
    assert 0.0 <= report["float_accuracy"] <= 1.0
    margin = report["float_output_margin"]
    assert set(margin) == {"p10", "median"} and 0.0 <= margin["p10"] <= margin["median"]
    by_chip = {c["chip"]: c for c in report["chips"]}
    assert set(by_chip) == set(CHIPS) | {"dynapse2"}
    assert by_chip["dynapse2"]["skipped"] and by_chip["dynapse2"]["runs"] == []
    for name in CHIPS:
        chip = by_chip[name]
        assert chip["skipped"] is None
        assert [r["dt"] for r in chip["runs"]] == [COARSE, FINE]
        for run in chip["runs"]:
            assert run["steps"] == round(2.0 / run["dt"])
            for key in ("chip_accuracy", "agreement", "output_ties"):
                assert 0.0 <= run[key] <= 1.0, (name, key, run[key])
            for layer in ("output", "hidden"):
                err = run[layer]
                assert set(err) == {"rmse", "bias", "both", "one_fires", "pairs"}
                assert err["rmse"] is not None and err["rmse"] >= 0
                assert 0.0 <= err["one_fires"] <= 1.0 and 0.0 < err["both"] <= 1.0
            assert err["pairs"] == 100 * 20  # hidden: samples x hidden neurons
            assert len(run["tau_syn"]) == len(run["tau_mem"]) == 2
            for tau in run["tau_syn"] + run["tau_mem"]:
                assert tau["chip"][0] > 0 and tau["float"][0] > 0
            assert isinstance(run["binding_limits"], list)


def test_finer_dt_no_larger_rmse(report):
    # See the module docstring for why this must hold.
    for chip in report["chips"]:
        if chip["skipped"]:
            continue
        coarse, fine = chip["runs"]
        for layer in ("output", "hidden"):
            assert fine[layer]["rmse"] <= coarse[layer]["rmse"], (chip["chip"], layer, fine[layer], coarse[layer])


def test_table_lists_every_run_and_the_skip(report, fidelity_tool):
    text = fidelity_tool.format_table(report)
    rows = [line for line in text.splitlines() if line.split()[:1] and line.split()[0] in CHIPS]
    assert len(rows) == 2 * len(CHIPS)
    assert "dynapse2: skipped: no bit-accurate emulator" in text


def test_bad_dt_names_the_argument(tiny_model, capsys, fidelity_tool):
    assert fidelity_tool.main([str(tiny_model), "--dt", "0.01,-1"]) == 2
    assert "--dt" in capsys.readouterr().err
