"""Data sets, their splits and defaults, and the latency encoder."""
import numpy as np
import pytest

from fpsnn import datasets
from fpsnn.encoding import LatencyEncoder


def test_yinyang_training_class_counts_match_the_official_generator():
    _, y = datasets.load("yinyang", "train")
    assert np.bincount(y).tolist() == [1681, 1702, 1617]


@pytest.mark.parametrize("split,size", [("train", 5000), ("validation", 1000), ("test", 1000)])
def test_yinyang_split_sizes_and_features(split, size):
    x, y = datasets.load("yinyang", split)
    assert x.shape == (size, 4) and y.shape == (size,) and x.dtype == np.float64
    np.testing.assert_allclose(x[:, 2:], 1 - x[:, :2])
    # Every point lies inside the big circle of radius 0.5 around (0.5, 0.5).
    assert np.all(np.hypot(x[:, 0] - 0.5, x[:, 1] - 0.5) <= 0.5)


def test_yinyang_splits_differ():
    a, _ = datasets.load("yinyang", "validation")
    b, _ = datasets.load("yinyang", "test")
    assert not np.array_equal(a, b)


def test_iris_split_is_stratified_reproducible_and_disjoint():
    xa, ya = datasets.load("iris", "train")
    xb, yb = datasets.load("iris", "test")
    assert np.bincount(ya).tolist() == [40, 40, 40] and np.bincount(yb).tolist() == [10, 10, 10]
    from sklearn.datasets import load_iris

    full = load_iris().data
    rows = {tuple(r) for r in xa.tolist()} | {tuple(r) for r in xb.tolist()}
    assert len(rows) == len({tuple(r) for r in full.tolist()})
    # A fresh process-independent recomputation (no cache) gives the same split.
    datasets.iris._split_indices.cache_clear()
    xa2, ya2 = datasets.load("iris", "train")
    np.testing.assert_array_equal(xa, xa2)
    np.testing.assert_array_equal(ya, ya2)
    xv, _ = datasets.load("iris", "validation")
    np.testing.assert_array_equal(xv, xb)


def test_xor_patterns():
    x, y = datasets.load("xor", "test")
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    t = datasets.encoder("xor")(x)
    assert t.tolist() == [[0.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 2.0]]


def test_load_returns_copies():
    x, _ = datasets.load("yinyang", "test")
    x[:] = -1
    assert datasets.load("yinyang", "test")[0].min() >= 0


@pytest.mark.parametrize("name,split,word", [("mnist", "train", "xor, iris, yinyang"),
                                             ("iris", "dev", "train, validation, test")])
def test_bad_name_or_split_lists_the_valid_ones(name, split, word):
    with pytest.raises(ValueError, match=word):
        datasets.load(name, split)


def test_specs_carry_the_paper_tables():
    yy = datasets.spec("yinyang").preset("paper")
    assert (yy.alpha, yy.beta, yy.t_early, yy.t_bias, yy.hidden, yy.lr, yy.batch_size, yy.epochs) == \
        (0.999, 1.0, 0.15, 0.9, (150,), 0.0005, 150, 300)
    assert (yy.init_mean, yy.init_std, yy.tau0, yy.gamma) == ((1.5, 2.0), (0.8, 0.1), 0.2, 0.005)
    iris = datasets.spec("iris").paper
    assert (iris.beta, iris.t_max, iris.hidden, iris.lr, iris.gamma, iris.tau0) == (0.9, 16.0, (10,), 0.05, 0.1, 1.0)
    xor = datasets.spec("xor").preset("paper")
    assert (xor.beta, xor.hidden, xor.lr, xor.gamma, xor.tau0) == (0.99, (4,), 0.1, 0.2, 0.1)


def test_presets_paper_is_the_table_and_default_adds_the_remedy():
    for name in datasets.NAMES:
        spec = datasets.spec(name)
        assert spec.preset() == spec.hyper and spec.preset("paper") == spec.paper
        assert spec.paper.silent_bump == 0.0
    yy = datasets.spec("yinyang")
    assert yy.hyper.silent_bump > 0 and yy.hyper.schedule == "cosine"
    assert yy.hyper.replace(silent_bump=0.0, lr=0.0005, schedule="none", lr_decay=0.1) == yy.paper
    assert datasets.spec("iris").hyper.t_bias == 0.0  # the reference-spike variant
    assert datasets.spec("xor").hyper == datasets.spec("xor").paper
    with pytest.raises(ValueError, match="preset = 'best'.*default, paper"):
        yy.preset("best")


def test_xor_cross_entropy_variant_differs_from_table_1_only_in_gamma():
    from fpsnn.datasets import xor
    table, ce = xor.HYPERPARAMETERS.to_dict(), xor.CROSS_ENTROPY_HYPERPARAMETERS.to_dict()
    assert ce.pop("gamma") == 0.0 and table.pop("gamma") == 0.2 and ce == table


def test_hyperparameter_validation_names_the_field():
    h = datasets.spec("xor").hyper
    with pytest.raises(ValueError, match="init_mean"):
        h.replace(hidden=(4, 4))
    with pytest.raises(ValueError, match="lr"):
        h.replace(lr=0.0)
    with pytest.raises(ValueError, match="unknown.*valid"):
        h.replace(learning_rate=0.1)


# ------------------------------------------------------------------------------------- encoder
def test_yinyang_encoding_direction_and_bias():
    enc = datasets.encoder("yinyang")
    t = enc(np.array([[0.0, 1.0, 0.5, 0.25]]))
    np.testing.assert_allclose(t, [[0.15, 2.0, 0.15 + 0.5 * 1.85, 0.15 + 0.25 * 1.85, 0.9]])
    assert enc.n_inputs(4) == 5


def test_iris_encoding_is_the_papers_formula():
    from sklearn.datasets import load_iris

    full = load_iris().data
    x, _ = datasets.load("iris", "test")
    t = datasets.encoder("iris", datasets.spec("iris").paper)(x)
    lo, hi = full.min(axis=0), full.max(axis=0)
    np.testing.assert_allclose(t, 16.0 * (1 - (x - lo) / (hi - lo)))
    assert t.min() >= 0 and t.max() <= 16


def test_encoder_clips_new_data_and_rejects_out_of_range_unit_features():
    enc = LatencyEncoder(t_max=10.0, feature_min=(0.0,), feature_max=(2.0,))
    np.testing.assert_allclose(enc(np.array([[-1.0], [1.0], [5.0]]))[:, 0], [0.0, 5.0, 10.0])
    with pytest.raises(ValueError, match=r"features.*\[0, 1\]"):
        LatencyEncoder(t_max=2.0)(np.array([[1.5]]))


@pytest.mark.parametrize("kwargs,word", [(dict(t_max=1.0, t_early=1.0), "t_max"), (dict(t_max=1.0, t_bias=2.0), "t_bias"),
                                         (dict(t_max=1.0, t_early=-0.1), "t_early"),
                                         (dict(t_max=1.0, feature_min=(1.0,), feature_max=(1.0,)), "feature_max")])
def test_encoder_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        LatencyEncoder(**kwargs)


def test_encoder_round_trips_through_a_dict():
    enc = datasets.encoder("iris")
    assert LatencyEncoder.from_dict(enc.to_dict()) == enc
