"""The Xylo emulator against SynSense's xylosim: identical event counts and integer states.

xylosim (``pip install fpsnn[xylo]``) is the reference; without it the comparisons skip with that
reason, the error tests still run.
"""
import numpy as np
import pytest

from fpsnn.backends.xylo import emulator
from fpsnn.backends.xylo.program import LIMITS, XyloProgram

N_RANDOM = 160  # randomized programs compared with xylosim (v1 and v2)


def _xylosim():
    pytest.importorskip("xylosim.v2", reason="xylosim not installed: pip install xylosim==0.1.3")
    from fpsnn.backends.xylo.vendor import run_xylosim

    return run_xylosim


def _mismatch(a, b):
    """'' when two EmulatorResults agree in every spike count and state entry, else where they differ."""
    for l, (x, y) in enumerate(zip(a.spikes, b.spikes)):
        if x.shape != y.shape or not np.array_equal(x, y):
            return f"spikes[{l}] differ at {np.argwhere(x != y)[:3].tolist()}"
    for l, (sa, sb) in enumerate(zip(a.state, b.state)):
        for key in ("vmem", "isyn"):
            x, y = sa[key], sb[key]
            if x.shape != y.shape or not np.array_equal(x, y):
                where = np.argwhere(x != y)[:1].tolist() if x.shape == y.shape else (x.shape, y.shape)
                return f"state[{l}][{key!r}] differs at {where}"
    return ""


def _random_case(rng, version):
    """A random program within chip limits and a random input raster (multi-event, beyond 15)."""
    n_in, n_h, n_o = int(rng.integers(1, 17)), int(rng.integers(1, 48)), int(rng.integers(1, 9))
    n_syn = int(rng.integers(1, 3))
    density = rng.choice([0.1, 0.5, 1.0])
    # mixture of small and full-range weights so both the linear regime and saturation occur
    amp = rng.choice([8, 32, 128])

    def weights(shape):
        w = rng.integers(-amp, amp, size=shape)
        return np.where(rng.random(shape) < density, w, 0)

    w_in = weights((n_in, n_h, n_syn)) if (n_syn == 2 or rng.random() < 0.5) else weights((n_in, n_h))
    n_syn = 1 if w_in.ndim == 2 else n_syn
    w_rec = None
    if rng.random() < 0.7:
        w_rec = weights((n_h, n_h) if rng.random() < 0.5 else (n_h, n_h, n_syn))
    thr_scale = rng.choice([1, 16, 256])
    thr = rng.integers(1, 32768, n_h) // thr_scale
    thr[rng.random(n_h) < 0.05] = rng.integers(-3, 1)  # thresholds <= 0 fire every step
    bias = bias_out = None
    if version == 2 and rng.random() < 0.6:
        bias = rng.integers(-32768, 32768, n_h) // rng.choice([1, 64, 4096])
        bias_out = rng.integers(-500, 500, n_o)
    aliases = None
    if rng.random() < 0.4:
        aliases = [list(rng.choice(n_h, size=int(rng.integers(1, 3)), replace=False)) if rng.random() < 0.3 else []
                   for _ in range(n_h)]
    prog = XyloProgram(
        weights_in=w_in, weights_rec=w_rec, weights_out=weights((n_h, n_o)),
        dash_mem=rng.integers(0, 16, n_h), dash_syn=rng.integers(0, 16, n_h),
        dash_syn_2=rng.integers(0, 16, n_h) if n_syn == 2 else None,
        dash_mem_out=rng.integers(0, 16, n_o), dash_syn_out=rng.integers(0, 16, n_o),
        threshold=thr, threshold_out=rng.integers(1, 32768, n_o) // thr_scale,
        bias=bias, bias_out=bias_out,
        weight_shift_inp=int(rng.integers(0, 9)), weight_shift_rec=int(rng.integers(0, 9)),
        weight_shift_out=int(rng.integers(0, 9)), aliases=aliases, version=version)
    rate = rng.choice([0.05, 0.5, 4.0, 20.0])
    raster = rng.poisson(rate, size=(int(rng.integers(1, 4)), int(rng.integers(1, 50)), n_in))
    raster[rng.random(raster.shape) < 0.002] = 200  # far beyond the 15-event clip
    return prog, raster


