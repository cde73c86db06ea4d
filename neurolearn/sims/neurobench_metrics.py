"""NeuroBench's metrics (Yik et al., Nat. Commun. 2025; the ``neurobench`` package) of a compiled network,
from exact event counts.

Static metrics, of the deployed integers (:func:`plan_static_metrics`) or the float network
(:func:`network_static_metrics`):

* **footprint**: bytes of the parameters; for a plan every integer Lava is given, each at its Lava precision
  rounded up to whole bytes (8-bit weights: 1 byte, 13-bit bias mantissas: 2, 17-bit thresholds: 3, ...);
  for the float network 4 bytes (float32) per parameter (NeuroBench adds the torch buffers of the model it
  is given, e.g. snntorch's beta and threshold);
* **parameter count**: weights, plus a layer's biases where it has any (a non-zero entry), as torch counts
  ``nn.Linear``'s weight and bias;
* **connection sparsity**: zero weights / all weights.

Workload metrics, per sample, over the ``steps`` of the input with each layer's response aligned to it (the
fixed-point backends see layer k k steps later, so :func:`fixed_workload_metrics` runs the input padded by the
deepest layer's delay and reads each layer's own window), as NeuroBench defines them:

* **activation sparsity** (per layer and overall): 1 - non-zero outputs / outputs (spikes of spiking layers,
  the voltage of non-spiking ones) over neurons, steps and samples;
* **synaptic operations**: per connection and step, the non-zero weights reached from active sources, the sum
  of ``binary(W) @ binary(x)``: effective ACs where the source sends events (0/1), effective MACs where it sends
  values (a non-spiking layer's voltage); dense SOPs count every weight every step. A recurrent connection
  delivers the previous step's activity; biases are not synaptic operations;
* **membrane updates**: every neuron on the first step, then each step the neurons whose membrane changed:
  its voltage differs from the step before, or it spikes this step or did the step before (the reset writes
  the membrane; snntorch applies it on the step after the spike).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurolearn.errors import InputError
from neurolearn.sims.result import SimResult, as_batch

# Lava 0.10.0's precision (bits) of each integer a plan deploys (LavaPyType precisions, Loihi 2 fields)
PLAN_BITS = {"weights": 8, "weight_exp": 4, "num_weight_bits": 3, "du": 12, "dv": 12, "vth": 17, "bias_mant": 13,
             "bias_exp": 3, "dv_d": 12, "lut": 8, "lut_offset": 24, "lut_shift": 5, "pbar_shift": 4, "pbar_init": 16,
             "valence_levels": 3, "seed": 32, "tag_1": 8, "tag_2": 8, "delays": 6}


@dataclass(frozen=True)
class StaticMetrics:
    """NeuroBench's static metrics. ``footprint_parts``: (what, values, bits per value, bytes) per kind."""

    footprint_bytes: int
    parameter_count: int
    connection_sparsity: float
    footprint_parts: tuple = ()


@dataclass(frozen=True)
class WorkloadMetrics:
    """NeuroBench's workload metrics, per sample over ``steps`` steps (``samples`` samples)."""

    samples: int
    steps: int
    activation_sparsity: float
    activation_sparsity_by_layer: dict
    effective_acs: float
    effective_macs: float
    dense_sops: float
    membrane_updates: float | None            # None: voltages not recorded (a learning run's events only)
    synaptic_operations_by_connection: dict   # name -> (effective ops, dense ops) per sample


def _bytes(bits: int) -> int:
    return math.ceil(bits / 8)


def plan_static_metrics(plan) -> StaticMetrics:
    """Static metrics of a :class:`~neurolearn.ir.plan.Plan`: the integers deployed to Lava or a chip."""
    counts = dict.fromkeys(PLAN_BITS, 0)
    params = zeros = weights = 0
    for c in plan.connections:
        counts["weights"] += c.weights.size
        counts["weight_exp"] += 1
        counts["num_weight_bits"] += 1
        counts["delays"] += 0 if c.delays is None else c.delays.size
        weights += c.weights.size
        zeros += int(np.count_nonzero(c.weights == 0))
        pl = plan.learning.get(c.name)
        for tag in ("tag_1", "tag_2"):
            if pl is not None and getattr(pl, tag) is not None:
                counts[tag] += c.weights.size
    params += weights
    for layer in plan.layers:
        counts["bias_mant"] += layer.size
        counts["bias_exp"] += layer.size
        for name in ("du", "dv", "vth"):   # one per layer, or one per neuron (v_init: state, as u and v)
            counts[name] += np.size(getattr(layer, name))
        if np.any(layer.bias_mant != 0):
            params += layer.size
        if layer.burst is not None:
            counts["lut"] += layer.burst.lut.size
            for name in ("dv_d", "lut_offset", "lut_shift", "pbar_shift", "pbar_init", "valence_levels", "seed"):
                counts[name] += 1
    parts = tuple((name, n, PLAN_BITS[name], n * _bytes(PLAN_BITS[name])) for name, n in counts.items() if n)
    return StaticMetrics(sum(p[3] for p in parts), params, zeros / weights if weights else 0.0, parts)


