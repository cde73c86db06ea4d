"""Build directories: ``neurolearn compile MODEL.nir -o BUILD`` writes model.nir, plan.json, report.md.

A burst network with registered rules (the NIR extension's two-compartment layers) compiles to a
**learning build**: the same three files, plan.json holding the burst layers and the learning-engine
programs, report.md every approximation, plus schedule.npz when the build carries its training input
(``neurolearn train --on-chip``). ``neurolearn verify BUILD --learning`` runs it in neurolearn and Lava.

A plain build also carries ``run_on_loihi.py`` (:mod:`neurolearn.lava.graph_script`, numpy and Lava only), which
builds the Lava graph of plan.json and runs it on Lava's CPU models or a board, without neurolearn.

A build is written to a temporary directory beside BUILD and moved into place only when complete,
so a failed compile leaves nothing half-written (and an existing BUILD untouched).
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

from neurolearn.atomic import atomic_dir
from neurolearn.compile.lossy import inference_losses, learning_losses, refuse_if_strict
from neurolearn.compile.normalize import to_network
from neurolearn.compile.precheck import check_graph
from neurolearn.compile.quantize import quantize
from neurolearn.compile.report import render_learning_report, render_report
from neurolearn.errors import InputError, NIRFormatError, PlanFormatError, where
from neurolearn.ir.features import missing_features
from neurolearn.ir.limits import check_memory
from neurolearn.ir.network import Network
from neurolearn.ir.plan import Plan
from neurolearn.nir import read
from neurolearn.nir.burst_encoding import is_burst_graph
from neurolearn.nir.extension import block, graph_dt, record_dt
from neurolearn.nir.graph import flatten
from neurolearn.rules.plugin import registered_rules

MODEL, PLAN, REPORT, SCHEDULE = "model.nir", "plan.json", "report.md", "schedule.npz"
RUN_SCRIPT = "run_on_loihi.py"   # neurolearn/lava/graph_script.py: builds and runs plan.json with Lava alone
GRAPH_SCRIPT = Path(__file__).resolve().parents[1] / "lava" / "graph_script.py"   # copied as text: no Lava needed


@dataclass(frozen=True)
class Build:
    """A compiled network: its directory and the Lava plan; the float network it came from on first use."""

    path: Path
    plan: Plan
    compiled_network: Network | None = field(default=None, repr=False)   # known when just compiled
    warnings: tuple[str, ...] = ()   # what the compile lost, one line per kind (compile/lossy.py)

    @cached_property
    def network(self) -> Network | None:
        """The float network the float reference runs, read from model.nir on first use; None where the plan
        uses features a float network does not describe (bursts, learning, ...)."""
        if self.compiled_network is not None or missing_features(self.plan.features(), "float"):
            return self.compiled_network
        graph = read(self.path / MODEL)
        dt = None if "dt" in block(graph) else self.plan.dt  # a foreign file: the dt given at compile time
        return checked_network(graph, dt, str(self.path / MODEL))


def compile_model(model: str | os.PathLike, out: str | os.PathLike, dt: float | None = None,
                  extras: Callable[[Plan, Path], None] | None = None, strict: bool = False) -> Build:
    """Compile a .nir file into the build directory ``out`` (replacing a previous build there).

    ``Build.warnings`` lists what was rounded to zero, saturated or clipped (one line per kind, also in
    report.md); with ``strict`` any of them refuses the build (LossyBuildError, nothing written).

    ``extras(plan, tmp)`` runs before the build is moved into place (e.g. the hardware fit check of
    :func:`neurolearn.hardware.fit.fit_files`): it may add files to ``tmp``, or raise, and then nothing is
    written.
    """
    model, out = Path(model), Path(out)
    graph = read(model)
    rules = registered_rules(block(graph).get("rules", {}), file=str(model))  # bad rules: refused before any work
    if "chip" in block(graph) and not (is_burst_graph(graph) and rules):
        raise NIRFormatError(f"{where(str(model), param='chip')}: how a burst network with learning rules compiles; "
                             "this graph has none (its inference build would ignore the entry): allowed only beside "
                             "burst layers and registered rules")
    if is_burst_graph(graph) and rules:
        from neurolearn.compile.burst_mapping import compile_burst_network
        from neurolearn.nir.burst_encoding import from_nir

        burst_net = from_nir(graph, file=str(model))
        compiled = compile_burst_network(burst_net, file=str(model))
        lost = learning_losses(burst_net, compiled.plan)
        refuse_if_strict(lost, strict, str(model))
        write_learning_build(out, model, compiled.plan, compiled.notes + tuple(f"WARNING {w}" for w in lost),
                             extras=extras)
        return Build(path=out, plan=compiled.plan, warnings=lost)
    net = checked_network(graph, dt, str(model))
    q = quantize(net, file=str(model))
    lost = inference_losses(net, q.plan) + tuple(n for n in q.notes if "SATURATED" in n)
    refuse_if_strict(lost, strict, str(model))
    given = "dt" not in block(graph)   # the file records none: dt came from the caller (--dt)
    report = render_report(net, q, model.name, dt_given=given)
    if lost:
        report += "\n## Warnings (printed by neurolearn compile; --strict refuses them)\n\n" + \
            "".join(f"- {w}\n" for w in lost)
    with _build_dir(out, model, q.plan, report) as tmp:
        if given:
            record_dt(tmp / MODEL, net.dt)   # the build's model.nir carries the dt it was compiled with
        if extras is not None:
            extras(q.plan, tmp)
    return Build(path=out, plan=q.plan, compiled_network=net, warnings=lost)


def checked_network(graph, dt: float | None, file: str) -> Network:
    """The float network of ``graph``, after :func:`neurolearn.compile.precheck.check_graph` has checked every
    value the compiler's arithmetic will meet."""
    dt = graph_dt(graph, dt, file)
    check_graph(flatten(graph, file=file), dt, file)
    return to_network(graph, dt=dt, file=file)


