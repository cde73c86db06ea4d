"""Fixed-point simulation speed: Lava fixed_pt vs neurolearn, the same networks in one run.

Prints steps/s for both and the ratio, and checks bit identity (final u and v of every LIF after
the timed run, plus every spike of the first sample through Lava's monitors on a short run).

    python benchmarks/sim_speed.py            # the issue's sizes
    python benchmarks/sim_speed.py --quick    # smaller, for a smoke test
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan
from neurolearn.lava.graph import build_lava_graph, require_lava
from neurolearn.lava.runner import simulate_lava
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.result import as_batch

RATE = 0.1  # input spike probability per step


def random_plan(sizes: list[int], seed: int = 0) -> Plan:
    """Input sizes[0] -> Dense -> LIF sizes[1] -> Dense -> LIF sizes[2] ..., random mixed weights."""
    rng = np.random.default_rng(seed)
    layers, conns = [], []
    for i, n in enumerate(sizes[1:]):
        fan_in = sizes[i]
        layers.append(LayerPlan(f"lif{i}", n, du=410, dv=410, vth=max(20, int(2 * np.sqrt(fan_in))),
                                bias_mant=np.zeros(n, int), bias_exp=np.zeros(n, int)))
        w = 2 * rng.integers(-40, 64, size=(n, fan_in))
        conns.append(ConnectionPlan(f"dense{i}", "input" if i == 0 else f"lif{i - 1}", f"lif{i}", w))
    return Plan(dt=1e-3, input_name="input", input_size=sizes[0], layers=tuple(layers),
                connections=tuple(conns), outputs=(layers[-1].name,))


def time_lava(plan: Plan, spikes: np.ndarray, monitored: bool, repeats: int = 2):
    """Best-of-``repeats`` steps/s of Lava on one sample (compile and process start-up excluded),
    with or without Monitors on every LIF's s_out, u and v, and the final u, v of every LIF."""
    lava = require_lava()
    best, final = np.inf, None
    for _ in range(repeats):
        graph = build_lava_graph(plan, spikes)
        anchor = next(iter(graph.lifs.values()))
        if monitored:
            for lif in graph.lifs.values():
                for port in (lif.s_out, lif.u, lif.v):
                    lava["Monitor"]().probe(port, spikes.shape[0])
        cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
        try:
            anchor.run(condition=lava["RunSteps"](num_steps=1), run_cfg=cfg)  # compile + start processes
            t = time.perf_counter()
            anchor.run(condition=lava["RunSteps"](num_steps=spikes.shape[0] - 1), run_cfg=cfg)
            best = min(best, time.perf_counter() - t)
            final = {n: (lif.u.get().astype(np.int64), lif.v.get().astype(np.int64))
                     for n, lif in graph.lifs.items()}
        finally:
            anchor.stop()
    return (spikes.shape[0] - 1) / best, final


def time_fixed(plan: Plan, spikes: np.ndarray, record_uv: bool, repeats: int = 3) -> float:
    """Best-of-``repeats`` sample-steps/s of neurolearn's fixed-point simulator (after a JIT warm-up)."""
    simulate_fixed(plan, spikes[:, :2], record_uv=record_uv)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        simulate_fixed(plan, spikes, record_uv=record_uv)
        best = min(best, time.perf_counter() - t)
    return spikes.shape[0] * spikes.shape[1] / best


def row(plan: Plan, lava_steps: int, nl_steps: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = (rng.random((batch, max(lava_steps, nl_steps), plan.input_size)) < RATE).astype(np.uint8)
    lava_raw, final = time_lava(plan, x[0, :lava_steps], monitored=False)
    lava_rec, _ = time_lava(plan, x[0, :lava_steps], monitored=True, repeats=1)
    nl_raw = time_fixed(plan, x[:, :nl_steps], record_uv=False)
    nl_rec = time_fixed(plan, x[:, :nl_steps], record_uv=True)
    # bit identity 1: final state after the same lava_steps of sample 0
    same = simulate_fixed(plan, x[:1, :lava_steps])
    ok = all(np.array_equal(same.layers[n].u[0, -1], u) and np.array_equal(same.layers[n].v[0, -1], v)
             for n, (u, v) in final.items())
    # bit identity 2: every spike, u and v of a short monitored run
    short = as_batch(x[0, :20], plan.input_size)
    lava_res, fixed_res = simulate_lava(plan, short), simulate_fixed(plan, short)
    ok &= all(np.array_equal(getattr(lava_res.layers[n], k), getattr(fixed_res.layers[n], k))
              for n in lava_res.layers for k in ("spikes", "u", "v"))
    return lava_raw, nl_raw, lava_rec, nl_rec, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few steps")
    args = ap.parse_args()
    if args.quick:
        cases = [("Dense+LIF 100", random_plan([100, 100]), 100, 500, 1),
                 ("784-500-10", random_plan([784, 500, 10]), 50, 100, 8)]
    else:
        cases = [("Dense+LIF 100", random_plan([100, 100]), 1000, 20000, 1),
                 ("Dense+LIF 1000", random_plan([1000, 1000]), 500, 10000, 1),
                 ("Dense+LIF 3000", random_plan([3000, 3000]), 200, 2000, 1),
                 ("784-500-10", random_plan([784, 500, 10]), 500, 500, 64)]
    print(f"input spike probability {RATE} per step. Lava: one sample at a time, "
          "Loihi2SimCfg(select_tag='fixed_pt'), compile excluded, best of 2.\n"
          "'no probes': Lava records nothing, neurolearn records spikes; 'recording': both record "
          "spikes, u and v of every layer at every step (Lava through Monitors). neurolearn: best of 3.")
    head = (f"{'network':<22} {'batch':>5} | {'no probes: Lava':>15} {'neurolearn':>11} {'ratio':>7} | "
            f"{'recording: Lava':>15} {'neurolearn':>11} {'ratio':>7} | bit-identical")
    print(head)
    print("-" * len(head))
    for name, plan, lava_steps, nl_steps, batch in cases:
        lava_raw, nl_raw, lava_rec, nl_rec, ok = row(plan, lava_steps, nl_steps, batch)
        print(f"{name:<22} {batch:>5} | {lava_raw:>15.0f} {nl_raw:>11.0f} {nl_raw / lava_raw:>6.0f}x | "
              f"{lava_rec:>15.0f} {nl_rec:>11.0f} {nl_rec / lava_rec:>6.0f}x | {'yes' if ok else 'NO'}", flush=True)
    print("units: steps/s for Lava (one sample); sample-steps/s for neurolearn (batch x steps / s)")


if __name__ == "__main__":
    main()
