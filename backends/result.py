"""What every emulator returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EmulatorResult:
    """Integer spike rasters (and optionally integer state traces) of every layer.

    Attributes:
        spikes: one int array ``(batch, steps, n_l)`` per layer, hidden layers first, output last.
            Entries are spike counts per step (Xylo hidden neurons may emit up to 31 per step).
        state: one dict per layer of integer traces ``(batch, steps, n_l[, n_syn])`` recorded after
            each step (names follow the vendor: "vmem", "isyn" for Xylo; "u", "v" for Loihi), or
            empty dicts when not recorded.
    """

    spikes: list
    state: list = field(default_factory=list)

    def __post_init__(self):
        self.spikes = [np.asarray(s) for s in self.spikes]
