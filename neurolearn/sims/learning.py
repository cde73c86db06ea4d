"""neurolearn's fixed-point learning simulator: bit-exact with Lava 0.10.0 (``Loihi2SimCfg(select_tag="fixed_pt")``)
running ``LearningDense``, ``Dense``, ``LIF``, neurolearn's ``BurstLIF`` and ``BandTeacher`` for the same seeds.

A plan's connections named in ``learning`` run as ``LearningDense`` processes (:mod:`neurolearn.sims.learning_engine`
mirrors Lava's learning engine); the others as plain ``Dense``; layers as ``LIF`` (arithmetic as in
:mod:`neurolearn.sims.fixed`), burst layers as ``BurstLIF`` (:mod:`neurolearn.dynamics.burst_neuron`);
a band teacher gates the teacher channels of the input (:mod:`neurolearn.dynamics.band_teacher`). It runs every
plan, with or without learning connections: it is the backend of the plan features that
:func:`~neurolearn.sims.fixed.simulate_fixed` refuses. One sample at a time (learning is sequential), samples
on threads.
"""
from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numba
import numpy as np

from neurolearn.dynamics.band_teacher import band_teacher_step
from neurolearn.dynamics.burst_neuron import burst_int_step, homeostatic_bias_int
from neurolearn.dynamics.class_teacher import class_teacher_step
from neurolearn.dynamics.lif import lif_current, lif_voltage, wrap32
from neurolearn.errors import InputError, ShapeError
from neurolearn.ir.features import require
from neurolearn.ir.plan import Plan, Plasticity
from neurolearn.sims.fixed import deliver
from neurolearn.sims.learning_engine import TraceState, learn_epoch, spike_step
from neurolearn.sims.lowering import (
    ChipState,
    ChipStreams,
    input_spikes,
    layer_outputs,
    layer_records,
    learning_tables,
    no_synapse_outputs,
    synapse_outputs,
    synapse_records,
)
from neurolearn.sims.result import LearningResult, SimResult, as_batch


@numba.njit(cache=True, nogil=True)
def active_sources(conns, c, inp, row, spiking, teach, gate, pre):
    """The sources of connection ``c`` active this step (input row ``row``, or ``spiking[carries]`` of a layer):
    their indices in ``pre[:count]``; returns count. A teacher's request channels count only where ``gate``
    passes them."""
    n_pre, src, cnt = conns.n_src[c], conns.src[c], 0
    if src < 0:
        lo, n_req = conns.input_lo[c], gate.size
        for k in range(inp.ptr[row], inp.ptr[row + 1]):
            ch = inp.idx[k]
            g = ch - teach.up if teach.kind == 2 else (0 if ch == teach.up or ch == teach.down else -1)
            if lo <= ch < lo + n_pre and (teach.kind == 0 or g < 0 or g >= n_req or gate[g]):
                pre[cnt] = ch - lo
                cnt += 1
    else:
        carry = conns.carries[c]
        for j in range(n_pre):
            if spiking[carry, src + j]:
                pre[cnt] = j
                cnt += 1
    return cnt


@numba.njit(cache=True, nogil=True)
def teacher_gate(teach, inp, row, spiking, requests, events, class_count, count, asked, band_open, gate):
    """One step of the teacher process (band or class, :mod:`neurolearn.dynamics`): from the request channels of
    input row ``row`` and the events ``spiking`` (per neuron) of the layer it watches, set ``gate`` (which requests
    pass). The band teacher's state is (count, asked, band_open), returned; the class teacher's ``class_count``,
    ``count`` (steps) and ``asked``."""
    n_req = requests.size
    requests[:] = False
    for k in range(inp.ptr[row], inp.ptr[row + 1]):
        ch = inp.idx[k] - teach.up
        if teach.kind == 1:
            requests[0] |= inp.idx[k] == teach.up
            requests[1] |= inp.idx[k] == teach.down
        elif 0 <= ch < n_req:
            requests[ch] = True
    if teach.kind == 1:
        fired = 0
        for i in range(teach.first, teach.first + teach.size):
            fired += spiking[i]
        count, asked, band_open = band_teacher_step(requests[0], requests[1], fired, count, asked, band_open,
                                                    teach.lo, teach.hi)
        gate[:] = band_open
    else:
        per_class = teach.size // teach.classes
        for c in range(teach.classes):
            events[c] = 0
            for i in range(teach.first + c * per_class, teach.first + (c + 1) * per_class):
                events[c] += spiking[i]
        asked, count = class_teacher_step(requests, events, class_count, asked, count, teach.hi, teach.lo,
                                          teach.shift, gate)
    return count, asked, band_open


