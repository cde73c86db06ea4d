"""The ``neurolearn`` command: train | sweep | compile | simulate | verify | metrics | fit | deploy | demo.

Errors print as one line (``error: ...``) with a non-zero exit; ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from neurolearn.atomic import check_output
from neurolearn.errors import InputError, NeurolearnError, Terminated
from neurolearn.ir.limits import MAX_COUNT, MAX_SEED, MAX_STEPS, real_number, whole_number

BACKENDS = ("float", "fixed", "lava")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: argument --steps: ...; see 'neurolearn simulate --help'`` (exit 2)."""

    def error(self, message):
        print(f"error: {' '.join(message.split())}; see '{self.prog} --help'", file=sys.stderr)
        sys.exit(2)


def _check_run_memory(plan, batch: int, steps: int, what: str) -> None:
    """Refuse a run whose input and recordings (spikes, u, v and bursts per neuron and step) exceed the limit."""
    from neurolearn.ir.limits import check_memory

    neurons = sum(layer.size for layer in plan.layers)
    check_memory(float(batch) * steps * (plan.input_size + 11.0 * neurons),
                 f"{what}: {batch} sample(s) x {steps} steps x ({plan.input_size} inputs + {neurons} neurons recorded)")


def _load_input(args, plan) -> np.ndarray:
    """The input spikes: --input FILE.npy, or Poisson spikes at --rate seeded by --seed; the memory of the run
    (input and recordings) is checked first."""
    from neurolearn.sims.result import as_batch
    from neurolearn.train.encoders import poisson_spikes

    n_in = plan.input_size
    if args.input is None:
        steps = args.steps or 100
        _check_run_memory(plan, args.batch, steps, f"--steps {steps} x --batch {args.batch}")
        return poisson_spikes(np.full((args.batch, n_in), args.rate), steps, args.seed)
    path = Path(args.input)
    if not path.is_file():
        raise InputError(f"--input {path}: no such file")
    try:
        head = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"--input {path}: not a .npy array ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(head, np.ndarray) or head.dtype.kind not in "biuf":
        kind = head.dtype if isinstance(head, np.ndarray) else type(head).__name__
        raise InputError(f"--input {path}: values of type {kind}; allowed: numbers 0 or 1 (spikes)")
    shape = head.shape if head.ndim == 3 else (1,) + head.shape
    if len(shape) == 3:
        _check_run_memory(plan, shape[0], max(shape[1], args.steps or 0), f"--input {path}")
    arr = as_batch(np.array(head), n_in, what=str(path))
    if args.steps is not None:
        if args.steps < arr.shape[1]:
            raise InputError(f"{path}: has {arr.shape[1]} steps but --steps {args.steps}; pass a shorter "
                             "input or omit --steps (nothing is dropped silently)")
        pad = args.steps - arr.shape[1]
        if pad:
            print(f"note: input padded with {pad} silent steps to --steps {args.steps}", file=sys.stderr)
            arr = np.concatenate([arr, np.zeros((arr.shape[0], pad, n_in), np.uint8)], axis=1)
    return arr


def _progress(desc):
    from neurolearn.progress import progress_bar

    return lambda it: progress_bar(it, desc, unit="samples", every=10, min_seconds=30)


def _target(args):
    from neurolearn.hardware.description import load_target

    return load_target(args.target, args.board) if args.target or args.board else None


def cmd_compile(args) -> int:
    from neurolearn.compile.build import compile_model

    check_output(args.output, "-o", directory=True)
    target = _target(args)
    extras = None
    if target is not None:
        from neurolearn.hardware.fit import fit_files

        extras = fit_files(target, source=str(args.model))
    build = compile_model(args.model, args.output, dt=args.dt, extras=extras, strict=args.strict)
    _print_warnings(build.warnings)
    p = build.plan
    n_burst = sum(L.burst is not None for L in p.layers)
    n_lif = sum(L.lava_lif and L.burst is None for L in p.layers)
    kinds = (f"{n_lif} LIF, {len(p.layers) - n_lif - n_burst} NIRNeuron, {n_burst} BurstLIF, "
             f"{len(p.connections) - len(p.learning)} Dense, {len(p.learning)} LearningDense")
    print(f"compiled {args.model} -> {build.path}/ ({kinds}; dt = {p.dt:g} s); see {build.path}/report.md")
    if target is not None:
        print((build.path / "fit.txt").read_text().rstrip())
    return 0