def network_static_metrics(network) -> StaticMetrics:
    """Static metrics of a float :class:`~neurolearn.ir.network.Network` (float32 parameters)."""
    weights = sum(pr.weight.size for pr in network.projections)
    zeros = sum(int(np.count_nonzero(pr.weight == 0)) for pr in network.projections)
    biases = sum(p.size for p in network.populations if np.any(p.input_bias != 0))
    params = weights + biases
    return StaticMetrics(4 * params, params, zeros / weights if weights else 0.0,
                         (("weights", weights, 32, 4 * weights), ("biases", biases, 32, 4 * biases)))


@dataclass(frozen=True)
class _Edge:
    """A connection as the workload metrics read it: its synapses (source, weight, delay in steps beyond the usual
    one) whatever the Lava process (Dense, Conv, Sparse, DelayDense, DelaySparse)."""

    name: str
    source: str
    src: np.ndarray       # per synapse: source neuron
    nonzero: np.ndarray   # per synapse: weight != 0
    delay: np.ndarray     # per synapse: extra steps
    recurrent: bool
    carries: str = "events"
    input_range: tuple | None = None


def _edge(c, weights) -> _Edge:
    """The synapses of a plan's ConnectionPlan or a network's Projection (``weights`` laid out as its own)."""
    w = np.asarray(weights)
    delays = None if c.delays is None else np.asarray(c.delays)
    if c.conv is not None:   # every (output, kernel entry) pair inside the map, zero-padded entries excluded
        from neurolearn.compile.connections import conv_matrix

        at = conv_matrix(c.conv, np.arange(1, w.size + 1, dtype=np.float64).reshape(w.shape)).tocoo()
        src, values = at.col, w.reshape(-1)[at.data.astype(np.int64) - 1]
        delay = np.zeros(src.size, np.int64)
    elif c.sparse is not None:
        src, values = np.asarray(c.sparse.cols), w
        delay = np.zeros(src.size, np.int64) if delays is None else delays
    else:
        src, values = np.broadcast_to(np.arange(w.shape[1]), w.shape).reshape(-1), w.reshape(-1)
        delay = np.zeros(src.size, np.int64) if delays is None else delays.reshape(-1)
    return _Edge(c.name, c.source, src.astype(np.int64), values != 0, delay.astype(np.int64), c.recurrent,
                 getattr(c, "carries", "events"), getattr(c, "input_range", None))


def _workload(res: SimResult, inputs: np.ndarray, steps: int, edges, spiking: dict, delays: dict) -> WorkloadMetrics:
    """The workload metrics of ``res`` (each layer read over its window delays[name] .. + steps)."""
    batch = inputs.shape[0]

    def window(name, key):
        arr = getattr(res.layers[name], key)
        if arr is None:
            raise InputError(f"neurobench metrics: layer '{name}' has no recorded {key} (record u and v)")
        d = delays.get(name, 0)
        if arr.shape[1] < d + steps:
            raise InputError(f"neurobench metrics: layer '{name}' recorded {arr.shape[1]} steps; needs {d + steps} "
                             f"(the input's {steps} plus its delay {d})")
        return arr[:, d:d + steps]

    def activity(name, carries="events"):
        """What a layer sends: events or bursts (0/1), or a non-spiking layer's voltage."""
        if not spiking[name]:
            return window(name, "v") != 0
        return window(name, "bursts" if carries == "bursts" else "spikes") != 0

    by_layer, active_total, total = {}, 0, 0
    with_v = all(rec.v is not None for rec in res.layers.values())
    updates = 0 if with_v else None
    for name in res.layers:
        act = activity(name)
        by_layer[name] = 1.0 - np.count_nonzero(act) / act.size
        active_total += np.count_nonzero(act)
        total += act.size
        if not with_v:
            continue
        v, s = window(name, "v"), window(name, "spikes") != 0
        changed = v[:, 1:] != v[:, :-1]
        if spiking[name]:
            changed |= s[:, 1:] | s[:, :-1]
        updates += v.shape[0] * v.shape[2] + int(np.count_nonzero(changed))
    acs = macs = dense = 0
    by_conn = {}
    for e in edges:
        if e.source in res.layers:
            src = activity(e.source, e.carries).astype(np.int64)
            events = spiking[e.source]
        else:
            lo, hi = e.input_range or (0, inputs.shape[2])
            src = (inputs[:, :steps, lo:hi] != 0).astype(np.int64)
            events = True
        ops = 0   # a synapse delivers int(recurrent) + delay steps later: activity that arrives after the window
        for d in np.unique(e.delay):   # is not counted
            at = e.nonzero & (e.delay == d)
            fan_out = np.bincount(e.src[at], minlength=src.shape[2])   # non-zero weights from each source neuron
            late = int(e.recurrent) + int(d)
            ops += int((src[:, :max(src.shape[1] - late, 0)].sum(axis=(0, 1)) * fan_out).sum())
        full = batch * steps * e.src.size
        by_conn[e.name] = (ops / batch, full / batch)
        acs, macs = (acs + ops, macs) if events else (acs, macs + ops)
        dense += full
    return WorkloadMetrics(batch, steps, 1.0 - active_total / total if total else 0.0, by_layer, acs / batch,
                           macs / batch, dense / batch, None if updates is None else updates / batch, by_conn)


