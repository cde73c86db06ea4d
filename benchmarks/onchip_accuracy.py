"""On-chip burstprop classification beside its float twin, host-side spiking burstprop, rate burstprop and backprop.

Per task one architecture for every method: the on-chip burstprop default, inputs ->
ONCHIP_PRESETS[(task, "burstprop")].hidden -> 10 classes (the spiking forms: 10 output neurons per class; the rate
forms: one unit per class). One on-chip run
(``neurolearn train --spiking --on-chip``) gives two rows: its fixed point (neurolearn's learning simulator,
bit-exact with Lava) and its float twin, run side by side. Host-side spiking burstprop (neurolearn.train.spiking,
the digits preset with the hidden and output sizes above) exists for digits only (catalog.SPIKING_TASKS). Rate
rules: neurolearn.train.loop's presets (burstprop: learned feedback), batch 32. Epochs: ``neurolearn train``'s
defaults per form (cli.DEFAULT_EPOCHS) unless --epochs. --train-samples/--test-samples take the first N samples
of each set, for every method.

Prints one table: test accuracy mean +- sd over seeds (%, final epoch), training wall time per epoch (s, test
evaluation excluded; on chip the fixed point and the float twin train at the same time on two threads) and
simulator steps/s (on chip: time steps of the one input stream; host spiking: sample-steps, 32 samples side by
side). Then per task Lava's steps/s (Loihi2SimCfg fixed_pt) on the first on-chip run's network over its first
--lava-steps training steps (whole samples; the first sample, which includes Lava's build, excluded), the ratio of
neurolearn's training steps/s to it, and whether those steps are bit-identical. Each run's directory is kept in
OUT/runs/; a rerun with the same --out reuses finished runs (their metrics.json) instead of training again.

    python benchmarks/onchip_accuracy.py --out OUT     # 3 seeds, both tasks, default epochs (~75 min, estimated)
    python benchmarks/onchip_accuracy.py --tasks digits --seeds 0 1 --train-samples 200 --test-samples 100 \\
        --epochs 1 --lava-steps 100 --out /tmp/ob      # a tiny run (~1 min on 2 cores)
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from neurolearn.train.catalog import SPIKING_TASKS
from neurolearn.train.cli import DEFAULT_EPOCHS, METRICS, write_run
from neurolearn.train.onchip_classify import ONCHIP_PRESETS

TASKS = tuple(dict.fromkeys(task for task, _ in ONCHIP_PRESETS))
METHODS = {   # method -> (label, run kind, form for the default epochs)
    "onchip": ("on-chip fixed point", "onchip", "on-chip"),
    "float-twin": ("float twin (on chip)", "onchip", "on-chip"),
    "host-spiking": ("host spiking burstprop", "host-spiking", "spiking"),
    "rate-burstprop": ("rate burstprop", "rate-burstprop", "rate"),
    "backprop": ("backprop", "backprop", "rate"),
}


def subset(task, n_train: int | None, n_test: int | None):
    """A task (loop.Task or spiking.SpikingTask) cut to its first n_train training and n_test test samples."""
    return replace(task, x_train=task.x_train[:n_train], y_train=task.y_train[:n_train], x_test=task.x_test[:n_test],
                   y_test=task.y_test[:n_test])


def train_onchip(task: str, seed: int, epochs: int, args, run: Path) -> None:
    """``neurolearn train --spiking --on-chip`` into ``run`` (fixed point and float twin)."""
    from neurolearn.cli import main as cli

    argv = ["train", "--rule", "burstprop", "--task", task, "--spiking", "--on-chip", "--epochs", str(epochs),
            "--seed", str(seed), "-o", str(run)]
    for flag, value in (("--train-samples", args.train_samples), ("--test-samples", args.test_samples),
                        ("--data", args.data if task == "fashion-mnist" else None)):
        argv += [flag, str(value)] if value is not None else []
    if cli(argv):
        raise SystemExit(f"neurolearn {' '.join(argv)} failed")


def warm_up() -> None:
    """Compile the learning simulator's kernels (numba, once per process) on a tiny on-chip run, outside any timing."""
    from neurolearn.train.onchip_classify import train_onchip_classifier

    x, y = np.random.default_rng(0).random((10, 4)), np.arange(10)
    train_onchip_classifier("warm-up", (x, y, x, y), replace(ONCHIP_PRESETS[("digits", "burstprop")], hidden=(4,)),
                            1, 0)


