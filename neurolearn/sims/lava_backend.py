"""Run a plan in Lava's own CPU runtime (``Loihi2SimCfg(select_tag="fixed_pt")``), one sample at a time.

This is the reference the fixed-point simulator must match bit for bit. It is slow: every process
is an OS process and every step exchanges messages. Use it on small networks and few samples.
"""
from __future__ import annotations

import numpy as np

from neurolearn.compile.lava_graph import build_lava_graph, import_lava
from neurolearn.compile.plan import Plan
from neurolearn.sims.result import LayerRecord, SimResult, as_batch


def run_monitored(lifs: dict, ports: dict, steps: int, run_cfg=None) -> dict:
    """Run the Lava graph holding ``lifs`` for ``steps`` (default ``Loihi2SimCfg(select_tag="fixed_pt")``)
    with one Monitor per port (a Monitor probes one Var); returns {key: array (steps, ...)} per port."""
    lava = import_lava()
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
