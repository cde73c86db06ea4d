"""One-shot place field by BTSP: one plateau on lap 2 makes a CA1-like cell fire where it occurred.

A cell receives 40 place-cell inputs (Gaussian fields along a 6 s lap, Poisson spikes, dt = 10 ms: the
eLife code's bin, and the finest step at which tau_et = 1.66 s fits Lava's 8-bit trace tau). Lap 1: no
plateau; lap 2: a 300 ms plateau at 3.5 s; lap 3: no plateau. The weights learn with eLife's
weight-dependent BTSP as a Loihi learning-engine program (neurolearn's bit-exact simulator of Lava's
LearningDense; the plateau arrives as third factors y1, y2 from the input), and, on the same spikes, with
the float rule (sigmoid q) and the float form the program implements. Prints the weight change per input
and the cell's firing per lap; saves a PNG.

    python examples/btsp_place_field.py --out btsp.png
"""
from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan, Plasticity
from neurolearn.rules import BTSP, ChipUnits
from neurolearn.sims.learning import simulate_learning

DT, LAP_S, N_IN, PLATEAU_S = 0.01, 6.0, 40, 3.5


def inputs(seed: int = 0):
    """Spikes (steps, N_IN) over 3 laps, field centres (s), and the plateau (steps, 1) on lap 2."""
    lap = int(LAP_S / DT)
    t = np.arange(3 * lap) * DT % LAP_S
    centres = np.linspace(0.2, LAP_S - 0.2, N_IN)
    rate = 0.25 * np.exp(-0.5 * ((t[:, None] - centres) / 0.35) ** 2)
    spikes = (np.random.default_rng(seed).random(rate.shape) < rate).astype(np.uint8)
    plateau = np.zeros((3 * lap, 1))
    start = lap + int(PLATEAU_S / DT)
    plateau[start:start + int(0.3 / DT)] = 1
    return spikes, centres, plateau


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "btsp_place_field.png"), help="PNG path")
    args = ap.parse_args()

    rule = BTSP(et_per_spike=0.04)
    ws = 255 / rule.w_max                      # weight units per float unit: W = w_max is weight 255
    units = ChipUnits(ws, DT)
    chip = rule.chip_rule(units)
    spikes, centres, plateau = inputs()
    w0 = np.full((1, N_IN), round(ws * 0.5))
    cell = LayerPlan("ca1", 1, du=2000, dv=1500, vth=550, bias_mant=np.zeros(1, int), bias_exp=np.zeros(1, int))
    plan = Plan(dt=DT, input_name="ca3", input_size=N_IN, layers=(cell,), outputs=("ca1",),
                connections=(ConnectionPlan("w", "ca3", "ca1", w0),))
    res = simulate_learning(plan, spikes, {"w": Plasticity(chip.program, "excitatory")},
                            {"w": rule.third_factors(plateau, units)})
    fixed = res.synapses["w"].weights[0, :, 0] / ws                    # (steps, N_IN)
    exact = rule.run(spikes, plateau, DT, w0 / ws, record=True)[:, 0]
    realized = rule.realized(units).run(spikes, plateau, DT, w0 / ws, record=True)[:, 0]
    out = res.sim.layers["ca1"].spikes[0, :, 0]

    print(f"program: dw = {chip.program.dw}")
    print(f"third factors from the input: {chip.third_factors}")
    print("approximations:\n  " + "\n  ".join(chip.approximations))
    lap = int(LAP_S / DT)
    d = {k: v[-1] - v[0] for k, v in (("fixed", fixed), ("exact", exact), ("chip", realized))}
    print(f"\n{'field centre - plateau (s)':>27} | {'dW float (sigmoid q)':>20} {'dW float (chip form)':>21} "
          f"{'dW fixed point':>15}")
    for i in range(0, N_IN, 4):
        print(f"{centres[i] - PLATEAU_S:>27.2f} | {d['exact'][i]:>20.3f} {d['chip'][i]:>21.3f} {d['fixed'][i]:>15.3f}")
    rms = lambda a, b: float(np.sqrt(np.mean((a - b) ** 2)))  # noqa: E731
    print(f"\nfixed vs float chip form: rms {rms(d['fixed'], d['chip']):.3f}, corr "
          f"{np.corrcoef(d['fixed'], d['chip'])[0, 1]:.3f}; fixed vs float sigmoid q: "
          f"rms {rms(d['fixed'], d['exact']):.3f}, "
          f"corr {np.corrcoef(d['fixed'], d['exact'])[0, 1]:.3f}; range of dW {np.ptp(d['exact']):.3f}")
    bins = np.arange(0, LAP_S + 1e-9, 0.5)
    print(f"\ncell spikes per 0.5 s of the lap (plateau at {PLATEAU_S} s on lap 2):")
    print(f"{'lap':>4} | " + " ".join(f"{b:>4.1f}" for b in bins[:-1]))
    counts = []
    for k in range(3):
        t_spk = np.nonzero(out[k * lap:(k + 1) * lap])[0] * DT
        counts.append(np.histogram(t_spk, bins)[0])
        print(f"{k + 1:>4} | " + " ".join(f"{c:>4d}" for c in counts[-1]))
    lap3 = np.nonzero(out[2 * lap:])[0] * DT
    centre = f"{lap3.mean():.2f} s" if lap3.size else "none"
    print(f"lap 1: {counts[0].sum()} spikes; lap 3: {counts[2].sum()} spikes, place field centre of mass {centre} "
          f"(plateau at {PLATEAU_S} s)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, style in (("exact", "-"), ("chip", "--"), ("fixed", "o")):
        a.plot(centres - PLATEAU_S, d[key], style, label={"exact": "float, sigmoid q", "chip": "float, chip form",
                                                          "fixed": "fixed-point program"}[key], ms=4)
    a.axvline(0, color="k", lw=0.5)
    a.set(xlabel="input field centre - plateau (s)", ylabel="dW after the plateau lap", title="BTSP kernel")
    a.legend(fontsize=8)
    for k in (0, 2):
        b.step(bins[:-1], counts[k], where="post", label=f"lap {k + 1}")
    b.axvspan(PLATEAU_S, PLATEAU_S + 0.3, color="orange", alpha=0.3, label="plateau (lap 2)")
    b.set(xlabel="position in lap (s)", ylabel="spikes per 0.5 s", title="place field")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
