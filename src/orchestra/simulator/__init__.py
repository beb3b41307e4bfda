"""The local simulator: clearly labelled stand-in models for a gateway with no keys.

Used only when no real provider is configured (or ``ORCHESTRA_SIMULATOR=true``). Several
simulated models with different price, latency and accuracy; deterministic for a seed;
their answers to simple arithmetic and factual questions sometimes disagree, so fusion and
debate have something to show locally. Latency and failure rate are configurable, so it
doubles as the upstream for benchmarks and fault-injection tests.

A provider implementation like the HTTP adapters (it speaks
:class:`~orchestra.providers.base.Provider`), kept out of ``providers/`` because it answers
fusion's and debate's prompts, which it recognises by :mod:`orchestra.markers`.
"""

from orchestra.simulator.arithmetic import solve_arithmetic
from orchestra.simulator.engine import SimulatorEngine
from orchestra.simulator.models import LABEL, SIMULATED_MODELS, SimulatedModel
from orchestra.simulator.provider import SimulatorProvider

__all__ = [
    "LABEL",
    "SIMULATED_MODELS",
    "SimulatedModel",
    "SimulatorEngine",
    "SimulatorProvider",
    "solve_arithmetic",
]
