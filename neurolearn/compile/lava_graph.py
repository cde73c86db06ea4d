"""Plan -> Lava process graph: one ``RingBuffer`` input, one ``Dense`` per connection, one ``LIF`` per layer.

Only stock Lava processes are used here. Lava is imported on first use (it is slow to import).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.compile.plan import Plan
from neurolearn.errors import BackendUnavailableError


def import_lava():
    """Import the Lava modules neurolearn uses, or raise BackendUnavailableError saying why."""
    import multiprocessing as mp

    # Lava calls mp.set_start_method('fork') at import and fails if anything (numba's thread
    # launch, for one) already fixed the default 'fork' context: clear it so Lava can set it again.
    if mp.get_start_method(allow_none=True) == "fork":
        mp.set_start_method(None, force=True)
    try:
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.dense.process import Dense
        from lava.proc.io.source import RingBuffer
        from lava.proc.lif.process import LIF
        from lava.proc.monitor.process import Monitor
    except Exception as exc:  # ImportError, or lava failing on an unsupported Python
        raise BackendUnavailableError(
            f"the Lava backend needs lava-nc 0.10.0 on Python 3.10; importing it failed: {exc}") from exc
    return dict(RunSteps=RunSteps, Loihi2SimCfg=Loihi2SimCfg, Dense=Dense, RingBuffer=RingBuffer,
                LIF=LIF, Monitor=Monitor)


@dataclass
class LavaGraph:
    """The processes of one built network, by plan name."""

    source: object
    lifs: dict
    denses: dict


def build_lava_graph(plan: Plan, spikes: np.ndarray) -> LavaGraph:
    """Build the Lava processes for ``plan`` fed by ``spikes`` of shape (steps, n_in).

    Every integer is passed exactly as it stands in the plan (see docs/plan-format.md).
    """
    lava = import_lava()
    source = lava["RingBuffer"](data=np.ascontiguousarray(spikes.T, dtype=np.int32))
    lifs = {
        layer.name: lava["LIF"](
            shape=(layer.size,), du=layer.du, dv=layer.dv, vth=layer.vth,
            bias_mant=layer.bias_mant.astype(np.int32), bias_exp=layer.bias_exp.astype(np.int32),
            name=layer.name)
        for layer in plan.layers
    }
    denses = {}
    for c in plan.connections:
        dense = lava["Dense"](weights=c.weights.astype(np.int32), weight_exp=c.weight_exp,
                              num_weight_bits=c.num_weight_bits, name=c.name)
        src = source if c.source == plan.input_name else lifs[c.source]
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(lifs[c.target].a_in)
        denses[c.name] = dense
    return LavaGraph(source=source, lifs=lifs, denses=denses)
