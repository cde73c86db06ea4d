"""neurolearn's own kernels only, two source trees back to back: how much a change costs or gains.

Each round runs every case once per tree, alternating trees, in a fresh process (``PYTHONPATH`` = the tree,
numba's JIT warm-up excluded, best of ``--repeats`` inside the process); the table gives each tree's best
seconds over all rounds and the ratio. ``--cpu``: the process's CPU seconds instead of wall seconds (steadier
on a shared machine; the same thing with NUMBA_NUM_THREADS=1). Cases: the whole on-chip XOR training
(``run_fixed``); STDP ``simulate_learning`` at 20 neurons (a batch of 64), 100 and 1000 neurons (final state
only); ``simulate_fixed`` on Dense+LIF 100 (one sample) and 784-500-10 (batch 64), with and without u, v
recording. Nothing of Lava runs.

    NUMBA_NUM_THREADS=1 python benchmarks/kernel_speed.py /tmp/old-tree . --rounds 3 --cpu
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def best_of(fn, repeats: int, clock) -> float:
    """Best seconds of ``repeats`` calls after one warm-up call."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def measure(repeats: int, clock) -> dict[str, float]:
    """Every case in this process (the tree on ``PYTHONPATH``): best seconds."""
    from learning_speed import RATE as STDP_RATE
    from learning_speed import stdp_network
    from sim_speed import RATE as SIM_RATE
    from sim_speed import random_plan

    from neurolearn.sims.epochs import run_fixed
    from neurolearn.sims.fixed import simulate_fixed
    from neurolearn.sims.learning import simulate_learning
    from neurolearn.train.onchip import OnChipConfig, compile_xor

    compiled, schedule, _ = compile_xor(0, OnChipConfig())
    times = {"xor training": best_of(lambda: run_fixed(compiled.plan, schedule), repeats, clock)}
    for n, batch, steps in ((20, 64, 50), (100, 1, 2000), (1000, 1, 1000)):
        plan, learning = stdp_network(n)
        x = (np.random.default_rng(n).random((batch, steps, n)) < STDP_RATE).astype(np.uint8)
        times[f"stdp {n} x {n}, batch {batch}, {steps} steps"] = best_of(
            lambda: simulate_learning(plan, x, learning, record=False, record_uv=False), repeats, clock)
    for sizes, batch, steps, uv in (([100, 100], 1, 20000, False), ([784, 500, 10], 64, 500, False),
                                    ([784, 500, 10], 64, 500, True)):
        plan = random_plan(sizes)
        x = (np.random.default_rng(0).random((batch, steps, sizes[0])) < SIM_RATE).astype(np.uint8)
        times[f"fixed {'-'.join(map(str, sizes))}, batch {batch}, {steps} steps{', u v' if uv else ''}"] = best_of(
            lambda: simulate_fixed(plan, x, record_uv=uv), repeats, clock)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs="*", help="source trees to compare (the first is the base)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="CPU seconds of the process instead of wall seconds")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeats, time.process_time if args.cpu else time.perf_counter)))
        return
    trees = [os.path.abspath(t) for t in args.trees or ["."]]
    best = {t: {} for t in trees}
    for r in range(args.rounds):
        for tree in trees:
            cmd = [sys.executable, __file__, "--child", "--repeats", str(args.repeats)] + ["--cpu"] * args.cpu
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": tree}).stdout
            for case, sec in json.loads(out.splitlines()[-1]).items():
                best[tree][case] = min(best[tree].get(case, np.inf), sec)
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    base = trees[0]
    print(f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}; best {'CPU' if args.cpu else 'wall'} "
          f"seconds of {args.rounds} rounds x {args.repeats} repeats; ratio = tree / {base}")
    head = f"{'case':<44} | " + " | ".join(f"{t[-24:]:>24}" for t in trees)
    print(head + (" | ratio" if len(trees) > 1 else ""))
    print("-" * (len(head) + 8))
    for case in best[base]:
        cells = " | ".join(f"{best[t][case]:>24.4f}" for t in trees)
        ratios = " ".join(f"{best[t][case] / best[base][case]:.3f}" for t in trees[1:])
        print(f"{case:<44} | {cells} | {ratios}")


if __name__ == "__main__":
    main()
