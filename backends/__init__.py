"""Deployment targets for fpsnn networks (shipped as ``fpsnn.backends``).

Nothing here imports a vendor package (lava, rockpool, xylosim, samna, jax) at import time: each
adapter imports its vendor code only when it is asked to run.
"""
