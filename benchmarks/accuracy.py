"""Test accuracy and speed of every rule on every task, side by side in one run.

Rate form for every rule; the spiking form (row ``burstprop-spiking``: two-compartment burst neurons,
spiking burstprop rule) on xor and digits. For spiking XOR the accuracy column is the share of seeds
in which XOR is solved (output event rate ordered right on all four patterns).

Prints one table: mean +- sd test accuracy over seeds (final epoch, no early stopping) and training
seconds per epoch (evaluation excluded), with each rule's time relative to backprop's on the same
task. Runs are interleaved (task, then seed, then rule), so every rule sees the same machine load.
Hyperparameters are neurolearn.train.loop.PRESETS, recorded per run with --json.

    python benchmarks/accuracy.py                 # 5 seeds, full epochs (Fashion-MNIST: tens of minutes)
    python benchmarks/accuracy.py --quick         # CI-sized: small nets, few epochs, data subsets
    python benchmarks/accuracy.py --tasks digits --seeds 3 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from neurolearn.errors import NeurolearnError
from neurolearn.train.loop import HIDDEN, TASKS, Task, load_task, preset_rule, train

CONFIGS = {  # row name -> (rule, burstprop feedback)
    "backprop": ("backprop", None),
    "fa": ("fa", None),
    "burstprop-random": ("burstprop", "random"),
    "burstprop-learned": ("burstprop", "learned"),
    "burstprop-symmetric": ("burstprop", "symmetric"),
    "burstprop-spiking": ("burstprop-spiking", None),
}
SPIKING_EPOCHS = {"xor": 200, "digits": 30}
EPOCHS = {"xor": 40, "digits": 50, "fashion-mnist": 10}
QUICK_EPOCHS = {"xor": 40, "digits": 10, "fashion-mnist": 2}
QUICK_HIDDEN = {"xor": (8,), "digits": (500, 500), "fashion-mnist": (100, 100)}
QUICK_SUBSET = {"fashion-mnist": (5000, 1000)}  # train, test samples in --quick


def subset(task: Task, n_train: int, n_test: int) -> Task:
    return Task(task.name, task.x_train[:n_train], task.y_train[:n_train], task.x_test[:n_test],
                task.y_test[:n_test], task.n_classes)


def run(args) -> dict:
    results = {}
    for task_name in args.tasks:
        try:
            task = load_task(task_name, args.data)
        except NeurolearnError as exc:
            print(f"skipping {task_name}: {exc}", file=sys.stderr)
            continue
        if args.quick and task_name in QUICK_SUBSET:
            task = subset(task, *QUICK_SUBSET[task_name])
        hidden = (QUICK_HIDDEN if args.quick else HIDDEN)[task_name]
        epochs = args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS)[task_name]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name in args.rules:
                rule_name, feedback = CONFIGS[name]
                if rule_name == "burstprop-spiking":
                    if task_name in SPIKING_EPOCHS:
                        m = spiking_run(task_name, seed, args.epochs or SPIKING_EPOCHS[task_name])
                        results.setdefault(task_name, {}).setdefault(name, []).append(m)
                        print(f"{task_name:13s} {name:20s} seed {seed}: test acc {m['test_acc']:.4f}, "
                              f"{m['seconds_per_epoch']:.3f} s/epoch", file=sys.stderr)
                    continue
                rule = preset_rule(rule_name, task_name, feedback=feedback, n_hidden=len(hidden))
                start = time.perf_counter()
                _, m = train(rule, task, epochs=epochs, seed=seed, hidden=hidden, progress=not args.quiet)
                results.setdefault(task_name, {}).setdefault(name, []).append(m)
                print(f"{task_name:13s} {name:20s} seed {seed}: test acc {m['test_acc']:.4f}, "
                      f"{m['seconds_per_epoch']:.3f} s/epoch ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return results


def spiking_run(task_name: str, seed: int, epochs: int) -> dict:
    """One spiking burstprop run, as a metrics dict like the rate runs'."""
    from neurolearn.train import spiking as sp

    if task_name == "xor":
        task, cfg, rule, every = sp.spiking_xor_task(), sp.XOR_CONFIG, sp.BurstpropSpiking(), 0
    else:
        task, cfg, rule, every = sp.spiking_digits_task(), sp.DIGITS_CONFIG, sp.DIGITS_RULE, 0
    start = time.perf_counter()
    res = sp.train_spiking(task, cfg, rule, epochs=epochs, seed=seed, eval_every=every)
    m = res.to_metrics()
    if task_name == "xor":
        m["test_acc"] = float(sp.xor_solved(res.rates_after))
    m.update(seconds_per_epoch=(time.perf_counter() - start) / epochs, epochs=epochs,
             sizes=[task.n_in, cfg.n_hidden, task.classes * cfg.per_class], torch_threads=torch.get_num_threads())
    return m


def table(results: dict) -> str:
    lines = [f"{'task':13s} {'rule':20s} {'sizes':15s} {'epochs':>6s} {'seeds':>5s} {'test acc (%)':>15s} "
             f"{'s/epoch':>8s} {'x backprop':>10s}",
             "-" * 100]
    for task_name, rows in results.items():
        bp_time = np.mean([m["seconds_per_epoch"] for m in rows["backprop"]]) if "backprop" in rows else None
        for name, runs in rows.items():
            acc = 100 * np.array([m["test_acc"] for m in runs])
            sec = float(np.mean([m["seconds_per_epoch"] for m in runs]))
            rel = f"{sec / bp_time:10.2f}" if bp_time else f"{'-':>10s}"
            sizes = "-".join(map(str, runs[0]["sizes"]))
            lines.append(f"{task_name:13s} {name:20s} {sizes:15s} {runs[0]['epochs']:6d} {len(runs):5d} "
                         f"{acc.mean():8.2f} +- {acc.std(ddof=1) if len(acc) > 1 else 0:4.2f} {sec:8.3f} {rel}")
    return "\n".join(lines)


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
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from here (to split a run; see --merge)")
    p.add_argument("--epochs", type=int, help="epochs for every task (default per task: %s; --quick: %s)"
                   % (EPOCHS, QUICK_EPOCHS))
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--rules", nargs="+", choices=tuple(CONFIGS),
                   help="rows to run (default: all; with --quick all but burstprop-spiking)")
    p.add_argument("--data", help="MNIST-format directory for fashion-mnist")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steadier timings)")
    p.add_argument("--json", help="write every run's metrics to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="print the table of runs saved with --json; run nothing")
    args = p.parse_args(argv)
    if args.rules is None:
        args.rules = [n for n in CONFIGS if not (args.quick and n == "burstprop-spiking")]
    if args.merge:
        results = {}
        for path in args.merge:
            with open(path) as f:
                for task_name, rows in json.load(f).items():
                    for name, runs in rows.items():
                        results.setdefault(task_name, {}).setdefault(name, []).extend(runs)
    else:
        torch.set_num_threads(args.threads)
        np.finfo(np.float32), np.finfo(np.float64)  # cached before flushing, which would make numpy warn
        torch.set_flush_denormal(True)  # saturated sigmoids otherwise slow some runs by denormal arithmetic
        results = run(args)
    threads = {m["torch_threads"] for rows in results.values() for runs in rows.values() for m in runs}
    print(f"\nbatch 32 (rate) / 32 (spiking digits), torch threads {sorted(threads)}, final-epoch test accuracy\n")
    print(table(results))
    print()
    print("\n".join(checks(results)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
