"""The Python 3.11 import workaround for lava-nc 0.10 (backends/loihi/compat.py).

The import itself runs in a fresh interpreter: in this pytest process Lava may already have been
imported by another test, which would make the check vacuous.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fpsnn.backends.loihi import compat

pytestmark = pytest.mark.skipif(not compat.lava_available(), reason="lava-nc is not installed")


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the failure only exists on Python >= 3.11")
def test_plain_import_fails_without_the_workaround():
    """Guards the test below: if this stops failing, Lava was fixed and compat can go."""
    out = subprocess.run([sys.executable, "-c", "import lava.magma.compiler.var_model"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "mutable default" in out.stderr


def test_import_lava_restores_dataclass_and_is_idempotent():
    _run("""
        import dataclasses
        original = dataclasses.dataclass
        from fpsnn.backends.loihi import compat
        compat.import_lava()
        assert dataclasses.dataclass is original, "dataclasses.dataclass was not restored"
        compat.import_lava()                      # second call: no-op
        assert dataclasses.dataclass is original
        from lava.magma.compiler.var_model import ByteEncoder, CoreEncoder
        assert hash(ByteEncoder()) is not None
        # other dataclasses keep their normal semantics (unhashable when eq=True and not frozen)
        @dataclasses.dataclass
        class Plain:
            x: int = 0
        assert Plain.__hash__ is None
        print("ok")
    """)


@pytest.mark.vendor
def test_ring_buffer_dense_lif_run_after_import_lava():
    _run("""
        import numpy as np
        from fpsnn.backends.loihi import compat
        compat.import_lava()
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.dense.process import Dense
        from lava.proc.io.source import RingBuffer
        from lava.proc.lif.process import LIF
        from lava.proc.monitor.process import Monitor
        data = np.zeros((1, 6), dtype=int)
        data[0, 0] = 1
        src = RingBuffer(data=data)
        dense = Dense(weights=np.array([[100]]))
        lif = LIF(shape=(1,), du=1024, dv=512, vth=200, bias_mant=0, bias_exp=0)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        mon = Monitor()
        mon.probe(lif.v, 6)
        src.run(condition=RunSteps(num_steps=6), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        v = mon.get_data()[lif.name]["v"][:, 0].astype(int).tolist()
        src.stop()
        assert v == [0, 6400, 10398, 12695, 0, 2021], v
        print("ok")
    """)


def test_hashing_wrapper_targets_only_byte_encoder():
    calls = []

    def fake(cls=None, /, **kw):
        calls.append((cls.__qualname__, kw))
        return cls

    wrapper = compat._hashing_dataclass(fake)

    class ByteEncoder:
        pass

    class Other:
        pass

    # Make both look like classes defined at the top of Lava's var_model.
    for cls in (ByteEncoder, Other):
        cls.__module__, cls.__qualname__ = "lava.magma.compiler.var_model", cls.__name__
    wrapper(ByteEncoder)
    wrapper(eq=False)(Other)
    assert calls == [("ByteEncoder", {"unsafe_hash": True}), ("Other", {"eq": False})]


def test_missing_lava_message(monkeypatch):
    monkeypatch.setattr(compat, "lava_available", lambda: False)
    with pytest.raises(ImportError) as err:
        compat.import_lava()
    msg = str(err.value)
    assert "pip install --no-deps --ignore-requires-python lava-nc==0.10.0" in msg
    assert "networkx<=2.8.7" in msg and "asteval" in msg


def test_board_path_says_lava_loihi_is_missing():
    from fpsnn.backends.loihi import board
    from fpsnn.backends.loihi.program import LoihiProgram

    if board.lava_loihi_available():
        pytest.skip("lava-loihi is installed here")
    assert board.available(None) == (False, board.LAVA_LOIHI_HINT)
    program = LoihiProgram(layers=[dict(weights=[[1]])])
    with pytest.raises(ImportError, match="lava-loihi"):
        board.run_lava_board(program, np.zeros((1, 3, 1), np.int8))


@pytest.mark.vendor
def test_import_after_the_start_method_was_fixed():
    """numba's parallel loops fix the multiprocessing start method; Lava's import must survive it."""
    _run("""
        import multiprocessing
        multiprocessing.set_start_method("fork")
        original = multiprocessing.set_start_method
        from fpsnn.backends.loihi import compat
        compat.import_lava()
        assert multiprocessing.set_start_method == original
        from lava.proc.lif.process import LIF   # pulls in the runtime
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import multiprocessing
        multiprocessing.set_start_method("spawn")
        from fpsnn.backends.loihi import compat
        compat.import_lava()
    """)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "needs the 'fork' start method" in out.stderr