def cmd_fit(args) -> int:
    from neurolearn.compile.build import load_build
    from neurolearn.hardware.fit import check_fit, format_fit, plot_utilization

    if args.plot:
        check_output(args.plot, "--plot", directory=False)
    report = check_fit(load_build(args.build).plan, _target(args))
    print(format_fit(report, max_rows=args.max_rows))
    if args.plot:
        from neurolearn.atomic import atomic_file

        atomic_file(args.plot, lambda tmp: plot_utilization(report, tmp))
        print(f"wrote {args.plot}")
    return 0 if report.fits else 1


def cmd_deploy(args) -> int:
    from neurolearn.compile.build import load_build
    from neurolearn.hardware.deploy import require_deployable, write_bundle
    from neurolearn.hardware.fit import check_fit, format_fit
    from neurolearn.lava.loihi_runtime import runtime_status

    if args.output:
        check_output(args.output, "-o", directory=True)
    build = load_build(args.build)
    target = _target(args)
    require_deployable(build.plan)
    fit = check_fit(build.plan, target)
    if not fit.fits:
        print(format_fit(fit, max_rows=args.max_rows))
        return 1
    status = runtime_status(args.host)
    if not status.available:
        out = Path(args.output or f"{build.path}-{target.name}-bundle")
        write_bundle(build, fit, out)
        print(f"error: nothing was deployed to {target.name}: " + "; ".join(status.missing) + ". "
              f"Wrote a self-contained bundle to {out}/ (run_on_loihi.py, plan.json, placement.json, model.nir): "
              f"run it on a machine with the runtime and a board, or check it on CPU with "
              f"'neurolearn verify {out}'.", file=sys.stderr)
        return 3
    return _run_on_hardware(args, build, target)  # pragma: no cover - needs Intel's runtime and a board


def _run_on_hardware(args, build, target) -> int:  # pragma: no cover - needs Intel's runtime and a board
    from neurolearn.lava.loihi_runtime import run_on_board

    spikes = _load_input(args, build.plan)[0]
    out = run_on_board(build.plan, spikes, args.host, args.board)
    np.savez(args.output or "loihi_output.npz", **{f"{k}/spikes": v for k, v in out.items()})
    print(f"ran {spikes.shape[0]} steps on {target.name}")
    return 0


def _simulate(backend: str, build, spikes: np.ndarray):
    """Run ``build`` on ``spikes`` with the backend named in neurolearn.ir.features.BACKENDS."""
    if backend == "float":
        from neurolearn.sims.float_ref import simulate_float

        return simulate_float(build.network, spikes)
    if backend == "fixed":
        from neurolearn.sims.fixed import simulate_fixed

        return simulate_fixed(build.plan, spikes)
    if backend == "learning":
        from neurolearn.sims.learning import simulate_learning

        return simulate_learning(build.plan, spikes, record=False).sim
    if backend == "lava":
        from neurolearn.lava.runner import simulate_lava

        return simulate_lava(build.plan, spikes, progress=_progress("lava samples"))
    from neurolearn.lava.runner import simulate_learning_lava

    if len(spikes) > 1:
        raise InputError(f"{build.path}: Lava runs a learning build one sample at a time; give one sample (--batch 1)")
    return simulate_learning_lava(build.plan, spikes[0]).sim


