"""Deprecated alias of :mod:`fpsnn.finetune` (kept for one release): ``fpsnn.hil.X`` is ``fpsnn.finetune.X``.

One change: :func:`fpsnn.finetune.chip_network` takes the target that compiled the program as a third
argument (``chip_network(program, shadow, "xylo-audio2")``), since only the chip's backend knows its
programs.
"""
from .backends._deprecated import alias

alias(__name__, "fpsnn.finetune")
