"""fpsnn: exact-gradient (Forward Propagation) training of spiking networks, deployed to chips."""
from .network import Network
from . import losses
from .simulate import SimulationResult, simulate
from .gradients import jacobian, value_and_grad

__version__ = "0.1.0"
__all__ = ["Network", "losses", "simulate", "SimulationResult", "value_and_grad", "jacobian"]