@pytest.fixture(scope="module")
def random_runs():
    run_xylosim = _xylosim()
    rng = np.random.default_rng(20240611)
    runs = []
    for k in range(N_RANDOM):
        prog, raster = _random_case(rng, version=1 if k % 4 == 0 else 2)
        runs.append((prog, raster, emulator.run(prog, raster, record=True), run_xylosim(prog, raster, record=True)))
    return runs


@pytest.mark.vendor
def test_emulator_matches_xylosim_on_random_programs(random_runs):
    bad = [f"case {k} (v{p.version}): {m}" for k, (p, r, a, b) in enumerate(random_runs) if (m := _mismatch(a, b))]
    assert not bad, "\n".join(bad)
    assert len(random_runs) >= 100


@pytest.mark.vendor
def test_random_programs_cover_the_corner_cases(random_runs):
    """The identity above is only evidence where the cases exercised the arithmetic's corners."""
    seen = dict.fromkeys(["v1", "v2", "bias", "aliases", "recurrent", "two synapses", "input > 15",
                          "isyn saturated", "vmem saturated high", "vmem at -32768", "hidden count > 1",
                          "hidden count 31", "output events", "threshold <= 0"], 0)
    dashes, shifts = set(), set()
    for p, r, a, _ in random_runs:
        seen["v1"] += p.version == 1
        seen["v2"] += p.version == 2
        seen["bias"] += p.has_bias
        seen["aliases"] += p.aliases is not None and any(p.aliases)
        seen["recurrent"] += p.weights_rec is not None and bool(np.any(p.weights_rec))
        seen["two synapses"] += p.n_syn == 2
        seen["input > 15"] += bool(np.any(r > 15))
        seen["isyn saturated"] += bool(np.any(np.abs(a.state[0]["isyn"].astype(int)) >= 32767))
        seen["vmem saturated high"] += bool(np.any(a.state[0]["vmem"] == 32767))
        seen["vmem at -32768"] += bool(np.any(a.state[0]["vmem"] == -32768))
        seen["hidden count > 1"] += bool(np.any(a.spikes[0] > 1))
        seen["hidden count 31"] += bool(np.any(a.spikes[0] == 31))
        seen["output events"] += bool(np.any(a.spikes[1]))
        seen["threshold <= 0"] += bool(np.any(p.threshold <= 0))
        dashes |= set(p.dash_mem.tolist()) | set(p.dash_syn.tolist()) | set(p.dash_mem_out.tolist())
        shifts |= {p.weight_shift_inp, p.weight_shift_rec, p.weight_shift_out}
    assert all(v >= 3 for v in seen.values()), seen
    assert dashes == set(range(16)) and shifts == set(range(9))


# ------------------------------------------------------------------ directed cases (hardware.md 1)
def _single(dash_mem=4, dash_syn=4, threshold=32767, bias=None, w=1, shift=0, version=2, dash_mem_out=4):
    """One input -> one hidden -> one output."""
    return XyloProgram(weights_in=[[w]], weights_rec=None, weights_out=[[1]], dash_mem=dash_mem,
                       dash_syn=dash_syn, dash_syn_2=None, dash_mem_out=dash_mem_out, dash_syn_out=4,
                       threshold=threshold, threshold_out=32767, bias=bias, weight_shift_inp=shift,
                       version=version)


def _both(prog, raster):
    """Run emulator and xylosim, assert they agree, return the emulator's result."""
    a = prog.run(raster, record=True)
    assert _mismatch(a, _xylosim()(prog, raster, record=True)) == ""
    return a


@pytest.mark.vendor
def test_bitshift_decay_and_its_minimum_step():
    # +17 with dash 4 -> 16, 15 (x>>4 = 1); -17 -> -15, -14 (floor shifts: -17>>4 = -2)
    raster = np.zeros((1, 3, 1), int)
    raster[0, 0, 0] = 1
    pos = _both(_single(w=17, dash_mem=0), raster).state[0]["isyn"][0, :, 0, 0]
    neg = _both(_single(w=-17, dash_mem=0), raster).state[0]["isyn"][0, :, 0, 0]
    assert pos.tolist() == [16, 15, 14] and neg.tolist() == [-15, -14, -13]
    # dash 1: +100 -> 50, 25, 13 and -100 -> -50, -25, -12 (the rounding differs by sign)
    pos = _both(_single(w=100, dash_syn=1, dash_mem=0), raster).state[0]["isyn"][0, :, 0, 0]
    neg = _both(_single(w=-100, dash_syn=1, dash_mem=0), raster).state[0]["isyn"][0, :, 0, 0]
    assert pos.tolist() == [50, 25, 13] and neg.tolist() == [-50, -25, -12]


