"""No bit-accurate emulator for DYNAP-SE2, on purpose.

Xylo and Loihi 2 compute with integers, so an integer model can reproduce them spike for spike. The
DYNAP-SE2 computes with subthreshold analog currents: every circuit differs from its neighbours
(mismatch), and its dynamics are continuous, so no integer model can be bit-accurate. Its simulator is
Rockpool's DynapSim (:mod:`.vendor`, engine ``"vendor"``): a forward-Euler model of the circuits, with
the chip's mismatch as an option (:mod:`.mismatch`).
"""
from __future__ import annotations

__all__ = ["NO_EMULATOR"]

#: Why engine "emulator" is unavailable on this family (``DynapseBackend.available("emulator")``).
NO_EMULATOR = ("DYNAP-SE2 is analog: no bit-accurate emulator exists; Rockpool's DynapSim "
               "(engine 'vendor') is its simulator")
