"""Does a build fit a chip or board? The per-core table, per-chip totals, and what does not fit."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from neurolearn.errors import HardwareFitError
from neurolearn.hardware.description import Target
from neurolearn.hardware.mapper import LayerDemand, Placement, demands_from_plan, map_network
from neurolearn.ir.features import require
from neurolearn.ir.plan import STATE_BITS, Plan


@dataclass(frozen=True)
class FitReport:
    placement: Placement
    problems: tuple[str, ...]  # one line each: resource, layer, needed vs available

    @property
    def fits(self) -> bool:
        return not self.problems


def check_fit(plan: Plan, target: Target) -> FitReport:
    """Map ``plan`` onto ``target`` and list every limit it exceeds (raises for unplaceable layers)."""
    require(plan.features(), "loihi")
    return check_demands(demands_from_plan(plan, target), target)


def check_demands(demands: list[LayerDemand], target: Target) -> FitReport:
    """As :func:`check_fit`, for layer demands (e.g. a network described only by its sizes)."""
    chip = target.chip
    placement = map_network(demands, target)
    problems = []
    if STATE_BITS > chip.state_bits:
        problems.append(f"state: the plan uses {STATE_BITS}-bit u and v; {chip.name} has {chip.state_bits} bits")
    if len(placement.cores) > target.cores:
        problems.append(f"cores: needs {len(placement.cores)}, {target.name} has {target.cores} "
                        f"({target.chips} chip(s) x {chip.cores_per_chip})")
    for core in placement.cores:
        if core.fan_out > chip.axons_out_per_core:
            layers = ", ".join(sorted({k.layer for k in core.chunks}))
            problems.append(f"output axons: core {core.index} (layer {layers}) needs {core.fan_out}, a core has "
                            f"{chip.axons_out_per_core}")
    return FitReport(placement=placement, problems=tuple(problems))


def format_fit(report: FitReport, max_rows: int = 40) -> str:
    p = report.placement
    chip = p.target.chip
    mem = chip.synaptic_memory_bytes_per_core
    head = f"{'core':>5} {'chip':>4} {'neurons':>13} {'synaptic memory (bytes)':>26} {'fan-in':>7} {'fan-out':>8}  layers"
    lines = [f"target: {p.target.name} ({p.target.title}): {p.target.chips} x {chip.name}, "
             f"{p.target.cores} cores", head, "-" * len(head)]
    for core in p.cores[:max_rows]:
        layers = ", ".join(f"{k.layer}[{k.start}:{k.stop}]" for k in core.chunks)
        lines.append(f"{core.index:>5} {core.chip:>4} {core.neurons:>6}/{chip.neurons_per_core:<6} "
                     f"{core.syn_bits // 8:>12}/{mem:<13} {core.fan_in:>7} {core.fan_out:>8}  {layers}")
    if len(p.cores) > max_rows:
        lines.append(f"... {len(p.cores) - max_rows} more cores (all of them in placement.json)")
    lines.append("")
    for c in sorted({core.chip for core in p.cores}):
        mine = [core for core in p.cores if core.chip == c]
        lines.append(f"chip {c}: {len(mine)}/{chip.cores_per_chip} cores, {sum(k.neurons for k in mine)} neurons, "
                     f"{sum(k.syn_bits for k in mine) // 8} bytes of synaptic memory")
    lines.append(f"cores used: {len(p.cores)} (lower bound {p.lower_bound}: total neurons and synaptic memory "
                 "over one core's capacity)")
    if chip.unverified:
        lines.append(f"note: limits with weak public sources ({', '.join(chip.unverified)}): see "
                     f"neurolearn/hardware/descriptions/{chip.name}.json")
    lines.append("fits" if report.fits else "DOES NOT FIT:\n  " + "\n  ".join(report.problems))
    return "\n".join(lines)


def plot_utilization(report: FitReport, path) -> None:
    """PNG: neuron and synaptic-memory utilization of every core (matplotlib's object API: no pyplot state)."""
    from matplotlib.figure import Figure

    p = report.placement
    chip = p.target.chip
    idx = [c.index for c in p.cores]
    fig = Figure(figsize=(max(6, min(20, len(idx) * 0.3)), 3.5), layout="tight")
    ax = fig.subplots()
    width = 0.4
    ax.bar([i - width / 2 for i in idx], [100 * c.neurons / chip.neurons_per_core for c in p.cores], width,
           label="neurons")
    ax.bar([i + width / 2 for i in idx], [100 * c.syn_bits / 8 / chip.synaptic_memory_bytes_per_core for c in p.cores],
           width, label="synaptic memory")
    ax.set_xlabel("core")
    ax.set_ylabel("utilization (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{p.target.name}: {len(p.cores)} cores (lower bound {p.lower_bound})")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100)


def fit_files(target: Target, source: str = ""):
    """For :func:`neurolearn.compile.build.compile_model`'s ``extras``: check that the plan fits ``target``
    (HardwareFitError naming what does not, and nothing is written) and add placement.json, fit.txt and
    fit.png to the build."""
    def extras(plan: Plan, directory: Path) -> None:
        fit = check_fit(plan, target)
        if not fit.fits:
            raise HardwareFitError(f"{source or 'network'}: does not fit {target.name}: " + "; ".join(fit.problems))
        write_fit_files(fit, directory)

    return extras


def write_fit_files(fit: FitReport, directory: Path) -> None:
    """placement.json (the core of every neuron chunk), fit.txt (the whole table) and fit.png in ``directory``."""
    (directory / "placement.json").write_text(json.dumps(fit.placement.to_dict(), indent=1))
    (directory / "fit.txt").write_text(format_fit(fit, max_rows=10**9) + "\n")
    plot_utilization(fit, directory / "fit.png")