@pytest.mark.vendor
def test_dash_syn_zero_erases_input_and_bias_integrates_with_minimum_decay():
    raster = np.ones((1, 4, 1), int)
    a = _both(_single(w=100, dash_syn=0, dash_mem=4, bias=5), raster)
    assert a.state[0]["isyn"][0, :, 0, 0].tolist() == [0, 0, 0, 0]
    assert a.state[0]["vmem"][0, :, 0].tolist() == [5, 9, 13, 17]


@pytest.mark.vendor
def test_thirty_one_events_per_step_with_surplus_kept():
    raster = np.zeros((1, 2, 1), int)
    raster[0, 0, 0] = 1
    # I = 127 << 7 = 16256 after one event; dash_syn 15 removes 0 -> minimum 1; threshold 1
    a = _both(_single(w=127, shift=7, dash_syn=15, threshold=1, dash_mem=15), raster)
    assert a.spikes[0][0, 0, 0] == 31
    assert a.state[0]["vmem"][0, 0, 0] == 16255 - 31


@pytest.mark.vendor
def test_input_counts_clip_at_fifteen_and_hidden_to_output_is_one_step_late():
    raster = np.zeros((1, 3, 1), int)
    raster[0, 0, 0] = 40
    a = _both(_single(w=1, dash_syn=15, dash_mem=15, threshold=1), raster)
    assert a.state[0]["isyn"][0, 0, 0, 0] == 15 - 1       # 15 events, then the minimum decay
    assert a.spikes[0][0, 0, 0] > 0                    # hidden fires in step 0 ...
    assert a.state[1]["isyn"][0, 0, 0, 0] == 0            # ... the output receives nothing in step 0
    assert a.state[1]["isyn"][0, 1, 0, 0] != 0            # ... and its events in step 1


@pytest.mark.vendor
def test_vmem_stuck_at_minimum_with_dash_mem_zero_in_v2_only():
    # input 0 drives V to -32768; in v2 with dash_mem 0, -decay(-32768) wraps to -32768, so even the
    # largest positive current (input 1, step 2) cannot lift V; v1 decays V first and recovers
    raster = np.zeros((1, 3, 2), int)
    raster[0, 0, 0] = 15
    raster[0, 2, 1] = 15

    def prog(version, bias):
        return XyloProgram(weights_in=[[-128], [127]], weights_rec=None, weights_out=[[1]], dash_mem=0,
                           dash_syn=15, dash_syn_2=None, dash_mem_out=4, dash_syn_out=4, threshold=32767,
                           threshold_out=32767, bias=bias, weight_shift_inp=8, version=version)

    v2 = _both(prog(2, -1), raster).state[0]
    assert v2["isyn"][0, 2, 0, 0] == 32766
    assert v2["vmem"][0, :, 0].tolist() == [-32768, -32768, -32768]
    v1 = _both(prog(1, None), raster).state[0]
    assert v1["vmem"][0, :, 0].tolist() == [-32767, -32766, 32766]


@pytest.mark.vendor
def test_aliases_share_events_within_the_step():
    prog = XyloProgram(weights_in=[[100, 0, 0]], weights_rec=None, weights_out=np.ones((3, 1), int),
                       dash_mem=15, dash_syn=15, dash_syn_2=None, dash_mem_out=4, dash_syn_out=4,
                       threshold=[10, 32767, 32767], threshold_out=32767, aliases=[[1, 2], [], []])
    a = _both(prog, np.ones((1, 2, 1), int))
    assert a.spikes[0][0, 0].tolist() == [9, 9, 9]


@pytest.mark.vendor
def test_large_batch_split_over_threads_matches_xylosim():
    rng = np.random.default_rng(11)
    prog, _ = _random_case(rng, 2)
    raster = rng.poisson(2.0, size=(64, 20, prog.n_in))
    assert _mismatch(prog.run(raster, record=True), _xylosim()(prog, raster, record=True)) == ""


