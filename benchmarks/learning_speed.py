"""Learning simulation speed: Lava's LearningDense (fixed_pt) vs neurolearn's learning engine, in one run.

Input -> LearningDense (pair-based STDP, t_epoch 1) -> LIF, the LIF's spikes back as BAP, at 100 and 1000
neurons; and the on-chip burstprop XOR network (BurstLIF layers, two LearningDense, burst feedback, band
teacher). Both simulators run the same steps; prints steps/s and the ratio, checks bit identity (every
output spike of the Lava run and the final weights, traces and LIF u, v; for XOR every event, burst and
epoch-end weight), and the wall time of the whole XOR training both ways.

    python benchmarks/learning_speed.py            # ~15 min (the whole XOR training in Lava is ~8 of them)
    python benchmarks/learning_speed.py --quick    # fewer steps, XOR training for 2 epochs
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan, Plasticity
from neurolearn.ir.program import LearningProgram
from neurolearn.lava.graph import lava_learning_graph, require_lava
from neurolearn.lava.runner import run_lava
from neurolearn.sims.epochs import run_fixed
from neurolearn.sims.learning import simulate_learning
from neurolearn.train.onchip import OnChipConfig, compile_xor
from neurolearn.verify import compare_epochs

RATE = 0.05  # input spike probability per step
STDP = LearningProgram(dw="-2^-2 * x0 * y1 + 2^-2 * y0 * x1", x1_impulse=16, x1_tau=10, y1_impulse=16, y1_tau=10,
                       t_epoch=1, rng_seed=1)


def stdp_network(n: int, seed: int = 0) -> tuple[Plan, dict]:
    """n inputs -> LearningDense n x n (STDP) -> n LIF neurons."""
    rng = np.random.default_rng(seed)
    layer = LayerPlan("lif", n, du=410, dv=410, vth=int(8000 * np.sqrt(n / 1000)), bias_mant=np.zeros(n, int),
                      bias_exp=np.zeros(n, int))
    w = rng.integers(-64, 64, size=(n, n))
    plan = Plan(dt=1e-3, input_name="input", input_size=n, layers=(layer,), outputs=("lif",),
                connections=(ConnectionPlan("stdp", "input", "lif", w),))
    return plan, {"stdp": Plasticity(STDP)}


def time_lava(plan: Plan, learning: dict, spikes: np.ndarray):
    """Steps/s of Lava (compile and the first step excluded); output spikes and the final state."""
    lava = require_lava()
    graph = lava_learning_graph(plan, spikes, learning)
    lif, dense = graph.lifs["lif"], graph.denses["stdp"]
    mon = lava["Monitor"]()
    mon.probe(lif.s_out, len(spikes))
    cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
    try:
        lif.run(condition=lava["RunSteps"](num_steps=1), run_cfg=cfg)
        t = time.perf_counter()
        lif.run(condition=lava["RunSteps"](num_steps=len(spikes) - 1), run_cfg=cfg)
        rate = (len(spikes) - 1) / (time.perf_counter() - t)
        out = np.asarray(mon.get_data()["lif"]["s_out"]).astype(np.uint8)
        final = {k: np.asarray(v.get()).astype(np.int64) for k, v in
                 (("weights", dense.weights), ("x1", dense.x1), ("y1", dense.y1), ("u", lif.u), ("v", lif.v))}
    finally:
        lif.stop()
    return rate, out, final


def time_neurolearn(plan: Plan, learning: dict, spikes: np.ndarray, repeats: int = 5) -> tuple[float, float]:
    """Best-of-``repeats`` steps/s recording only the final state (after a JIT warm-up); output spike rate."""
    simulate_learning(plan, spikes[:2], learning, record=False, record_uv=False)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        res = simulate_learning(plan, spikes, learning, record=False, record_uv=False)
        best = min(best, time.perf_counter() - t)
    return len(spikes) / best, float(res.sim.layers["lif"].spikes.mean())


def same_bits(plan, learning, spikes, lava_out, final) -> bool:
    res = simulate_learning(plan, spikes, learning, record=False)
    syn, lif = res.synapses["stdp"], res.sim.layers["lif"]
    ours = {"weights": syn.weights[0, -1], "x1": syn.x[0, -1, 0], "y1": syn.y[0, -1, 0], "u": lif.u[0, -1],
            "v": lif.v[0, -1]}
    return np.array_equal(lif.spikes[0], lava_out) and all(np.array_equal(ours[k], final[k]) for k in final)


def xor_rows(epochs: int, full_epochs: int) -> list[str]:
    """The on-chip XOR network: steps/s over its first ``epochs`` epochs both ways (Lava: after its first
    epoch, which includes the build), then the whole training of ``full_epochs`` epochs both ways (wall
    time, including Lava's build and neurolearn's set-up)."""
    compiled, schedule, _ = compile_xor(0, OnChipConfig(epochs=full_epochs))
    part = schedule.first_epochs(epochs)
    run_fixed(compiled.plan, part)  # JIT warm-up
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        ours = run_fixed(compiled.plan, part)
        best = min(best, time.perf_counter() - t)
    lava = run_lava(compiled.plan, part)
    lava_rate = lava.steps_per_s
    same = all(r.ok for r in compare_epochs(ours, lava, part))
    rows = [f"{f'XOR burst net, {epochs} epochs':<26} | {lava_rate:>12.1f} {part.steps / best:>11.0f} "
            f"{part.steps / best / lava_rate:>6.0f}x | {'':>12} | {'yes' if same else 'NO'} ({part.steps} steps)"]
    t = time.perf_counter()
    ours = run_fixed(compiled.plan, schedule)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    lava = run_lava(compiled.plan, schedule)
    t_lava = time.perf_counter() - t
    same = all(r.ok for r in compare_epochs(ours, lava, schedule))
    rows.append(f"whole XOR training ({full_epochs} epochs, {schedule.steps} steps): Lava {t_lava:.0f} s, neurolearn "
                f"{t_ours:.2f} s ({t_lava / t_ours:.0f}x); bit-identical at every epoch: {'yes' if same else 'NO'}")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps; the XOR training for 2 epochs")
    args = ap.parse_args()
    cases = [(100, 300), (1000, 60)] if args.quick else [(100, 2000), (1000, 1000)]
    print(f"pair STDP dw = '{STDP.dw}', t_epoch 1; input spike probability {RATE} per step.\n"
          "Lava: Loihi2SimCfg(select_tag='fixed_pt'), one Monitor on the output spikes, compile and first step "
          "excluded. neurolearn: the same steps, one sample, final state only, best of 5.")
    head = (f"{'network':<26} | {'Lava steps/s':>12} {'neurolearn':>11} {'ratio':>7} | {'out rate':>12} | "
            "bit-identical")
    print(head)
    print("-" * len(head))
    for n, steps in cases:
        plan, learning = stdp_network(n)
        x = (np.random.default_rng(n).random((steps, n)) < RATE).astype(np.uint8)
        lava_rate, out, final = time_lava(plan, learning, x)
        nl_rate, nl_out = time_neurolearn(plan, learning, x)
        ok = same_bits(plan, learning, x, out, final)
        print(f"{f'{n} x {n} LearningDense':<26} | {lava_rate:>12.1f} {nl_rate:>11.0f} {nl_rate / lava_rate:>6.0f}x | "
              f"{nl_out:>12.3f} | {'yes' if ok else 'NO'} ({steps} steps)", flush=True)
    for row in xor_rows(epochs=2, full_epochs=2 if args.quick else OnChipConfig().epochs):
        print(row, flush=True)
    print("out rate: mean output spikes per neuron and step. XOR: Lava's steps/s after its first epoch (the "
          "build); the whole training's times include everything.")


if __name__ == "__main__":
    main()
