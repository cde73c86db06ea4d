"""One integer and one float step for each model neurolearn owns: the numba functions every backend calls."""
from neurolearn.dynamics.numba_cache import drop_stale_kernels

drop_stale_kernels()   # before any kernel of dynamics/ or sims/ is loaded from numba's cache
