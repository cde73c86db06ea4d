"""Does a build fit a chip or board? The per-core table, per-chip totals, and what does not fit."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from neurolearn.errors import HardwareFitError
from neurolearn.hardware.description import Target
from neurolearn.hardware.mapper import (
    LIF_STATE,
    NEURON_STATE,
    LayerDemand,
    LearningCost,
    Placement,
    demands_from_plan,
    map_network,
    neuron_model,
    state_words,
)
from neurolearn.ir.features import require
from neurolearn.ir.plan import STATE_BITS, ClassTeacherPlan, Plan


@dataclass(frozen=True)
class FitReport:
    placement: Placement
    problems: tuple[str, ...]  # one line each: resource, layer, needed vs available
    notes: tuple[str, ...] = ()   # learning resources, custom neuron models, where a teacher runs: one line each

    @property
    def fits(self) -> bool:
        return not self.problems


def check_fit(plan: Plan, target: Target) -> FitReport:
    """Map ``plan`` onto ``target`` and list every limit it exceeds (raises for unplaceable layers)."""
    require(plan.features(), "loihi")
    report = check_demands(demands_from_plan(plan, target), target)
    chip = target.chip
    rules = [f"learning rule: connection '{name}' {z} has {len(products)} products; a {chip.name} rule has at most "
             f"{chip.max_rule_terms}" for name, rule in plan.learning.items()
             for z, products in rule.program.products.items() if len(products) > chip.max_rule_terms]
    return replace(report, problems=report.problems + tuple(rules), notes=plan_notes(plan, report.placement))


def plan_notes(plan: Plan, placement: Placement) -> tuple[str, ...]:
    """One line per learning connection (synapses, bytes, traces, rule products), for the burst layers'
    custom neuron model and for the teacher (the embedded core it runs on)."""
    chip = placement.target.chip
    cores = {}   # layer -> cores holding part of it
    for core in placement.cores:
        for k in core.chunks:
            cores.setdefault(k.layer, []).append(core)
    notes = []
    for c in plan.connections:
        rule = plan.learning.get(c.name)
        if rule is None:
            continue
        cost, (n_post, n_pre), k = LearningCost.of(rule, chip), c.weights.shape, len(cores[c.target])
        traces = k * n_pre * cost.pre_trace_bits + n_post * cost.post_trace_bits
        products = ", ".join(f"{z} {len(ps)}" for z, ps in rule.program.products.items())
        notes.append(f"learning '{c.name}': {n_post * n_pre} synapses x {cost.synapse_bits} bits (weight "
                     f"{cost.weight_bits} + tags {cost.tag_bits}) = {n_post * n_pre * cost.synapse_bits // 8} bytes; "
                     f"traces {n_pre} x {cost.pre_trace_bits} bits on each of {k} core(s) + {n_post} x "
                     f"{cost.post_trace_bits} bits = {traces // 8} bytes; rule products {products} (at most "
                     f"{chip.max_rule_terms})")
    for model in [m for m in NEURON_STATE if m != "LIF"]:
        bursts = [layer for layer in plan.layers if neuron_model(layer) == model]
        if not bursts:
            continue
        state = NEURON_STATE[model]
        words = state_words(state.values(), chip.state_word_bits)
        n = sum(layer.size for layer in bursts)
        notes.append(f"custom neuron model {model} ({', '.join(layer.name for layer in bursts)}): {n} neurons x "
                     f"{words} state words of {chip.state_word_bits} bits ({', '.join(state)}) = {n * words} "
                     f"words; a LIF neuron takes {state_words(LIF_STATE.values(), chip.state_word_bits)}")
    t = plan.teacher
    if t is not None:
        what = f"class teacher ({t.classes} classes)" if isinstance(t, ClassTeacherPlan) else "band teacher"
        notes.append(f"{what}: on an embedded core of chip {cores[t.layer][0].chip} ({chip.embedded_cores_per_chip} "
                     f"per {chip.name}), beside layer '{t.layer}' whose events it counts; it gates the input's "
                     "teacher channels")
    return tuple(notes)


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
    mem, words = chip.synaptic_memory_bytes_per_core, chip.neuron_state_words_per_core
    head = (f"{'core':>5} {'chip':>4} {'neurons':>13} {'memory (bytes)':>15} {'traces':>7} {'state words':>13} "
            f"{'learning syn':>12} {'fan-in':>7} {'fan-out':>8}  layers")
    lines = [f"target: {p.target.name} ({p.target.title}): {p.target.chips} x {chip.name}, "
             f"{p.target.cores} cores", head, "-" * len(head)]
    for core in p.cores[:max_rows]:
        layers = ", ".join(f"{k.layer}[{k.start}:{k.stop}]" for k in core.chunks)
        lines.append(f"{core.index:>5} {core.chip:>4} {core.neurons:>6}/{chip.neurons_per_core:<6} "
                     f"{core.memory_bits // 8:>7}/{mem:<7} {core.trace_bits // 8:>7} {core.state_words:>6}/{words:<6} "
                     f"{core.learning_synapses:>12} {core.fan_in:>7} {core.fan_out:>8}  {layers}")
    if len(p.cores) > max_rows:
        lines.append(f"... {len(p.cores) - max_rows} more cores (all of them in placement.json)")
    lines.append("")
    for c in sorted({core.chip for core in p.cores}):
        mine = [core for core in p.cores if core.chip == c]
        lines.append(f"chip {c}: {len(mine)}/{chip.cores_per_chip} cores, {sum(k.neurons for k in mine)} neurons, "
                     f"{sum(k.memory_bits for k in mine) // 8} bytes of memory ({sum(k.trace_bits for k in mine) // 8} "
                     f"of traces), {sum(k.state_words for k in mine)} neuron state words, "
                     f"{sum(k.learning_synapses for k in mine)} learning synapses")
    lines.append(f"cores used: {len(p.cores)} (lower bound {p.lower_bound}: total neurons, memory, output axons and "
                 "neuron state over one core's capacity)")
    lines += report.notes
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
    ax.bar([i + width / 2 for i in idx], [100 * c.memory_bits / 8 / chip.synaptic_memory_bytes_per_core
                                          for c in p.cores], width, label="memory (synapses, traces)")
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