def train_host_spiking(task: str, seed: int, epochs: int, args, run: Path) -> None:
    """Host-side spiking burstprop (digits preset; hidden and output sizes of the on-chip network) into ``run``."""
    from neurolearn.train import spiking as sp

    assert task == "digits", task   # the host-side spiking form has a digits task only (filtered by the caller)
    chip = ONCHIP_PRESETS[(task, "burstprop")]
    cfg = replace(sp.DIGITS_CONFIG, n_hidden=chip.hidden[0], per_class=chip.per_class)
    data = subset(sp.spiking_digits_task(), args.train_samples, args.test_samples)
    res = sp.train_spiking(data, cfg, sp.DIGITS_RULE, epochs=epochs, seed=seed, eval_every=0)
    metrics = {**res.to_metrics(), "epochs": epochs, "samples": {"train": len(data.x_train), "test": len(data.x_test)},
               "steps_per_sample": cfg.steps_predict + cfg.steps_teach}
    write_run(run, metrics)


def train_rate(rule: str, task: str, seed: int, epochs: int, args, run: Path) -> None:
    """Rate-form ``rule`` (loop's preset) on the on-chip hidden sizes into ``run``."""
    from neurolearn.train.loop import load_task, preset_rule, train

    hidden = ONCHIP_PRESETS[(task, "burstprop")].hidden
    data = subset(load_task(task, args.data), args.train_samples, args.test_samples)
    _, metrics = train(preset_rule(rule, task, n_hidden=len(hidden)), data, epochs=epochs, seed=seed, hidden=hidden,
                       progress=False)
    write_run(run, {**metrics, "samples": {"train": len(data.x_train), "test": len(data.x_test)}})


def row_numbers(method: str, m: dict) -> tuple[float, float, float | None]:
    """(test accuracy, training s per epoch, simulator steps/s or None) of one run's metrics.json."""
    if method in ("onchip", "float-twin"):
        side = m["fixed" if method == "onchip" else "float"]
        rows = side["epochs"]
        return side["test_accuracy"], float(np.mean([r["seconds"] for r in rows])), rows[-1]["steps_per_s"]
    if method == "host-spiking":
        sec = m["seconds_per_epoch"]   # None: no epoch trained
        return m["test_acc"], sec, m["samples"]["train"] * m["steps_per_sample"] / sec if sec else None
    return m["test_acc"], m["seconds_per_epoch"], None