@numba.njit(cache=True, nogil=True)
def fresh_state(net):
    """The ChipState of a network at rest: zeros, Pbar and Ebar at their initial values, the initial weights."""
    conns, ln = net.conns, net.learners
    n = net.lif.keep_u.size
    n_max = max(n, 1)
    for c in range(conns.tgt.size):
        n_max = max(n_max, conns.n_src[c], conns.n_tgt[c])
    t_max, n_x, n_y = 1, 0, 0
    for l in range(ln.conn.size):
        t_max, n_x, n_y = max(t_max, ln.t_epoch[l]), n_x + conns.n_src[ln.conn[l]], n_y + conns.n_tgt[ln.conn[l]]
    tr = TraceState(np.zeros((2, n_x), np.int64), np.zeros((3, n_y), np.int64), np.zeros(n_x, np.int64),
                    np.zeros(n_y, np.int64), np.zeros((t_max + 1, 2, n_max), np.int64),
                    np.zeros((t_max + 1, 3, n_max), np.int64))
    return ChipState(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), net.bursts.pbar0.copy(),
                     net.bursts.ebar0.copy(), np.zeros(n, np.int64), np.zeros(conns.n_tgt.sum(), np.int64),
                     net.synapses.wdt.copy(), tr, np.zeros(3 + net.teacher.classes, np.int64), np.zeros(1, np.int64))


@numba.njit(cache=True, nogil=True)
def _run_steps(b, st, inp, net, out, rec, n_thr, learn):
    """Sample b, every step, from state st (updated in place): its input (InputSpikes) through the network
    (LearningTables) -> the layers' recordings (LayerOutputs) and the learners' after the steps with
    rec.row[t] >= 0 (SynapseOutputs). Neurons are LIF, plus the burst neuron's dendrite and burst generator where
    bursts.lut >= 0; the teacher drops teacher-channel input spikes it does not pass. Big learners learn on n_thr
    threads; nothing learns unless ``learn`` (the learners are then Dense with their weights as they are)."""
    lif, bursts, teach, conns, ln = net.lif, net.bursts, net.teacher, net.conns, net.learners
    syn_at, learner = net.synapses.at, net.synapses.learner
    keep_u, keep_v, vth6, bias, has_dendrite = lif.keep_u, lif.keep_v, lif.vth6, lif.bias, bursts.lut >= 0
    _, steps, n = out.spikes.shape
    rec_uv, rec_b = out.u.size > 0, out.bursts.size > 0
    u_st, v_st, vd_st, pbar, ebar, abuf, syn, tr = st.u, st.v, st.v_d, st.pbar, st.ebar, st.abuf, st.syn, st.traces
    hb, bias_gain, bias_shift = st.hb, bursts.bias_gain, bursts.bias_shift
    a_in = np.zeros((2, n), np.int64)      # soma, apical
    s = np.zeros((2, n), np.bool_)         # events, bursts
    y_out = np.zeros((3, n), np.int64)     # third factors sent by burst neurons
    pre = np.zeros(max(tr.xh.shape[2], 1), np.int64)
    a_sum = np.zeros(max(tr.xh.shape[2], 1), np.int64)
    n_req = 2 * teach.classes
    requests, gate, events = np.zeros(n_req, np.bool_), np.zeros(n_req, np.bool_), np.zeros(teach.classes, np.int64)
    asked, count, band_open, class_count = st.teach[0] != 0, st.teach[1], st.teach[2] != 0, st.teach[3:]
    for t in range(steps):
        step = t + 1
        r0 = b * steps + t
        # neurons: LIF as neurolearn.sims.fixed; burst neurons add the apical dendrite and the burst draw
        deliver(a_in, abuf, conns)
        for i in range(n):
            u_st[i] = lif_current(u_st[i], a_in[0, i], keep_u[i])
            y = lif_voltage(v_st[i], u_st[i], keep_v[i], bias[i] + (hb[i] >> bias_shift[i]))
            s[0, i] = y > vth6[i]
            v_st[i] = 0 if s[0, i] else y
            out.spikes[b, t, i] = s[0, i]
            if has_dendrite[i]:
                dr, vs = bursts.draw[i], bursts.valence[i]
                s[1, i], vd_st[i], pbar[i], ebar[i], y_out[0, i], y_out[1, i], y_out[2, i] = burst_int_step(
                    s[0, i], vd_st[i], pbar[i], ebar[i], a_in[1, i], bursts.keep_d[i], bursts.luts[bursts.lut[i]],
                    bursts.lut_offset[i], bursts.lut_shift[i], bursts.pbar_shift[i], bursts.levels[i],
                    bursts.draws[t, 0, dr], bursts.draws[t, 1, dr],
                    (vs[0], vs[1], vs[2], vs[3], vs[4], vs[5], vs[6], vs[7], vs[8], vs[9]), st.step[0] + t)
                if bias_gain[i]:
                    hb[i] = homeostatic_bias_int(hb[i], s[0, i], vs[2], bias_gain[i])
                if rec_b:
                    out.bursts[b, t, i] = s[1, i]
                if rec_uv:
                    out.v_d[b, t, i] = vd_st[i]
            if rec_uv:
                out.u[b, t, i] = u_st[i]
                out.v[b, t, i] = v_st[i]
        if teach.kind:   # the same integer teacher as on chip (gate[k]: does channel teach.up + k pass?)
            count, asked, band_open = teacher_gate(teach, inp, r0, s[0], requests, events, class_count,
                                                   count, asked, band_open, gate)
        for c in range(conns.tgt.size):
            # Dense: sum the weights of this step's pre spikes (events or bursts), deliver next step
            n_pre, n_post, base = conns.n_src[c], conns.n_tgt[c], syn_at[c]
            cnt = active_sources(conns, c, inp, r0, s, teach, gate, pre)
            a_sum[:n_post] = 0
            for k in range(cnt):
                row = base + pre[k] * n_post
                for i in range(n_post):
                    a_sum[i] += syn[0, row + i]
            e, ob = conns.weight_exp[c], conns.buf[c]
            for i in range(n_post):
                abuf[ob + i] = wrap32(a_sum[i] << e) if e >= 0 else wrap32(a_sum[i] >> (-e))
            l = learner[c]
            if l < 0 or not learn:
                continue
            # learning connection: repeat spikes and spike times within the epoch, third factors, the epoch's end
            tgt, xo, yo = conns.tgt[c], ln.x_at[l], ln.y_at[l]
            spike_step((step - 1) % ln.t_epoch[l] + 1, pre, cnt, s[0, tgt:tgt + n_post], xo, yo, ln.imp_int[l],
                       ln.imp_frac[l], ln.randoms[l, 3, 2 * step - 1], tr)
            if ln.three_factor[l]:
                if ln.y_in_at[l] < 0:  # from the post burst neurons
                    tr.y[:, yo:yo + n_post] = y_out[:, tgt:tgt + n_post]
                else:
                    tr.y[:, yo:yo + n_post] = net.y_in[b, t, :, ln.y_in_at[l]:ln.y_in_at[l] + n_post]
            if step % ln.t_epoch[l] == 0:
                learn_epoch(l, step, n_pre, n_post, base, ln, net.products, net.factors, syn, tr, n_thr)
            r = rec.row[t]
            if r >= 0:
                rec.wdt[b, r, :, base:base + n_pre * n_post] = syn[:, base:base + n_pre * n_post]
                rec.x[b, r, :, xo:xo + n_pre] = tr.x[:, xo:xo + n_pre]
                rec.y[b, r, :, yo:yo + n_post] = tr.y[:, yo:yo + n_post]
                rec.tx[b, r, xo:xo + n_pre] = tr.tx[xo:xo + n_pre]
                rec.ty[b, r, yo:yo + n_post] = tr.ty[yo:yo + n_post]
    st.teach[0], st.teach[1], st.teach[2] = asked, count, band_open
    st.step[0] += steps


