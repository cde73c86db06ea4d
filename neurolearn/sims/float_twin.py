"""The float twin of an on-chip learning run: the compiled network's structure and timing (one step per
Dense), float weights, traces and Pbar, the neurons' float steps (:mod:`neurolearn.dynamics`), and the same
input spikes, burst draws and band teacher as the fixed-point run, so that float and fixed point can be
compared sample by sample.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from neurolearn.compile.burst_mapping import BurstCompiled
from neurolearn.dynamics.band_teacher import band_teacher_step
from neurolearn.dynamics.burst_neuron import burst_float_step, burst_uniforms
from neurolearn.dynamics.lif import lif_float_step
from neurolearn.ir.burst_network import BurstNetwork
from neurolearn.ir.plan import BandTeacherPlan
from neurolearn.ir.schedule import Schedule
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.rules.plugin import StepInput
from neurolearn.sims.epochs import EpochRun

_dendrite = burst_float_step.py_func
_band_teacher = band_teacher_step.py_func


def run_float_twin(net: BurstNetwork, compiled: BurstCompiled, schedule: Schedule, rule: BurstpropSpiking,
                   teacher_strength: float) -> EpochRun:
    """The float twin: the compiled network's structure and timing (one step per Dense), the neurons'
    float steps (:mod:`neurolearn.dynamics`, float64), float weights, traces and Pbar, the same input spikes
    and the same burst random draws as the fixed-point run. Every learning connection learns by ``rule``'s
    float step, with its trace's tau rounded to steps as on chip and the neurons' own Pbar."""
    plan = compiled.plan
    layers = {L.name: L for L in net.layers}
    u_burst = {L.name: burst_uniforms(L.burst.seed, schedule.steps, L.size)[:, 0] for L in plan.layers}
    w = {c.name: _float_weights(net, c.name, teacher_strength, c.weights.shape) for c in plan.connections}
    state = {n: [np.zeros(L.size) for _ in range(3)] for n, L in layers.items()}   # u, v, v_d
    pbar = {n: np.full(L.size, rule.p_init) for n, L in layers.items()}
    shift = rule.pbar_shift()
    rule = replace(rule, tau_pre=float(round(rule.tau_pre)))
    states = {c.name: rule.init_state(c.weights.shape[1], c.weights.shape[0])
              for c in plan.connections if c.name in plan.learning}
    buf = {c.name: np.zeros(c.weights.shape[0]) for c in plan.connections}
    out = {n: {k: np.zeros((schedule.steps, L.size), np.uint8) for k in ("spikes", "bursts")} for n, L in layers.items()}
    weights = {name: [] for name in plan.learning}
    ends = set(schedule.epoch_ends)
    gate = _Gate(plan.teacher)
    levels = {L.name: L.burst.valence_levels for L in plan.layers}
    for t in range(schedule.steps):
        ev, bu, p_old = {}, {}, {}
        for n, L in layers.items():
            soma = sum(buf[c.name] for c in plan.connections if c.target == n and c.port == "soma")
            apical = sum(buf[c.name] for c in plan.connections if c.target == n and c.port == "apical")
            u, v, v_d = state[n]
            prm = L.params
            s, u, v = lif_float_step(soma, u, v, prm.alpha, prm.beta, 0.0, prm.threshold)
            ev[n], p_old[n] = s > 0, pbar[n]
            bu[n], v_d, pbar[n], _, _, _ = _dendrite(ev[n], v_d, pbar[n], apical, prm.beta_d, prm.burst_offset,
                                                     prm.burst_slope, shift, levels[n], u_burst[n][t])
            state[n] = [u, v, v_d]
            out[n]["spikes"][t], out[n]["bursts"][t] = ev[n], bu[n]
        inp = gate.step(schedule.spikes[t].astype(bool), ev)
        for c in plan.connections:
            if c.source == plan.input_name:
                lo, hi = c.input_range or (0, plan.input_size)
                pre = inp[lo:hi]
            else:
                pre = bu[c.source] if c.carries == "bursts" else ev[c.source]
            buf[c.name] = w[c.name][:, pre].sum(axis=1)
            if c.name in plan.learning:
                step = StepInput(pre[None], ev[c.target][None], bu[c.target][None], p_old[c.target])
                states[c.name], dw = rule.float_step(states[c.name], w[c.name], step)
                w[c.name] += dw
        if t in ends:
            for name in weights:
                weights[name].append(w[name].copy())
    return EpochRun("float-twin", {n: o["spikes"] for n, o in out.items()}, {n: o["bursts"] for n, o in out.items()},
                     {n: np.stack(v) for n, v in weights.items()})


class _Gate:
    """The band teacher (:func:`~neurolearn.dynamics.band_teacher.band_teacher_step`) on the twin's input."""

    def __init__(self, plan: BandTeacherPlan | None):
        self.plan, self.count, self.asked, self.open = plan, 0, False, False

    def step(self, inp: np.ndarray, events: dict) -> np.ndarray:
        """This step's input with the teacher channels dropped while the gate is closed."""
        t = self.plan
        if t is None:
            return inp
        self.count, self.asked, self.open = _band_teacher(bool(inp[t.up]), bool(inp[t.down]),
                                                          int(events[t.layer].sum()), self.count, self.asked,
                                                          self.open, t.lo, t.hi)
        if not self.open:
            inp = inp.copy()
            inp[[t.up, t.down]] = False
        return inp


def _float_weights(net: BurstNetwork, name: str, teacher: float, shape) -> np.ndarray:
    if name == "teacher":
        return np.tile([teacher, -teacher], (shape[0], 1)).astype(float)
    kind, ends = name.split(":")
    src, dst = ends.split("->")
    return np.array((net.weights if kind == "W" else net.feedback)[(src, dst)], dtype=float)