def cmd_simulate(args) -> int:
    from neurolearn.compile.build import load_build
    from neurolearn.ir.features import choose_backend

    if Path(args.output).suffix != ".npz":
        raise InputError(f"-o {args.output}: output must end in .npz")
    check_output(args.output, "-o", directory=False)
    build = load_build(args.build)
    backend = choose_backend(args.backend, build.plan.features())
    spikes = _load_input(args, build.plan)
    res = _simulate(backend, build, spikes)
    if backend != "float":   # by NIR node, as the float reference records (a node may be several layers)
        from neurolearn.sims.result import node_records

        res = node_records(build.plan, res)
    _atomic_save(res, args.output)
    counts = ", ".join(f"{k} {int(r.spikes.sum())}" for k, r in res.layers.items())
    print(f"{backend}: {spikes.shape[0]} sample(s) x {spikes.shape[1]} steps; spikes per layer: {counts}; "
          f"wrote {args.output}")
    return 0


def _atomic_save(res, output):
    from neurolearn.atomic import atomic_file

    if Path(output).suffix != ".npz":
        raise InputError(f"{output}: output must end in .npz")
    atomic_file(output, res.save)


def cmd_verify_learning(args) -> int:
    import time

    from neurolearn.compile.build import SCHEDULE, load_build
    from neurolearn.ir.schedule import Schedule
    from neurolearn.lava.graph import require_lava
    from neurolearn.lava.runner import run_lava
    from neurolearn.sims.epochs import run_fixed
    from neurolearn.verify import compare_epochs, format_epochs

    build = load_build(args.target)
    if "learning" not in build.plan.features():
        raise InputError(f"{args.target}: --learning needs a learning build (plan.json has no learning connections)")
    if not (build.path / SCHEDULE).is_file():
        raise InputError(f"{build.path}: no {SCHEDULE} (the input to learn from); 'neurolearn train --spiking "
                         "--on-chip' writes builds that carry one")
    schedule = Schedule.load(build.path / SCHEDULE)
    if args.samples is not None and args.epochs is not None:
        raise InputError("--samples and --epochs: give one (--samples for builds of online classification runs)")
    unit, count = ("samples", args.samples) if args.samples is not None else ("epochs", args.epochs)
    if count is not None and unit != schedule.ends:
        raise InputError(f"{build.path / SCHEDULE}: its ends are {schedule.ends}, not {unit}; use --{schedule.ends} N")
    if count is not None:
        schedule = schedule.first_epochs(count)
    require_lava()   # before neurolearn's run of the whole schedule, not after
    t0 = time.perf_counter()
    ours = run_fixed(build.plan, schedule)
    t1 = time.perf_counter()
    lava = run_lava(build.plan, schedule, progress=True)
    t2 = time.perf_counter()
    rows = compare_epochs(ours, lava, schedule)
    what = schedule.ends[:-1]
    print(format_epochs(rows, ("neurolearn", "Lava"), what))
    print(f"\n{schedule.steps} steps: neurolearn {t1 - t0:.2f} s, Lava {t2 - t1:.1f} s ({(t2 - t1) / (t1 - t0):.0f}x)")
    bad = [r.epoch for r in rows if not r.ok]
    print(f"{len(bad)} {what}(s) differ, first {bad[0]}" if bad else
          f"all {len(rows)} {schedule.ends} bit-identical (events, bursts, weights)")
    return 1 if bad else 0


def cmd_verify(args) -> int:
    from neurolearn.compile.build import compile_model, load_build
    from neurolearn.verify import format_table, run_ladder

    if args.learning:
        return cmd_verify_learning(args)
    if args.epochs is not None or args.samples is not None:
        raise InputError("--epochs and --samples apply to --learning only")
    target = Path(args.target)
    with tempfile.TemporaryDirectory() as tmp:
        if target.suffix == ".nir" or target.is_file():
            build = compile_model(target, Path(tmp) / "build", dt=args.dt, strict=args.strict)
            if "learning" in build.plan.features():
                raise InputError(f"{target}: compiles to a learning build; compile it ('neurolearn compile') and "
                                 "verify the build with --learning, or use 'neurolearn train --spiking --on-chip'")
        else:
            build = load_build(target)
            if args.dt is not None and not math.isclose(args.dt, build.plan.dt, rel_tol=1e-12):
                raise InputError(f"{target}: --dt {args.dt!r} s, but the build was compiled with dt = "
                                 f"{build.plan.dt!r} s; leave --dt out (a build knows its dt) or recompile")
            if "learning" in build.plan.features():
                raise InputError(f"{target}: a learning build; verify it with 'neurolearn verify {target} --learning'")
        spikes = _load_input(args, build.plan)
        rows = run_ladder(build, spikes, progress=_progress("lava samples"))
        section = _neurobench_section(build, spikes)[0]
    _print_warnings(build.warnings)   # of the build verified: a refusal (learning build, no Lava) stays one line
    print(format_table(rows))
    print("\n" + section)
    bad = [r for r in rows if not r.ok]
    print(f"\n{len(bad)} mismatching row(s)" if bad else "\nall layers match (0 mismatches)")
    return 1 if bad else 0


