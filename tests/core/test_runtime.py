"""fpsnn.runtime's process settings: made at import unless the user chose, switched off by
FPSNN_TUNE_RUNTIME=0, and never overriding the user's own OMP_WAIT_POLICY or MALLOC_* tuning.

Each case imports fpsnn in a fresh interpreter: the settings are made once per process, at import.
"""
import json
import os
import platform
import subprocess
import sys

import pytest

PROBE = "import json, fpsnn.kernels as K, os; print(json.dumps([K.RUNTIME, os.environ.get('OMP_WAIT_POLICY')]))"


def _runtime(**env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "FPSNN_TUNE_RUNTIME") and not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defaults_are_set_at_import():
    runtime, policy = _runtime()
    assert policy == "PASSIVE" and runtime["omp_wait_policy"] == "PASSIVE"
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert runtime["keep_freed_memory"] is glibc


def test_the_users_choices_are_kept():
    runtime, policy = _runtime(OMP_WAIT_POLICY="ACTIVE", MALLOC_ARENA_MAX="2")
    assert policy == "ACTIVE" and runtime == {"omp_wait_policy": "ACTIVE", "keep_freed_memory": False}


def test_switched_off():
    runtime, policy = _runtime(FPSNN_TUNE_RUNTIME="0")
    assert policy is None and runtime == {"omp_wait_policy": None, "keep_freed_memory": False}


@pytest.mark.parametrize("batch", [1, 64])
def test_results_do_not_depend_on_the_settings(batch, tmp_path):
    """Same spike times and gradient bits with the settings on and off (they change speed only)."""
    code = ("import numpy as np, fpsnn; rng = np.random.default_rng(0); "
            "net = fpsnn.Network(weights=[rng.normal(1.5, 0.8, (5, 20)), rng.normal(2.0, 0.1, (20, 3))], "
            "alpha=0.999, beta=1.0, theta=1.0, t_max=2.0); "
            f"x = rng.uniform(0.1, 1.9, ({batch}, 5)); "
            f"loss = fpsnn.losses.FirstSpikeCrossEntropy(rng.integers(0, 3, {batch})); "
            "v, g = net.value_and_grad(x, loss); "
            "print(repr(v), np.concatenate([w.ravel() for w in g['weights']]).tobytes().hex()[:4000])")
    base = {k: v for k, v in os.environ.items() if k != "FPSNN_TUNE_RUNTIME"}
    runs = [subprocess.run([sys.executable, "-c", code], env={**base, "FPSNN_TUNE_RUNTIME": flag},
                           capture_output=True, text=True, check=True, timeout=300).stdout for flag in ("1", "0")]
    assert runs[0] == runs[1]


def test_next_task_hands_out_every_task_once():
    """The batch loops' task hand-out: every number below the task count goes to exactly one thread,
    and a thread held up on one task does not hold back the rest (the others take them over)."""
    import numba
    import numpy as np
    from numba import njit, prange

    from fpsnn.runtime import next_task

    @njit(parallel=True)
    def hand_out(n_tasks, n_threads, slow_task):
        taken = np.zeros(n_tasks, dtype=np.int64)
        thread_of = np.full(n_tasks, -1, dtype=np.int64)
        counter = np.zeros(1, dtype=np.int64)
        for _ in prange(n_threads):
            t = next_task(counter)
            while t < n_tasks:
                taken[t] += 1
                thread_of[t] = numba.get_thread_id()
                if t == slow_task:  # one long task: the other thread must do everything else meanwhile
                    acc = 0.0
                    for k in range(200_000_000):
                        acc += k * 1e-12
                    taken[t] += acc < -1.0
                t = next_task(counter)
        return taken, thread_of

    taken, _ = hand_out(10_000, numba.get_num_threads(), -1)
    assert np.all(taken == 1)
    if numba.get_num_threads() >= 2:
        taken, thread_of = hand_out(200, 2, 0)
        assert np.all(taken == 1)
        # static halves would give task 0's thread tasks 0-99; handed out one at a time, the other
        # thread takes (nearly) all of them while task 0 runs
        assert np.sum(thread_of == thread_of[0]) < 50
