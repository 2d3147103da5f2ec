"""Model and checkpoint files: round trip, rejection of damaged/foreign/future files, atomic writes."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fpsnn import Network, io


@pytest.fixture
def net():
    rng = np.random.default_rng(3)
    return Network(weights=[rng.normal(size=(5, 7)), rng.normal(size=(7, 3))], alpha=[0.999, 1.0],
                   beta=1.0, theta=[1.0, 2.0], t_max=2.5, max_spikes=9,
                   recurrent=[None, np.array([[0, 0.5, 0], [0.1, 0, 0], [0, -0.2, 0]])])


def assert_same_network(a, b):
    assert a.sizes == b.sizes and a.t_max == b.t_max and a.max_spikes == b.max_spikes
    for name in ("weights", "alpha", "beta", "theta"):
        for x, y in zip(getattr(a, name), getattr(b, name)):
            np.testing.assert_array_equal(x, y)
    for x, y in zip(a.recurrent, b.recurrent):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


def test_round_trip_keeps_network_metadata_and_arrays(tmp_path, net):
    md = {"dataset": "yinyang", "encoder": {"t_max": 2.0, "t_bias": 0.9}, "metrics": {"acc": np.float64(0.95)},
          "history": [{"epoch": 0, "loss": float("inf")}]}
    path = io.save_model(tmp_path / "m.fpsnn", net, md, arrays={"initial/weights/0": np.arange(6.0).reshape(2, 3)})
    f = io.read_file(path)
    assert f.kind == "model" and f.version == io.VERSION
    assert_same_network(f.net, net)
    assert f.metadata["metrics"]["acc"] == 0.95 and f.metadata["history"][0]["loss"] == float("inf")
    np.testing.assert_array_equal(f.arrays["initial/weights/0"], np.arange(6.0).reshape(2, 3))
    net2, md2 = io.load_model(path)
    assert_same_network(net2, net)
    assert md2["dataset"] == "yinyang"


def test_per_neuron_parameters_survive(tmp_path):
    n = Network(weights=[np.ones((2, 3)), np.ones((3, 3))], alpha=[1.0, 1.0], beta=0.9, theta=1.0, t_max=1.0)
    n.theta[1] = np.array([1.0, 1.5, 2.0])  # per-neuron thresholds (same layer sizes pass Network's checks)
    n2, _ = io.load_model(io.save_model(tmp_path / "p.fpsnn", n))
    np.testing.assert_array_equal(n2.theta[1], [1.0, 1.5, 2.0])


def test_truncated_file_is_rejected(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net)
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 1, len(raw) - 64, 41):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=r"m\.fpsnn.*(truncated|corrupt)"):
            io.load_model(path)


def test_tampered_bytes_anywhere_are_rejected(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net, {"note": "x"})
    raw = path.read_bytes()
    # Every byte of the zip structure at both ends, and a dense sample of the rest.
    positions = sorted(set(range(0, 200)) | set(range(len(raw) - 300, len(raw))) | set(range(0, len(raw), 7)))
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match=r"m\.fpsnn"):
            io.load_model(path)


def _rewrite(path, edit_header=None, edit_member=None):
    """Re-pack a model file with edited members (valid zip CRCs), keeping or fixing the checksum."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if edit_header:
        header = json.loads(members["fpsnn.json"])
        edit_header(header)
        members["fpsnn.json"] = json.dumps(header).encode()
    if edit_member:
        edit_member(members)
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return members


def test_tampering_with_valid_zip_crcs_is_caught_by_the_checksum(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net)

    def flip_weight(members):
        name = "network/weights/0.npy"
        members[name] = members[name][:-8] + np.float64(123.0).tobytes()

    _rewrite(path, edit_member=flip_weight)
    with pytest.raises(ValueError, match="checksum"):
        io.load_model(path)


def test_metadata_tampering_is_caught(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net, {"accuracy": 0.5})
    _rewrite(path, edit_header=lambda h: h["metadata"].update(accuracy=1.0))
    with pytest.raises(ValueError, match="checksum"):
        io.load_model(path)


def test_wrong_version_is_rejected_even_with_a_valid_checksum(tmp_path, net, monkeypatch):
    monkeypatch.setattr(io, "VERSION", 99)  # as if written by a future fpsnn
    path = io.save_model(tmp_path / "m.fpsnn", net)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="version 99.*reads version 1"):
        io.load_model(path)


def test_file_without_checksum_is_rejected(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net)
    _rewrite(path)  # same members, valid zip, but the digest comment is gone
    with pytest.raises(ValueError, match="checksum"):
        io.load_model(path)