def test_batch_samples_are_independent_and_2d_raster_is_one_sample():
    rng = np.random.default_rng(3)
    prog, raster = _random_case(rng, 2)
    full = prog.run(raster)
    for b in range(raster.shape[0]):
        one = prog.run(raster[b])
        assert np.array_equal(one.spikes[0][0], full.spikes[0][b])
        assert np.array_equal(one.spikes[1][0], full.spikes[1][b])
    assert full.state == [{}, {}]


# ------------------------------------------------------------------ bad programs and inputs
def _kwargs(**over):
    base = dict(weights_in=np.zeros((2, 3, 2), int), weights_rec=None, weights_out=np.zeros((3, 1), int),
                dash_mem=1, dash_syn=1, dash_syn_2=1, dash_mem_out=1, dash_syn_out=1,
                threshold=10, threshold_out=10)
    base.update(over)
    return base


@pytest.mark.parametrize("over, words", [
    (dict(weights_in=np.full((2, 3, 2), 128)), ["weights_in", "128", "127"]),
    (dict(weights_out=np.full((3, 1), -129)), ["weights_out", "-129", "-128"]),
    (dict(weights_in=np.zeros((2, 3, 3), int)), ["weights_in", "1 or 2"]),
    (dict(weights_rec=np.zeros((3, 2), int)), ["weights_rec", "shape"]),
    (dict(weights_out=np.zeros((4, 1), int)), ["weights_out", "shape"]),
    (dict(dash_mem=16), ["dash_mem", "16", "15"]),
    (dict(dash_syn=[1, 2]), ["dash_syn", "(3,)"]),
    (dict(dash_syn_out=-1), ["dash_syn_out", "-1"]),
    (dict(dash_syn_2=None), ["dash_syn_2", "required"]),
    (dict(weights_in=np.zeros((2, 3), int)), ["dash_syn_2", "None"]),
    (dict(threshold=40000), ["threshold", "40000", "32767"]),
    (dict(bias=[0, 0, -40000]), ["bias", "-40000", "-32768"]),
    (dict(weight_shift_inp=9), ["weight_shift_inp", "9", "8"]),
    (dict(weight_shift_out=-1), ["weight_shift_out", "-1"]),
    (dict(aliases=[[3], [], []]), ["aliases[0]", "3", "2"]),
    (dict(aliases=[[]]), ["aliases", "3"]),
    (dict(version=3), ["version", "3"]),
    (dict(version=1, bias=[1, 0, 0]), ["bias", "v1"]),
    (dict(weights_in=np.full((2, 3, 2), 0.5)), ["weights_in", "integer"]),
    (dict(dt=0.0), ["dt"]),
])
def test_bad_program_names_argument_and_limit(over, words):
    with pytest.raises(ValueError) as exc:
        XyloProgram(**_kwargs(**over))
    assert all(w in str(exc.value) for w in words), str(exc.value)


@pytest.mark.parametrize("raster, words", [
    (np.zeros((1, 4, 3), int), ["raster", "(batch, steps >= 1, 2)"]),
    (np.zeros((1, 0, 2), int), ["raster", "steps >= 1"]),
    (-np.ones((1, 4, 2), int), ["raster", "-1", ">= 0"]),
    (np.full((1, 4, 2), 0.5), ["raster", "integer"]),
])
def test_bad_raster_names_argument(raster, words):
    prog = XyloProgram(**_kwargs())
    with pytest.raises(ValueError) as exc:
        prog.run(raster)
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_limits_table_matches_the_chip_files():
    from fpsnn.backends import chips

    for name in ("xylo-audio2", "xylo-imu", "xylo-audio3"):
        d = chips.load(name)
        assert d.weight_range == LIMITS["weight"]
        assert d.threshold_range == LIMITS["threshold"]
        assert (d.decay_min, d.decay_max) == LIMITS["dash"]
        assert d.weight_shift_max == LIMITS["weight_shift"][1]
        assert (d.max_input_events, d.max_hidden_events, d.max_output_events) == (
            LIMITS["input_events"], LIMITS["hidden_events"], LIMITS["output_events"])
