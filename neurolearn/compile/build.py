"""Build directories: ``neurolearn compile MODEL.nir -o BUILD`` writes model.nir, plan.json, report.md.

A build is written to a temporary directory beside BUILD and moved into place only when complete,
so a failed compile leaves nothing half-written (and an existing BUILD untouched).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from neurolearn.atomic import atomic_dir
from neurolearn.compile.network import Network
from neurolearn.compile.normalize import to_network
from neurolearn.compile.plan import Plan
from neurolearn.compile.quantize import quantize
from neurolearn.compile.report import render_report
from neurolearn.errors import InputError
from neurolearn.nir import read
from neurolearn.nir.extension import block

MODEL, PLAN, REPORT = "model.nir", "plan.json", "report.md"


@dataclass(frozen=True)
class Build:
    """A compiled network: the float network it came from and the Lava plan."""

    path: Path
    network: Network
    plan: Plan


def compile_model(model: str | os.PathLike, out: str | os.PathLike, dt: float | None = None,
                  target=None) -> Build:
    """Compile a .nir file into the build directory ``out`` (replacing a previous build there).

    With a hardware ``target`` (:func:`neurolearn.hardware.description.load_target`) the fit check
    runs too: a network that does not fit raises HardwareFitError and writes nothing; one that fits
    gets placement.json, fit.txt and fit.png in the build.
    """
    model, out = Path(model), Path(out)
    graph = read(model)
    net = to_network(graph, dt=dt, file=str(model))
    q = quantize(net, file=str(model))
    fit = None
    if target is not None:
        from neurolearn.errors import HardwareFitError
        from neurolearn.hardware.fit import check_fit

        fit = check_fit(q.plan, target)
        if not fit.fits:
            raise HardwareFitError(f"{model}: does not fit {target.name}: " + "; ".join(fit.problems))
    if out.exists() and not (out / PLAN).exists():
        raise InputError(f"{out}: exists and is not a neurolearn build directory; choose another -o")
    with atomic_dir(out) as tmp:
        shutil.copyfile(model, tmp / MODEL)
        (tmp / PLAN).write_text(q.plan.to_json())
        (tmp / REPORT).write_text(render_report(net, q, model.name))
        if fit is not None:
            from neurolearn.hardware.fit import format_fit, plot_utilization

            (tmp / "placement.json").write_text(json.dumps(fit.placement.to_dict(), indent=1))
            (tmp / "fit.txt").write_text(format_fit(fit, max_rows=10**9) + "\n")
            plot_utilization(fit, tmp / "fit.png")
    return Build(path=out, network=net, plan=q.plan)


def load_build(path: str | os.PathLike) -> Build:
    """Load a build directory written by :func:`compile_model`."""
    path = Path(path)
    for name in (PLAN, MODEL):
        if not (path / name).is_file():
            raise InputError(f"{path}: not a neurolearn build directory (missing {name}); "
                             "create one with 'neurolearn compile MODEL.nir -o BUILD'")
    try:
        plan = Plan.from_json((path / PLAN).read_text(), file=str(path / PLAN))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path / PLAN}: unreadable plan ({exc})") from exc
    graph = read(path / MODEL)
    dt = None if "dt" in block(graph) else plan.dt  # a foreign file: the dt given at compile time
    return Build(path=path, network=to_network(graph, dt=dt, file=str(path / MODEL)), plan=plan)
