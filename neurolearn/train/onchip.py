"""Supervised burstprop learning on chip: spiking XOR as one continuous run of a compiled network.

The network of the spiking XOR task (inputs -> 16 hidden burst neurons -> 30 output burst neurons,
output bursts back through a fixed Y) is compiled with its rule (:mod:`neurolearn.compile.burst`) and
runs as one long input stream, learning every step in the learning engine, as it would on Loihi:

* each epoch presents the four patterns in a seeded order; a presentation is ``steps_predict`` steps
  without teacher (the prediction: output events counted) then ``steps_teach`` steps with the teacher
  channel "up" (XOR = 1) or "down" (XOR = 0) firing every step into the output dendrites;
* after the last epoch each pattern is presented once more for ``steps_eval`` steps without teacher.

Unlike the host-side training of :mod:`neurolearn.train.spiking` (minibatches, a teacher that stops
once the output is in its target band, plasticity only while teaching), nothing here needs the host:
the teacher is open-loop and plasticity is always on. The same run executes in three backends:
neurolearn's fixed-point simulator, Lava (``Loihi2SimCfg(select_tag="fixed_pt")``, bit-identical to
it) and a float twin (float weights, traces and Pbar, same input spikes and burst draws).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neurolearn.compile.burst import BurstCompiled, compile_burst_network
from neurolearn.nir.burst import BurstLayer, BurstNetwork
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.train.spiking import XOR_CONFIG, XOR_LABELS, BurstNet, SpikingConfig, xor_solved, xor_task


@dataclass(frozen=True)
class OnChipConfig:
    """The on-chip XOR protocol (steps of dt) and the integer resolution."""

    epochs: int = 40
    steps_predict: int = 100   # presentation without teacher, steps
    steps_teach: int = 100     # presentation with teacher, steps
    steps_eval: int = 300      # final presentation of each pattern, steps
    teacher: float = 3.0       # teacher drive into the output dendrites, threshold units per step
    vth: int = 128             # integer threshold: voltages and weights in 1/vth of a threshold
    eta: float = 0.0025        # learning rate per step (weight units per unit trace); plasticity never stops
    tau_avg: float = 2560.0    # Pbar time scale, steps (several epochs: Pbar is the average over all patterns)
    rate: float = 0.1          # typical event rate (events per step): sets Pbar's per-event average 2**-k

    @property
    def rule(self) -> BurstpropSpiking:
        return BurstpropSpiking(eta=self.eta, tau_avg=self.tau_avg, rate_init=self.rate)


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


@dataclass(frozen=True)
class OnChipRun:
    """One backend's run: per layer events and bursts (steps, n); per learning connection its weights
    after each epoch end (n_ends, n_post, n_pre), integers (fixed point) or floats (the float twin)."""

    backend: str
    spikes: dict = field(repr=False)
    bursts: dict = field(repr=False)
    weights: dict = field(repr=False)


def xor_network(seed: int, cfg: SpikingConfig = XOR_CONFIG, rule: BurstpropSpiking = BurstpropSpiking()):
    """The spiking XOR network of :mod:`neurolearn.train.spiking`, initialised with ``seed``, as a
    :class:`BurstNetwork` carrying its rule on both event weights."""
    task = xor_task()
    net = BurstNet(task.n_in, 1, cfg, seed)
    params = rule.to_dict()
    layers = (BurstLayer("hidden", cfg.n_hidden, cfg.params, seed), BurstLayer("out", net.n_out, cfg.params, seed + 1))
    return BurstNetwork(dt=cfg.dt, input_size=task.n_in, layers=layers,
                        weights={("input", "hidden"): net.W1.numpy().astype(float),
                                 ("hidden", "out"): net.W2.numpy().astype(float)},
                        feedback={("out", "hidden"): net.Y.numpy().astype(float)},
                        rules={"W:input->hidden": params, "W:hidden->out": params})


def xor_schedule(cfg: OnChipConfig, seed: int) -> Schedule:
    """Poisson input spikes of the XOR patterns and the teacher channels for the whole run."""
    task = xor_task()
    rng = np.random.default_rng(seed)
    rows, windows, ends, t = [], [], [], 0
    pres = cfg.steps_predict + cfg.steps_teach

    def present(pattern, steps, teach_from, kind, epoch):
        nonlocal t
        x = (rng.random((steps, task.n_in)) < task.x_train[pattern]).astype(np.uint8)
        teach = np.zeros((steps, 2), np.uint8)
        teach[teach_from:, 0 if XOR_LABELS[pattern] else 1] = 1
        rows.append(np.hstack([x, teach]))
        windows.append((kind, epoch, int(pattern), t, t + min(teach_from, steps)))
        t += steps

    for epoch in range(cfg.epochs):
        for pattern in rng.permutation(4):
            present(pattern, pres, cfg.steps_predict, "predict", epoch)
        ends.append(t - 1)
    for pattern in range(4):
        present(pattern, cfg.steps_eval, cfg.steps_eval, "eval", cfg.epochs)
    ends.append(t - 1)
    return Schedule(np.vstack(rows), tuple(windows), tuple(ends))


def compile_xor(seed: int, cfg: OnChipConfig = OnChipConfig()) -> tuple[BurstCompiled, Schedule, BurstNetwork]:
    """The seeded XOR network compiled with its rule and teacher, and its input schedule."""
    net = xor_network(seed, rule=cfg.rule)
    compiled = compile_burst_network(net, vth=cfg.vth, teacher_layer="out",
                                     teacher_strength=cfg.teacher, rng_seed=seed)
    return compiled, xor_schedule(cfg, seed), net


def run_fixed(compiled: BurstCompiled, schedule: Schedule) -> OnChipRun:
    """The run in neurolearn's fixed-point simulator."""
    from neurolearn.sims.learning import simulate_learning

    res = simulate_learning(compiled.plan, schedule.spikes, record=list(schedule.epoch_ends), record_uv=False)
    layers = res.sim.layers
    return OnChipRun("neurolearn-fixed", {n: r.spikes[0] for n, r in layers.items()},
                     {n: r.bursts[0] for n, r in layers.items()},
                     {n: s.weights[0] for n, s in res.synapses.items()})


