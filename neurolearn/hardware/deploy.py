"""Deploy a build to Loihi through Lava's Loihi run config, or write a bundle for a machine that can.

Deploying needs Intel's proprietary Loihi runtime (``lava-loihi``, distributed to INRC members) and a
reachable board (a SLURM controller, as Lava itself checks, or an Ethernet host). Where either is
missing nothing is deployed: a self-contained bundle is written instead (model.nir, plan.json,
placement.json, fit report, run_on_loihi.py) and the exact reasons are returned.

Only plans of stock Lava processes (LIF, Dense, Sparse, Conv, delays) are deployed: neurolearn's own
processes (BurstLIF, the teachers, three-factor LearningDense) have CPU models only, no Loihi neuron
microcode or embedded-core C, so learning builds are mapped by ``neurolearn fit`` but refused here.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from neurolearn.atomic import atomic_dir
from neurolearn.compile.build import MODEL, PLAN, REPORT, Build
from neurolearn.errors import InputError, UnsupportedFeatureError
from neurolearn.hardware.fit import FitReport, write_fit_files
from neurolearn.ir.features import missing_features
from neurolearn.ir.plan import Plan
from neurolearn.lava import graph_script

BUNDLE_README = """# neurolearn deployment bundle: {name} on {target}

Nothing here needs neurolearn. On a machine with lava-nc 0.10.0, Intel's lava-loihi and a {target}:

    python run_on_loihi.py . --steps 100 --input spikes.npy -o out.npz

Check it first on any CPU (Lava's bit-accurate models): `python run_on_loihi.py . --cpu --steps 100`.
With neurolearn this directory is also a build: `neurolearn verify .` compares neurolearn's fixed-point
simulator with Lava bit for bit.

- plan.json: the integers given to every Lava process (format: neurolearn docs/plan-format.md)
- placement.json: the core of every neuron chunk (from `neurolearn fit`); fit.txt, fit.png: the fit report
- model.nir: the source network; report.md: every float->fixed conversion
"""


def require_deployable(plan: Plan) -> None:
    """UnsupportedFeatureError, one line, for a plan the bundle's script cannot build from stock Lava processes."""
    beyond = graph_script.beyond_stock_lava(plan.to_dict())
    if beyond:
        fit = "'neurolearn fit BUILD --target loihi2' maps it and "
        fits = "" if missing_features(plan.features(), "loihi") else fit
        raise UnsupportedFeatureError(
            f"deploy: the plan uses {beyond}: neurolearn's processes for them have CPU models only (no Loihi neuron "
            f"microcode or embedded-core C), so nothing was deployed; {fits}'neurolearn simulate BUILD --backend lava' "
            "runs it")


def write_bundle(build: Build, fit: FitReport, out: Path) -> Path:
    """Write the bundle atomically (a temporary directory moved into place)."""
    out = Path(out)
    if out.exists() and not (out / "run_on_loihi.py").exists():
        raise InputError(f"{out}: exists and is not a neurolearn bundle; choose another -o")
    with atomic_dir(out) as tmp:
        for name in (MODEL, PLAN, REPORT):
            shutil.copyfile(build.path / name, tmp / name)
        shutil.copyfile(graph_script.__file__, tmp / "run_on_loihi.py")
        write_fit_files(fit, tmp)
        (tmp / "README.md").write_text(BUNDLE_README.format(name=build.path.name, target=fit.placement.target.name))
    return out