def write_learning_build(out: str | os.PathLike, model: str | os.PathLike, plan: Plan, notes, schedule=None,
                         extras: Callable[[Plan, Path], None] | None = None) -> Path:
    """Write a learning build (model.nir, plan.json, report.md listing ``notes``, schedule.npz if given)
    atomically; returns its path. ``extras``: as for :func:`compile_model`."""
    out = Path(out)
    with _build_dir(out, model, plan, render_learning_report(plan, notes, Path(model).name)) as tmp:
        if schedule is not None:
            schedule.save(tmp / SCHEDULE)
        if extras is not None:
            extras(plan, tmp)
    return out


@contextmanager
def _build_dir(out: Path, model, plan: Plan, report: str):
    """Write model.nir, plan.json and report.md into a temporary directory that replaces ``out`` when the
    block (adding more files to the yielded path) completes; refuses an ``out`` that is not a build."""
    if out.exists() and not (out / PLAN).exists():
        raise InputError(f"{out}: exists and is not a neurolearn build directory; choose another -o")
    with atomic_dir(out) as tmp:
        shutil.copyfile(model, tmp / MODEL)
        (tmp / PLAN).write_text(plan.to_json())
        (tmp / REPORT).write_text(report)
        if not missing_features(plan.features(), "lava"):   # the stock LIF/Dense graph the script builds
            shutil.copyfile(GRAPH_SCRIPT, tmp / RUN_SCRIPT)
        yield tmp


def load_build(path: str | os.PathLike) -> Build:
    """Load a build directory written by :func:`compile_model`."""
    path = Path(path)
    for name in (PLAN, MODEL):
        if not (path / name).is_file():
            raise InputError(f"{path}: not a neurolearn build directory (missing {name}); "
                             "create one with 'neurolearn compile MODEL.nir -o BUILD'")
    file = path / PLAN
    size = file.stat().st_size
    check_memory(20.0 * size, f"{file}: a plan.json of {size} bytes")   # parsed JSON takes ~20x its text
    try:
        text = file.read_bytes().decode("utf8")
    except UnicodeDecodeError as exc:
        raise PlanFormatError(f"{file}: not UTF-8 text (byte {exc.start}); plan.json is JSON") from None
    except OSError as exc:
        raise PlanFormatError(f"{file}: cannot read ({exc.strerror or exc})") from None
    return Build(path=path, plan=Plan.from_json(text, file=str(file)))