def run_lava(compiled: BurstCompiled, schedule: Schedule, progress: bool = False) -> OnChipRun:
    """The run in Lava (fixed_pt): one graph, run epoch by epoch, weights read after each epoch."""
    from tqdm import tqdm

    from neurolearn.compile.lava_graph import import_lava
    from neurolearn.sims.lava_learning import lava_learning_graph

    lava = import_lava()
    plan = compiled.plan
    graph = lava_learning_graph(plan, schedule.spikes)
    monitors = {}
    for name, proc in graph.lifs.items():
        for key, port in (("spikes", proc.s_out), ("bursts", proc.s_out_burst)):
            monitors[name, key] = lava["Monitor"]()
            monitors[name, key].probe(port, schedule.steps)
    cfg = lava["Loihi2SimCfg"](select_tag="fixed_pt")
    anchor = next(iter(graph.lifs.values()))
    weights = {name: [] for name in plan.learning}
    done = 0
    try:
        for end in tqdm(schedule.epoch_ends, desc="Lava (fixed_pt)", disable=not progress):
            anchor.run(condition=lava["RunSteps"](num_steps=end + 1 - done), run_cfg=cfg)
            done = end + 1
            for name in weights:
                weights[name].append(np.asarray(graph.denses[name].weights.get()).astype(np.int64))
        data = {key: np.asarray(m.get_data()[key[0]][("s_out" if key[1] == "spikes" else "s_out_burst")])
                for key, m in monitors.items()}
    finally:
        anchor.stop()
    return OnChipRun("lava-fixed_pt", {n: data[n, "spikes"].astype(np.uint8) for n in graph.lifs},
                     {n: data[n, "bursts"].astype(np.uint8) for n in graph.lifs},
                     {n: np.stack(w) for n, w in weights.items()})


