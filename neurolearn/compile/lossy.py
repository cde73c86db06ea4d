"""What a build loses, by kind, one line each: parameters that round to zero, saturate, are clipped or round coarsely,
and biases that act before a layer's first input.

``neurolearn compile`` prints each line as a warning (report.md lists them too); ``--strict`` refuses the build
(:class:`~neurolearn.errors.LossyBuildError`, exit 1, nothing written).
"""
from __future__ import annotations

import numpy as np

from neurolearn.compile.connections import peak_fan_in
from neurolearn.compile.quantize import start_voltages
from neurolearn.errors import LossyBuildError
from neurolearn.ir import plan as P
from neurolearn.ir.burst_network import BurstNetwork
from neurolearn.ir.network import Network

DECAY_ONE = 4096   # Lava's 12-bit decays: keep (4096 - d) / 4096
THRESHOLD_ROUNDING = 0.01   # a per-neuron vth further than this from its threshold is reported


def _line(kind: str, items: list[tuple[str, int, str]]) -> str | None:
    """'KIND: 12 weights (a 10, b 2), 1 threshold (lif)' from (what, count, where) items."""
    by_what: dict[str, list[tuple[int, str]]] = {}
    for what, count, where in items:
        if count:
            by_what.setdefault(what, []).append((count, where))
    if not by_what:
        return None
    parts = []
    for what, found in by_what.items():
        total = sum(c for c, _ in found)
        shown = ", ".join(f"{w} {c}" for c, w in found[:4]) + (", ..." if len(found) > 4 else "")
        parts.append(f"{total} {what}{'s' if total != 1 else ''} ({shown})")
    return f"{kind}: " + "; ".join(parts)


def _wrap_items(plan: P.Plan) -> list[tuple[str, int, str]]:
    """Connections whose worst-case input (every source spiking at once) leaves int32 (a_in << 6)."""
    items = []
    for c in plan.connections:   # Dense, Conv (the largest kernel sum) or Sparse: the largest sum of |weights| onto
        worst = peak_fan_in(c, c.weights) << (max(c.weight_exp, 0) + 6)   # one target
        items.append(("connection whose worst-case input exceeds int32", int(worst >= 2**31), c.name))
    return items


def inference_losses(net: Network, plan: P.Plan) -> tuple[str, ...]:
    """Loss lines of an inference build: weights, biases and leaks that round to zero (a threshold cannot: it is
    folded into each neuron's scale, vth >= 1); per-neuron thresholds behind a convolution (each vth under its
    channel's scale) off by more than THRESHOLD_ROUNDING; connections that may saturate (wrap) Lava's int32 input;
    neurons whose bias acts before their first input (no start voltage brings them to rest)."""
    zero, coarse = [], []
    conns = {c.name: c for c in plan.connections}
    parts = plan.node_layers()
    for pr in net.projections:   # a node split by decay has one block per (source layer, target layer)
        for tgt, t_idx in parts[pr.target]:
            for src, s_idx in parts.get(pr.source, [(pr.source, None)]):
                c = conns[pr.name if (src, tgt) == (pr.source, pr.target) else f"{src}->{tgt}"]
                w = pr.weight if c.weights.shape == pr.weight.shape else \
                    pr.weight[np.ix_(t_idx, s_idx)] if s_idx is not None else pr.weight[t_idx]
                zero.append(("weight", int(np.count_nonzero((w != 0) & (c.weights == 0))), c.name))
    layers = {layer.name: layer for layer in plan.layers}
    for pop in net.populations:
        for name, idx in parts[pop.name]:   # a node's layers: one per group of decays
            layer = layers[name]
            float_bias = (np.asarray(pop.bias)[idx] != 0) | (np.asarray(pop.input_bias)[idx] != 0)
            zero.append(("bias", int(np.count_nonzero(float_bias & (layer.bias == 0))), name))
            if np.any((np.asarray(pop.beta)[idx] < 1.0) & (np.asarray(layer.dv) == 0)):
                zero.append(("leak (dv)", 1, name))
            if pop.spiking and np.ndim(layer.vth):   # each neuron's vth under its channel's scale: rounded
                theta = np.asarray(pop.threshold)[idx]
                off = np.abs(layer.vth * 64 / layer.scale - theta) > THRESHOLD_ROUNDING * theta
                coarse.append(("threshold", int(np.count_nonzero(off)), name))
    ahead = [("neuron", int((~exact).sum()), name) for name, (_, _, exact) in start_voltages(plan).items()]
    lines = [_line("rounded to zero", zero), _line("may saturate", _wrap_items(plan)),
             _line("bias acts before the first input", ahead),
             _line(f"rounded by more than {THRESHOLD_ROUNDING:.0%}", coarse)]
    return tuple(line for line in lines if line)


def learning_losses(net: BurstNetwork, plan: P.Plan) -> tuple[str, ...]:
    """Loss lines of a learning build: weights that round to zero, decays clipped to Lava's 12 bits or rounded
    to no leak. (The burst-probability table tops out at 255/256 by design; report.md gives its error.)"""
    zero, clipped = [], []
    conns = {c.name: c for c in plan.connections}
    for (src, dst), w in list(net.weights.items()):
        c = conns.get(f"W:{src}->{dst}")
        if c is not None:
            zero.append(("weight", int(np.count_nonzero((np.asarray(w) != 0) & (c.weights == 0))), c.name))
    for layer in net.layers:
        for what, keep in (("beta", layer.params.beta), ("beta_d", layer.params.beta_d)):
            d = int(round(DECAY_ONE * (1 - keep)))
            clipped.append((f"decay {what}", int(d > DECAY_ONE - 1), layer.name))
            zero.append((f"leak ({what})", int(keep < 1 and d == 0), layer.name))
    lines = [_line("rounded to zero", zero), _line("clipped", clipped)]
    return tuple(line for line in lines if line)


def refuse_if_strict(lines: tuple[str, ...], strict: bool, file: str) -> None:
    """With ``strict``, LossyBuildError naming ``file`` and every kind of loss."""
    if strict and lines:
        raise LossyBuildError(f"{file}: --strict: the build would lose precision: " + " | ".join(lines))