def _print_warnings(lines) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _neurobench_section(build, spikes, backend: str = "fixed"):
    """NeuroBench's static and workload metrics of ``build`` on ``spikes`` (the fixed-point simulation), and
    the simulation."""
    from neurolearn.sims.neurobench_metrics import fixed_workload_metrics, format_neurobench, plan_static_metrics

    workload, res = fixed_workload_metrics(build.plan, spikes, lambda plan, x: _simulate(backend, build, x))
    return format_neurobench(plan_static_metrics(build.plan), workload), res


def cmd_metrics(args) -> int:
    from neurolearn.compile.build import load_build
    from neurolearn.ir.features import choose_backend

    build = load_build(args.build)
    backend = choose_backend("fixed", build.plan.features())
    labels = None
    if args.task is not None:
        if args.input is not None:
            raise InputError("give --input or --task, not both")
        from neurolearn.demo import MAX_RATE, STEPS
        from neurolearn.train.datasets import digits
        from neurolearn.train.encoders import poisson_spikes

        if build.plan.input_size != 64:
            raise InputError(f"{build.path}: --task digits needs 64 inputs (8x8 pixels); the plan has "
                             f"{build.plan.input_size}")
        _, _, x_te, labels = digits(seed=0)
        n = len(x_te) if args.samples is None else args.samples
        if not 1 <= n <= len(x_te):
            raise InputError(f"--samples {n}; allowed 1..{len(x_te)} (the digits test set)")
        spikes = poisson_spikes(x_te[:n] * MAX_RATE, args.steps or STEPS, seed=args.seed)
        labels = labels[:n]
    else:
        spikes = _load_input(args, build.plan)
    text, res = _neurobench_section(build, spikes, backend)
    print(f"{build.path}: {spikes.shape[0]} sample(s) x {spikes.shape[1]} steps, {backend} simulation")
    print(text)
    if labels is not None:
        out = build.plan.outputs[0]
        d = res.delays.get(out, 0)
        counts = res.layers[out].spikes[:, d:d + spikes.shape[1]].sum(1)
        print(f"  classification accuracy {float((counts.argmax(1) == labels).mean()):.4f} (most events of '{out}')")
    return 0


def cmd_demo(args) -> int:
    from neurolearn.demo import run_demo

    return run_demo(out=check_output(args.output, "-o", directory=True), seed=args.seed, epochs=args.epochs)


def _add_input_args(p, steps_help):
    p.add_argument("--input", help="spikes .npy of shape (steps, n_in) or (batch, steps, n_in), values 0/1")
    p.add_argument("--steps", type=whole_number(1, MAX_STEPS), help=steps_help)
    p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0, help="seed of the random input (default 0)")
    p.add_argument("--rate", type=real_number(0.0, 1.0), default=0.2,
                   help="spike probability per step of random input, 0 to 1")
    p.add_argument("--batch", type=whole_number(1, MAX_COUNT), default=1, help="samples of random input (default 1)")


def _add_target_args(p, required):
    p.add_argument("--target", required=required, help="chip or board: loihi1, loihi2, kapoho-point, ...")
    p.add_argument("--board", help="board of that chip, e.g. oheo-gulch, kapoho-point")


