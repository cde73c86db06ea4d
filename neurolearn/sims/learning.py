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

from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numba
import numpy as np

from neurolearn.dynamics.band_teacher import band_teacher_step
from neurolearn.dynamics.burst_neuron import burst_int_step
from neurolearn.dynamics.lif import lif_current, lif_voltage, wrap32
from neurolearn.ir.features import require
from neurolearn.ir.plan import Plan, Plasticity
from neurolearn.sims.fixed import deliver
from neurolearn.sims.learning_engine import TraceState, learn_epoch, spike_step
from neurolearn.sims.lowering import (
    input_spikes,
    layer_outputs,
    layer_records,
    learning_tables,
    synapse_outputs,
    synapse_records,
)
from neurolearn.sims.result import LearningResult, SimResult, as_batch


@numba.njit(cache=True, nogil=True)
def _run_sample(b, inp, net, out, rec, n_thr):
    """Sample b, every step: its input (InputSpikes) through the network (LearningTables) -> the layers'
    recordings (LayerOutputs) and the learners' after the steps with rec.row[t] >= 0 (SynapseOutputs). Neurons
    are LIF, plus the burst neuron's dendrite and burst generator where bursts.lut >= 0; the band teacher
    drops teacher-channel input spikes while it is closed. Big learners learn on n_thr threads."""
    lif, bursts, teach, conns, ln = net.lif, net.bursts, net.teacher, net.conns, net.learners
    syn_at, learner = net.synapses.at, net.synapses.learner
    keep_u, keep_v, vth6, bias, has_dendrite = lif.keep_u, lif.keep_v, lif.vth6, lif.bias, bursts.lut >= 0
    _, steps, n = out.spikes.shape
    rec_uv = out.u.size > 0
    u_st = np.zeros(n, np.int64)
    v_st = np.zeros(n, np.int64)
    vd_st = np.zeros(n, np.int64)
    pbar = bursts.pbar0.copy()
    a_in = np.zeros((2, n), np.int64)      # soma, apical
    s = np.zeros((2, n), np.bool_)         # events, bursts
    y_out = np.zeros((3, n), np.int64)     # third factors sent by burst neurons
    n_max = max(n, 1)
    for c in range(conns.tgt.size):
        n_max = max(n_max, conns.n_src[c], conns.n_tgt[c])
    t_max, n_x, n_y = 1, 0, 0
    for l in range(ln.conn.size):
        t_max, n_x, n_y = max(t_max, ln.t_epoch[l]), n_x + conns.n_src[ln.conn[l]], n_y + conns.n_tgt[ln.conn[l]]
    pre = np.zeros(n_max, np.int64)
    abuf = np.zeros(conns.n_tgt.sum(), np.int64)
    a_sum = np.zeros(n_max, np.int64)
    syn = net.synapses.wdt.copy()
    tr = TraceState(np.zeros((2, n_x), np.int64), np.zeros((3, n_y), np.int64), np.zeros(n_x, np.int64),
                    np.zeros(n_y, np.int64), np.zeros((t_max + 1, 2, n_max), np.int64),
                    np.zeros((t_max + 1, 3, n_max), np.int64))
    count, was_asked, gate = 0, False, False
    for t in range(steps):
        step = t + 1
        # neurons: LIF as neurolearn.sims.fixed; burst neurons add the apical dendrite and the burst draw
        deliver(a_in, abuf, conns)
        for i in range(n):
            u_st[i] = lif_current(u_st[i], a_in[0, i], keep_u[i])
            y = lif_voltage(v_st[i], u_st[i], keep_v[i], bias[i])
            s[0, i] = y > vth6[i]
            v_st[i] = 0 if s[0, i] else y
            out.spikes[b, t, i] = s[0, i]
            if has_dendrite[i]:
                dr = bursts.draw[i]
                s[1, i], vd_st[i], pbar[i], y_out[0, i], y_out[1, i] = burst_int_step(
                    s[0, i], vd_st[i], pbar[i], a_in[1, i], bursts.keep_d[i], bursts.luts[bursts.lut[i]],
                    bursts.lut_offset[i], bursts.lut_shift[i], bursts.pbar_shift[i], bursts.levels[i],
                    bursts.draws[t, 0, dr], bursts.draws[t, 1, dr])
                out.bursts[b, t, i] = s[1, i]
                if rec_uv:
                    out.v_d[b, t, i] = vd_st[i]
            if rec_uv:
                out.u[b, t, i] = u_st[i]
                out.v[b, t, i] = v_st[i]
        if teach.on:  # the band teacher: count the prediction, decide when a request starts
            r0 = b * steps + t
            up = down = False
            for k in range(inp.ptr[r0], inp.ptr[r0 + 1]):
                up |= inp.idx[k] == teach.up
                down |= inp.idx[k] == teach.down
            events = 0
            for i in range(teach.first, teach.first + teach.size):
                events += s[0, i]
            count, was_asked, gate = band_teacher_step(up, down, events, count, was_asked, gate, teach.lo, teach.hi)
        for c in range(conns.tgt.size):
            # Dense: sum the weights of this step's pre spikes (events or bursts), deliver next step
            n_pre, n_post, base, src = conns.n_src[c], conns.n_tgt[c], syn_at[c], conns.src[c]
            cnt = 0
            if src < 0:
                r0, lo = b * steps + t, conns.input_lo[c]
                for k in range(inp.ptr[r0], inp.ptr[r0 + 1]):
                    ch = inp.idx[k]
                    if lo <= ch < lo + n_pre and (gate or not teach.on or (ch != teach.up and ch != teach.down)):
                        pre[cnt] = ch - lo
                        cnt += 1
            else:
                carry = conns.carries[c]
                for j in range(n_pre):
                    if s[carry, src + j]:
                        pre[cnt] = j
                        cnt += 1
            a_sum[:n_post] = 0
            for k in range(cnt):
                row = base + pre[k] * n_post
                for i in range(n_post):
                    a_sum[i] += syn[0, row + i]
            e, ob = conns.weight_exp[c], conns.buf[c]
            for i in range(n_post):
                abuf[ob + i] = wrap32(a_sum[i] << e) if e >= 0 else wrap32(a_sum[i] >> (-e))
            l = learner[c]
            if l < 0:
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