@numba.njit(cache=True, nogil=True)
def _run_sample(b, inp, net, out, rec, n_thr):
    """_run_steps for sample b from rest, learning."""
    _run_steps(b, fresh_state(net), inp, net, out, rec, n_thr, True)


@numba.njit(cache=True, nogil=True)
def _run_samples(first, stride, inp, net, out, rec, n_thr):
    """_run_sample for samples first, first + stride, ...: one call from Python per thread (numba types a call's
    tuples of arrays in Python, about a microsecond an array)."""
    for b in range(first, out.spikes.shape[0], stride):
        _run_sample(b, inp, net, out, rec, n_thr)


def simulate_learning(plan: Plan, spikes: np.ndarray, learning: Mapping[str, Plasticity] | None = None,
                      y_traces: Mapping[str, np.ndarray] | None = None, record: bool | Sequence[int] = True,
                      record_uv: bool = True, threads: int | None = None) -> LearningResult:
    """Run ``plan`` on input spikes (steps, n_in) or (batch, steps, n_in); the connections named in
    ``learning`` (default: ``plan.learning``; none is fine) learn as Lava's ``LearningDense`` (their target
    layer's events are the BAP). Layers with ``burst`` plans run as neurolearn's ``BurstLIF``. Samples are
    independent: each learns from the plan's initial weights (``threads`` samples at a time; a single
    sample's big connections learn on ``threads`` threads, default numba's number) and draws the same
    burst randoms.

    ``y_traces[name]``: for three-factor programs onto plain LIF layers, integers 0..127 of shape
    (steps, 3, n_post) or (batch, steps, 3, n_post): what arrives on ``s_in_y1..3`` each step (onto burst
    layers the neurons send them). ``record``: the learning state after every step (True), after the
    last only (False), or after the given steps (0-based indices, ascending); ``record_uv``: layer u, v
    (and v_d).
    """
    require(plan.features(), "learning")
    learning = plan.learning if learning is None else learning
    inp = as_batch(spikes, plan.input_size)
    batch, steps, _ = inp.shape
    net = learning_tables(plan, learning, y_traces or {}, batch, steps)
    out = layer_outputs(batch, steps, net.lif.keep_u.size, record_uv,
                        bursts=any(layer.burst is not None for layer in plan.layers))
    rec = synapse_outputs(record, batch, steps, net)
    inp_lists = input_spikes(inp)
    n_thr = (threads or numba.get_num_threads()) if batch == 1 else 1
    n_pool = min(threads or 1, batch)
    with ThreadPoolExecutor(n_pool) as pool:  # the compiled loop releases the GIL
        list(pool.map(lambda k: _run_samples(k, n_pool, inp_lists, net, out, rec, n_thr), range(n_pool)))
    return LearningResult(SimResult(backend="fixed-learning", layers=layer_records(plan, out), delays=plan.depths()),
                          synapse_records(plan, net, rec))


