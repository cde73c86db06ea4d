"""report.md: what the compiler did to each parameter, in words a user can check."""
from __future__ import annotations

import numpy as np

from neurolearn.compile.quantize import QuantizationResult
from neurolearn.ir.network import Network
from neurolearn.ir.plan import Plan


def render_report(net: Network, q: QuantizationResult, source: str, dt_given: bool = False) -> str:
    """``dt_given``: the file records no dt; it was given at compile time (--dt) and written into the build's
    model.nir."""
    plan = q.plan
    origin = ("given with --dt (the file records none; the build's model.nir now records it)" if dt_given else
              "recorded in the file")
    lines = [
        f"# neurolearn compile report: `{source}`",
        "",
        f"- time step dt = {net.dt:g} s, {origin}; forward Euler, snntorch's discretization",
        f"- input `{plan.input_name}`: {plan.input_size} channels (binary spikes)",
        f"- {sum(L.lava_lif for L in plan.layers)} Lava LIF processes, "
        f"{sum(not L.lava_lif for L in plan.layers)} neurolearn NIRNeuron processes, "
        + ", ".join(f"{n} Lava {kind} processes" for kind, n in _process_counts(plan).items()),
        f"- outputs: {', '.join(f'`{o}`' for o in plan.outputs)}",
        "- each connection adds one step of delay: layer lag behind the input (steps): "
        + ", ".join(f"`{k}` {v}" for k, v in plan.depths().items() if k != plan.input_name),
        "- resets: " + ", ".join(f"`{layer.name}` {layer.mode}" for layer in plan.layers) + " (zero: to v_reset at "
        "once, Lava's LIF where v_reset = 0; subtract; *_late: one step late, as snntorch's reset_delay; none: a "
        "readout). Processes other than Lava's LIF are neurolearn's NIRNeuron. v is reported after an immediate "
        "reset and before a late one, as snntorch reports it (snntorch's Leaky with a late zero reset reports the "
        "value before the reset on a spike step; the reset itself is the same)",
        "",
        "## Layers",
        "",
        "| layer | node | kind | process | neurons | alpha | beta | threshold | du | dv | vth "
        "| scale (int per unit v) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pops = {p.name: p for p in net.populations}
    for layer in plan.layers:
        pop = pops[layer.node]
        idx = layer.neurons
        thr = _span(pop.threshold[idx]) if pop.threshold is not None else "none"
        process = "LIF" if layer.lava_lif else "NIRNeuron"
        lines.append(f"| `{layer.name}` | `{layer.node}` | {pop.kind} | {process} | {layer.size} "
                     f"| {_span(pop.alpha[idx])} | {_span(pop.beta[idx])} | {thr} | {_span(layer.du)} "
                     f"| {_span(layer.dv)} | {_span(layer.vth)} | {_span(layer.scale)} |")
    lines += ["", "## Connections", "",
              "| connection | source -> target | Lava process | targets x sources | weight_exp | sign | recurrent "
              "| int range |",
              "|---|---|---|---|---|---|---|---|"]
    for c in plan.connections:
        w = c.weights
        sign = "mixed (LSB dropped: even values)" if w.min() < 0 < w.max() else (
            "excitatory" if w.min() >= 0 else "inhibitory")
        if c.conv is not None:
            sign = "mixed (Lava's Conv uses them as given; even for Loihi)" if w.min() < 0 < w.max() else sign
        lines.append(f"| `{c.name}` | `{c.source}` -> `{c.target}` | {_process(c)} | {c.shape[0]}x{c.shape[1]} "
                     f"| {c.weight_exp} | {sign} | {'yes' if c.recurrent else 'no'} | [{w.min()}, {w.max()}] |")
    lines += [""] + [f"- {n}" for n in net.notes] if net.notes else []
    lines += ["", "## Conversions", "",
              "Each float parameter, the integer Lava is given, what that integer represents, and the "
              "rounding error. For arrays the largest or the worst-rounded element is shown.", "",
              "| node | parameter | float | integer | represents | abs error | rel error |",
              "|---|---|---|---|---|---|---|"]
    for c in q.conversions:
        lines.append(f"| `{c.node}` | {c.param} | {c.value:.6g} | {c.integer} | {c.represents:.6g} "
                     f"| {c.error:.3g} | {c.rel_error:.3g} |")
    lines += ["", "## Grouped and folded", ""]
    lines += [f"- {f}" for f in q.folds] or ["- nothing: every node is one process with one threshold"]
    if net.pending:
        lines += ["", "## Awaiting on-chip learning support (not compiled, not dropped silently)", ""]
        lines += [f"- {p}" for p in net.pending]
    lines += ["", "## Clipped, saturated or approximated", ""]
    lines += [f"- {n}" for n in q.notes] or ["- nothing: every parameter fits its integer range"]
    lines += ["", "Headroom: u and v are 24-bit (|x| < 2^23 integer units); divide by each layer's scale "
              "for float units. The exact integers are in `plan.json` (format: docs/plan-format.md).", ""]
    return "\n".join(lines)


def _process(c) -> str:
    """The Lava process of connection ``c`` in words."""
    if c.conv is not None:
        g = c.conv
        return (f"Conv {g.in_shape} -> {g.out_shape}, kernel {g.kernel}, stride {g.stride}, padding {g.padding}, "
                f"dilation {g.dilation}, groups {g.groups}")
    kind = f"Sparse ({c.sparse.nnz} weights)" if c.sparse is not None else "Dense"
    if c.delays is not None:
        return f"Delay{kind}, delays {int(c.delays.min(initial=0))}..{int(c.delays.max(initial=0))} steps"
    return kind


def _process_counts(plan: Plan) -> dict[str, int]:
    """How many connections of each Lava process kind."""
    counts: dict[str, int] = {}
    for c in plan.connections:
        kind = "Conv" if c.conv is not None else ("Delay" if c.delays is not None else "") + (
            "Sparse" if c.sparse is not None else "Dense")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _span(values) -> str:
    """One value, or the range of values that differ."""
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:.6g}" if lo == hi else f"{lo:.6g} .. {hi:.6g}"


def render_learning_report(plan: Plan, notes, model_name: str) -> str:
    """report.md of a learning build: burst layers, learning programs, and every conversion and
    approximation (``notes``)."""
    lines = [f"# {model_name}: learning build", "",
             "Burst layers run as neurolearn's BurstLIF; learning connections as Lava's LearningDense.", "",
             "| layer | size | vth | dv | dv_d | valence levels | Pbar 2^-k |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {L.name} | {L.size} | {L.vth} | {L.dv} | {L.burst.dv_d if L.burst else '-'} | "
              f"{L.burst.valence_levels if L.burst else '-'} | {L.burst.pbar_shift if L.burst else '-'} |"
              for L in plan.layers]
    lines += ["", "| connection | program | t_epoch | x1 impulse, tau |", "|---|---|---|---|"]
    lines += [f"| {name} | `{pl.program.dw}` | {pl.program.t_epoch} | {pl.program.x1_impulse}, "
              f"{pl.program.x1_tau} |" for name, pl in plan.learning.items()]
    lines += ["", "## Conversions and approximations", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
