"""Intel's Loihi runtime: is it here, and running a plan on a board through it. Deploying needs Intel's
proprietary runtime (``lava-loihi``, distributed to INRC members) and a reachable board (a SLURM controller,
as Lava itself checks, or an Ethernet host)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np

from neurolearn.ir.plan import Plan
from neurolearn.lava import graph_script
from neurolearn.lava.graph import LAVA_EXTRA, lava_available, lava_missing

RUNTIME_MISSING = ("Intel's Loihi runtime (lava-loihi: lava.utils.loihi2_profiler and the NeuroCore compiler) is not "
                   "installed; Intel distributes it to INRC members")
NO_BOARD = "no Loihi board is reachable: no SLURM controller ('sinfo' not found) and no --host"


@dataclass(frozen=True)
class RuntimeStatus:
    available: bool
    missing: tuple[str, ...]


def runtime_status(host: str | None = None) -> RuntimeStatus:
    """Is Intel's Loihi runtime importable and a board reachable? Checked the way Lava checks."""
    if not lava_available():   # then neither Intel's runtime (a part of the lava package) nor Lava's SLURM check
        missing = [f"{lava_missing()}: deploying needs {LAVA_EXTRA}", RUNTIME_MISSING]
        if host is None and not shutil.which("sinfo"):
            missing.append(NO_BOARD)
        return RuntimeStatus(available=False, missing=tuple(missing))
    from lava.utils import loihi, slurm

    missing = [] if loihi.is_installed() else [RUNTIME_MISSING]
    # Lava's slurm.is_available() runs 'sinfo' and raises where it is not installed: look first.
    if host is None and not (shutil.which("sinfo") and slurm.is_available()):
        missing.append(NO_BOARD)
    return RuntimeStatus(available=not missing, missing=tuple(missing))


def run_on_board(plan: Plan, spikes: np.ndarray, host: str | None, board: str | None) -> dict:  # pragma: no cover
    """Run ``plan`` on a Loihi board (Ethernet ``host``, else SLURM's ``board``) for ``len(spikes)`` steps;
    returns {output layer: spikes (steps, size)}. Needs Intel's runtime and a board."""
    from lava.utils import loihi

    if host:
        loihi.use_ethernet_host(host_address=host)
    else:
        loihi.use_slurm_host(board=board)
    return graph_script.run(plan.to_dict(), spikes, hardware=True, lava=graph_script.import_lava())