def build_parser() -> argparse.ArgumentParser:
    from neurolearn.nir.extension import DT_RANGE

    dt_type = real_number(*DT_RANGE, unit="s")
    parser = _Parser(prog="neurolearn", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    from neurolearn.train.cli import add_train_parser
    from neurolearn.train.sweep import add_sweep_parser

    add_train_parser(sub)
    add_sweep_parser(sub)

    p = sub.add_parser("compile", help="NIR file -> build directory (plan.json, report.md)")
    p.add_argument("model", help=".nir file")
    p.add_argument("-o", "--output", required=True, help="build directory to write")
    p.add_argument("--dt", type=dt_type, help="time step in seconds, for files that do not record one")
    p.add_argument("--strict", action="store_true", help="refuse (exit 1, nothing written) a build in which a "
                   "parameter rounds to zero, saturates or is clipped; otherwise each kind is a warning line")
    _add_target_args(p, required=False)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("fit", help="does a build fit a Loihi chip or board? per-core table")
    p.add_argument("build", help="build directory")
    _add_target_args(p, required=True)
    p.add_argument("--plot", help="write a PNG of per-core utilization here")
    p.add_argument("--max-rows", type=whole_number(1, MAX_COUNT), default=40, help="cores to list (default 40)")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("deploy", help="run on Loihi via Lava (needs Intel's runtime), else write a bundle")
    p.add_argument("build", help="build directory")
    _add_target_args(p, required=True)
    p.add_argument("--host", help="Loihi Ethernet host (otherwise SLURM, as Lava uses)")
    p.add_argument("-o", "--output", help="bundle directory (default: BUILD-TARGET-bundle)")
    p.add_argument("--max-rows", type=whole_number(1, MAX_COUNT), default=40)
    _add_input_args(p, "steps to run on the chip (default 100)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("simulate", help="run a build on one backend")
    p.add_argument("build", help="build directory")
    p.add_argument("--backend", choices=BACKENDS, default="fixed")
    _add_input_args(p, "steps to run (input padded with silence if shorter; default: the input's)")
    p.add_argument("-o", "--output", required=True, help="output .npz (spikes, u, v per layer)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("verify", help="fixed vs lava bit for bit, float vs snntorch, float vs fixed")
    p.add_argument("target", help="build directory or .nir file")
    p.add_argument("--dt", type=dt_type, help="time step in seconds, for .nir files that do not record one "
                   "(a build records its own)")
    p.add_argument("--strict", action="store_true",
                   help="a .nir file: refuse a build that rounds a parameter to zero, saturates or clips (exit 1)")
    p.add_argument("--learning", action="store_true",
                   help="learning build: neurolearn vs Lava over its schedule, every epoch (events, bursts, weights)")
    p.add_argument("--epochs", type=whole_number(1, MAX_COUNT),
                   help="with --learning: only the first N epochs of the schedule")
    p.add_argument("--samples", type=whole_number(1, MAX_COUNT),
                   help="with --learning, a build of an online classification run: only its first N training samples, "
                        "compared after every sample")
    _add_input_args(p, "steps to run (default 100 for random input)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("metrics", help="NeuroBench's metrics of a build: footprint, sparsity, synaptic operations")
    p.add_argument("build", help="build directory")
    p.add_argument("--task", choices=("digits",), help="the digits test set, Poisson-coded as in the demo")
    p.add_argument("--samples", type=whole_number(1, MAX_COUNT),
                   help="with --task: the first N test samples (default all)")
    _add_input_args(p, "steps per sample (default 100 for random input; with --task the demo's 25)")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("demo", help="train a small digits network, compile it, run every backend, verify")
    p.add_argument("-o", "--output", default="demo-out", help="directory for the model and build")
    p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0)
    p.add_argument("--epochs", type=whole_number(1, MAX_COUNT), default=15)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    """Run one command; errors are one line and an exit code (docs/errors.md), tracebacks only with --debug."""
    from neurolearn.atomic import terminate_as_exception

    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        with terminate_as_exception():
            args = build_parser().parse_args(argv)
            return args.func(args)
    except NeurolearnError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except SystemExit as exc:   # argparse: --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # a bug in neurolearn: one line, the traceback with --debug
        if debug:
            raise
        print(f"error: internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); rerun with "
              "--debug for the traceback and please report it", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