def test_foreign_files_are_rejected(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt.*not an fpsnn"):
        io.load_model(txt)
    npz = tmp_path / "w.npz"
    np.savez(npz, w=np.ones(3))
    with pytest.raises(ValueError, match=r"w\.npz.*not an fpsnn"):
        io.load_model(npz)
    with pytest.raises(FileNotFoundError):
        io.load_model(tmp_path / "missing.fpsnn")


def test_checkpoint_kind_is_checked(tmp_path, net):
    m = io.save_model(tmp_path / "m.fpsnn", net)
    with pytest.raises(ValueError, match="not a training checkpoint"):
        io.load_checkpoint(m)
    c = io.save_checkpoint(tmp_path / "c.fpsnn", net, {"epoch": 3}, {"adam/m/0": np.zeros(2)})
    assert io.load_checkpoint(c).metadata["epoch"] == 3


def test_unserialisable_metadata_is_a_value_error(tmp_path, net):
    with pytest.raises(ValueError, match="metadata"):
        io.save_model(tmp_path / "m.fpsnn", net, {"f": object()})
    assert not (tmp_path / "m.fpsnn").exists()


def test_failed_write_leaves_the_old_file_and_no_temp_files(tmp_path, net, monkeypatch):
    path = io.save_model(tmp_path / "m.fpsnn", net, {"v": 1})
    before = path.read_bytes()

    def crash(fd):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(io.os, "fsync", crash)
    with pytest.raises(OSError, match="simulated"):
        io.save_model(path, net, {"v": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fpsnn"]


KILL_MID_WRITE = r"""
import os, signal, sys
import numpy as np
from fpsnn import Network, io
net = Network(weights=[np.full((3, 4), 2.0), np.full((4, 2), 2.0)], alpha=1.0, beta=0.9, t_max=3.0)
real_fdopen = os.fdopen
class Half:
    def __init__(self, fh): self.fh = fh
    def __enter__(self): return self
    def __exit__(self, *a): return False
    def write(self, data):
        self.fh.write(data[: len(data) // 2]); self.fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # die with half the bytes in the temp file
    def __getattr__(self, name): return getattr(self.fh, name)
io.os.fdopen = lambda fd, mode: Half(real_fdopen(fd, mode))
io.save_model(sys.argv[1], net, {"v": 2})
"""


@pytest.mark.skipif(not hasattr(os, "kill") or sys.platform == "win32", reason="needs POSIX SIGKILL")
def test_process_killed_mid_write_leaves_the_old_file_intact(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net, {"v": 1})
    proc = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(path)], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    net2, md = io.load_model(path)
    assert md == {"v": 1}
    assert_same_network(net2, net)
    # The only debris is the dead writer's hidden temp file, never a damaged destination.
    assert all(p.name == "m.fpsnn" or p.name.startswith(".m.fpsnn.") for p in tmp_path.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_users_umask_not_0600(tmp_path, net, umask, expected):
    old = os.umask(umask)
    try:
        path = io.save_model(tmp_path / "m.fpsnn", net)
        report = io.write_atomic(tmp_path / "sub" / "report.json", b"{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == expected
    assert report.stat().st_mode & 0o777 == expected


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_replacing_a_file_keeps_its_permissions(tmp_path, net):
    path = io.save_model(tmp_path / "m.fpsnn", net)
    os.chmod(path, 0o640)
    io.save_model(path, net, {"again": True})
    assert path.stat().st_mode & 0o777 == 0o640 and io.load_model(path)[1] == {"again": True}


def test_a_directory_is_said_to_be_one(tmp_path, net):
    (tmp_path / "run.fpsnn").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        io.load_model(tmp_path / "run.fpsnn")
    with pytest.raises(ValueError, match="is a directory"):
        io.save_model(tmp_path / "run.fpsnn", net)


def test_per_layer_spike_caps_round_trip_and_a_uniform_cap_stays_an_int(tmp_path, net):
    capped = net.with_parameters(net.weights, net.recurrent)
    capped.max_spikes = (9, 2)
    path = io.save_model(tmp_path / "c.fpsnn", capped)
    assert json.loads(zipfile.ZipFile(path).read("fpsnn.json"))["network"]["max_spikes"] == [9, 2]
    back = io.load_model(path)[0]
    assert back.spike_caps == (9, 2) and back.max_spikes == (9, 2)
    assert_same_network(back, capped)
    # one cap for every layer is written as the int every earlier fpsnn wrote (and reads)
    header = json.loads(zipfile.ZipFile(io.save_model(tmp_path / "u.fpsnn", net)).read("fpsnn.json"))
    assert header["network"]["max_spikes"] == 9 and type(header["network"]["max_spikes"]) is int
    assert io.load_model(tmp_path / "u.fpsnn")[0].spike_caps == (9, 9)


def test_a_bad_stored_spike_cap_names_the_file_and_the_layer(tmp_path, net):
    net.max_spikes = (9, 0)  # bypasses Network's checks: as a file from a buggy writer would hold
    path = io.save_model(tmp_path / "b.fpsnn", net)
    with pytest.raises(ValueError, match=r"b\.fpsnn: invalid network \(max_spikes\[1\] = 0: layer 1's spike cap "
                                         r"must be an integer >= 1"):
        io.load_model(path)
