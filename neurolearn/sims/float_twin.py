"""The float twin of an on-chip learning run: the compiled network's structure and timing (one step per Dense,
the same teacher), float weights, traces, Pbar and Ebar, the neurons' float steps (:mod:`neurolearn.dynamics`),
and the same input spikes and burst draws as the fixed-point run, so that float and fixed point can be compared
sample by sample.

A burstprop connection learns by burstprop's float rule ``dW_ij = eta E_i valence_i Etilde_j``: the valence
is what the post neuron's float step computes (``B - Pbar``, or ``p - Pbar`` plus its homeostasis, as its
integer step sends it on chip, unrounded), Etilde the presynaptic event trace (+1 per event, decaying with the
rule's ``tau_pre`` rounded to steps as on chip). A connection of a two-factor pair-trace rule (dendritic balance
in its error-neuron form, the Hebbian baseline) learns by the :class:`~neurolearn.rules.plugin.PairForm` of the
float rule its program realizes (``rule.realized(units)``: constants and taus as rounded on chip), every step. A
``btsp-credit`` connection learns by its :class:`~neurolearn.rules.btsp_credit.CreditForm`: the valence split into
P+ and P-, ET and q(ET) as two clipped presynaptic traces.
The per-step loop is compiled (numba), and a :class:`FloatTwinSession` runs a long stream chunk by chunk, as
:class:`~neurolearn.sims.learning.ChipSession`.
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numba
import numpy as np

from neurolearn.compile.burst_mapping import BurstCompiled
from neurolearn.dynamics.burst_neuron import PLAIN_VALENCE, BurstStream, burst_float_step, homeostatic_bias_float
from neurolearn.dynamics.lif import lif_float_step
from neurolearn.errors import InputError, RuleError, ShapeError
from neurolearn.ir.burst_network import BurstNetwork
from neurolearn.ir.features import require
from neurolearn.ir.plan import PBAR_ONE, homeostatic_bias_units
from neurolearn.ir.schedule import Schedule
from neurolearn.rules.btsp_credit import BTSPCredit, CreditForm
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.rules.plugin import ChipUnits, PairForm, rule_from_params
from neurolearn.sims.epochs import EpochRun
from neurolearn.sims.learning import active_sources, teacher_gate
from neurolearn.sims.lowering import (
    Connections,
    TeacherTable,
    input_spikes,
    layer_offsets,
    plan_connections,
    teacher_table,
)
from neurolearn.sims.result import as_batch

BURSTPROP, PAIR, CREDIT = 0, 1, 2   # the twin's learner kinds


class TwinTables(NamedTuple):
    """What the twin's kernel reads: float neurons (per neuron), the plan's connections and teacher, and the
    learners (per learning connection)."""

    keep_u: np.ndarray       # float: alpha, the somatic current's keep per step
    keep_v: np.ndarray       # beta
    threshold: np.ndarray
    dendrite: np.ndarray     # bool: a burst neuron
    keep_d: np.ndarray       # beta_d
    offset: np.ndarray       # burst_offset (voltage units)
    slope: np.ndarray        # burst_slope
    pbar_shift: np.ndarray   # float: Pbar's per-event average 2**-pbar_shift
    valence: np.ndarray      # (n, 10) int64: the valence's constants (BurstPlan.valence_shape)
    bias: np.ndarray         # the soma's bias (voltage units per step; the network's, unquantized)
    hb_eta: np.ndarray       # the homeostatic bias's eta as the plan realizes it (voltage units per step), 0: none
    hb_limit: np.ndarray     # where the chip's accumulator saturates (voltage units per step)
    draw: np.ndarray         # int64: column of its burst draws
    conns: Connections
    teacher: TeacherTable
    at: np.ndarray           # per connection: its first synapse (synapse (i, j) at at + j * n_tgt + i)
    learner: np.ndarray      # per connection: its learner, -1 none
    eta: np.ndarray          # per learner: learning rate (weight units per unit trace (product))
    keep_pre: np.ndarray     # per learner: exp(-1 / tau_pre)
    x_at: np.ndarray         # per learner: its pres' traces start here
    kind: np.ndarray         # per learner: BURSTPROP, PAIR (a PairForm rule) or CREDIT (btsp-credit)
    pre_offset: np.ndarray   # per learner (pair): PairForm's offsets, decay, post traces' keeps
    post_offset: np.ndarray
    decay: np.ndarray
    keep_post: np.ndarray
    keep_post2: np.ndarray
    every: np.ndarray        # per learner (pair): steps between weight changes (the program's t_epoch)
    y_at: np.ndarray         # per learner: its posts' traces start here
    w_max: np.ndarray        # per learner (credit): CreditForm's w_max, eta_dep, eta_neg, ET and q(ET) per event
    eta_dep: np.ndarray
    eta_neg: np.ndarray
    et_step: np.ndarray
    gate_step: np.ndarray


class TwinState(NamedTuple):
    """Everything the twin carries from step to step, floats unless said."""

    u: np.ndarray
    v: np.ndarray
    v_d: np.ndarray
    pbar: np.ndarray
    ebar: np.ndarray
    hb: np.ndarray       # the homeostatic bias (voltage units per step) the soma adds to its bias
    abuf: np.ndarray     # every connection's activations, delivered next step
    w: np.ndarray        # every synapse's weight (float weight units)
    trace: np.ndarray    # every learner's presynaptic event traces (credit: ET, then q(ET), per pre)
    post_trace: np.ndarray   # every pair learner's postsynaptic traces y, y2
    post_square: np.ndarray
    teach: np.ndarray    # int64 (3 + classes,): as ChipState.teach
    step: np.ndarray     # int64 (1,): steps run so far (the learners' epochs count from the first)


@numba.njit(cache=True, nogil=True)
def _twin_steps(st, inp, tab, u_burst, spikes, bursts, learn):
    """Steps 0..steps-1 from state st (updated in place): input (InputSpikes, one stream) -> events and bursts
    (steps, n) of every neuron; the learners learn if ``learn``."""
    conns, teach = tab.conns, tab.teacher
    steps, n = spikes.shape
    a_in = np.zeros((2, n))
    s = np.zeros((2, n), np.bool_)
    val = np.zeros(n)
    n_max = 1
    for c in range(conns.tgt.size):
        n_max = max(n_max, conns.n_src[c], conns.n_tgt[c])
    pre, posts, a_sum = np.zeros(n_max, np.int64), np.zeros(n_max, np.int64), np.zeros(n_max)
    n_req = 2 * teach.classes
    requests, gate, events = np.zeros(n_req, np.bool_), np.zeros(n_req, np.bool_), np.zeros(teach.classes, np.int64)
    asked, count, band_open, class_count = st.teach[0] != 0, st.teach[1], st.teach[2] != 0, st.teach[3:]
    for t in range(steps):
        a_in[:] = 0.0
        for c in range(conns.tgt.size):
            port, tgt, ob = conns.port[c], conns.tgt[c], conns.buf[c]
            for i in range(conns.n_tgt[c]):
                a_in[port, tgt + i] += st.abuf[ob + i]
        for i in range(n):
            e, st.u[i], st.v[i] = lif_float_step(a_in[0, i], st.u[i], st.v[i], tab.keep_u[i], tab.keep_v[i],
                                                 tab.bias[i] + st.hb[i], tab.threshold[i])
            s[0, i] = e > 0
            spikes[t, i] = s[0, i]
            if tab.dendrite[i]:
                vs = tab.valence[i]
                s[1, i], st.v_d[i], st.pbar[i], st.ebar[i], _, _, _, _, val[i] = burst_float_step(
                    s[0, i], st.v_d[i], st.pbar[i], st.ebar[i], a_in[1, i], tab.keep_d[i], tab.offset[i],
                    tab.slope[i], tab.pbar_shift[i], 0.0, u_burst[t, tab.draw[i]],
                    (vs[0], vs[1], vs[2], vs[3], vs[4], vs[5], vs[6], vs[7], vs[8], vs[9]), st.step[0] + t)
                if tab.hb_eta[i]:
                    hb = homeostatic_bias_float(st.hb[i], s[0, i], vs[2] / PBAR_ONE, tab.hb_eta[i])
                    st.hb[i] = min(max(hb, -tab.hb_limit[i]), tab.hb_limit[i])
                bursts[t, i] = s[1, i]
        if teach.kind:   # the same integer teacher as on chip (gate[k]: does channel teach.up + k pass?)
            count, asked, band_open = teacher_gate(teach, inp, t, s[0], requests, events, class_count,
                                                   count, asked, band_open, gate)
        for c in range(conns.tgt.size):
            n_pre, n_post, base = conns.n_src[c], conns.n_tgt[c], tab.at[c]
            cnt = active_sources(conns, c, inp, t, s, teach, gate, pre)
            a_sum[:n_post] = 0.0
            for k in range(cnt):
                row = base + pre[k] * n_post
                for i in range(n_post):
                    a_sum[i] += st.w[row + i]
            ob = conns.buf[c]
            for i in range(n_post):
                st.abuf[ob + i] = a_sum[i]
            l = tab.learner[c]
            if l < 0 or not learn:
                continue
            # the pre trace (with this step's pre events), then the rule's dW
            xo, tgt, keep = tab.x_at[l], conns.tgt[c], tab.keep_pre[l]
            if tab.kind[l] == CREDIT:
                _credit_update(st, tab, l, s[0, tgt:tgt + n_post], val[tgt:tgt + n_post], pre[:cnt], base, n_pre,
                               n_post)
                continue
            for j in range(n_pre):
                st.trace[xo + j] *= keep
            for k in range(cnt):
                st.trace[xo + pre[k]] += 1.0
            if tab.kind[l] == PAIR:
                _pair_update(st, tab, l, s[0, tgt:tgt + n_post], base, n_pre, n_post,
                             (st.step[0] + t + 1) % tab.every[l] == 0)
                continue
            # burstprop: dW = eta E valence trace (posts with events)
            n_ev = 0
            for i in range(n_post):
                if s[0, tgt + i] and val[tgt + i] != 0.0:
                    posts[n_ev] = i
                    n_ev += 1
            if n_ev == 0:
                continue
            for j in range(n_pre):
                x = st.trace[xo + j]
                if x == 0.0:
                    continue
                row = base + j * n_post
                for k in range(n_ev):
                    st.w[row + posts[k]] += tab.eta[l] * val[tgt + posts[k]] * x
    st.teach[0], st.teach[1], st.teach[2] = asked, count, band_open
    st.step[0] += steps


@numba.njit(cache=True, nogil=True)
def _pair_update(st, tab, l, post, base, n_pre, n_post, change):
    """Learner ``l``'s PairForm step: its post traces with this step's ``post`` events, then (if ``change``: every
    ``every``-th step) ``every`` times dw_ij = eta (x_j - pre_offset) (y_i - post_offset) - decay w_ij y2_i (the pre
    traces are already updated)."""
    xo, yo = tab.x_at[l], tab.y_at[l]
    for i in range(n_post):
        st.post_trace[yo + i] = tab.keep_post[l] * st.post_trace[yo + i] + post[i]
        st.post_square[yo + i] = tab.keep_post2[l] * st.post_square[yo + i] + post[i]
    if not change:
        return
    eta, decay = tab.eta[l] * tab.every[l], tab.decay[l] * tab.every[l]
    for j in range(n_pre):
        x = st.trace[xo + j] - tab.pre_offset[l]
        row = base + j * n_post
        for i in range(n_post):
            st.w[row + i] += eta * x * (st.post_trace[yo + i] - tab.post_offset[l]) - \
                decay * st.w[row + i] * st.post_square[yo + i]


@numba.njit(cache=True, nogil=True)
def _credit_update(st, tab, l, post, val, pre, base, n_pre, n_post):
    """Learner ``l``'s btsp-credit step: ET and q(ET) (this step's ``pre`` events, clipped at 1), then for every
    post with an event dW = eta_pot P+ (w_max - W) ET - eta_dep P+ W q(ET) + eta_neg P- ET."""
    xo, keep = tab.x_at[l], tab.keep_pre[l]
    for j in range(2 * n_pre):
        st.trace[xo + j] *= keep
    for j in pre:
        st.trace[xo + j] = min(st.trace[xo + j] + tab.et_step[l], 1.0)
        st.trace[xo + n_pre + j] = min(st.trace[xo + n_pre + j] + tab.gate_step[l], 1.0)
    for i in range(n_post):
        if not post[i] or val[i] == 0.0:
            continue
        up, down = max(val[i], 0.0), min(val[i], 0.0)
        for j in range(n_pre):
            et = st.trace[xo + j]
            if et == 0.0:
                continue
            k = base + j * n_post + i
            w = st.w[k]
            st.w[k] = w + up * (tab.eta[l] * (tab.w_max[l] - w) * et - tab.eta_dep[l] * w * st.trace[xo + n_pre + j]) \
                + tab.eta_neg[l] * down * et


def _float_weights(net: BurstNetwork, compiled: BurstCompiled, teacher_strength: float) -> dict:
    """Every connection's float weights (n_post, n_pre): the network's W, Y, Z; the teacher's sign times its
    strength."""
    out = {}
    for c in compiled.plan.connections:
        if c.name == "teacher":
            out[c.name] = np.sign(c.weights) * float(teacher_strength)
            continue
        kind, ends = c.name.split(":")
        src, dst = ends.split("->")
        table = {"W": net.weights, "Y": net.feedback, "Z": net.balance}[kind]
        out[c.name] = np.asarray(table[(src, dst)], dtype=float)
    return out


def _rules(net: BurstNetwork, compiled: BurstCompiled, names) -> dict[str, BurstpropSpiking | PairForm | CreditForm]:
    """Each learning connection's burstprop rule, the CreditForm of a btsp-credit program, or the PairForm of the
    float rule its program realizes."""
    rules = {}
    for name in names:
        rule = rule_from_params(net.rules[name], name)
        if isinstance(rule, BTSPCredit):
            rules[name] = rule.twin_form(ChipUnits(compiled.weight_units[name], compiled.plan.dt))
            continue
        if isinstance(rule, BurstpropSpiking):
            rules[name] = rule
            continue
        if not rule.has_pair_form:
            raise InputError(f"float twin: connection '{name}' learns by '{rule.name}'; the twin runs burstprop, "
                             "btsp-credit and the pair-trace rules (dendritic balance, error-neuron form; "
                             "hebbian-baseline)")
        try:
            rules[name] = rule.realized(ChipUnits(compiled.weight_units[name], compiled.plan.dt)).pair_form()
        except RuleError as exc:
            raise InputError(f"float twin: connection '{name}': {exc}") from None
    return rules


class FloatTwinSession:
    """The float twin of a compiled burst network, run as one continuous stream chunk by chunk (state and burst
    draws carry over), as :class:`~neurolearn.sims.learning.ChipSession` runs the chip."""

    def __init__(self, net: BurstNetwork, compiled: BurstCompiled, teacher_strength: float | None = None):
        plan = compiled.plan
        require(plan.features(), "float-twin")
        self.plan = plan
        layers = {L.name: L for L in net.layers}
        offsets = layer_offsets(plan)
        sizes = [L.size for L in plan.layers]
        n = int(sum(sizes))

        def per_neuron(value):
            return np.concatenate([np.zeros(0)] + [np.full(L.size, value(L), float) for L in plan.layers])

        prm = {L.name: layers[L.name].params for L in plan.layers}
        bias_units = {L.name: homeostatic_bias_units(L.burst.bias_gain, L.burst.bias_shift, float(L.scale[0]))
                      for L in plan.layers if L.burst is not None}
        bursty = [L for L in plan.layers if L.burst is not None]
        draw_at = dict(zip([L.name for L in bursty], np.cumsum([0] + [L.size for L in bursty])))
        if teacher_strength is None:   # the network's own (its chip settings), else none
            teacher_strength = net.chip.teacher_strength if net.chip is not None else 0.0
        weights = _float_weights(net, compiled, teacher_strength)
        rules = _rules(net, compiled, [c.name for c in plan.connections if c.name in plan.learning])
        at, w, learner, n_syn, n_x, n_y = [], [], [], 0, 0, 0
        per_learner = {k: [] for k in ("eta", "keep_pre", "x_at", "kind", "pre_offset", "post_offset", "decay",
                                       "keep_post", "keep_post2", "y_at", "every", "w_max", "eta_dep", "eta_neg",
                                       "et_step", "gate_step")}
        for c in plan.connections:
            at.append(n_syn)
            w.append(np.ascontiguousarray(weights[c.name].T).reshape(-1))
            n_syn += c.weights.size
            rule = rules.get(c.name)
            if rule is None:
                learner.append(-1)
                continue
            learner.append(len(per_learner["eta"]))
            pair, credit = isinstance(rule, PairForm), isinstance(rule, CreditForm)
            keep_post2 = math.exp(-1.0 / rule.tau_post2) if pair and rule.tau_post2 else 0.0
            kind = PAIR if pair else CREDIT if credit else BURSTPROP
            for key, value in (("eta", rule.eta_pot if credit else rule.eta), ("x_at", n_x), ("kind", kind),
                               ("y_at", n_y),
                               ("keep_pre", math.exp(-1.0 / (rule.tau_pre if pair else float(round(rule.tau_pre))))),
                               ("pre_offset", rule.pre_offset if pair else 0.0),
                               ("post_offset", rule.post_offset if pair else 0.0),
                               ("decay", rule.decay if pair else 0.0),
                               ("keep_post", math.exp(-1.0 / rule.tau_post) if pair else 0.0),
                               ("keep_post2", keep_post2), ("every", rule.every if pair else 1),
                               *((k, getattr(rule, k) if credit else 0.0) for k in ("w_max", "eta_dep", "eta_neg")),
                               ("et_step", rule.et_per_event if credit else 0.0),
                               ("gate_step", rule.gate_per_event if credit else 0.0)):
                per_learner[key].append(value)
            n_x += c.weights.shape[1] * (2 if credit else 1)   # credit: ET, then q(ET)
            n_y += c.weights.shape[0] if pair else 0
        self.tables = TwinTables(
            keep_u=per_neuron(lambda L: prm[L.name].alpha), keep_v=per_neuron(lambda L: prm[L.name].beta),
            threshold=per_neuron(lambda L: prm[L.name].threshold),
            dendrite=per_neuron(lambda L: L.burst is not None).astype(np.bool_),
            keep_d=per_neuron(lambda L: prm[L.name].beta_d), offset=per_neuron(lambda L: prm[L.name].burst_offset),
            slope=per_neuron(lambda L: prm[L.name].burst_slope),
            pbar_shift=per_neuron(lambda L: 0 if L.burst is None else L.burst.pbar_shift),
            valence=np.concatenate([np.zeros((0, len(PLAIN_VALENCE)), np.int64)] + [
                np.zeros((L.size, len(PLAIN_VALENCE)), np.int64) if L.burst is None else
                np.tile(np.array(L.burst.valence_shape(), np.int64), (L.size, 1)) for L in plan.layers]),
            bias=np.concatenate([np.zeros(0)] + [np.broadcast_to(net.biases.get(L.name, 0.0), L.size).astype(float)
                                                 for L in plan.layers]),
            hb_eta=per_neuron(lambda L: 0.0 if L.burst is None else bias_units[L.name][0]),
            hb_limit=per_neuron(lambda L: 0.0 if L.burst is None else bias_units[L.name][1]),
            draw=np.concatenate([np.zeros(0, np.int64)] + [
                np.zeros(L.size, np.int64) if L.burst is None else draw_at[L.name] + np.arange(L.size)
                for L in plan.layers]),
            conns=plan_connections(plan), teacher=teacher_table(plan), at=np.array(at, np.int64),
            learner=np.array(learner, np.int64),
            **{k: np.array(v, np.int64 if k in ("x_at", "y_at", "every", "kind") else float)
               for k, v in per_learner.items()})
        pbar0 = per_neuron(lambda L: 0 if L.burst is None else L.burst.pbar_init / PBAR_ONE)
        ebar0 = per_neuron(lambda L: 0 if L.burst is None else L.burst.rate_target / PBAR_ONE)
        self.state = TwinState(np.zeros(n), np.zeros(n), np.zeros(n), pbar0, ebar0, np.zeros(n),
                               np.zeros(int(self.tables.conns.n_tgt.sum())), np.concatenate([np.zeros(0)] + w),
                               np.zeros(n_x), np.zeros(n_y), np.zeros(n_y),
                               np.zeros(3 + self.tables.teacher.classes, np.int64), np.zeros(1, np.int64))
        self._streams = [BurstStream(L.burst.seed, L.size) for L in bursty]
        self._n_burst = int(sum(L.size for L in bursty))
        self.offsets = offsets   # each layer's first neuron

    def run(self, spikes: np.ndarray, learn: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Run input spikes (steps, n_in) on from the current state; returns every neuron's events and bursts,
        (steps, n) uint8 each."""
        inp = as_batch(spikes, self.plan.input_size)
        if inp.shape[0] != 1:
            raise ShapeError(f"input: shape {np.shape(spikes)}; the twin runs one stream (steps, n_in)")
        k, n = inp.shape[1], self.state.u.size
        u_burst = np.concatenate([np.zeros((k, 0))] + [s.take(k)[:, 0] for s in self._streams], axis=1)
        spk, brs = np.zeros((k, n), np.uint8), np.zeros((k, n), np.uint8)
        _twin_steps(self.state, input_spikes(inp), self.tables, np.ascontiguousarray(u_burst), spk, brs, learn)
        return spk, brs

    def weights(self, name: str) -> np.ndarray:
        """Connection ``name``'s float weights now, (n_post, n_pre)."""
        names = [c.name for c in self.plan.connections]
        if name not in names:
            raise InputError(f"weights: no connection '{name}' (the plan has {', '.join(names)})")
        c = self.plan.connections[names.index(name)]
        n_post, n_pre = c.weights.shape
        at = int(self.tables.at[names.index(name)])
        return self.state.w[at:at + n_pre * n_post].reshape(n_pre, n_post).T.copy()

    def fork(self) -> "FloatTwinSession":
        """An independent copy of the twin now: state, weights and burst streams."""
        twin = copy.copy(self)
        twin.state = copy.deepcopy(self.state)
        twin._streams = copy.deepcopy(self._streams)
        return twin


def run_float_twin(net: BurstNetwork, compiled: BurstCompiled, schedule: Schedule,
                   teacher_strength: float) -> EpochRun:
    """The float twin over a whole schedule: events and bursts of every layer at every step, the learning
    connections' float weights after each epoch end."""
    twin = FloatTwinSession(net, compiled, teacher_strength)
    spikes, bursts, weights, start = [], [], {name: [] for name in compiled.plan.learning}, 0
    for stop in sorted({e + 1 for e in schedule.epoch_ends} | {schedule.steps}):
        s, b = twin.run(schedule.spikes[start:stop])
        spikes.append(s)
        bursts.append(b)
        if stop - 1 in schedule.epoch_ends:
            for name in weights:
                weights[name].append(twin.weights(name))
        start = stop
    spk, brs = np.concatenate(spikes), np.concatenate(bursts)
    layers = {L.name: slice(twin.offsets[L.name], twin.offsets[L.name] + L.size) for L in compiled.plan.layers}
    return EpochRun("float-twin", {n: spk[:, sl] for n, sl in layers.items()},
                    {n: brs[:, sl] for n, sl in layers.items()}, {n: np.stack(v) for n, v in weights.items()})
