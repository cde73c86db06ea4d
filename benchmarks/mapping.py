"""Mapper speed and quality: networks of 1k to 1M neurons on Loihi 2 (and Loihi 1), in one run.

Each network is a chain of equal layers with sparse random connectivity (100 synapses per neuron,
8-bit mixed-sign weights), described by its per-layer demands, plus the three reference networks
(digits 64-48-10, Fashion-MNIST 784-500-500-10, Payeur's XOR 5x500) built as real plans.
Prints mapper seconds, cores used, the lower bound (total neurons or synaptic memory over one core's
capacity) and the ratio.

    python benchmarks/mapping.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurolearn.hardware.description import load_target  # noqa: E402
from neurolearn.hardware.fit import check_demands, check_fit  # noqa: E402
from neurolearn.hardware.mapper import LayerDemand  # noqa: E402
from tests.hardware.test_hardware import dense_plan, xor_plan  # noqa: E402

SYNAPSES = 100


def chain(neurons: int, layers: int, target) -> list[LayerDemand]:
    """``layers`` equal layers of ``neurons // layers``; sparse synapses: weight + index bits each."""
    n = neurons // layers
    bits = SYNAPSES * (9 + target.chip.index_bits)
    rng = np.random.default_rng(0)
    return [LayerDemand(f"l{i}", n, np.full(n, bits) + rng.integers(0, 9, n), fan_in=min(n, 4 * SYNAPSES),
                        targets=(f"l{i + 1}",) if i + 1 < layers else (), out_synapses=SYNAPSES)
            for i in range(layers)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = [1_000, 10_000, 100_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    head = f"{'network':<34} {'target':<14} {'seconds':>8} {'cores':>7} {'lower bound':>12} {'ratio':>6}  fits"
    print(head)
    print("-" * len(head))
    rows = []
    for tname, board in (("loihi2", "hala-point"), ("loihi1", "pohoiki-springs")):
        target = load_target(tname, board)
        for n in sizes:
            demands = chain(n, 10, target)
            t = time.perf_counter()
            report = check_demands(demands, target)
            rows.append((f"{n:,} neurons (10 layers)", target, time.perf_counter() - t, report))
        for name, plan in (("digits 64-48-10", dense_plan([64, 48, 10])),
                           ("fashion-mnist 784-500-500-10", dense_plan([784, 500, 500, 10])),
                           ("xor 5x500 (in-degree 100)", xor_plan())):
            t = time.perf_counter()
            report = check_fit(plan, load_target(tname))
            rows.append((name, load_target(tname), time.perf_counter() - t, report))
    for name, target, sec, report in rows:
        p = report.placement
        print(f"{name:<34} {target.name:<14} {sec:>8.2f} {len(p.cores):>7} {p.lower_bound:>12} "
              f"{len(p.cores) / p.lower_bound:>6.3f}  {'yes' if report.fits else 'no: ' + report.problems[0]}")


if __name__ == "__main__":
    main()
