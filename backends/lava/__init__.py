"""Deprecated: the Loihi family lives in :mod:`fpsnn.backends.loihi`; these modules are aliases (one release).

``fpsnn.backends.lava.mapping`` / ``sim`` / ``compat`` / ``backend`` are the modules
``fpsnn.backends.loihi.mapping`` / ``vendor`` / ``compat`` / ``backend``. ``run_lava_board`` moved to
``fpsnn.backends.loihi.board``.
"""
import warnings

warnings.warn("fpsnn.backends.lava is deprecated: import fpsnn.backends.loihi instead", DeprecationWarning,
              stacklevel=2)
