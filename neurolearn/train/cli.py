"""``neurolearn train``: one rule on one task, written to a run directory.

RUN/ holds metrics.json (rule parameters, per-epoch metrics), learning_curves.png, and for
burstprop burst_probability.png; for XOR also xor_outputs.png. The directory is written beside
RUN and moved into place when complete, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

import json
from pathlib import Path

from neurolearn.atomic import check_output
from neurolearn.errors import InputError
from neurolearn.ir.limits import MAX_COUNT, MAX_SEED, check_memory, whole_number
from neurolearn.nets import FEEDBACK
from neurolearn.train.catalog import HIDDEN, ONCHIP_RULE_NAMES, RATE_RULE_NAMES, SPIKING_TASKS, TASKS

METRICS = "metrics.json"
MODEL = "model.nir"
MAX_THREADS = 1024


# epochs when --epochs is not given, per form of training (the on-chip XOR: its configuration's own)
DEFAULT_EPOCHS = {"rate": 20, "spiking": 30, "on-chip xor": 80, "on-chip": 1}

def add_train_parser(subparsers) -> None:
    """Add the ``train`` subcommand to an argparse subparsers object."""

    p = subparsers.add_parser("train", help="train burstprop (rate or --spiking), backprop or feedback alignment")
    p.add_argument("--rule", choices=RATE_RULE_NAMES + ONCHIP_RULE_NAMES, required=True,
                   help="btsp-credit: with --spiking --on-chip on digits or fashion-mnist only")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--feedback", choices=FEEDBACK,
                   help="burstprop's feedback weights Y: fixed random, symmetric (Y = W) or learned "
                        "(Kolen-Pollack); default learned")
    p.add_argument("--data", help="MNIST-format directory for --task fashion-mnist "
                                  "(default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--epochs", type=whole_number(1, MAX_COUNT),
                   help=f"passes over the training set (default: {DEFAULT_EPOCHS['rate']} rate, "
                        f"{DEFAULT_EPOCHS['spiking']} spiking, {DEFAULT_EPOCHS['on-chip xor']} on-chip XOR, "
                        f"{DEFAULT_EPOCHS['on-chip']} on-chip digits/fashion-mnist)")
    p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0)
    p.add_argument("--hidden", help="hidden layer sizes, comma-separated (default: " +
                   "; ".join(f"{t} {','.join(map(str, h))}" for t, h in HIDDEN.items()) +
                   "; --on-chip digits and fashion-mnist: 500)")
    p.add_argument("--batch-size", type=whole_number(1, MAX_COUNT), default=32)
    p.add_argument("--threads", type=whole_number(1, MAX_THREADS),
                   help="torch CPU threads (default: torch's; 1 is fastest for small nets "
                        "and on a busy machine)")
    p.add_argument("--spiking", action="store_true",
                   help="spiking form: two-compartment burst neurons and the spiking burstprop rule "
                        f"(tasks: {', '.join(SPIKING_TASKS)})")
    p.add_argument("--on-chip", action="store_true",
                   help="with --spiking: compile the network with its rule and learn inside the learning engine, "
                        "online (neurolearn's fixed point, bit-identical to Lava; float twin beside it); tasks xor, "
                        "digits, fashion-mnist; writes build/ for 'neurolearn verify RUN/build --learning'")
    p.add_argument("--train-samples", type=whole_number(1, MAX_COUNT),
                   help="--on-chip digits/fashion-mnist: learn from the first N training samples only (a quick run)")
    p.add_argument("--test-samples", type=whole_number(1, MAX_COUNT),
                   help="--on-chip digits/fashion-mnist: test on the first N test samples only")
    p.add_argument("-o", "--output", required=True, help="run directory to write")
    p.set_defaults(func=cmd_train)


def parse_hidden_sizes(text: str | None):
    """``--hidden 500,500`` as (500, 500); None stays None."""
    if text is None:
        return None
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_COUNT:
        raise InputError(f"--hidden {text!r}: give layer sizes 1 to {MAX_COUNT} separated by commas, e.g. 500,500")
    check_memory(16.0 * sum(a * b for a, b in zip(sizes, sizes[1:])), f"--hidden {text}")  # W, Y, their gradients
    return sizes


def cmd_train(args) -> int:
    import torch

    from neurolearn.train.loop import load_task, preset_rule, train

    if args.on_chip and not args.spiking:
        raise InputError("--on-chip needs --spiking (the burst network learns on chip)")
    if args.epochs is None:
        form = ("on-chip xor" if args.task == "xor" else "on-chip") if args.on_chip else \
            "spiking" if args.spiking else "rate"
        args.epochs = DEFAULT_EPOCHS[form]
    check_output(args.output, "-o", directory=True)
    if args.spiking:
        return _train_spiking(args)
    if args.rule in ONCHIP_RULE_NAMES:
        raise InputError(f"--rule {args.rule} trains with --spiking --on-chip on digits or fashion-mnist only")
    if args.feedback is not None and args.rule != "burstprop":
        raise InputError(f"--feedback applies to --rule burstprop only, not {args.rule}")
    if args.data is not None and args.task != "fashion-mnist":
        raise InputError(f"--data applies to --task fashion-mnist only, not {args.task}")
    out = Path(args.output)
    if out.exists() and not (out / METRICS).is_file():
        raise InputError(f"{out}: exists and is not a neurolearn run directory; choose another -o")
    hidden = parse_hidden_sizes(args.hidden)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    task = load_task(args.task, args.data)
    rule = preset_rule(args.rule, args.task, feedback=args.feedback, n_hidden=None if hidden is None else len(hidden))
    net, metrics = train(rule, task, epochs=args.epochs, seed=args.seed, hidden=hidden, batch_size=args.batch_size)
    from neurolearn.nets.rate import rate_to_burst_network
    from neurolearn.nir.burst_encoding import to_nir

    written = write_run(out, metrics, to_nir(rate_to_burst_network(net, rule.params())))
    kind = f"{rule.name} ({rule.feedback} feedback)" if args.rule == "burstprop" else rule.name
    print(f"{kind} on {task.name}, seed {args.seed}: test accuracy {metrics['test_acc']:.4f} after "
          f"{args.epochs} epochs ({metrics['seconds_per_epoch']:.2f} s/epoch); wrote "
          + ", ".join(str(out / name) for name in written))
    return 0


def write_run(out: Path, metrics: dict, graph=None) -> list[str]:
    """Write metrics.json, the plots and (if given) the trained model as model.nir into run directory
    ``out`` atomically (replacing a previous run there)."""
    from neurolearn.atomic import atomic_dir
    from neurolearn.nir import write

    with atomic_dir(out) as tmp:
        (tmp / METRICS).write_text(json.dumps(metrics, indent=1))
        written = [METRICS, *(_spiking_plots if metrics.get("spiking") else _plots)(metrics, tmp)]
        if graph is not None:
            write(tmp / MODEL, graph)
            written.append(MODEL)
    return written


def _plots(metrics: dict, directory: Path) -> list[str]:
    """PNG plots of a run (matplotlib's Agg canvas; pyplot's global state is not touched)."""
    from matplotlib.figure import Figure

    hist = metrics["history"]
    epochs = [r["epoch"] for r in hist]
    rule = metrics["rule"]
    title = f"{rule['rule']}" + (f" ({rule['feedback']})" if "feedback" in rule else "") + f" on {metrics['task']}"
    names = []

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    for key, label in (("train", "train (during epoch)"), ("test", "test")):
        rows = [r for r in hist if f"{key}_acc" in r]
        ax_acc.plot([r["epoch"] for r in rows], [r[f"{key}_acc"] for r in rows], marker=".", label=label)
        ax_loss.plot([r["epoch"] for r in rows], [r[f"{key}_loss"] for r in rows], marker=".", label=label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=title)
    ax_loss.set(xlabel="epoch", ylabel="1/2 ||e_out - target||^2 per sample", yscale="log", title="loss")
    ax_acc.legend()
    fig.savefig(directory / "learning_curves.png", dpi=100)
    names.append("learning_curves.png")

    if "burst_prob" in hist[-1]:
        fig = Figure(figsize=(5, 3.5), layout="constrained")
        ax = fig.subplots()
        rows = hist[1:]
        for i in range(len(rows[-1]["burst_prob"])):
            ax.plot(epochs[1:], [r["burst_prob"][i] for r in rows], marker=".", label=f"hidden layer {i + 1}")
        ax.axhline(rule["p_baseline"], color="gray", ls=":", label="output (p_baseline)")
        ax.set(xlabel="epoch", ylabel="mean burst probability p (no teacher)", ylim=(0, 1), title=title)
        ax.legend()
        fig.savefig(directory / "burst_probability.png", dpi=100)
        names.append("burst_probability.png")

    if "xor_outputs" in metrics:
        fig = Figure(figsize=(5, 3.5), layout="constrained")
        ax = fig.subplots()
        xo = metrics["xor_outputs"]
        labels = [f"{a}{b}" for a, b in xo["patterns"]]
        for j, when in enumerate(("before", "after")):
            rates = [row[1] for row in xo[when]]
            ax.bar([i + 0.4 * j for i in range(len(labels))], rates, width=0.4, label=f"{when} training")
        ax.set_xticks([i + 0.2 for i in range(len(labels))], labels)
        ax.set(xlabel="input pattern", ylabel="event rate of output unit 'XOR true'", ylim=(0, 1), title=title)
        ax.legend()
        fig.savefig(directory / "xor_outputs.png", dpi=100)
        names.append("xor_outputs.png")
    return names


def _train_spiking(args) -> int:
    from neurolearn.nir.burst_encoding import to_nir
    from neurolearn.train import spiking as sp

    classify = args.on_chip and args.task != "xor"
    if args.rule != "burstprop" and not (classify and args.rule in ONCHIP_RULE_NAMES):
        raise InputError(f"--spiking trains --rule burstprop (and, with --on-chip on digits or fashion-mnist, "
                         f"{', '.join(ONCHIP_RULE_NAMES)}), not {args.rule}")
    out = Path(args.output)
    if out.exists() and not (out / METRICS).is_file():
        raise InputError(f"{out}: exists and is not a neurolearn run directory; choose another -o")
    for flag in ("train_samples", "test_samples"):
        value = getattr(args, flag)
        if value is not None and (not (args.on_chip and args.task != "xor") or value < 1):
            raise InputError(f"--{flag.replace('_', '-')} {value}: applies to --on-chip digits and fashion-mnist, "
                             "allowed >= 1")
    if classify:
        return _train_onchip_classify(args, out)
    if args.task not in SPIKING_TASKS:
        raise InputError(f"--spiking --task {args.task}: spiking tasks are {', '.join(SPIKING_TASKS)} (and "
                         "fashion-mnist with --on-chip)")
    for flag in ("feedback", "hidden", "data"):
        if getattr(args, flag) is not None:
            raise InputError(f"--{flag} applies to the rate form only (omit --spiking)")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.on_chip:
        return _train_onchip(args, out)
    if args.task == "xor":
        task, cfg, rule, every = sp.spiking_xor_task(), sp.XOR_CONFIG, sp.BurstpropSpiking(), 0
    else:
        task, cfg, rule, every = sp.spiking_digits_task(), sp.DIGITS_CONFIG, sp.DIGITS_RULE, 1
    res = sp.train_spiking(task, cfg, rule, epochs=args.epochs, seed=args.seed, progress=True, eval_every=every)
    metrics = res.to_metrics()
    if args.task == "xor":
        metrics["xor_solved"] = sp.xor_solved(res.rates_after)
    written = write_run(out, metrics, to_nir(sp.to_burst_network(res, task.n_in)))
    summary = (f"XOR {'solved' if metrics['xor_solved'] else 'NOT solved'}: output events/step per pattern "
               f"{[round(float(r), 4) for r in res.rates_after.ravel()]}" if args.task == "xor"
               else f"test accuracy {res.test_acc:.4f}")
    print(f"spiking burstprop on {task.name}, seed {args.seed}, {args.epochs} epochs: {summary}; wrote "
          + ", ".join(str(out / name) for name in written))
    return 0


def _train_onchip(args, out: Path) -> int:
    """``train --spiking --task xor --on-chip``: compile, learn in fixed point and in the float twin, write
    model.nir (the initial network and its rules), build/ (with schedule.npz), metrics.json, onchip.png."""
    from neurolearn.atomic import atomic_dir
    from neurolearn.compile.build import write_learning_build
    from neurolearn.nir import write
    from neurolearn.nir.burst_encoding import to_nir
    from neurolearn.sims.epochs import run_fixed
    from neurolearn.sims.float_twin import run_float_twin
    from neurolearn.train import onchip

    cfg = onchip.OnChipConfig(epochs=args.epochs)
    compiled, schedule, net = onchip.compile_xor(args.seed, cfg)
    fixed = run_fixed(compiled.plan, schedule)
    flt = run_float_twin(net, compiled, schedule, cfg.teacher)
    metrics = onchip.onchip_metrics(fixed, flt, schedule, cfg, args.seed)
    with atomic_dir(out) as tmp:
        write(tmp / MODEL, to_nir(net))
        write_learning_build(tmp / "build", tmp / MODEL, compiled.plan, compiled.notes, schedule)
        (tmp / METRICS).write_text(json.dumps(metrics, indent=1))
        onchip.plot_onchip(metrics, tmp / "onchip.png")
    fx, fl = metrics["fixed"], metrics["float"]
    print(_onchip_neurobench(compiled.plan, fixed, schedule))
    print(f"on-chip burstprop XOR, seed {args.seed}, {args.epochs} epochs ({schedule.steps} steps): fixed point "
          f"{'solved' if fx['xor_solved'] else 'NOT solved'} {[round(r, 3) for r in fx['eval_rates']]}, float twin "
          f"{'solved' if fl['xor_solved'] else 'NOT solved'} {[round(r, 3) for r in fl['eval_rates']]} (output "
          f"events/step for 00 10 01 11); wrote {out}/{{{MODEL}, build, {METRICS}, onchip.png}}")
    return 0


def _onchip_neurobench(plan, run, schedule) -> str:
    """NeuroBench's metrics of an on-chip run: the learning build's integers, the events of its whole schedule."""
    from neurolearn.sims.neurobench_metrics import epoch_workload_metrics, format_neurobench, plan_static_metrics

    return format_neurobench(plan_static_metrics(plan), epoch_workload_metrics(plan, run, schedule.spikes))


def _train_onchip_classify(args, out: Path) -> int:
    """``train --spiking --on-chip --task digits|fashion-mnist``: learn online in the learning engine (fixed point)
    and in the float twin; write model.nir (the initial network and its rules), build/ (plan.json, report.md,
    schedule.npz: the first training samples' input, for ``verify --learning --samples N``), metrics.json,
    learning_curves.png, confusion.png."""
    from dataclasses import replace

    from neurolearn.atomic import atomic_dir
    from neurolearn.compile.build import write_learning_build
    from neurolearn.nir import write
    from neurolearn.nir.burst_encoding import to_nir
    from neurolearn.train import datasets
    from neurolearn.train.onchip_classify import ONCHIP_PRESETS, plot_classifier, train_onchip_classifier

    if args.feedback is not None:
        raise InputError("--feedback applies to the rate form only (on chip, Y is fixed random)")
    if args.data is not None and args.task != "fashion-mnist":
        raise InputError(f"--data applies to --task fashion-mnist only, not {args.task}")
    cfg = ONCHIP_PRESETS[(args.task, args.rule)]
    hidden = parse_hidden_sizes(args.hidden)
    if hidden is not None:
        cfg = replace(cfg, hidden=hidden)
    data = datasets.digits(seed=0) if args.task == "digits" else \
        datasets.fashion_mnist(args.data or datasets.FASHION_MNIST_DIR)
    x_tr, y_tr, x_te, y_te = data
    data = (x_tr[:args.train_samples], y_tr[:args.train_samples], x_te[:args.test_samples], y_te[:args.test_samples])
    res = train_onchip_classifier(args.task, data, cfg, args.epochs, args.seed, progress=print)
    with atomic_dir(out) as tmp:
        write(tmp / MODEL, to_nir(res.network))
        write_learning_build(tmp / "build", tmp / MODEL, res.compiled.plan, res.compiled.notes, res.prefix)
        (tmp / METRICS).write_text(json.dumps(res.metrics, indent=1))
        plots = plot_classifier(res.metrics, tmp)
    m = res.metrics
    arch = "-".join(map(str, m["architecture"]))
    print(f"on-chip {args.rule} on {args.task}, seed {args.seed}, {args.epochs} epoch(s), {arch}: test accuracy "
          f"fixed point {m['fixed']['test_accuracy']:.4f}, float twin {m['float']['test_accuracy']:.4f} "
          f"({m['samples']['test']} test samples); simulator {m['simulator_steps_per_s']:.0f} steps/s; wrote "
          f"{out}/{{{MODEL}, build, {METRICS}, {', '.join(plots)}}}")
    return 0


def _spiking_plots(metrics: dict, directory: Path) -> list[str]:
    """PNG plots of a spiking run: learning curve, burst probability per layer, XOR rates before/after."""
    from matplotlib.figure import Figure

    hist, names = metrics["history"], []
    title = f"spiking burstprop on {metrics['task']}"
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    if metrics["task"] == "xor":
        rates = [r["train_rates"] for r in hist]
        for i, label in enumerate(("00", "10", "01", "11")):
            ax.plot(range(1, len(rates) + 1), [r[i][0] for r in rates], label=label)
        ax.set(xlabel="epoch", ylabel="output events per step (prediction phase)", title=title)
    else:
        rows = [r for r in hist if "test_acc" in r]
        ax.plot([r["epoch"] for r in rows], [r["test_acc"] for r in rows], marker=".", label="test")
        ax.set(xlabel="epoch", ylabel="accuracy", title=title)
    ax.legend()
    fig.savefig(directory / "learning_curves.png", dpi=100)
    names.append("learning_curves.png")

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    for i, layer in enumerate(("hidden", "output")):
        ax.plot([r["epoch"] for r in hist], [r["burst_prob"][i] for r in hist], label=layer)
    ax.set(xlabel="epoch", ylabel="mean burst probability (prediction phase)", ylim=(0, 1), title=title)
    ax.legend()
    fig.savefig(directory / "burst_probability.png", dpi=100)
    names.append("burst_probability.png")

    if metrics["task"] == "xor":
        fig = Figure(figsize=(5, 3.5), layout="constrained")
        ax = fig.subplots()
        labels = ["00", "10", "01", "11"]
        for j, when in enumerate(("before", "after")):
            ax.bar([i + 0.4 * j for i in range(4)], [r[0] for r in metrics[f"rates_{when}"]], width=0.4,
                   label=f"{when} training")
        ax.set_xticks([i + 0.2 for i in range(4)], labels)
        ax.set(xlabel="input pattern", ylabel="output events per step", title=title)
        ax.legend()
        fig.savefig(directory / "xor_outputs.png", dpi=100)
        names.append("xor_outputs.png")
    return names
