"""Local Ray for the sweep tests: 2 CPUs, no dashboard, started once and shut down at the end."""
import pytest


@pytest.fixture(scope="session")
def ray_local():
    ray = pytest.importorskip("ray", reason="the `ray` extra is not installed (pip install 'fpsnn[ray]')")
    from fpsnn.distributed import connect

    started = not ray.is_initialized()
    connect(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()
