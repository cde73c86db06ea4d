"""numba's on-disk cache kept in step with all the sources a kernel is compiled from.

numba checks a cached function against its own source file only. neurolearn's kernels (``cache=True``) inline
functions of other files (``dynamics/`` into ``sims/``) and read constants and tables defined elsewhere, so after
a change to one of those files (an upgrade, a checkout, an edit) numba would load machine code compiled from the
old sources: silently wrong arithmetic. Before any kernel is loaded (``neurolearn.dynamics`` runs this on import),
:func:`drop_stale_kernels` compares a digest of every source a kernel can depend on with the digest recorded in
the cache directory of each kernel folder; where they differ it deletes that folder's cached kernels, which numba
then compiles afresh, and records the new digest. Nothing else is touched: no setting, no other package's cache.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
KERNEL_DIRS = ("dynamics", "sims")                  # where numba is used (tests/architecture/test_layering.py)
# every module kernels import (tests/dynamics/test_numba_cache.py checks it): a change elsewhere recompiles nothing
KERNEL_SOURCES = ("errors.py", "ir/plan.py", "ir/program.py", "ir/features.py", "ir/geometry.py", "ir/schedule.py",
                  "ir/burst_network.py", "dynamics", "nir/extension.py", "rules/plugin.py", "rules/engine_numbers.py",
                  "rules/burstprop_spiking.py", "rules/btsp_credit.py", "compile/burst_mapping.py", "sims/fixed.py",
                  "sims/learning.py", "sims/learning_engine.py", "sims/lowering.py", "sims/result.py", "sims/epochs.py",
                  "sims/float_twin.py", "sims/threads.py")
STAMP = "neurolearn-sources.sha256"


def sources_digest(package: Path = PACKAGE, sources=KERNEL_SOURCES) -> str:
    """sha256 over the names and bytes of the .py files of ``sources`` (files or folders of ``package``)."""
    digest = hashlib.sha256()
    for part in sources:
        path = package / part
        for file in sorted([path] if path.is_file() else path.rglob("*.py")):
            digest.update(str(file.relative_to(package)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def kernel_cache_dir(directory: Path) -> Path:
    """The folder numba caches the functions of ``directory`` in, as numba chooses it (``__pycache__`` there if
    writable, else the user's cache folder; NUMBA_CACHE_DIR first): asked for a stand-in function of that folder."""
    from numba.core.caching import FunctionCache

    space: dict = {}
    exec(compile("def stand_in():\n    pass\n", str(directory / "__init__.py"), "exec"), space)
    return Path(FunctionCache(space["stand_in"]).cache_path)


def drop_stale_kernels(package: Path = PACKAGE, kernel_dirs=KERNEL_DIRS, sources=KERNEL_SOURCES) -> list[Path]:
    """Delete the cached kernels (numba's .nbi index and .nbc data files) of each of ``kernel_dirs`` whose cache
    holds no stamp of the current ``sources``, then stamp it; returns the cache folders cleared."""
    digest = sources_digest(package, sources)
    cleared = []
    for name in kernel_dirs:
        try:
            cache = kernel_cache_dir(package / name)
            stamp = cache / STAMP
            if stamp.is_file() and stamp.read_text() == digest:
                continue
            for file in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                file.unlink(missing_ok=True)
            tmp = cache / f"{STAMP}.{os.getpid()}"
            tmp.write_text(digest)
            os.replace(tmp, stamp)
            cleared.append(cache)
        except (OSError, ImportError, AttributeError, RuntimeError) as exc:   # unwritable, or a numba without them
            warnings.warn(f"neurolearn: cannot check numba's cache of {package / name} for kernels compiled from "
                          f"older sources ({type(exc).__name__}: {exc}); delete it by hand after changing neurolearn",
                          RuntimeWarning, stacklevel=2)
    return cleared
