"""Test accuracy and speed of every rule on every task, side by side in one run (a sweep: neurolearn.train.sweep).

Rate form for every rule; the spiking form (row ``burstprop-spiking``: two-compartment burst neurons,
spiking burstprop rule) on xor and digits. For spiking XOR the accuracy column is the share of seeds
in which XOR is solved (output event rate ordered right on all four patterns).

Prints one table: mean +- sd test accuracy over seeds (final epoch, no early stopping) and training
seconds per epoch (evaluation excluded), with each rule's time relative to backprop's on the same
task. The runs are one sweep: on Ray where it is installed (a local instance with this machine's cores, or a
cluster with --address), else one after another; each run's metrics go to OUT/runs/ as it ends, so --resume
picks an interrupted sweep up. Hyperparameters are neurolearn.train.loop's presets, recorded per run.

    python benchmarks/accuracy.py                 # 5 seeds, full epochs (Fashion-MNIST: tens of minutes)
    python benchmarks/accuracy.py --quick         # CI-sized: small nets, few epochs, data subsets
    python benchmarks/accuracy.py --tasks digits --seeds 3 --out SWEEP [--resume] [--address ray://head:10001]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile

import numpy as np

from neurolearn.train.catalog import HIDDEN, TASKS
from neurolearn.train.sweep import ENGINES, SWEEP_ROWS, SweepRun, group_runs, run_sweep, sweep_table

SPIKING_EPOCHS = {"xor": 200, "digits": 30}
EPOCHS = {"xor": 40, "digits": 50, "fashion-mnist": 10}
QUICK_EPOCHS = {"xor": 40, "digits": 10, "fashion-mnist": 2}
QUICK_HIDDEN = {"xor": (8,), "digits": (500, 500), "fashion-mnist": (100, 100)}
QUICK_SUBSET = {"fashion-mnist": (5000, 1000)}  # train, test samples in --quick
ROWS = [name for name, (_, _, form) in SWEEP_ROWS.items() if form != "on-chip"]   # benchmarks/onchip_xor.py


def grid(args) -> list[SweepRun]:
    """The benchmark's runs, interleaved (task, then seed, then rule) so every rule sees the same load."""
    runs = []
    for task in args.tasks:
        for seed in range(args.seeds):
            for name in args.rules:
                if SWEEP_ROWS[name][2] == "spiking":
                    if task in SPIKING_EPOCHS:
                        runs.append(SweepRun(task, name, seed, args.epochs or SPIKING_EPOCHS[task],
                                             threads=args.threads))
                    continue
                runs.append(SweepRun(task, name, seed, args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS)[task],
                                     (QUICK_HIDDEN if args.quick else HIDDEN)[task],
                                     QUICK_SUBSET.get(task) if args.quick else None, args.threads, args.data))
    return runs


def by_task(records: list) -> dict:
    """{task: {rule: [metrics, ...]}} of the successful runs."""
    results = {}
    for (task, rule, _, _), runs in group_runs(records).items():
        results.setdefault(task, {}).setdefault(rule, []).extend(runs)
    return results


def checks(results: dict) -> list[str]:
    """The issue's targets, each as a line with its measured numbers."""
    out = []
    for task_name, rows in results.items():
        acc = {name: 100 * np.mean([m["test_acc"] for m in runs]) for name, runs in rows.items()}
        sec = {name: np.mean([m["seconds_per_epoch"] for m in runs]) for name, runs in rows.items()}
        if {"backprop", "burstprop-learned"} <= acc.keys():
            gap = acc["backprop"] - acc["burstprop-learned"]
            out.append(f"{task_name}: learned-feedback burstprop within 1.0 point of backprop: "
                       f"{'yes' if gap <= 1.0 else 'NO'} (gap {gap:+.2f})")
        if {"fa", "burstprop-random"} <= acc.keys():
            gap = acc["burstprop-random"] - acc["fa"]
            out.append(f"{task_name}: random-feedback burstprop >= feedback alignment: "
                       f"{'yes' if gap >= 0 else 'NO'} ({gap:+.2f} points)")
        if "burstprop-spiking" in rows:
            runs = rows["burstprop-spiking"]
            if task_name == "xor":
                solved = sum(m["test_acc"] == 1.0 for m in runs)
                out.append(f"xor: spiking burstprop solves XOR in {solved} of {len(runs)} seeds")
            else:
                out.append(f"{task_name}: spiking burstprop >= 90 % test accuracy: "
                           f"{'yes' if acc['burstprop-spiking'] >= 90 else 'NO'} ({acc['burstprop-spiking']:.2f})")
        rate_rows = (n for n in sec if n.startswith("burstprop") and n != "burstprop-spiking" and "backprop" in sec)
        for name in rate_rows:
            ratio = sec[name] / sec["backprop"]
            out.append(f"{task_name}: {name} s/epoch <= 2x backprop: {'yes' if ratio <= 2 else 'NO'} ({ratio:.2f}x)")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI-sized: small nets, few epochs, data subsets")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    p.add_argument("--epochs", type=int, help="epochs for every task (default per task: %s; --quick: %s)"
                   % (EPOCHS, QUICK_EPOCHS))
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--rules", nargs="+", choices=ROWS,
                   help="rows to run (default: all; with --quick all but burstprop-spiking)")
    p.add_argument("--data", help="MNIST-format directory for fashion-mnist")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (default 1: steadier timings)")
    p.add_argument("--engine", choices=ENGINES, default="auto", help="ray, serial, or auto (Ray where installed)")
    p.add_argument("--address", help="an existing Ray cluster")
    p.add_argument("--out", help="sweep directory (runs/, sweep.json, table.txt; default: a temporary one)")
    p.add_argument("--resume", action="store_true", help="skip the runs whose results exist in --out")
    p.add_argument("--json", help="also write every run's record to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress")
    args = p.parse_args(argv)
    if args.rules is None:
        args.rules = [n for n in ROWS if not (args.quick and n == "burstprop-spiking")]
    with tempfile.TemporaryDirectory() as tmp:
        res = run_sweep(grid(args), args.out or tmp, engine=args.engine, address=args.address, resume=args.resume,
                        progress=not args.quiet)
    results = by_task(res.records)
    threads = {m["torch_threads"] for rows in results.values() for runs in rows.values() for m in runs
               if "torch_threads" in m}
    print(f"\nbatch 32 (rate) / 32 (spiking digits), torch threads {sorted(threads)}, final-epoch test accuracy; "
          f"{len(res.records)} runs on {res.engine} in {res.seconds:.0f} s\n")
    print(sweep_table(res.records))
    print()
    print("\n".join(checks(results)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.records, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
