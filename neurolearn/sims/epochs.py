"""Learning runs over a whole input schedule, with the weights read at each epoch's end.

A :class:`Schedule` is a long input stream (steps, n_in) with named presentation windows and epoch
ends; :func:`run_fixed` and :func:`run_lava` run a learning plan over it in neurolearn's simulator and
in Lava, returning the same :class:`EpochRun` (events and bursts of every layer at every step, the
learning connections' weights after every epoch). ``neurolearn verify --learning`` compares the two.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from neurolearn.compile.lava_graph import import_lava
from neurolearn.compile.plan import Plan
from neurolearn.errors import InputError
from neurolearn.sims.lava_learning import lava_learning_graph
from neurolearn.sims.learning import simulate_learning


@dataclass(frozen=True)
class Schedule:
    """The whole run's input: spikes (steps, n_in + 2; the last two channels are teacher up/down),
    the presentation windows (kind 'predict' or 'eval', epoch, pattern, start, stop) and the last step
    of each epoch (and of the final evaluation)."""

    spikes: np.ndarray = field(repr=False)
    windows: tuple
    epoch_ends: tuple

    @property
    def steps(self) -> int:
        return len(self.spikes)

    def save(self, path) -> None:
        """Write an .npz (spikes, windows, epoch_ends)."""
        kinds = sorted({w[0] for w in self.windows})
        rows = np.array([(kinds.index(k), e, p, a, b) for k, e, p, a, b in self.windows], np.int64).reshape(-1, 5)
        np.savez_compressed(path, spikes=self.spikes, windows=rows, kinds=np.array(kinds),
                            epoch_ends=np.array(self.epoch_ends, np.int64))

    @classmethod
    def load(cls, path) -> "Schedule":
        try:
            with np.load(path) as d:
                kinds = [str(k) for k in d["kinds"]]
                windows = tuple((kinds[k], int(e), int(p), int(a), int(b)) for k, e, p, a, b in d["windows"])
                return cls(d["spikes"].astype(np.uint8), windows, tuple(int(x) for x in d["epoch_ends"]))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path}: not a neurolearn schedule ({exc})") from exc

    def first_epochs(self, n: int) -> "Schedule":
        """The schedule cut after its first ``n`` epoch ends."""
        if not 1 <= n <= len(self.epoch_ends):
            raise InputError(f"schedule: {n} epochs asked; it has 1..{len(self.epoch_ends)}")
        end = self.epoch_ends[n - 1] + 1
        return Schedule(self.spikes[:end], tuple(w for w in self.windows if w[4] <= end), self.epoch_ends[:n])


@dataclass(frozen=True)
class EpochRun:
    """One backend's run: per layer events and bursts (steps, n); per learning connection its weights
    after each epoch end (n_ends, n_post, n_pre), integers (fixed point) or floats (the float twin)."""

    backend: str
    spikes: dict = field(repr=False)
    bursts: dict = field(repr=False)
    weights: dict = field(repr=False)
    steps_per_s: float | None = None   # Lava: steps/s after the first epoch (which includes the build),
    #                                    reading the weights after each epoch included


def run_fixed(plan: Plan, schedule: Schedule) -> EpochRun:
    """The whole schedule in neurolearn's fixed-point simulator (plan.learning learns)."""
    res = simulate_learning(plan, schedule.spikes, record=list(schedule.epoch_ends), record_uv=False)
    layers = res.sim.layers
    return EpochRun("neurolearn-fixed", {n: r.spikes[0] for n, r in layers.items()},
                    {n: np.zeros_like(r.spikes[0]) if r.bursts is None else r.bursts[0] for n, r in layers.items()},
                    {n: s.weights[0] for n, s in res.synapses.items()})


def run_lava(plan: Plan, schedule: Schedule, progress: bool = False) -> EpochRun:
    """The whole schedule in Lava (fixed_pt): one graph, run epoch by epoch, weights read after each."""
    from tqdm import tqdm

    lava = import_lava()
    graph = lava_learning_graph(plan, schedule.spikes)
    monitors = {}
    for name, proc in graph.lifs.items():
        for key, port in (("spikes", proc.s_out), ("bursts", getattr(proc, "s_out_burst", None))):
            if port is not None:  # plain LIF layers have no bursts
                monitors[name, key] = lava["Monitor"]()
                monitors[name, key].probe(port, schedule.steps)
    cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
    anchor = next(iter(graph.lifs.values()))
    weights = {name: [] for name in plan.learning}
    done, started = 0, None
    try:
        for end in tqdm(schedule.epoch_ends, desc="Lava (fixed_pt)", disable=not progress):
            anchor.run(condition=lava["RunSteps"](num_steps=end + 1 - done), run_cfg=cfg)
            if started is None:
                started, first = time.perf_counter(), end + 1
            done = end + 1
            for name in weights:
                weights[name].append(np.asarray(graph.denses[name].weights.get()).astype(np.int64))
        elapsed = time.perf_counter() - started
        data = {key: np.asarray(m.get_data()[key[0]][("s_out" if key[1] == "spikes" else "s_out_burst")])
                for key, m in monitors.items()}
    finally:
        anchor.stop()
    return EpochRun("lava-fixed_pt", {n: data[n, "spikes"].astype(np.uint8) for n in graph.lifs},
                    {n: data[n, "bursts"].astype(np.uint8) if (n, "bursts") in data else
                     np.zeros_like(data[n, "spikes"], np.uint8) for n in graph.lifs},
                    {n: np.stack(w) for n, w in weights.items()},
                    steps_per_s=(done - first) / elapsed if done > first else None)