class ChipSession:
    """A learning plan run as one continuous input stream, chunk by chunk, as the chip runs on: every state
    (neurons, activations in flight, weights, traces, the teacher) carries over from one :meth:`run` to the
    next and the random streams continue, so the chunks give exactly what one run over the whole stream gives.
    Chunks must hold whole learning epochs (a multiple of every learner's t_epoch).

    The learning simulator's form for long online training (millions of steps: only the chunk's input, draws
    and recordings are held). :meth:`fork` copies the whole chip (e.g. to evaluate it without disturbing the
    run)."""

    def __init__(self, plan: Plan, threads: int | None = None):
        require(plan.features(), "learning")
        for name, pl in plan.learning.items():
            target = next(c.target for c in plan.connections if c.name == name)
            if pl.program.three_factor and plan.layer(target).burst is None:
                raise InputError(f"connection '{name}': a session runs third factors from burst neurons only; its "
                                 f"target '{target}' is a plain LIF (use simulate_learning with y_traces)")
        self.plan, self.steps = plan, 0
        self.threads = threads or numba.get_num_threads()
        self._net = learning_tables(plan, plan.learning, {}, 1, 0)
        self._streams = ChipStreams(plan, plan.learning)
        self._epoch = int(np.lcm.reduce([pl.program.t_epoch for pl in plan.learning.values()] + [1]))
        self.state = fresh_state(self._net)

    def run(self, spikes: np.ndarray, learn: bool = True, bursts: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Run input spikes (steps, n_in) on from the current state; returns every neuron's events (steps, n)
        uint8 (neurons layer after layer in plan order) and, if ``bursts``, its bursts. ``learn`` False: the
        learning connections keep their weights (Dense with the weights as they are)."""
        inp = as_batch(spikes, self.plan.input_size)
        if inp.shape[0] != 1:
            raise ShapeError(f"input: shape {np.shape(spikes)}; a session runs one stream (steps, n_in)")
        k = inp.shape[1]
        if k % self._epoch:
            raise InputError(f"input: {k} steps; a chunk holds whole learning epochs (a multiple of {self._epoch})")
        net = self._streams.tables(self._net, k)
        out = layer_outputs(1, k, net.lif.keep_u.size, False, bursts)
        _run_steps(0, self.state, input_spikes(inp), net, out, no_synapse_outputs(k), self.threads, learn)
        self.steps += k
        return out.spikes[0], (out.bursts[0] if bursts else None)

    def weights(self, name: str) -> np.ndarray:
        """Connection ``name``'s weights now, (n_post, n_pre) int64."""
        names = [c.name for c in self.plan.connections]
        if name not in names:
            raise InputError(f"weights: no connection '{name}' (the plan has {', '.join(names)})")
        c = names.index(name)
        n_pre, n_post, at = (int(x[c]) for x in (self._net.conns.n_src, self._net.conns.n_tgt, self._net.synapses.at))
        return self.state.syn[0, at:at + n_pre * n_post].reshape(n_pre, n_post).T.astype(np.int64)

    def fork(self) -> "ChipSession":
        """An independent copy of the chip now: state, weights and random streams."""
        twin = copy.copy(self)
        twin.state = copy.deepcopy(self.state)
        twin._streams = copy.deepcopy(self._streams)
        return twin
