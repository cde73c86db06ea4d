"""No hidden global effects: importing neurolearn changes no process-wide setting, plots never touch pyplot's
state, and numba's cache goes to the user's cache directory when the package folder is read-only."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_importing_every_stage_changes_no_global_setting():
    code = """
import multiprocessing as mp, matplotlib
before = (mp.get_start_method(allow_none=True), matplotlib.get_backend())
import neurolearn.cli, neurolearn.lava.graph, neurolearn.lava.runner, neurolearn.hardware.fit, neurolearn.verify
import neurolearn.sims.learning, neurolearn.train.cli, neurolearn.compile.build
after = (mp.get_start_method(allow_none=True), matplotlib.get_backend())
import sys
assert before == after, (before, after)
assert "lava" not in sys.modules, "Lava is imported only when a Lava backend starts"
"""
    subprocess.run([sys.executable, "-c", code], check=True, env={"MPLBACKEND": "", "PATH": "/usr/bin"})


def test_no_pyplot_in_library_code():
    uses = ("import matplotlib.pyplot", "from matplotlib import pyplot", "matplotlib.use(")
    offenders = [str(p) for p in (ROOT / "neurolearn").rglob("*.py") if any(u in p.read_text() for u in uses)]
    assert not offenders


@pytest.mark.skipif(not (shutil.which("unshare") and shutil.which("mount")), reason="needs unshare(1) and mount(8)")
def test_numba_cache_goes_to_the_user_cache_when_the_package_is_read_only(tmp_path):
    pkg = tmp_path / "site" / "neurolearn"
    shutil.copytree(ROOT / "neurolearn", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    code = ("import numpy as np; from neurolearn.sims.fixed import simulate_fixed; "
            "from neurolearn.ir.plan import LayerPlan, ConnectionPlan, Plan; "
            "L = LayerPlan('a', 2, 0, 0, 1, np.zeros(2, int), np.zeros(2, int)); "
            "p = Plan(1e-3, 'in', 2, (L,), (ConnectionPlan('c', 'in', 'a', np.full((2, 2), 100)),), ('a',)); "
            "print(int(simulate_fixed(p, np.ones((3, 2), np.uint8)).layers['a'].spikes.sum()))")
    script = (f"mount --bind {pkg} {pkg} && mount -o remount,bind,ro {pkg} && "
              f"XDG_CACHE_HOME={cache} PYTHONPATH={pkg.parent} {sys.executable} -c \"{code}\"")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    if "Operation not permitted" in out.stderr or "permission denied" in out.stderr.lower():
        pytest.skip(f"cannot make a read-only mount here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 0
    assert not list(pkg.rglob("*.nbi")), "nothing written into the package"
    assert list(cache.rglob("*.nbi")), "numba's index files are in the user cache"
