#!/usr/bin/env python
"""Long fuzz run: N mutated NIR files through ``neurolearn compile``, counting crashes, hangs, MemoryErrors and
half-written outputs (issue 12's acceptance: all four 0 over >= 5,000 files).

Each file is compiled by one of --workers long-lived worker processes (memory capped with RLIMIT_AS at
--memory-gb); a file that takes longer than --hang seconds is a hang: its worker is killed and replaced.
Mutations (tests/fuzz_mutations.py): byte flips, truncations, overwritten bytes, special values, dtype and
shape changes, deleted or retyped fields, groups and datasets swapped, edge mutations, copied nodes, metadata
and rules mutations, and nesting up to 1000 levels. Prints a table of counts by outcome and every failure.

    python tools/fuzz_nir.py --files 5000 --seed 1 [--workers 2] [--keep DIR]
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _worker(conn, memory_gb: float) -> None:
    limit = int(memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    from tests.fuzz_mutations import judge_command

    while True:
        task = conn.recv()
        if task is None:
            return
        path, out = task
        outcome = judge_command(["compile", path, "-o", out], Path(out), ("plan.json", "report.md", "model.nir"))
        conn.send(outcome)


class Worker:
    def __init__(self, ctx, memory_gb):
        self.ctx, self.memory_gb = ctx, memory_gb
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, memory_gb))   # not daemonic: reads start children
        self.proc.start()
        child.close()

    def run(self, path: str, out: str, hang: float):
        """The outcome, or None for a hang (the worker is then killed: make a new one)."""
        self.conn.send((path, out))
        if self.conn.poll(hang):
            try:
                return self.conn.recv()
            except EOFError:
                return "died"
        self.proc.kill()
        self.proc.join()
        return None

    def close(self):
        if self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hang", type=float, default=20.0, help="seconds after which a compile counts as a hang")
    ap.add_argument("--memory-gb", type=float, default=6.0, help="address-space cap of each worker")
    ap.add_argument("--keep", help="directory to keep the failing files in")
    args = ap.parse_args()

    import numpy as np

    from tests.fuzz_mutations import apply, random_ops, write_seeds

    ctx = mp.get_context("forkserver")
    tmp = Path(tempfile.mkdtemp(prefix="nl-fuzz-"))
    seeds = write_seeds(tmp / "seeds")
    rng = np.random.default_rng(args.seed)
    counts, failures, slowest = collections.Counter(), [], (0.0, "")
    workers = [Worker(ctx, args.memory_gb) for _ in range(args.workers)]
    pending = list(range(args.files))
    t0 = time.perf_counter()
    import threading

    lock = threading.Lock()

    def serve(k):
        nonlocal slowest
        while True:
            with lock:
                if not pending:
                    return
                i = pending.pop(0)
                seed = seeds[int(rng.integers(0, len(seeds)))]
                ops = random_ops(rng)
            path = tmp / f"f{i}.nir"
            out = tmp / f"out{i}"
            apply(seed, path, ops)
            t = time.perf_counter()
            res = workers[k].run(str(path), str(out), args.hang)
            took = time.perf_counter() - t
            with lock:
                if res is None or res == "died":
                    kind = "hang" if res is None else "crash"
                    counts[kind] += 1
                    failures.append((kind, seed.name, ops, f"{'no answer' if res is None else 'worker died'} "
                                                          f"after {took:.1f} s"))
                    workers[k] = Worker(ctx, args.memory_gb)
                else:
                    counts[res.kind] += 1
                    if took > slowest[0]:
                        slowest = (took, f"{seed.name} {ops}")
                    if res.kind not in ("build", "error"):
                        failures.append((res.kind, seed.name, ops, res.message))
                done = sum(counts.values())
                if done % 250 == 0:
                    print(f"  {done} files, {dict(counts)}, {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                          flush=True)
            if args.keep and (res is None or res == "died" or res.kind not in ("build", "error")):
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                os.replace(path, Path(args.keep) / path.name)
            else:
                path.unlink(missing_ok=True)
            import shutil

            shutil.rmtree(out, ignore_errors=True)

    threads = [threading.Thread(target=serve, args=(k,)) for k in range(args.workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for w in workers:
        w.close()
    total = sum(counts.values())
    print(f"\nfuzz: {total} mutated NIR files from {len(seeds)} seeds (seed {args.seed}), "
          f"{time.perf_counter() - t0:.0f} s, slowest file {slowest[0]:.2f} s")
    print("| outcome | files |\n|---|---|")
    for kind in ("build", "error", "crash", "hang", "memory", "half-written"):
        print(f"| {kind} | {counts.get(kind, 0)} |")
    for kind, seed, ops, msg in failures[:50]:
        print(f"{kind}: {seed} {ops}: {msg}")
    bad = sum(counts.get(k, 0) for k in ("crash", "hang", "memory", "half-written"))
    print(f"\ncrashes {counts.get('crash', 0)}, hangs > {args.hang:g} s {counts.get('hang', 0)}, MemoryErrors "
          f"{counts.get('memory', 0)}, half-written outputs {counts.get('half-written', 0)}")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
