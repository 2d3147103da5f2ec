"""The user's own data: every file form round-trips; every bad file gives a ValueError naming file and field."""
import numpy as np
import pytest

from fpsnn.datasets import DataSet, from_arrays, load_file
from fpsnn.datasets.archive import as_object_array
from fpsnn.simulate import check_input_times

rng = np.random.default_rng(0)
Y = np.repeat(["cat", "dog", "eel"], 10)


def _same(a: DataSet, b: DataSet):
    for f in ("x_train", "x_test"):
        xa, xb = getattr(a, f), getattr(b, f)
        assert len(xa) == len(xb) and all(np.array_equal(p, q) for p, q in zip(xa, xb))
    for f in ("y_train", "y_test", "classes", "kind", "n_features", "sample_rate", "split_seed"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def _check_encodes(ds: DataSet):
    enc = ds.encoder()
    for split in ("train", "test"):
        x, y = ds.load(split)
        t = check_input_times(enc(x), enc.n_inputs(ds.n_features))
        assert len(t) == len(y)
    ds.default_hyper()  # valid defaults for any form


FORMS = {
    "static": dict(x=rng.normal(size=(30, 4))),
    "dense": dict(x=rng.normal(size=(30, 3, 12)), sample_rate=4.0),
    "ragged": dict(x=as_object_array([rng.normal(size=(2, n)) for n in rng.integers(3, 9, size=30)])),
    "events": dict(times=rng.uniform(0, 2, 200), channels=rng.integers(0, 5, 200), sample=rng.integers(0, 30, 200)),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("labels", ["strings", "ints"])
def test_npz_round_trips_with_a_recorded_stratified_split(tmp_path, form, labels):
    y = Y if labels == "strings" else np.repeat([3, 7, 9], 10)
    np.savez(tmp_path / "d.npz", y=y, **FORMS[form])
    ds = load_file(tmp_path / "d.npz", seed=3)
    assert ds.split_seed == 3 and len(ds.y_train) == 24 and len(ds.y_test) == 6
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2] and ds.n_classes == 3
    assert list(ds.classes) == (["cat", "dog", "eel"] if labels == "strings" else [3, 7, 9])
    assert ds.kind == {"dense": "series", "ragged": "series"}.get(form, form)
    _same(ds, load_file(tmp_path / "d.npz", seed=3))  # the recorded seed rebuilds the same split
    other = load_file(tmp_path / "d.npz", seed=4).x_test
    assert not all(np.array_equal(p, q) for p, q in zip(other, ds.x_test))  # the seed matters
    meta = ds.metadata()
    assert meta["split_seed"] == 3 and meta["data_file"] == str(tmp_path / "d.npz")
    _check_encodes(ds)


def test_npz_with_its_own_test_split_and_from_arrays_agree(tmp_path):
    x, xt = rng.normal(size=(12, 2, 6)), rng.normal(size=(6, 2, 9))
    y, yt = np.arange(12) % 2, np.arange(6) % 2
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=yt, sample_rate=10.0)
    ds = load_file(tmp_path / "d.npz")
    assert ds.split_seed is None and ds.sample_rate == 10.0 and ds.x_test.shape == (6, 2, 9)
    _same(ds, from_arrays(x, y, xt, yt, sample_rate=10.0))
    # events given as the spike arrays they become
    e = from_arrays(dict(times=[0.1, 0.4, 0.2, 0.3], channels=[0, 1, 0, 0], sample=[0, 1, 2, 3]), [0, 1, 0, 1],
                    dict(times=[0.5, 0.6], channels=[1, 1], sample=[0, 1]), [1, 0])
    assert e.x_train.shape == (4, 2, 1) and e.x_test[0, 1, 0] == 0.5 and np.isinf(e.x_test[0, 0, 0])
    _check_encodes(e)


def test_ragged_lists_from_arrays():
    ds = from_arrays([np.zeros((2, n)) + n for n in range(2, 12)], [0, 1] * 5, kind="ragged", test_fraction=0.4)
    assert ds.x_train.dtype == object and ds.kind == "series" and len(ds.y_test) == 4


