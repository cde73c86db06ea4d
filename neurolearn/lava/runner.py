"""Run a plan in Lava's own CPU runtime (``Loihi2SimCfg(select_tag="fixed_pt")``), one sample at a time.

This is the reference the fixed-point simulator must match bit for bit. It is slow: every process
is an OS process and every step exchanges messages. Use it on small networks and few samples.
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np

from neurolearn.ir.features import require
from neurolearn.ir.plan import Plan, Plasticity
from neurolearn.ir.schedule import Schedule
from neurolearn.lava.graph import build_lava_graph, lava_learning_graph, require_lava
from neurolearn.sims.epochs import EpochRun
from neurolearn.sims.result import LayerRecord, LearningResult, SimResult, SynapseRecord, as_batch

SYNAPSE_VARS = ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3", "tx", "ty")


def run_monitored(lifs: dict, ports: dict, steps: int, run_cfg=None) -> dict:
    """Run the Lava graph holding ``lifs`` for ``steps`` (default ``Loihi2SimCfg(select_tag="fixed_pt")``)
    with one Monitor per port (a Monitor probes one Var); returns {key: array (steps, ...)} per port."""
    lava = require_lava()
    monitors = {}
    for key, port in ports.items():
        monitors[key] = lava["Monitor"]()
        monitors[key].probe(port, steps)
    anchor = next(iter(lifs.values()))
    try:
        anchor.run(condition=lava["RunSteps"](num_steps=steps),
                   run_cfg=run_cfg or lava["Loihi2SimCfg"](select_tag="fixed_pt"))
        return {key: np.asarray(m.get_data()[ports[key].process.name][ports[key].name])
                for key, m in monitors.items()}
    finally:
        anchor.stop()


def _run_one(plan: Plan, spikes: np.ndarray, record_uv: bool) -> dict:
    graph = build_lava_graph(plan, spikes)
    ports = {}
    for name, lif in graph.lifs.items():
        ports[name, "spikes"] = lif.s_out
        if record_uv:
            ports[name, "u"], ports[name, "v"] = lif.u, lif.v
    return run_monitored(graph.lifs, ports, spikes.shape[0])


def simulate_lava(plan: Plan, spikes: np.ndarray, record_uv: bool = True, progress=None) -> SimResult:
    """Run ``plan`` in Lava on input of shape (steps, n_in) or (batch, steps, n_in).

    ``progress``: optional callable ``f(iterable) -> iterable`` (e.g. tqdm) over samples.
    """
    require(plan.features(), "lava")
    inp = as_batch(spikes, plan.input_size)
    samples = range(inp.shape[0])
    runs = [_run_one(plan, inp[b], record_uv) for b in (progress(samples) if progress else samples)]
    layers = {}
    for layer in plan.layers:
        def stack(key, dtype):
            return np.stack([r[layer.name, key] for r in runs]).astype(dtype)

        layers[layer.name] = LayerRecord(
            spikes=stack("spikes", np.uint8),
            u=stack("u", np.int32) if record_uv else None,
            v=stack("v", np.int32) if record_uv else None,
        )
    return SimResult(backend="lava", layers=layers, delays=plan.depths())


def run_lava(plan: Plan, schedule: Schedule, progress: bool = False) -> EpochRun:
    """The whole schedule in Lava (fixed_pt): one graph, run epoch by epoch, weights read after each."""
    from neurolearn.progress import progress_bar

    require(plan.features(), "lava-learning")
    lava = require_lava()
    graph = lava_learning_graph(plan, schedule.spikes)
    monitors = {}
    for name, proc in graph.lifs.items():
        for key, port in (("spikes", proc.s_out), ("bursts", getattr(proc, "s_out_burst", None))):
            if port is not None:  # plain LIF layers have no bursts
                monitors[name, key] = lava["Monitor"]()
                monitors[name, key].probe(port, schedule.steps)
    cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
    anchor = next(iter(graph.lifs.values()))
    weights = {name: [] for name in plan.learning}
    done, started = 0, None
    try:
        for end in progress_bar(schedule.epoch_ends, "Lava (fixed_pt)", unit="epochs", enabled=progress):
            anchor.run(condition=lava["RunSteps"](num_steps=end + 1 - done), run_cfg=cfg)
            if started is None:
                started, first = time.perf_counter(), end + 1
            done = end + 1
            for name in weights:
                weights[name].append(np.asarray(graph.denses[name].weights.get()).astype(np.int64))
        elapsed = time.perf_counter() - started
        data = {key: np.asarray(m.get_data()[key[0]][("s_out" if key[1] == "spikes" else "s_out_burst")])
                for key, m in monitors.items()}
    finally:
        anchor.stop()
    return EpochRun("lava-fixed_pt", {n: data[n, "spikes"].astype(np.uint8) for n in graph.lifs},
                    {n: data[n, "bursts"].astype(np.uint8) if (n, "bursts") in data else
                     np.zeros_like(data[n, "spikes"], np.uint8) for n in graph.lifs},
                    {n: np.stack(w) for n, w in weights.items()},
                    steps_per_s=(done - first) / elapsed if done > first else None)


def simulate_learning_lava(plan: Plan, spikes: np.ndarray, learning: Mapping[str, Plasticity] | None = None,
                           y_traces: Mapping[str, np.ndarray] | None = None) -> LearningResult:
    """One sample (steps, n_in) in Lava, every LIF and learning Var monitored every step (after learning)."""
    require(plan.features(), "lava-learning")
    learning = plan.learning if learning is None else learning
    graph = lava_learning_graph(plan, spikes, learning, y_traces)
    ports = {(n, k): getattr(lif, p) for n, lif in graph.lifs.items() for k, p in
             (("spikes", "s_out"), ("u", "u"), ("v", "v"))}
    bursty = [L.name for L in plan.layers if L.burst is not None]
    ports.update({(n, k): getattr(graph.lifs[n], p) for n in bursty for k, p in (("bursts", "s_out_burst"),
                                                                                  ("v_d", "v_d"))})
    ports.update({(n, k): getattr(graph.denses[n], k) for n in learning for k in SYNAPSE_VARS})
    data = {key: val[None] for key, val in run_monitored(graph.lifs, ports, len(spikes)).items()}
    layers = {n: LayerRecord(spikes=data[n, "spikes"].astype(np.uint8), u=data[n, "u"].astype(np.int32),
                             v=data[n, "v"].astype(np.int32),
                             bursts=data[n, "bursts"].astype(np.uint8) if n in bursty else None,
                             v_d=data[n, "v_d"].astype(np.int32) if n in bursty else None) for n in graph.lifs}
    synapses = {n: SynapseRecord(**{k: data[n, k].astype(np.int32) for k in ("weights", "tag_1", "tag_2", "tx", "ty")},
                                 x=np.stack([data[n, "x1"], data[n, "x2"]], axis=2).astype(np.int32),
                                 y=np.stack([data[n, f"y{q}"] for q in (1, 2, 3)], axis=2).astype(np.int32))
                for n in learning}
    return LearningResult(SimResult(backend="lava-learning", layers=layers, delays=plan.depths()), synapses)
