"""Re-export of :mod:`fpsnn.training` under its former name (``from fpsnn.train import Trainer`` keeps working).

The optimizers, the epoch loop, the evaluation, the run files and the trainer now live in the
:mod:`fpsnn.training` package, one concept per module; import from there in new code.
"""
from .training import *  # noqa: F401,F403
from .training import __all__  # noqa: F401
from .training.progress import Progress  # noqa: F401
