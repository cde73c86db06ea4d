"""How many threads neurolearn's numba kernels use (the simulators' parallel loops)."""
from __future__ import annotations


def set_kernel_threads(n: int) -> int:
    """Let the numba kernels use ``n`` threads (at most NUMBA_NUM_THREADS, the pool numba started with);
    returns the count before, to restore it."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return before