def test_csv_round_trips(tmp_path):
    x = rng.normal(size=(20, 3))
    y = np.repeat(["a", "b"], 10)
    rows = ["f1,f2,label,f3"] + [f"{r[0]!r},{r[1]!r},{lab},{r[2]!r}" for r, lab in zip(x, y)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    ds = load_file(tmp_path / "d.csv", seed=1)
    ref = from_arrays(x, y, seed=1, source=str(tmp_path / "d.csv"))
    _same(ds, ref)
    assert ds.kind == "static" and ds.classes == ("a", "b")
    split = ["train"] * 14 + ["test"] * 6
    rows = ["label,f1,split"] + [f"{i % 2},{v!r},{s}" for i, (v, s) in enumerate(zip(x[:, 0], split))]
    (tmp_path / "s.csv").write_text("\n".join(rows))
    ds = load_file(tmp_path / "s.csv")
    assert ds.split_seed is None and len(ds.y_test) == 6 and ds.classes == (0, 1)
    np.testing.assert_array_equal(ds.x_test[:, 0], x[14:, 0])
    _check_encodes(ds)


def _npz(tmp_path, **fields):
    path = tmp_path / "bad.npz"
    np.savez(path, **fields)
    return path


X, YI = rng.normal(size=(8, 2)), np.arange(8) % 2
RAGGED = as_object_array([np.zeros((2, 3)), np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((2, 4))])
BAD_NPZ = {
    "nan": (dict(x=np.where(X > 1, np.nan, X), y=YI), "field 'x' holds NaN"),
    "nan series": (dict(x=np.full((8, 2, 3), np.nan), y=YI), "field 'x' holds NaN"),
    "ragged declared dense": (dict(x=RAGGED, y=YI[:4], kind="series"), "ragged .* declares dense"),
    "labels missing": (dict(x=X), "field 'y' \\(labels\\) missing"),
    "a label missing": (dict(x=X, y=np.array(["a", "b", "", "a", "b", "a", "b", "a"])), "label missing at sample 2"),
    "nan label": (dict(x=X, y=np.where(YI > 0, np.nan, 1.0)), "label missing"),
    "one class": (dict(x=X, y=np.zeros(8, int)), "one class only"),
    "lengths": (dict(x=X, y=YI[:7]), "'x' has 8 samples but 'y' has 7"),
    "test lengths": (dict(x=X, y=YI, x_test=X, y_test=YI[:3]), "'x_test' has 8 samples but 'y_test' has 3"),
    "test channels": (dict(x=X, y=YI, x_test=X[:, :1], y_test=YI), "'x_test' has 1"),
    "half test": (dict(x=X, y=YI, x_test=X), "'x_test' and 'y_test'"),
    "event lengths": (dict(times=[0.1, 0.2], channels=[0], sample=[0, 1], y=[0, 1]), "same length"),
    "event sample": (dict(times=[0.1, 0.2], channels=[0, 0], sample=[0, 5], y=[0, 1]), "'sample' has index 5"),
    "negative time": (dict(times=[-0.1, 0.2], channels=[0, 0], sample=[0, 1], y=[0, 1]), "'times' must be"),
    "no x": (dict(y=YI), "field 'x' missing"),
    "unknown field": (dict(X=X, y=YI), "unknown fields \\['X'\\]"),
    "bad rate": (dict(x=np.zeros((8, 1, 3)), y=YI, sample_rate=-2.0), "'sample_rate' = -2.0"),
    "rate on static": (dict(x=X, y=YI, sample_rate=2.0), "'sample_rate' applies to series only"),
    "bad kind": (dict(x=X, y=YI, kind="video"), "'kind' = 'video'"),
    "3-d as static": (dict(x=np.zeros((8, 2, 3)), y=YI, kind="static"), "expected \\(n, features\\)"),
    "float labels": (dict(x=X, y=YI + 0.5), "ints or strings"),
    "tiny class": (dict(x=X, y=np.array([0] * 7 + [1])), "class 1 has only one sample"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_bad_npz_files_name_the_file_and_the_field(tmp_path, case):
    fields, message = BAD_NPZ[case]
    path = _npz(tmp_path, **fields)
    with pytest.raises(ValueError, match=message) as err:
        load_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


BAD_CSV = {
    "no label column": ("a,b\n1,2\n3,4\n", "column 'label' \\(labels\\) missing"),
    "ragged rows": ("a,label\n1,x\n2,y,3\n", "row 3 has 3 fields, the header has 2"),
    "nan": ("a,label\n1,x\nnan,y\n1,x\n2,y\n", "column 'a', row 3: NaN"),
    "text feature": ("a,label\n1,x\nabc,y\n", "column 'a', row 3: 'abc' is not a number"),
    "empty label": ("a,label\n1,x\n2,\n3,y\n4,x\n", "label missing at sample 1"),
    "one class": ("a,label\n1,x\n2,x\n3,x\n", "one class only"),
    "empty": ("", "empty file"),
    "bad split": ("a,label,split\n1,x,train\n2,y,dev\n", "column 'split' holds \\['dev'\\]"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_files_name_the_file_and_the_field(tmp_path, case):
    text, message = BAD_CSV[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_file(path)
    assert str(path) in str(err.value)


def test_unknown_suffix_missing_file_and_corrupt_npz(tmp_path):
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ValueError, match="expected .npz or .csv"):
        load_file(tmp_path / "d.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_file(tmp_path / "none.npz")
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_file(tmp_path / "c.npz")