def lava_line(task: str, run: Path, steps: int, nl_rates: list[float]) -> str:
    """Lava's steps/s over the first ``steps`` training steps (whole samples) of the on-chip run in ``run``, the
    ratio of neurolearn's training steps/s (mean of ``nl_rates``) to it, and their bit identity."""
    from neurolearn.compile.build import SCHEDULE, load_build
    from neurolearn.ir.schedule import Schedule
    from neurolearn.lava.runner import run_lava
    from neurolearn.sims.epochs import run_fixed
    from neurolearn.verify import compare_epochs

    build = load_build(run / "build")
    schedule = Schedule.load(build.path / SCHEDULE)
    per_sample = schedule.epoch_ends[0] + 1
    part = schedule.first_epochs(min(len(schedule.epoch_ends), max(2, math.ceil(steps / per_sample))))
    lava = run_lava(build.plan, part)
    same = all(r.ok for r in compare_epochs(run_fixed(build.plan, part), lava, part))
    nl = float(np.mean(nl_rates))
    return (f"{task}: Lava {lava.steps_per_s:.1f} steps/s over {part.steps - per_sample} steps ({run.name}, after "
            f"its first sample); neurolearn {nl:.0f} steps/s in training: {nl / lava.steps_per_s:.0f}x; "
            f"bit-identical over {len(part.epoch_ends)} samples: {'yes' if same else 'NO'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--epochs", type=int, help="epochs for every method (default per form: %s)" % DEFAULT_EPOCHS)
    ap.add_argument("--train-samples", type=int, help="the first N training samples only (a quick run)")
    ap.add_argument("--test-samples", type=int, help="the first N test samples only")
    ap.add_argument("--lava-steps", type=int, default=300, help="steps timed in Lava per task (0: no Lava)")
    ap.add_argument("--data", help="MNIST-format directory for fashion-mnist")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads of the host-side methods (default 1)")
    ap.add_argument("--out", required=True, help="directory: runs/ (one per run, reused), table.md, table.json")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    samples = "".join(f"-{k}{n}" for k, n in (("n", args.train_samples), ("t", args.test_samples)) if n)
    kinds = list(dict.fromkeys(METHODS[m][1] for m in args.methods))
    runs = [(task, kind, seed) for task in args.tasks for seed in args.seeds for kind in kinds
            if not (kind == "host-spiking" and task not in SPIKING_TASKS)]
    form = {kind: f for _, kind, f in METHODS.values()}
    t0 = time.perf_counter()
    metrics, dirs, warmed = {}, {}, False
    for i, (task, kind, seed) in enumerate(runs, 1):
        epochs = args.epochs or DEFAULT_EPOCHS[form[kind]]
        run = out / "runs" / f"{task}-{kind}-seed{seed}-e{epochs}{samples}"
        dirs[task, kind, seed] = run
        if (run / METRICS).is_file():
            print(f"[{i}/{len(runs)}] {run.name}: reused ({time.perf_counter() - t0:.0f} s elapsed)", flush=True)
        else:
            print(f"[{i}/{len(runs)}] {run.name}: training ({time.perf_counter() - t0:.0f} s elapsed)", flush=True)
            if kind == "onchip":
                if not warmed:
                    warm_up()
                    warmed = True
                train_onchip(task, seed, epochs, args, run)
            elif kind == "host-spiking":
                train_host_spiking(task, seed, epochs, args, run)
            else:
                train_rate(kind.removeprefix("rate-"), task, seed, epochs, args, run)
        metrics[task, kind, seed] = json.loads((run / METRICS).read_text())
    rows, lines = [], []
    for task in args.tasks:
        for method in args.methods:
            label, kind, _ = METHODS[method]
            found = [metrics[task, kind, s] for s in args.seeds if (task, kind, s) in metrics]
            if not found:
                rows.append({"task": task, "method": label, "runs": 0, "note": "host spiking form: digits only"})
                continue
            acc, sec, rate = zip(*(row_numbers(method, m) for m in found))
            rows.append({"task": task, "method": label, "runs": len(found), "epochs": found[0]["epochs"],
                         "train_samples": found[0]["samples"]["train"], "test_samples": found[0]["samples"]["test"],
                         "acc_mean": 100 * float(np.mean(acc)), "acc_sd": 100 * float(np.std(acc, ddof=1))
                         if len(acc) > 1 else 0.0, "s_per_epoch": float(np.mean(sec)),
                         "steps_per_s": None if rate[0] is None else float(np.mean(rate))})
        chip = [metrics[task, "onchip", s]["simulator_steps_per_s"] for s in args.seeds
                if (task, "onchip", s) in metrics]
        if args.lava_steps and chip:
            print(f"{task}: timing Lava over {args.lava_steps} steps ({time.perf_counter() - t0:.0f} s elapsed)",
                  flush=True)
            lines.append(lava_line(task, dirs[task, "onchip", args.seeds[0]], args.lava_steps, chip))
    arch = "; ".join(f"{t}: inputs -> {','.join(map(str, ONCHIP_PRESETS[(t, 'burstprop')].hidden))} -> 10 classes"
                     for t in args.tasks)
    head = ("| task | method | seeds | epochs | train/test samples | test accuracy % | s/epoch | steps/s |\n"
            "|---|---|---|---|---|---|---|---|")
    body = [f"| {r['task']} | {r['method']} | 0 | | | {r['note']} | | |" if not r["runs"] else
            f"| {r['task']} | {r['method']} | {r['runs']} | {r['epochs']} | {r['train_samples']}/{r['test_samples']} | "
            f"{r['acc_mean']:.2f} ± {r['acc_sd']:.2f} | {r['s_per_epoch']:.3g} | "
            f"{'-' if r['steps_per_s'] is None else round(r['steps_per_s'])} |" for r in rows]
    table = "\n".join([f"Architecture (the on-chip default) {arch}; seeds {args.seeds}; "
                       f"{len(runs)} runs, {time.perf_counter() - t0:.0f} s in all.\n", head, *body, "", *lines])
    print("\n" + table)
    (out / "table.md").write_text(table + "\n")
    (out / "table.json").write_text(json.dumps({"rows": rows, "lava": lines, "seeds": args.seeds}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
