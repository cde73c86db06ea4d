"""Supervised burstprop learning on chip: spiking XOR as one continuous run of a compiled network.

The network of the spiking XOR task (inputs -> 16 hidden burst neurons -> 30 output burst neurons,
output bursts back through a fixed Y) is compiled with its rule (:mod:`neurolearn.compile.burst`) and
runs as one long input stream, learning every step in the learning engine, as it would on Loihi:

* each epoch presents the four patterns in a seeded order; a presentation is ``steps_predict`` steps
  without teacher (the prediction: output events counted) then ``steps_teach`` steps with the teacher
  channel "up" (XOR = 1) or "down" (XOR = 0) firing every step into the output dendrites, passed by a
  band teacher (``BandTeacher``) only if the prediction is not already in the target band (as the
  host-side training's teacher);
* after the last epoch each pattern is presented once more for ``steps_eval`` steps without teacher.

Unlike the host-side training of :mod:`neurolearn.train.spiking` (minibatches, plasticity only while
teaching), one sample runs at a time and plasticity is always on. The same run executes in three backends:
neurolearn's fixed-point simulator, Lava (``Loihi2SimCfg(select_tag="fixed_pt")``, bit-identical to
it) and a float twin (float weights, traces and Pbar, same input spikes and burst draws).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from neurolearn.compile.burst_mapping import BurstCompiled, compile_burst_network
from neurolearn.errors import InputError, shown
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork
from neurolearn.ir.plan import WEIGHT_RANGE, BandTeacherPlan
from neurolearn.ir.schedule import Schedule
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.sims.epochs import EpochRun
from neurolearn.train.spiking import XOR_CONFIG, XOR_LABELS, BurstNet, SpikingConfig, spiking_xor_task, xor_solved


@dataclass(frozen=True)
class OnChipConfig:
    """The on-chip XOR protocol (steps of dt) and the integer resolution."""

    epochs: int = 80
    steps_predict: int = 60    # presentation without teacher, steps
    steps_teach: int = 60      # presentation with teacher, steps
    steps_eval: int = 300      # final presentation of each pattern, steps
    teacher: float = 3.0       # teacher drive into the output dendrites, threshold units per step
    vth: int = 128             # integer threshold: voltages and weights in 1/vth of a threshold
    eta: float = 0.0025        # learning rate per step (weight units per unit trace); plasticity never stops
    tau_avg: float = 2560.0    # Pbar time scale, steps (several epochs: Pbar is the average over all patterns)
    rate: float = 0.1          # typical event rate (events per step): sets Pbar's per-event average 2**-k
    target_lo: float = 0.02    # band teacher: output events per neuron and step it accepts as 'low' ...
    target_hi: float = 0.08    # ... and as 'high'
    band: bool = True          # gate the teacher by the prediction (BandTeacher), as the host-side training does

    def __post_init__(self):
        for name in ("epochs", "steps_predict", "steps_teach", "steps_eval"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(f"on-chip XOR: {name} = {shown(getattr(self, name))}; allowed integers >= 1")
        if not 0 <= self.target_lo <= self.target_hi:
            raise InputError(f"on-chip XOR: target band {self.target_lo}..{self.target_hi}; need 0 <= lo <= hi")

    @property
    def rule(self) -> BurstpropSpiking:
        return BurstpropSpiking(eta=self.eta, tau_avg=self.tau_avg, rate_init=self.rate)


def xor_network(seed: int, cfg: SpikingConfig = XOR_CONFIG, rule: BurstpropSpiking = BurstpropSpiking()):
    """The spiking XOR network of :mod:`neurolearn.train.spiking`, initialised with ``seed``, as a
    :class:`BurstNetwork` carrying its rule on both event weights."""
    task = spiking_xor_task()
    net = BurstNet(task.n_in, 1, cfg, seed)
    params = rule.to_params()
    layers = (BurstLayer("hidden", cfg.n_hidden, cfg.params, seed), BurstLayer("out", net.n_out, cfg.params, seed + 1))
    return BurstNetwork(dt=cfg.dt, input_size=task.n_in, layers=layers,
                        weights={("input", "hidden"): net.W1.numpy().astype(float),
                                 ("hidden", "out"): net.W2.numpy().astype(float)},
                        feedback={("out", "hidden"): net.Y.numpy().astype(float)},
                        rules={"W:input->hidden": params, "W:hidden->out": params})


def xor_schedule(cfg: OnChipConfig, seed: int) -> Schedule:
    """Poisson input spikes of the XOR patterns and the teacher channels for the whole run."""
    task = spiking_xor_task()
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
    if cfg.band:
        n_out = compiled.plan.layer("out").size
        up, down = compiled.teacher
        gate = BandTeacherPlan("out", up, down, lo=int(cfg.target_lo * n_out * cfg.steps_predict),
                           hi=math.ceil(cfg.target_hi * n_out * cfg.steps_predict))
        compiled = replace(compiled, plan=replace(compiled.plan, teacher=gate),
                           notes=compiled.notes + (f"teacher: band-gated, {gate.lo}..{gate.hi} output events in "
                                                   f"{cfg.steps_predict} prediction steps",))
    return compiled, xor_schedule(cfg, seed), net


def window_rates(run: EpochRun, schedule: Schedule, layer: str = "out") -> list[dict]:
    """Events per neuron and step of ``layer`` in every presentation window (the prediction phases and
    the final evaluation)."""
    s = run.spikes[layer]
    return [{"kind": k, "epoch": e, "pattern": p, "rate": float(s[a:b].mean())} for k, e, p, a, b in schedule.windows]


def eval_rates(run: EpochRun, schedule: Schedule, layer: str = "out") -> np.ndarray:
    """Output events per neuron and step for patterns (0,0), (1,0), (0,1), (1,1) in the final evaluation."""
    r = np.zeros(4)
    for w in window_rates(run, schedule, layer):
        if w["kind"] == "eval":
            r[w["pattern"]] = w["rate"]
    return r


def solved(run: EpochRun, schedule: Schedule) -> bool:
    """XOR learned: in the final evaluation the output is more active for (1,0), (0,1) than (0,0), (1,1)."""
    return xor_solved(eval_rates(run, schedule))


def onchip_metrics(fixed: EpochRun, flt: EpochRun, schedule: Schedule, cfg: OnChipConfig, seed: int) -> dict:
    """metrics.json of an on-chip run: per-epoch prediction rates per pattern (fixed point and float
    twin), the final evaluation rates, whether each solved XOR, and their difference."""
    def per_epoch(run):
        rows = {}
        for w in window_rates(run, schedule):
            if w["kind"] == "predict":
                rows.setdefault(w["epoch"], [0.0] * 4)[w["pattern"]] = w["rate"]
        return [rows[e] for e in sorted(rows)]

    fx, fl = eval_rates(fixed, schedule), eval_rates(flt, schedule)
    return {"task": "xor", "seed": seed, "spiking": True, "on_chip": True, "config": asdict(cfg),
            "rule": cfg.rule.to_params(), "steps": schedule.steps,
            "fixed": {"epoch_rates": per_epoch(fixed), "eval_rates": fx.tolist(),
                      "xor_solved": solved(fixed, schedule)},
            "float": {"epoch_rates": per_epoch(flt), "eval_rates": fl.tolist(), "xor_solved": solved(flt, schedule)},
            "float_minus_fixed": (fl - fx).tolist(),
            # weights at the learning engine's limits after training (they saturate there, as on chip)
            "saturated_weights": {n: int(np.isin(w[-1], WEIGHT_RANGE).sum()) for n, w in fixed.weights.items()}}


def plot_onchip(metrics: dict, path) -> None:
    """Prediction-phase output rate per pattern and epoch, fixed point (solid) vs float twin (dashed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    for i, label in enumerate(("00", "10", "01", "11")):
        for kind, style in (("fixed", "-"), ("float", "--")):
            rates = [r[i] for r in metrics[kind]["epoch_rates"]]
            ax.plot(range(1, len(rates) + 1), rates, style, color=f"C{i}", label=f"{label} {kind}")
    ax.set(xlabel="epoch", ylabel="output events per neuron and step",
           title=f"on-chip burstprop XOR, seed {metrics['seed']} (prediction phases)")
    ax.legend(ncol=4, fontsize=7)
    fig.savefig(path, dpi=100)
