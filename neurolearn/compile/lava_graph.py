"""Plan -> Lava process graph: one ``RingBuffer`` input, one ``Dense`` per connection, one ``LIF`` per layer.

Only stock Lava processes are used. The construction itself lives in :mod:`neurolearn.compile.lava_script`
(numpy and Lava only), which deployment bundles carry as their run script.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.compile import lava_script
from neurolearn.compile.plan import Plan
from neurolearn.errors import BackendUnavailableError


def import_lava() -> dict:
    """The Lava classes neurolearn uses, or BackendUnavailableError saying why they are missing."""
    try:
        return lava_script.import_lava()
    except Exception as exc:  # ImportError, or lava failing on an unsupported Python
        raise BackendUnavailableError(
            f"the Lava backend needs lava-nc 0.10.0 on Python 3.10; importing it failed: {exc}") from exc


@dataclass
class LavaGraph:
    """The processes of one built network, by plan name."""

    source: object
    lifs: dict
    denses: dict


def build_lava_graph(plan: Plan, spikes: np.ndarray) -> LavaGraph:
    """Build the Lava processes for ``plan`` fed by ``spikes`` of shape (steps, n_in)."""
    return LavaGraph(*lava_script.build(plan.to_dict(), spikes, import_lava()))