def run_float(net: BurstNetwork, compiled: BurstCompiled, schedule: Schedule,
              cfg: OnChipConfig = OnChipConfig()) -> OnChipRun:
    """The float twin: the compiled network's structure and timing (one step per Dense), float weights,
    voltages, traces and Pbar, the same input spikes and the same burst random draws."""
    plan, rule = compiled.plan, cfg.rule
    layers = {L.name: L for L in net.layers}
    bursts_r = {L.name: np.random.default_rng(L.burst.seed).random((schedule.steps, L.size)) for L in plan.layers}
    w = {c.name: _float_weights(net, c.name, cfg.teacher, c.weights.shape) for c in plan.connections}
    state = {n: {k: np.zeros(L.size) for k in ("v", "v_d")} for n, L in layers.items()}
    pbar = {n: np.full(L.size, rule.p_init) for n, L in layers.items()}
    shift = rule.pbar_shift()
    k_pre = math.exp(-1.0 / round(rule.tau_pre))
    trace = {name: np.zeros(plan.connections[[c.name for c in plan.connections].index(name)].weights.shape[1])
             for name in plan.learning}
    buf = {c.name: np.zeros(c.weights.shape[0]) for c in plan.connections}
    out = {n: {k: np.zeros((schedule.steps, L.size), np.uint8) for k in ("spikes", "bursts")} for n, L in layers.items()}
    weights = {name: [] for name in plan.learning}
    ends = set(schedule.epoch_ends)
    for t in range(schedule.steps):
        ev, bu, p_old = {}, {}, {}
        for n, L in layers.items():
            soma = sum(buf[c.name] for c in plan.connections if c.target == n and c.port == "soma")
            apical = sum(buf[c.name] for c in plan.connections if c.target == n and c.port == "apical")
            st, p = state[n], L.params
            st["v"] = p.beta * st["v"] + soma
            ev[n] = st["v"] > p.threshold
            st["v"][ev[n]] = 0
            st["v_d"] = p.beta_d * st["v_d"] + apical
            prob = 1 / (1 + np.exp(-(st["v_d"] - p.burst_offset) / p.burst_slope))
            bu[n] = ev[n] & (bursts_r[n][t] < prob)
            p_old[n] = pbar[n].copy()
            pbar[n] = np.where(ev[n], pbar[n] + (bu[n] - pbar[n]) * 2.0**-shift, pbar[n])
            out[n]["spikes"][t], out[n]["bursts"][t] = ev[n], bu[n]
        for c in plan.connections:
            if c.source == plan.input_name:
                lo, hi = c.input_range or (0, plan.input_size)
                pre = schedule.spikes[t, lo:hi].astype(bool)
            else:
                pre = bu[c.source] if c.carries == "bursts" else ev[c.source]
            buf[c.name] = w[c.name][:, pre].sum(axis=1)
            if c.name in plan.learning:
                trace[c.name] = k_pre * trace[c.name] + pre
                post = ev[c.target]
                valence = bu[c.target].astype(float) - p_old[c.target] * post
                w[c.name] += rule.eta * np.outer(valence, trace[c.name])
        if t in ends:
            for name in weights:
                weights[name].append(w[name].copy())
    return OnChipRun("float-twin", {n: o["spikes"] for n, o in out.items()}, {n: o["bursts"] for n, o in out.items()},
                     {n: np.stack(v) for n, v in weights.items()})


def _float_weights(net: BurstNetwork, name: str, teacher: float, shape) -> np.ndarray:
    if name == "teacher":
        return np.tile([teacher, -teacher], (shape[0], 1)).astype(float)
    kind, ends = name.split(":")
    src, dst = ends.split("->")
    return np.array((net.weights if kind == "W" else net.feedback)[(src, dst)], dtype=float)


def window_rates(run: OnChipRun, schedule: Schedule, layer: str = "out") -> list[dict]:
    """Events per neuron and step of ``layer`` in every presentation window (the prediction phases and
    the final evaluation)."""
    s = run.spikes[layer]
    return [{"kind": k, "epoch": e, "pattern": p, "rate": float(s[a:b].mean())} for k, e, p, a, b in schedule.windows]


def eval_rates(run: OnChipRun, schedule: Schedule, layer: str = "out") -> np.ndarray:
    """Output events per neuron and step for patterns (0,0), (1,0), (0,1), (1,1) in the final evaluation."""
    r = np.zeros(4)
    for w in window_rates(run, schedule, layer):
        if w["kind"] == "eval":
            r[w["pattern"]] = w["rate"]
    return r


def solved(run: OnChipRun, schedule: Schedule) -> bool:
    """XOR learned: in the final evaluation the output is more active for (1,0), (0,1) than (0,0), (1,1)."""
    return xor_solved(eval_rates(run, schedule))
