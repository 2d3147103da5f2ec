"""fpsnn.resolve: a model file -> network, hyper-parameters, encoder and the data it was trained on."""
import numpy as np
import pytest

import fpsnn
from fpsnn import datasets, io
from fpsnn.resolve import ModelContext, parse_data_spec, read_model, resolve_model


def _net(n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    return fpsnn.Network(weights=[rng.normal(1.5, 0.8, (n_in, 6)), rng.normal(0.6, 0.6, (6, 3))],
                         alpha=0.999, beta=1.0, theta=1.0, t_max=2.0)


@pytest.fixture(scope="module")
def yinyang_file(tmp_path_factory):
    spec = datasets.spec("yinyang")
    hyper = spec.hyper.replace(gamma=0.25, hidden=(6,), init_mean=(1.5, 0.5), init_std=(0.8, 0.5))
    path = tmp_path_factory.mktemp("m") / "model.fpsnn"
    io.save_model(path, _net(), {"dataset": "yinyang", "encoder": spec.encoder(hyper).to_dict(),
                                 "hyper": hyper.to_dict(), "test_split": "validation"})
    return path


def test_a_model_file_gives_back_its_training_pipeline(yinyang_file):
    ctx = resolve_model(yinyang_file)
    spec = datasets.spec("yinyang")
    assert isinstance(ctx, ModelContext) and ctx.dataset == ctx.trained_on == "yinyang"
    assert ctx.hyper.gamma == 0.25 and ctx.hyper.hidden == (6,)      # the run's, not the defaults
    assert ctx.split == "validation" and ctx.path == yinyang_file    # the split the run evaluated
    x, y = ctx.data(subset=7)
    raw, labels = datasets.load("yinyang", "validation")
    np.testing.assert_array_equal(x, spec.encoder(spec.hyper)(raw[:7]))
    np.testing.assert_array_equal(y, labels[:7])
    assert ctx.data("train")[0].shape == (len(datasets.load("yinyang", "train")[1]), 5)
    assert ctx.describe() == "yinyang:validation"
    with pytest.raises(Exception):
        ctx.dataset = "iris"                                           # frozen


def test_another_data_set_is_refused_unless_it_encodes_the_same_way(yinyang_file):
    with pytest.raises(ValueError, match="trained on yinyang, not iris"):
        resolve_model(yinyang_file, "iris")
    with pytest.raises(ValueError, match="trained on yinyang, not xor"):
        resolve_model(yinyang_file, "xor")
    assert resolve_model(yinyang_file, "yinyang:test").split == "test"


def test_bad_data_specs_name_the_valid_ones(yinyang_file):
    with pytest.raises(ValueError, match="unknown data set 'mnist'; expected one of xor, iris, yinyang"):
        resolve_model(yinyang_file, "mnist")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        parse_data_spec("yinyang:dev")
    with pytest.raises(ValueError, match="subset = 0"):
        resolve_model(yinyang_file).data(subset=0)
    with pytest.raises(ValueError, match="split = 'dev'"):
        resolve_model(yinyang_file).data("dev")


def test_old_files_without_encoder_or_hyper_use_the_data_sets_defaults(tmp_path):
    path = io.save_model(tmp_path / "old.fpsnn", _net(), {"dataset": "yinyang"})
    ctx = resolve_model(path)
    spec = datasets.spec("yinyang")
    assert ctx.hyper == spec.paper and ctx.encoder == spec.encoder(spec.paper) and ctx.split == "test"


def test_hyper_parameters_of_a_newer_or_older_file_keep_known_fields(tmp_path):
    hyper = datasets.spec("yinyang").hyper.to_dict()
    hyper.pop("grad_mode")
    hyper["a_future_field"] = 3
    hyper["lr"] = 0.123
    hyper["t_max"] = hyper.pop("t_input_max") - 0.5          # the field's former name
    path = io.save_model(tmp_path / "m.fpsnn", _net(), {"dataset": "yinyang", "hyper": hyper})
    ctx = resolve_model(path)
    assert ctx.hyper.lr == 0.123 and ctx.hyper.grad_mode == "adjoint"
    assert ctx.hyper.t_input_max == datasets.spec("yinyang").hyper.t_input_max - 0.5


def test_bare_networks_and_wrong_input_counts(tmp_path):
    ctx = resolve_model(_net())
    assert ctx.dataset is None and ctx.path is None and ctx.metadata == {}
    with pytest.raises(ValueError, match="names no data set"):
        ctx.data()
    assert resolve_model(_net(), "yinyang").data(subset=3)[0].shape == (3, 5)
    with pytest.raises(ValueError, match="iris encodes to 4 inputs, the model has 5"):
        resolve_model(_net(), "iris")
    only_metadata = resolve_model(None, "iris", metadata={})
    assert only_metadata.net is None and only_metadata.data(subset=2)[0].shape == (2, 4)


def test_files_directories_and_other_objects(tmp_path, yinyang_file):
    net, metadata, path = read_model(yinyang_file)
    assert path == yinyang_file and metadata["dataset"] == "yinyang" and net.sizes == (6, 3)
    with pytest.raises(ValueError, match="is a directory, not a model file"):
        resolve_model(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        resolve_model(tmp_path / "missing.fpsnn")
    with pytest.raises(ValueError, match="expected a model file path or an fpsnn.Network, got int"):
        resolve_model(3)
