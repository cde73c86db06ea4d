"""Sweeps: a grid of training runs (tasks x rules x seeds x sizes; rate, spiking and on-chip forms) run
serially or on Ray, gathered into one JSON and one table.

Each run is a :class:`SweepRun`; :func:`run_sweep` runs a list of them with a run function (default
:func:`train_run`), on Ray (a local instance with the machine's cores, or a cluster by ``address``; each run
one Ray task declaring ``threads`` CPUs) or serially in this process. Every run sets its torch and numba
threads to its ``threads`` and denormal flushing on, in either engine, so the same seed gives the same
metrics whether run serially, on local Ray or across a cluster's workers. Results go to ``OUT/runs/KEY.json``
as each run ends (a failed run records its error; the others go on), then all together to
``OUT/sweep.json`` and ``OUT/table.txt``; ``resume`` skips the runs whose results exist.

Other grids use the same engine: any picklable ``run_fn(run, progress) -> dict`` over objects with a
unique ``key`` (str, used as a file name) and ``threads`` (CPUs it uses), e.g.
``run_sweep(my_runs, "OUT", run_fn=my_onchip_run)``.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from neurolearn.errors import BackendUnavailableError, InputError
from neurolearn.train.catalog import TASKS

# row name -> (rule, burstprop feedback, form); the rows of benchmarks/accuracy.py's table
SWEEP_ROWS = {
    "backprop": ("backprop", None, "rate"),
    "fa": ("fa", None, "rate"),
    "burstprop-random": ("burstprop", "random", "rate"),
    "burstprop-learned": ("burstprop", "learned", "rate"),
    "burstprop-symmetric": ("burstprop", "symmetric", "rate"),
    "burstprop-spiking": ("burstprop", None, "spiking"),   # host-side spiking burstprop (xor, digits)
    "burstprop-onchip": ("burstprop", None, "on-chip"),    # learning engine, fixed point (xor)
}
ENGINES = ("auto", "ray", "serial")
RUNS_DIR = "runs"
SWEEP_JSON = "sweep.json"
TIMING_KEYS = ("seconds", "seconds_per_epoch", "run_seconds")   # differ between runs of the same seed


@dataclass(frozen=True)
class SweepRun:
    """One training run of a sweep. ``hidden``: hidden layer sizes (rate) or the hidden burst neurons
    (spiking; one size), None for the task's default; ``subset``: (train, test) samples kept, None for all;
    ``threads``: CPUs (torch and numba threads) the run uses."""

    task: str
    rule: str
    seed: int
    epochs: int
    hidden: tuple[int, ...] | None = None
    subset: tuple[int, int] | None = None
    threads: int = 1
    data: str | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"sweep: task {self.task!r}; allowed {', '.join(TASKS)}")
        if self.rule not in SWEEP_ROWS:
            raise InputError(f"sweep: rule {self.rule!r}; allowed {', '.join(SWEEP_ROWS)}")
        for name in ("epochs", "threads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"sweep: {name} = {getattr(self, name)!r}; allowed integers >= 1")
        if self.hidden is not None:
            object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def form(self) -> str:
        """rate, spiking or on-chip."""
        return SWEEP_ROWS[self.rule][2]

    @property
    def key(self) -> str:
        """A unique, file-name-safe name: ``digits_backprop_h500-500_e5_s0``."""
        sizes = "default" if self.hidden is None else "-".join(map(str, self.hidden))
        sub = "" if self.subset is None else f"_n{self.subset[0]}-{self.subset[1]}"
        return f"{self.task}_{self.rule}_h{sizes}_e{self.epochs}_s{self.seed}{sub}"


def sweep_grid(tasks: Sequence[str], rules: Sequence[str], seeds: int | Sequence[int], epochs: int,
               hidden: Sequence[Sequence[int] | None] = (None,), threads: int = 1) -> list[SweepRun]:
    """The runs of a grid, ordered task, size, seed, rule (interleaved: each rule sees the same load).
    ``seeds``: a count (0..n-1) or the seeds. Rows whose form does not run a task are left out."""
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    runs = []
    for task in tasks:
        for h in hidden:
            for seed in seeds:
                for rule in rules:
                    run = SweepRun(task, rule, int(seed), epochs, None if h is None else tuple(h), threads=threads)
                    if _form_runs(run):
                        runs.append(run)
    return runs


def _form_runs(run: SweepRun) -> bool:
    from neurolearn.train.catalog import SPIKING_TASKS

    return {"rate": True, "spiking": run.task in SPIKING_TASKS, "on-chip": run.task == "xor"}[run.form]


# ---- one run ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _task(name: str, data: str | None, subset: tuple[int, int] | None):
    from neurolearn.train.loop import Task, load_task

    task = load_task(name, data)
    if subset is None:
        return task
    n_tr, n_te = subset
    return Task(task.name, task.x_train[:n_tr], task.y_train[:n_tr], task.x_test[:n_te], task.y_test[:n_te],
                task.n_classes)


def train_run(run: SweepRun, progress: bool = False) -> dict:
    """Train one :class:`SweepRun`; its metrics (as ``neurolearn train`` writes them, plus ``test_acc``,
    ``sizes``, ``epochs`` and ``seconds_per_epoch`` in every form)."""
    if run.form == "rate":
        from neurolearn.train.catalog import HIDDEN
        from neurolearn.train.loop import preset_rule, train

        rule_name, feedback, _ = SWEEP_ROWS[run.rule]
        hidden = run.hidden or HIDDEN[run.task]
        rule = preset_rule(rule_name, run.task, feedback=feedback, n_hidden=len(hidden))
        _, metrics = train(rule, _task(run.task, run.data, run.subset), epochs=run.epochs, seed=run.seed,
                           hidden=hidden, progress=progress)
        return metrics
    if not _form_runs(run):
        raise InputError(f"sweep: {run.rule} does not run task {run.task}")
    return (_spiking_run if run.form == "spiking" else _onchip_run)(run, progress)


def _spiking_run(run: SweepRun, progress: bool) -> dict:
    from dataclasses import replace

    from neurolearn.train import spiking as sp

    if run.task == "xor":
        task, cfg, rule = sp.spiking_xor_task(), sp.XOR_CONFIG, sp.BurstpropSpiking()
    else:
        task, cfg, rule = sp.spiking_digits_task(), sp.DIGITS_CONFIG, sp.DIGITS_RULE
    if run.hidden is not None:
        if len(run.hidden) != 1:
            raise InputError(f"sweep: spiking burstprop has one hidden layer; hidden {run.hidden}")
        cfg = replace(cfg, n_hidden=run.hidden[0])
    start = time.perf_counter()
    res = sp.train_spiking(task, cfg, rule, epochs=run.epochs, seed=run.seed, eval_every=0, progress=progress)
    m = res.to_metrics()
    if run.task == "xor":
        m["test_acc"] = float(sp.xor_solved(res.rates_after))
    m.update(seconds_per_epoch=(time.perf_counter() - start) / run.epochs, epochs=run.epochs,
             sizes=[task.n_in, cfg.n_hidden, task.classes * cfg.per_class], form="spiking")
    return m


def _onchip_run(run: SweepRun, progress: bool) -> dict:
    """On-chip XOR (neurolearn.train.onchip): learned in the fixed-point learning simulator; test_acc is 1
    where XOR is solved."""
    from neurolearn.sims.epochs import run_fixed
    from neurolearn.train import onchip

    if run.hidden is not None:
        raise InputError("sweep: on-chip XOR has a fixed network (16 hidden burst neurons); leave --hidden out")
    cfg = onchip.OnChipConfig(epochs=run.epochs)
    start = time.perf_counter()
    compiled, schedule, net = onchip.compile_xor(run.seed, cfg)
    fixed = run_fixed(compiled.plan, schedule)
    rates = onchip.eval_rates(fixed, schedule)
    solved = onchip.solved(fixed, schedule)
    return {"task": "xor", "seed": run.seed, "form": "on-chip", "epochs": run.epochs, "test_acc": float(solved),
            "xor_solved": solved, "eval_rates": rates.tolist(), "steps": schedule.steps,
            "sizes": [net.input_size, *(layer.size for layer in net.layers)],
            "seconds_per_epoch": (time.perf_counter() - start) / run.epochs}


def execute_run(run, run_fn: Callable = train_run, progress: bool = False) -> dict:
    """Run ``run_fn(run, progress)`` with ``run.threads`` torch and numba threads and denormals flushed; the
    record: the run, its metrics or its error (``Type: message``, with the traceback), where and how long.
    The thread settings are restored afterwards (the serial engine runs in the caller's process)."""
    import numpy as np
    import torch

    from neurolearn.sims.threads import set_kernel_threads

    record = {"key": run.key, "run": asdict(run), "host": socket.gethostname(), "pid": os.getpid()}
    threads = torch.get_num_threads()
    np.finfo(np.float32), np.finfo(np.float64)   # cached before flushing, which would make numpy warn
    # numba first: its first call starts its thread pool, which (OpenMP layer, one libgomp with torch) sets the
    # process's OpenMP threads to NUMBA_NUM_THREADS, undoing a torch.set_num_threads made before it
    numba_threads = set_kernel_threads(run.threads)
    torch.set_num_threads(run.threads)
    torch.set_flush_denormal(True)   # saturated sigmoids otherwise slow some runs by denormal arithmetic
    start = time.perf_counter()
    try:
        record["metrics"] = run_fn(run, progress)
    except Exception as exc:   # reported with the run; the sweep goes on
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        record["traceback"] = traceback.format_exc()
    finally:
        set_kernel_threads(numba_threads)
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
    record["run_seconds"] = time.perf_counter() - start
    return record


# ---- engines ---------------------------------------------------------------------------------------------

def ray_module():
    """Ray, or BackendUnavailableError saying in one line how to install it."""
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError("Ray is not installed: pip install 'neurolearn[sweep]' (or use --engine "
                                      "serial)") from None
    return ray


def _serial(todo, run_fn, progress):
    for run in todo:
        yield execute_run(run, run_fn, progress)


def _ray(todo, run_fn, progress, address):
    import logging

    ray = ray_module()
    started = not ray.is_initialized()
    address = address or os.environ.get("RAY_ADDRESS")   # Ray's own way to name a cluster
    if started:
        ray.init(address=address, num_cpus=None if address else os.cpu_count(), include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=progress)
    try:
        remote = ray.remote(execute_run)
        pending = {remote.options(num_cpus=run.threads, name=run.key).remote(run, run_fn, progress): run
                   for run in todo}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(ref)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayError as exc:   # the worker died (memory, signal): the others go on
                yield {"key": run.key, "run": asdict(run), "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        if started:
            ray.shutdown()


def choose_engine(engine: str) -> str:
    """``auto``: Ray where it is installed, else serial (saying so on standard error)."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r}; allowed {', '.join(ENGINES)}")
    if engine == "ray":
        ray_module()
    if engine != "auto":
        return engine
    try:
        ray_module()
        return "ray"
    except BackendUnavailableError:
        print("note: Ray is not installed (pip install 'neurolearn[sweep]'): running the sweep serially",
              file=sys.stderr)
        return "serial"


@dataclass(frozen=True)
class SweepResult:
    """The records of a sweep's runs (each has ``key``, ``run`` and ``metrics`` or ``error``), in grid order;
    ``skipped``: keys whose results existed (``resume``); ``engine``: ray or serial; ``seconds``: wall time."""

    records: list
    skipped: tuple
    engine: str
    seconds: float

    @property
    def failed(self) -> list:
        return [r for r in self.records if "error" in r]


def _write_json(path: Path, obj) -> None:
    from neurolearn.atomic import atomic_file

    atomic_file(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1)))


def run_sweep(runs: Sequence, out, *, run_fn: Callable = train_run, engine: str = "auto", address: str | None = None,
              resume: bool = False, progress: bool = True, run_progress: bool | None = None) -> SweepResult:
    """Run ``runs`` with ``run_fn`` (see the module's docstring) on ``engine``; write ``OUT/runs/KEY.json`` as
    each ends, ``OUT/sweep.json`` (every record, grid order) and ``OUT/table.txt`` (:func:`sweep_table`, for
    :class:`SweepRun` runs) at the end. ``resume``: skip runs whose results exist (failed runs run again);
    without it an ``OUT`` holding results is refused. ``progress``: a bar (terminal) or a line per finished
    run; ``run_progress``: each run's own epoch lines (default: when output is not a terminal)."""
    from neurolearn.progress import output_is_terminal, progress_bar

    keys = [r.key for r in runs]
    if len(set(keys)) != len(keys):
        raise InputError(f"sweep: runs with the same key: {sorted({k for k in keys if keys.count(k) > 1})}")
    engine = choose_engine(engine)
    out = Path(out)
    runs_dir = out / RUNS_DIR
    done = {}
    if runs_dir.is_dir():
        for path in runs_dir.glob("*.json"):
            rec = json.loads(path.read_text())
            if "metrics" in rec:
                done[rec["key"]] = rec
        if done and not resume:
            raise InputError(f"{out}: holds results of {len(done)} run(s) of an earlier sweep; pass --resume to "
                             "skip the runs done, or choose another -o")
    todo = [r for r in runs if r.key not in done]
    runs_dir.mkdir(parents=True, exist_ok=True)
    if run_progress is None:
        run_progress = progress and not output_is_terminal()
    start = time.perf_counter()
    records = dict(done)
    gen = _ray(todo, run_fn, run_progress, address) if engine == "ray" else _serial(todo, run_fn, run_progress)
    bar = progress_bar(gen, f"sweep ({engine})", total=len(todo), unit="runs", enabled=progress and bool(todo))
    failed = 0
    for rec in bar:
        records[rec["key"]] = rec
        _write_json(runs_dir / f"{rec['key']}.json", rec)
        failed += "error" in rec
        bar.set_postfix(last=rec["key"], **({"failed": failed} if failed else {}))
    result = SweepResult([records[k] for k in keys], tuple(k for k in keys if k in done), engine,
                         time.perf_counter() - start)
    _write_json(out / SWEEP_JSON, {"engine": engine, "seconds": result.seconds, "records": result.records})
    if all(isinstance(r, SweepRun) for r in runs):
        (out / "table.txt").write_text(sweep_table(result.records) + "\n")
    return result


# ---- the table ---------------------------------------------------------------------------------------------

def group_runs(records: list) -> dict:
    """Successful records grouped as {(task, rule, sizes, epochs): [metrics, ...]} in first-seen order."""
    groups = {}
    for rec in records:
        if "metrics" in rec:
            m, run = rec["metrics"], rec["run"]
            groups.setdefault((run["task"], run["rule"], "-".join(map(str, m["sizes"])), run["epochs"]), []).append(m)
    return groups


def sweep_table(records: list) -> str:
    """Test accuracy mean +- sd over seeds and training seconds per epoch per (task, rule, sizes, epochs), with
    each rule's time relative to backprop's on the same task and sizes; failed runs listed below."""
    import numpy as np

    head = (f"{'task':13s} {'rule':20s} {'sizes':15s} {'epochs':>6s} {'seeds':>5s} {'test acc (%)':>15s} "
            f"{'s/epoch':>8s} {'x backprop':>10s}")
    lines = [head, "-" * len(head)]
    groups = group_runs(records)
    for (task, rule, sizes, epochs), runs in groups.items():
        acc = 100 * np.array([m["test_acc"] for m in runs])
        sec = float(np.mean([m["seconds_per_epoch"] for m in runs]))
        bp = groups.get((task, "backprop", sizes, epochs))
        rel = f"{sec / np.mean([m['seconds_per_epoch'] for m in bp]):10.2f}" if bp else f"{'-':>10s}"
        sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
        lines.append(f"{task:13s} {rule:20s} {sizes:15s} {epochs:6d} {len(runs):5d} {acc.mean():7.2f} +- {sd:5.2f} "
                     f"{sec:8.3f} {rel}")
    lines += [f"FAILED {r['key']}: {r['error']}" for r in records if "error" in r]
    return "\n".join(lines)


# ---- the command -------------------------------------------------------------------------------------------

def add_sweep_parser(subparsers) -> None:
    """Add the ``sweep`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser("sweep",
                              help="a grid of training runs (tasks x rules x seeds x sizes) on Ray or serially")
    p.add_argument("--tasks", nargs="+", choices=TASKS, required=True)
    p.add_argument("--rules", nargs="+", choices=tuple(SWEEP_ROWS), required=True,
                   help="rate rules, burstprop-spiking (xor, digits) and burstprop-onchip (xor)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--hidden", nargs="+", metavar="SIZES",
                   help="hidden sizes, one grid point each, e.g. --hidden 100,100 500,500 (default: the task's)")
    p.add_argument("--threads", type=int, default=1, help="CPUs (torch and numba threads) per run (default 1)")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="ray: a local Ray instance with this machine's cores, or the cluster at --address; serial: "
                        "one run after another here; auto (default): Ray where installed (neurolearn[sweep])")
    p.add_argument("--address", help="an existing Ray cluster, e.g. ray://head:10001 or auto")
    p.add_argument("--resume", action="store_true", help="skip runs whose results exist in -o")
    p.add_argument("--data", help="MNIST-format directory for fashion-mnist")
    p.add_argument("-o", "--output", required=True, help="sweep directory: runs/KEY.json, sweep.json, table.txt")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    """``neurolearn sweep``: run the grid, print the table and the failed runs; exit 1 if any failed."""
    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds}; allowed >= 1")
    if args.address and args.engine == "serial":
        raise InputError("--address needs --engine ray (or auto)")
    from neurolearn.train.cli import parse_hidden_sizes

    hidden = [parse_hidden_sizes(h) for h in args.hidden] if args.hidden else [None]
    runs = sweep_grid(args.tasks, args.rules, args.seeds, args.epochs, hidden, threads=args.threads)
    if args.data is not None:
        from dataclasses import replace

        runs = [replace(r, data=args.data) for r in runs]
    if not runs:
        raise InputError(f"sweep: no run: rules {', '.join(args.rules)} do not run tasks {', '.join(args.tasks)}")
    res = run_sweep(runs, args.output, engine=args.engine, address=args.address, resume=args.resume)
    print(sweep_table(res.records))
    skipped = f", {len(res.skipped)} skipped (results existed)" if res.skipped else ""
    print(f"\n{len(runs)} runs on {res.engine}: {len(runs) - len(res.skipped) - len(res.failed)} done, "
          f"{len(res.failed)} failed{skipped} in {res.seconds:.1f} s; wrote {Path(args.output) / SWEEP_JSON}")
    return 1 if res.failed else 0
