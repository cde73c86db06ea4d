"""On-chip burstprop XOR: the whole training in neurolearn's fixed point, in Lava and in the float twin.

For each seed: the XOR network compiled with its rule (neurolearn.train.onchip, default protocol) learns
over the full schedule. Prints per seed whether XOR was learned (fixed point and float twin), the final
evaluation rates and their float-minus-fixed difference, and for the Lava seeds the wall time of the
whole training both ways and whether every event, burst and epoch-end weight is bit-identical.

    python benchmarks/onchip_xor.py                       # seeds 0-4, Lava for seeds 0-2 (~20 min)
    python benchmarks/onchip_xor.py --lava-seeds 0 --epochs 10
"""
from __future__ import annotations

import argparse
import time

from neurolearn.lava.runner import run_lava
from neurolearn.sims.epochs import run_fixed
from neurolearn.sims.float_twin import run_float_twin
from neurolearn.train.onchip import OnChipConfig, compile_xor, eval_rates, solved
from neurolearn.verify import compare_epochs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--lava-seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=OnChipConfig().epochs)
    args = ap.parse_args()
    cfg = OnChipConfig(epochs=args.epochs)
    print(f"on-chip XOR: {cfg.epochs} epochs x 4 presentations of {cfg.steps_predict} + {cfg.steps_teach} steps, "
          f"then {cfg.steps_eval} evaluation steps per pattern; eta {cfg.eta}, band teacher "
          f"{cfg.target_lo}..{cfg.target_hi} events/step.\nrates: output events per neuron and step for 00 10 01 11 "
          "in the final evaluation.")
    head = (f"{'seed':>4} | {'fixed rates':<27} {'XOR':<4}| {'float twin rates':<27} {'XOR':<4}| {'float - fixed':<27}"
            f"| {'neurolearn s':>12} {'Lava s':>8} {'ratio':>6} | bit-identical")
    print(head + "\n" + "-" * len(head))
    fixed_ok = float_ok = 0
    for seed in args.seeds:
        compiled, schedule, net = compile_xor(seed, cfg)
        run_fixed(compiled.plan, schedule.first_epochs(1))  # JIT warm-up outside the timing
        t = time.perf_counter()
        fx = run_fixed(compiled.plan, schedule)
        t_fx = time.perf_counter() - t
        fl = run_float_twin(net, compiled, schedule, cfg.teacher)
        r_fx, r_fl = eval_rates(fx, schedule), eval_rates(fl, schedule)
        fixed_ok += solved(fx, schedule)
        float_ok += solved(fl, schedule)
        lava = "not run in Lava"
        t_lv = None
        if seed in args.lava_seeds:
            t = time.perf_counter()
            lv = run_lava(compiled.plan, schedule)
            t_lv = time.perf_counter() - t
            rows = compare_epochs(fx, lv, schedule)
            bad = [r.epoch for r in rows if not r.ok]
            lava = f"all {len(rows)} epochs" if not bad else f"NO (first epoch {bad[0]})"
        fmt = " ".join(f"{x:.3f}" for x in r_fx), " ".join(f"{x:.3f}" for x in r_fl)
        diff = " ".join(f"{x:+.3f}" for x in r_fl - r_fx)
        times = f"{t_fx:>12.2f} {t_lv:>8.0f} {t_lv / t_fx:>5.0f}x" if t_lv else f"{t_fx:>12.2f} {'':>8} {'':>6}"
        print(f"{seed:>4} | {fmt[0]:<27} {'yes' if solved(fx, schedule) else 'no':<4}| {fmt[1]:<27} "
              f"{'yes' if solved(fl, schedule) else 'no':<4}| {diff:<27}| {times} | {lava}", flush=True)
    n = len(args.seeds)
    if not n:
        return 0
    print(f"\nXOR learned: fixed point (= Lava) {fixed_ok}/{n} seeds, float twin {float_ok}/{n} seeds; "
          f"{schedule.steps} steps per training.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
