"""Dendritic balance, error-neuron form: learned inhibition cancels the input and the error falls.

Four latent sources z (one active at a time, 50 steps each) drive eight inputs x through a fixed
non-negative mixing D_true (Poisson spikes). Each input excites one error neuron (the "dendrite"); the
sources inhibit the error neurons through learned weights W (relayed by one LIF layer). The balance rule
``dW = -eta z (e - baseline)`` (DendriticBalance, two-factor: the error neuron's own spike trace minus its
baseline is the residual) makes -W learn D_true, so each error neuron returns to its baseline rate:
x - D z -> 0. Runs the fixed-point program in neurolearn's simulator (bit-exact with Lava), replays the float
rule on the same spikes, prints the error per block of patterns and float-vs-fixed agreement; saves a PNG.

    python examples/dendritic_balance.py --out db.png
"""
from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import replace

import numpy as np

from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan, Plasticity
from neurolearn.rules import ChipUnits, DendriticBalance
from neurolearn.rules.engine_numbers import exp_trace
from neurolearn.sims.learning import simulate_learning

N_X, N_Z, PATTERN, PATTERNS = 8, 4, 50, 240
UNITS, IMPULSE = ChipUnits(weight=64.0), 4.0   # weight units per float unit; trace units per spike
D_TRUE = np.array([[1, 0, 0, .5], [1, .5, 0, 0], [0, 1, 0, 0], [0, 1, .5, 0],
                   [0, 0, 1, 0], [.5, 0, 1, 0], [0, 0, 0, 1], [0, .5, 0, 1]])


def network(seed: int = 0):
    """Input spikes [x (8), z (4)] (steps, 12), the active source per pattern, and the plan."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, N_Z, PATTERNS)
    z = np.repeat(np.eye(N_Z)[src], PATTERN, axis=0)
    p = np.concatenate([0.2 * z @ D_TRUE.T, 0.3 * z], axis=1)
    spikes = (rng.random(p.shape) < p).astype(np.uint8)
    relay = LayerPlan("z", N_Z, du=4095, dv=4095, vth=1, bias_mant=np.zeros(N_Z, int), bias_exp=np.zeros(N_Z, int))
    err = LayerPlan("e", N_X, du=4095, dv=600, vth=100, bias_mant=np.full(N_X, 1000), bias_exp=np.zeros(N_X, int))
    conns = (ConnectionPlan("x_e", "in", "e", np.hstack([120 * np.eye(N_X, dtype=int), np.zeros((N_X, N_Z), int)])),
             ConnectionPlan("in_z", "in", "z", np.hstack([np.zeros((N_Z, N_X), int), 255 * np.eye(N_Z, dtype=int)])),
             ConnectionPlan("w", "z", "e", np.zeros((N_X, N_Z), int)))
    plan = Plan(dt=1e-3, input_name="in", input_size=N_X + N_Z, layers=(relay, err), outputs=("e",),
                connections=conns)
    return spikes, src, plan


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "dendritic_balance.png"), help="PNG path")
    args = ap.parse_args()
    spikes, src, plan = network()

    # the error neurons' trace at zero residual: their bias alone (no x, no z)
    rule = DendriticBalance(eta=2**-12, tau_pre=10, tau_post=10, pre_impulse=IMPULSE, post_impulse=IMPULSE)
    quiet = simulate_learning(plan, np.zeros((400, N_X + N_Z), np.uint8), {"w": Plasticity(
        rule.chip_rule(UNITS).program)}, record=False)
    base = float(exp_trace(quiet.sim.layers["e"].spikes[0][100:], 10.0).mean())
    rule = replace(rule, baseline=base)
    chip = rule.chip_rule(UNITS)
    res = simulate_learning(plan, spikes, {"w": Plasticity(chip.program)})
    z_spk, e_spk = res.sim.layers["z"].spikes[0], res.sim.layers["e"].spikes[0]
    w_fixed = res.synapses["w"].weights[0] / UNITS.weight                    # (steps, N_X, N_Z)
    w_float = rule.realized(UNITS).float_run(z_spk, e_spk, record=True)

    print(f"program: dw = {chip.program.dw}   (two-factor: the residual is the error neuron's trace - baseline)")
    print("approximations:\n  " + "\n  ".join(chip.approximations))
    e_rate = e_spk.reshape(PATTERNS, PATTERN, N_X)[:, 10:].mean(1)           # per pattern, after the onset
    r0 = quiet.sim.layers["e"].spikes[0][100:].mean()
    block = PATTERNS // 8
    print(f"\nerror neurons' baseline rate {r0:.3f} spikes/step (trace {base:.2f}); per block of {block} patterns:")
    print(f"{'patterns':>10} | {'|rate - baseline|':>17} | {'corr(-W, D_true)':>16} | {'|W fixed - W float|':>19}")
    rows = []
    for b in range(8):
        sl = slice(b * block, (b + 1) * block)
        t = (b + 1) * block * PATTERN - 1
        dev = float(np.abs(e_rate[sl] - r0).mean())
        corr = float(np.corrcoef(-w_fixed[t].ravel(), D_TRUE.ravel())[0, 1]) if w_fixed[t].any() else 0.0
        diff = float(np.abs(w_fixed[t] - w_float[t]).max())
        rows.append((dev, corr))
        print(f"{b * block:>4}-{(b + 1) * block - 1:<5} | {dev:>17.4f} | {corr:>16.3f} | {diff:>19.3f}")
    final = -w_fixed[-1]
    print(f"\nlearned -W (fixed point, float units; D_true in brackets, scale {final.max() / D_TRUE.max():.2f}):")
    for i in range(N_X):
        print("  " + " ".join(f"{final[i, k]:5.2f} [{D_TRUE[i, k]:.1f}]" for k in range(N_Z)))
    diff = w_fixed[-1] - w_float[-1]
    print(f"float vs fixed at the end: max |W| difference {np.abs(diff).max():.3f} of max |W| "
          f"{np.abs(w_float[-1]).max():.3f}; mean signed difference {diff.mean():+.3f} (the product's truncation "
          f"toward -inf, reported above: at most {-len(w_fixed) * 2.0 ** -7 / UNITS.weight:.3f} over {len(w_fixed)} "
          "steps)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(np.arange(8) * block, [r[0] for r in rows], "o-")
    a.set(xlabel="pattern", ylabel="|error rate - baseline| (spikes/step)", title="balanced dendrites")
    steps = np.arange(len(w_fixed))
    for k, (i, j) in enumerate([(0, 0), (2, 1), (4, 2), (6, 3)]):
        b.plot(steps, -w_fixed[:, i, j], color=f"C{k}", label=f"-W[{i},{j}] fixed")
        b.plot(steps, -w_float[:, i, j], "--", color=f"C{k}", lw=0.8)
    b.set(xlabel="step", ylabel="-W (float units)", title="learned inhibition (dashed: float rule)")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