def fixed_workload_metrics(plan, spikes: np.ndarray, simulate=None) -> tuple[WorkloadMetrics, SimResult]:
    """Workload metrics of ``plan`` on input ``spikes`` (steps, n_in) or (batch, steps, n_in), from the fixed-point
    simulation (``simulate(plan, padded_spikes)``, default :func:`~neurolearn.sims.fixed.simulate_fixed`) of the
    input padded with silent steps by the deepest layer's delay; also returns that simulation."""
    from neurolearn.sims.fixed import simulate_fixed

    spikes = as_batch(spikes, plan.input_size)
    depth = max(plan.depths().values())
    padded = np.concatenate([spikes, np.zeros(spikes.shape[:1] + (depth, spikes.shape[2]), np.uint8)], axis=1)
    res = (simulate or simulate_fixed)(plan, padded)
    edges = [_edge(c, c.weights) for c in plan.connections]
    spiking = {layer.name: layer.spiking for layer in plan.layers}
    return _workload(res, spikes, spikes.shape[1], edges, spiking, res.delays), res


def float_workload_metrics(network, spikes: np.ndarray) -> tuple[WorkloadMetrics, SimResult]:
    """Workload metrics of a float :class:`~neurolearn.ir.network.Network` on ``spikes``, from the float
    reference (no delays: every layer answers on the input's steps); also returns that simulation."""
    from neurolearn.sims.float_ref import simulate_float

    spikes = as_batch(spikes, network.input_size)
    res = simulate_float(network, spikes)
    edges = [_edge(p, p.weight) for p in network.projections]
    spiking = {p.name: p.spiking for p in network.populations}
    return _workload(res, spikes, spikes.shape[1], edges, spiking, {}), res


def epoch_workload_metrics(plan, run, inputs: np.ndarray) -> WorkloadMetrics:
    """Workload metrics of a learning run (:class:`~neurolearn.sims.epochs.EpochRun`: events and bursts of one
    long input ``inputs`` (steps, n_in)), over the steps every layer answered; membrane updates are None (a
    learning run records no voltages)."""
    from neurolearn.sims.result import LayerRecord

    delays = plan.depths()
    steps = inputs.shape[0] - max(delays.values())
    if steps < 1:
        raise InputError(f"neurobench metrics: {inputs.shape[0]} steps; needs more than the deepest delay")
    res = SimResult("learning", {n: LayerRecord(spikes=s[None], bursts=run.bursts[n][None])
                                 for n, s in run.spikes.items()}, delays)
    edges = [_edge(c, c.weights) for c in plan.connections]
    spiking = {layer.name: layer.spiking for layer in plan.layers}
    return _workload(res, inputs[None], steps, edges, spiking, delays)


def format_neurobench(static: StaticMetrics, workload: WorkloadMetrics | None = None) -> str:
    """The metrics as a short report (NeuroBench's names)."""
    lines = ["NeuroBench metrics",
             f"  footprint             {static.footprint_bytes} bytes ("
             + ", ".join(f"{n} {what} x {_bytes(bits)} B" for what, n, bits, _ in static.footprint_parts) + ")",
             f"  parameter count       {static.parameter_count}",
             f"  connection sparsity   {static.connection_sparsity:.4f}"]
    if workload is not None:
        w = workload
        lines += [f"  per sample ({w.samples} samples x {w.steps} steps):",
                  f"  activation sparsity   {w.activation_sparsity:.4f} ("
                  + ", ".join(f"{k} {v:.4f}" for k, v in w.activation_sparsity_by_layer.items()) + ")",
                  f"  synaptic operations   effective ACs {w.effective_acs:.1f}, "
                  f"effective MACs {w.effective_macs:.1f}, "
                  f"dense {w.dense_sops:.1f}",
                  "  membrane updates      " + ("n/a (voltages not recorded)" if w.membrane_updates is None
                                                 else f"{w.membrane_updates:.1f}")]
    return "\n".join(lines)
