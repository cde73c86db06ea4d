"""The learning engine in neurolearn's fixed-point simulator: bit-exact with Lava 0.10.0's ``LearningDense``
(``PyLearningDenseModelBitApproximate``, ``Loihi2SimCfg(select_tag="fixed_pt")``) for the same ``rng_seed``.

A plan's connections named in ``learning`` run as ``LearningDense`` processes with a
:class:`~neurolearn.ir.program.LearningProgram`; the others as plain ``Dense``; layers as ``LIF`` (all as in
:mod:`neurolearn.sims.fixed`). Every step, after its Dense work, a learning connection:

* pre spikes: a repeat spike within the epoch adds the impulse to x1, x2 now (+1 if the impulse has a
  fraction); ``tx`` = within-epoch step (1..t_epoch) of the last spike;
* post spikes (BAP = the target layer's spikes of this step): a repeat spike adds the y impulses, rounded up
  when ``r_imp < frac * 256``; ``ty`` likewise; three-factor: y1..y3 are then overwritten by the input;
* at ``step % t_epoch == 0``: trace histories over the epoch (``floor(exp(-1/tau) * z)`` + 1 if ``r_decay``
  < the fraction; impulse at ``tx``/``ty``; clip to 7 bits; tau 0 keeps nothing), then every product of every
  rule from the pre-update w, d, t: factors clipped to their widths, int32 products, ``* m >> shift << e+7``,
  15-bit saturation, sign saturation, stochastic rounding (``ConnVarRandom``, seed 2) and clipping.

Random numbers are Lava's: per step two draws of ``TraceRandom(seed, seed + 1)`` (x) and
``TraceRandom(seed + 2, seed + 3)`` (y), one ``ConnVarRandom(2)`` draw per epoch; all drawn up front.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping, Sequence

import numba
import numpy as np

from neurolearn.dynamics.band_teacher import band_teacher_step
from neurolearn.dynamics.burst_neuron import burst_int_step, burst_uniforms, integer_draws
from neurolearn.dynamics.dense import effective_weights, truncate_weights
from neurolearn.dynamics.lif import lif_current, lif_voltage, wrap32
from neurolearn.errors import InputError, QuantizationError, ShapeError
from neurolearn.ir.plan import SIGN_MODES, Plan, Plasticity
from neurolearn.ir.program import (
    FACTOR_BITS,
    TARGETS,
    THIRD_FACTOR_TAU,
    TRACE_BITS,
    X_TRACES,
    Y_TRACES,
    LearningProgram,
)
from neurolearn.sims.fixed import _spike_lists
from neurolearn.sims.result import LayerRecord, SimResult, as_batch

TAG_1_RANGE = (-257, 255)   # Lava clips tag_1 ('t') to [-2**8 - 1, 2**8 - 1] and tag_2 ('d') to [0, 2**8 - 1]
TAG_2_RANGE = (0, 255)
_VARS = ("x0", "y0", "x1", "x2", "y1", "y2", "y3", "w", "d", "t")   # factor codes 0..9
_DEPS = ("x0", "y0", "u")
_ACC_MIN, _ACC_MAX = -(2**15) - 1, 2**15 - 1    # Lava's accumulator saturation (sic: -2**15 - 1)
_TRACE_MAX = 2**TRACE_BITS - 1


@dataclass(frozen=True)
class SynapseRecord:
    """One learning connection after the recorded steps (``record``): axis 1 has one row per recorded step.

    weights, tag_1, tag_2: (batch, R, n_post, n_pre); x: (batch, R, 2, n_pre) = x1, x2;
    y: (batch, R, 3, n_post) = y1, y2, y3; tx, ty: within-epoch spike steps (0 = none), int32."""

    weights: np.ndarray
    tag_1: np.ndarray
    tag_2: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tx: np.ndarray
    ty: np.ndarray


@dataclass(frozen=True)
class LearningResult:
    """Layer spikes, u, v (as :func:`~neurolearn.sims.fixed.simulate_fixed`) and the learning state."""

    sim: SimResult
    synapses: dict[str, SynapseRecord]


# ---- the compiled engine ---------------------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _impulse(z, imp_int, imp_frac, r):
    """Lava's ``_add_impulse``: z + int + (r < frac), clipped to the 7-bit trace."""
    return min(max(z + imp_int + (r < imp_frac), 0), _TRACE_MAX)


@numba.njit(cache=True, nogil=True)
def _histories(h, n_tr, t_epoch, keep, zero_tau, r_decay, r_imp, t_spike, imp_int, imp_frac):
    """Trace values at within-epoch steps 0..t_epoch (h[0] given): decay, then impulses at t_spike."""
    n = t_spike.size
    for tt in range(1, t_epoch + 1):
        for k in range(n_tr):
            if zero_tau[k]:
                h[tt, k, :n] = 0
                continue
            f = keep[k]
            for i in range(n):
                z = f * h[tt - 1, k, i]
                fl = np.floor(z)
                h[tt, k, i] = np.int64(fl) + (r_decay < z - fl)
        for i in range(n):
            if t_spike[i] == tt:
                for k in range(n_tr):
                    h[tt, k, i] = _impulse(h[tt, k, i], imp_int[k], imp_frac[k], r_imp)


# Column layouts of the integer tables handed to the compiled loop.
T_ON, T_LAYER, T_SIZE, T_UP, T_DOWN, T_LO, T_HI = range(7)                       # the band teacher
(N_KEEP_U, N_KEEP_V, N_VTH, N_BIAS, N_KEEP_D, N_LUT, N_LUT_OFF, N_LUT_SHIFT, N_PBAR_SHIFT,
 N_LEVELS, N_DRAW) = range(11)                                                            # per neuron
C_SRC, C_SRC_N, C_TGT, C_TGT_N, C_EXP, C_LRN, C_SYN, C_PORT, C_CARRY, C_IN_LO = range(10)   # per connection
L_TEP, L_3F, L_K, L_SIGN, L_DENSE, L_P0, L_P1, L_X, L_Y, L_Y3 = range(10)       # per learning connection
P_TGT, P_DEP, P_MANT, P_SHIFT, P_SEXP, P_F0, P_F1 = range(7)                     # per product
F_CODE, F_INT, F_SGN, F_BITS = range(4)                                           # per factor


@numba.njit(cache=True, nogil=True, inline="always")
def _clip_factor(v, lo, hi, exact, icon, fcon, sgn):
    """Lava's factor from its state variable's value v: + const, sgn, clip to the width, int."""
    if exact:
        v = v + icon
        if sgn:
            v = (v > 0) - (v < 0)
        return min(max(v, lo), hi)
    fv = v + fcon  # a non-integer constant: float sum, clip, truncate toward zero (numpy's astype)
    if sgn:
        fv = np.float64((fv > 0) - (fv < 0))
    return np.int64(min(max(fv, lo), hi))


@numba.njit(cache=True, nogil=True)
def _multiply(term, raw, n, f, fac, fconst):
    """term[e] = wrap32(term[e] * factor f of the value raw[e]), e < n."""
    bits, exact, sgn, fcon = fac[f, F_BITS], fac[f, F_INT] != 0, fac[f, F_SGN] != 0, fconst[f]
    lo, hi, icon = -(2 ** bits), 2 ** bits - 1, np.int64(fcon)
    for e in range(n):
        term[e] = wrap32(term[e] * _clip_factor(raw[e], lo, hi, exact, icon, fcon, sgn))


@numba.njit(cache=True, nogil=True)
def _side_table(out, p, side, t_read, live, prod, fac, fconst, h, t_sp, raw):
    """out[e] = the wrap32 product of product p's factors on one side, for every neuron e of that side
    (side 0: x0, x1, x2 of pre e; side 1: y0, y1, y2, y3 of post e), times ``t_sp[e] > 0`` if ``live``.
    Traces are read from the history h at within-epoch step t_read, or at the neuron's own spike step
    t_sp[e] if t_read < 0."""
    n = t_sp.size
    for e in range(n):
        out[e] = t_sp[e] > 0 if live else 1
    spike, tr0, n_tr = (0, 2, 2) if side == 0 else (1, 4, 3)
    for f in range(prod[p, P_F0], prod[p, P_F1]):
        code = fac[f, F_CODE]
        if code == spike:
            for e in range(n):
                raw[e] = t_sp[e] > 0
        elif tr0 <= code < tr0 + n_tr and t_read < 0:
            for e in range(n):
                raw[e] = h[t_sp[e], code - tr0, e]
        elif tr0 <= code < tr0 + n_tr:
            raw[:n] = h[t_read, code - tr0, :n]
        else:
            continue
        _multiply(out, raw, n, f, fac, fconst)


@numba.njit(cache=True, nogil=True)
def _product_tables(a_tab, b_tab, p0, p1, prod, fac, fconst, xh, yh, tx, ty, t_epoch, raw):
    """Per product p (row p - p0) of an epoch: its pre-side factors a_tab[., ta, j] and post-side factors
    b_tab[., tb, i], so that its term at synapse (i, j) is wrap32(a * b) times its w, d, t factors, with
    (ta, tb) = (0, tx[j]) for dependency x0, (ty[i], 0) for y0, (0, 0) for u. The dependency is folded in
    (row 0 of the side read at the other's spike step is 0: no spike); u's is not (a u product runs or not)."""
    for p in range(p0, p1):
        q, dep = p - p0, prod[p, P_DEP]
        if dep == 0:
            _side_table(a_tab[q, 0], p, 0, -1, True, prod, fac, fconst, xh, tx, raw)
            b_tab[q, 0] = 0
            for t in range(1, t_epoch + 1):
                _side_table(b_tab[q, t], p, 1, t, False, prod, fac, fconst, yh, ty, raw)
        elif dep == 1:
            _side_table(b_tab[q, 0], p, 1, -1, True, prod, fac, fconst, yh, ty, raw)
            a_tab[q, 0] = 0
            for t in range(1, t_epoch + 1):
                _side_table(a_tab[q, t], p, 0, t, False, prod, fac, fconst, xh, tx, raw)
        else:
            _side_table(a_tab[q, 0], p, 0, t_epoch, False, prod, fac, fconst, xh, tx, raw)
            _side_table(b_tab[q, 0], p, 1, t_epoch, False, prod, fac, fconst, yh, ty, raw)


@numba.njit(cache=True, nogil=True)
def _synapse_term(term, a, b, old, n, p, prod, fac, fconst):
    """term[e] = wrap32(a * b[e]) times product p's w, d, t factors of the synapse at e (old[0..2, e])."""
    for e in range(n):
        term[e] = wrap32(a * b[e])
    for f in range(prod[p, P_F0], prod[p, P_F1]):
        if fac[f, F_CODE] >= 7:
            _multiply(term, old[fac[f, F_CODE] - 7], n, f, fac, fconst)


@numba.njit(cache=True, nogil=True, inline="always")
def _accumulate(acc, a, b, n, m, sh, se):
    """acc[e] = sat(acc + sat(wrap32(wrap32(term * m) >> sh << se))) with term = wrap32(a * b[e]), e < n
    (Lava's scaling and 15-bit saturation)."""
    for e in range(n):
        c = wrap32(wrap32(wrap32(wrap32(a * b[e]) * m) >> sh) << se)
        acc[e] = min(max(acc[e] + min(max(c, _ACC_MIN), _ACC_MAX), _ACC_MIN), _ACC_MAX)


@numba.njit(cache=True, nogil=True, inline="always")
def _add_product(acc, a, b, ws, n, p, prod, fac, fconst):
    """acc += product p (Lava's scaling, saturation) at n synapses whose term before w, d, t factors is
    wrap32(a * b[e]); ws: the synapses' old w, d, t and a term buffer."""
    m, sh, se = prod[p, P_MANT], prod[p, P_SHIFT], prod[p, P_SEXP]
    for f in range(prod[p, P_F0], prod[p, P_F1]):
        if fac[f, F_CODE] >= 7:  # the synapse's own w, d or t is a factor: the whole term first
            _synapse_term(ws[2], a, b, ws[0], n, p, prod, fac, fconst)
            _accumulate(acc, 1, ws[2], n, m, sh, se)
            return
    _accumulate(acc, a, b, n, m, sh, se)


@numba.njit(cache=True, nogil=True, inline="always")
def _saturate(acc, n):
    """What a product that is 0 does to the accumulator (matters only for tag_1 = -257)."""
    for e in range(n):
        acc[e] = min(max(acc[e], _ACC_MIN), _ACC_MAX)


@numba.njit(cache=True, nogil=True, inline="always")
def _bounds(tgt, sign):
    """Accumulator bounds (sign saturation) and value range of target tgt (w, d, t) under sign mode sign."""
    if tgt == 0:
        lo, hi = (-256, 255) if sign == 0 else (0, 255) if sign == 1 else (-255, 0)
    else:
        lo, hi = TAG_2_RANGE if tgt == 1 else TAG_1_RANGE
    a_lo = 0 if (tgt == 0 and sign == 1) or tgt == 1 else -(2**62)
    a_hi = 0 if tgt == 0 and sign == 2 else 2**62
    return a_lo, a_hi, lo, hi


@numba.njit(cache=True, nogil=True, inline="always")
def _rounded(a, a_lo, a_hi, lo, hi, thr):
    """The accumulator a (7 fraction bits) sign-saturated, rounded up where its fraction > thr (Lava's
    stochastic rounding: r < fraction / 128 with thr = floor(128 * r)) and clipped to [lo, hi]."""
    a = min(max(a, a_lo), a_hi)
    return min(max((a >> 7) + ((a & 127) > thr), lo), hi)


@numba.njit(cache=True, nogil=True)
def _learn_columns(syn, ats, cols, n_col, posts, n, ws, a_tab, b_tab, tx, ty, u, thr, sign, p0, p1, prod, fac, fconst,
                   used, need):
    """New w, d, t (those ``used``) in place of the synapses of pres cols[:n_col] (pre j's at syn[:, at:], at in
    ats) with n posts: every post if ``posts`` is empty, else posts[:n], to which b_tab and ty are then
    restricted (b_tab[:, :, e], ty[e] of post posts[e]). ws: buffers for old w, d, t, acc, term. (One call for
    many columns: a call costs numba's reference counting of every array argument.)"""
    old, acc, term = ws
    every = posts.size == 0
    for c in range(n_col):
        at, k = ats[c], cols[c]
        for g in range(3):
            for e in range(n if need[g] and every else 0):  # explicit loops (numba's slices are slower),
                # unsigned indices (numba then skips negative-index handling, so loops vectorize)
                old[g, e] = syn[g, np.uint64(at + e)]
            for e in range(n if need[g] and not every else 0):
                old[g, e] = syn[g, np.uint64(at + posts[e])]
        for tgt in range(3):
            if not used[tgt]:
                continue
            for e in range(n if every else 0):
                acc[e] = np.int64(syn[tgt, np.uint64(at + e)]) << 7
            for e in range(0 if every else n):
                acc[e] = np.int64(syn[tgt, np.uint64(at + posts[e])]) << 7
            for p in range(p0, p1):
                if prod[p, P_TGT] != tgt:
                    continue
                q, dep = p - p0, prod[p, P_DEP]
                if dep == 1 and a_tab.shape[1] == 2:  # t_epoch 1: every y0 is at step 1
                    _add_product(acc, a_tab[q, 1, k], b_tab[q, 0], ws, n, p, prod, fac, fconst)
                elif dep == 1:
                    for i in range(n):
                        term[i] = wrap32(b_tab[q, 0, i] * a_tab[q, ty[i], k])
                    _add_product(acc, 1, term, ws, n, p, prod, fac, fconst)
                elif (dep == 0 and tx[k] > 0) or (dep == 2 and u):
                    _add_product(acc, a_tab[q, 0, k], b_tab[q, tx[k] if dep == 0 else 0], ws, n, p, prod, fac, fconst)
                elif tgt == 2:  # a product that is 0 here
                    _saturate(acc, n)
            a_lo, a_hi, lo, hi = _bounds(tgt, sign)
            for e in range(n if every else 0):
                syn[tgt, np.uint64(at + e)] = _rounded(acc[e], a_lo, a_hi, lo, hi, thr)
            for e in range(0 if every else n):
                syn[tgt, np.uint64(at + posts[e])] = _rounded(acc[e], a_lo, a_hi, lo, hi, thr)


@numba.njit(cache=True, nogil=True)
def _learn_share(part, n_part, syn, at, cols, n_full, n_cols, posts, n_post, a_tab, b_tab, b_posts, tx, ty, ty_posts,
                 u, thr, sign, p0, p1, prod, fac, fconst, used, need):
    """Share ``part`` of ``n_part`` (disjoint synapses: shares may run at once) of an epoch's columns: cols[:n_full]
    learn with every post, cols[-n_cols:] with the posts ``posts`` (b_posts, ty_posts: b_tab and ty there)."""
    n_max = max(cols.size, n_post)
    ws = (np.empty((3, n_max), np.int64), np.empty(n_max, np.int64), np.empty(n_max, np.int64))  # old w, d, t
    lo, hi = n_full * part // n_part, n_full * (part + 1) // n_part
    _learn_columns(syn, at[lo:hi], cols[lo:hi], hi - lo, np.empty(0, np.int64), n_post, ws, a_tab, b_tab, tx, ty, u,
                   thr, sign, p0, p1, prod, fac, fconst, used, need)
    lo, hi = cols.size - n_cols + n_cols * part // n_part, cols.size - n_cols + n_cols * (part + 1) // n_part
    if hi > lo:
        _learn_columns(syn, at[lo:hi], cols[lo:hi], hi - lo, posts, posts.size, ws, a_tab, b_posts, tx, ty_posts,
                       False, thr, sign, p0, p1, prod, fac, fconst, used, need)


@numba.njit(cache=True, nogil=True, parallel=True)
def _learn_parallel(n_part, syn, at, cols, n_full, n_cols, posts, n_post, a_tab, b_tab, b_posts, tx, ty, ty_posts, u,
                    thr, sign, p0, p1, prod, fac, fconst, used, need):
    """_learn_share for shares 0..n_part-1 on as many threads (deterministic: the shares are disjoint)."""
    for part in numba.prange(n_part):
        _learn_share(part, n_part, syn, at, cols, n_full, n_cols, posts, n_post, a_tab, b_tab, b_posts, tx, ty,
                     ty_posts, u, thr, sign, p0, p1, prod, fac, fconst, used, need)


@numba.njit(cache=True, nogil=True)
def _run_sample(b, inp_idx, inp_ptr, neuron, luts, burst_r, pbar0, teach, conn, syn_init, lp, l_int, l_frac,
                l_keep, l_zero, rnd, rc, prod, fac, fconst, y_in, out_s, out_u, out_v, out_b, out_vd, rec_uv, rec_row,
                rec_syn, rec_x, rec_y, rec_tx, rec_ty, n_thr):
    """One sample, every step. neuron rows: N_* (LIF, then the burst neuron's apical dendrite and burst
    generator where N_LUT >= 0). Learning connection l owns x traces/tx at columns lp[l, L_X]..,
    y traces/ty at lp[l, L_Y].., synapses at conn[c, C_SYN].. (pre-major). The learning state after
    step t goes to row rec_row[t] of rec_* (-1: not recorded). ``teach``: the band teacher (T_* columns;
    T_ON 0: none), which drops teacher-channel input spikes while it is closed. Big learning connections
    learn on n_thr threads."""
    _, steps, n = out_s.shape
    n_conn, n_lrn = conn.shape[0], lp.shape[0]
    u_st = np.zeros(n, np.int64)
    v_st = np.zeros(n, np.int64)
    vd_st = np.zeros(n, np.int64)
    pbar = pbar0.copy()
    a_in = np.zeros((2, n), np.int64)      # soma, apical
    s = np.zeros((2, n), np.bool_)         # events, bursts
    y_out = np.zeros((3, n), np.int64)     # third factors sent by burst neurons
    n_max = max(n, 1)
    for c in range(n_conn):
        n_max = max(n_max, conn[c, C_SRC_N], conn[c, C_TGT_N])
    t_max = 1
    for l in range(n_lrn):
        t_max = max(t_max, lp[l, L_TEP])
    pre = np.zeros(n_max, np.int64)
    abuf = np.zeros((n_conn, n_max), np.int64)
    a_sum = np.zeros(n_max, np.int64)
    syn = syn_init.copy()
    x_tr = np.zeros((2, rec_x.shape[3]), np.int64)
    y_tr = np.zeros((3, rec_y.shape[3]), np.int64)
    tx = np.zeros(rec_tx.shape[2], np.int64)
    ty = np.zeros(rec_ty.shape[2], np.int64)
    xh = np.zeros((t_max + 1, 2, n_max), np.int64)
    yh = np.zeros((t_max + 1, 3, n_max), np.int64)
    count, was_asked, gate = 0, False, False
    for t in range(steps):
        step = t + 1
        # neurons: LIF as neurolearn.sims.fixed; burst neurons add the apical dendrite and the burst draw
        a_in[:] = 0
        for c in range(n_conn):
            port, tgt = conn[c, C_PORT], conn[c, C_TGT]
            for i in range(conn[c, C_TGT_N]):
                a_in[port, tgt + i] = wrap32(a_in[port, tgt + i] + abuf[c, i])
        for i in range(n):
            u_st[i] = lif_current(u_st[i], a_in[0, i], neuron[N_KEEP_U, i])
            y = lif_voltage(v_st[i], u_st[i], neuron[N_KEEP_V, i], neuron[N_BIAS, i])
            s[0, i] = y > neuron[N_VTH, i]
            v_st[i] = 0 if s[0, i] else y
            out_s[b, t, i] = s[0, i]
            if neuron[N_LUT, i] >= 0:
                dr = neuron[N_DRAW, i]
                s[1, i], vd_st[i], pbar[i], y_out[0, i], y_out[1, i] = burst_int_step(
                    s[0, i], vd_st[i], pbar[i], a_in[1, i], neuron[N_KEEP_D, i], luts[neuron[N_LUT, i]],
                    neuron[N_LUT_OFF, i], neuron[N_LUT_SHIFT, i], neuron[N_PBAR_SHIFT, i], neuron[N_LEVELS, i],
                    burst_r[t, 0, dr], burst_r[t, 1, dr])
                out_b[b, t, i] = s[1, i]
                if rec_uv:
                    out_vd[b, t, i] = vd_st[i]
            if rec_uv:
                out_u[b, t, i] = u_st[i]
                out_v[b, t, i] = v_st[i]
        if teach[T_ON]:  # the band teacher: count the prediction, decide when a request starts
            r0 = b * steps + t
            up = down = False
            for k in range(inp_ptr[r0], inp_ptr[r0 + 1]):
                up |= inp_idx[k] == teach[T_UP]
                down |= inp_idx[k] == teach[T_DOWN]
            events = 0
            for i in range(teach[T_LAYER], teach[T_LAYER] + teach[T_SIZE]):
                events += s[0, i]
            count, was_asked, gate = band_teacher_step(up, down, events, count, was_asked, gate, teach[T_LO],
                                                       teach[T_HI])
        for c in range(n_conn):
            # Dense: sum the weights of this step's pre spikes (events or bursts), deliver next step
            n_pre, n_post, base, src = conn[c, C_SRC_N], conn[c, C_TGT_N], conn[c, C_SYN], conn[c, C_SRC]
            cnt = 0
            if src < 0:
                r0, lo = b * steps + t, conn[c, C_IN_LO]
                for k in range(inp_ptr[r0], inp_ptr[r0 + 1]):
                    ch = inp_idx[k]
                    if lo <= ch < lo + n_pre and (gate or not teach[T_ON] or (ch != teach[T_UP] and
                                                                             ch != teach[T_DOWN])):
                        pre[cnt] = ch - lo
                        cnt += 1
            else:
                carry = conn[c, C_CARRY]
                for j in range(n_pre):
                    if s[carry, src + j]:
                        pre[cnt] = j
                        cnt += 1
            a_sum[:n_post] = 0
            for k in range(cnt):
                row = base + pre[k] * n_post
                for i in range(n_post):
                    a_sum[i] += syn[0, row + i]
            e = conn[c, C_EXP]
            for i in range(n_post):
                abuf[c, i] = wrap32(a_sum[i] << e) if e >= 0 else wrap32(a_sum[i] >> (-e))
            l = conn[c, C_LRN]
            if l < 0:
                continue
            # learning connection: repeat spikes and spike times within the epoch, third factors
            tep, xo, yo, tgt = lp[l, L_TEP], lp[l, L_X], lp[l, L_Y], conn[c, C_TGT]
            ts = (step - 1) % tep + 1
            for k in range(cnt):
                j = xo + pre[k]
                if tx[j] > 0:
                    for q in range(2):
                        x_tr[q, j] = _impulse(x_tr[q, j], l_int[l, q], l_frac[l, q], 0)
                tx[j] = ts
            r_post = rnd[l, 3, 2 * step - 1]
            for i in range(n_post):
                if s[0, tgt + i]:
                    if ty[yo + i] > 0:
                        for q in range(3):
                            y_tr[q, yo + i] = _impulse(y_tr[q, yo + i], l_int[l, 2 + q], l_frac[l, 2 + q], r_post)
                    ty[yo + i] = ts
            if lp[l, L_3F]:
                if lp[l, L_Y3] < 0:  # from the post burst neurons
                    y_tr[:, yo:yo + n_post] = y_out[:, tgt:tgt + n_post]
                else:
                    y_tr[:, yo:yo + n_post] = y_in[b, t, :, lp[l, L_Y3]:lp[l, L_Y3] + n_post]
            if step % tep == 0:
                _learn_epoch(l, step, n_pre, n_post, base, lp, l_int, l_frac, l_keep, l_zero, rnd, rc, prod, fac,
                             fconst, syn, x_tr, y_tr, tx, ty, xh, yh, n_thr)
            r = rec_row[t]
            if r >= 0:
                rec_syn[b, r, :, base:base + n_pre * n_post] = syn[:, base:base + n_pre * n_post]
                rec_x[b, r, :, xo:xo + n_pre] = x_tr[:, xo:xo + n_pre]
                rec_y[b, r, :, yo:yo + n_post] = y_tr[:, yo:yo + n_post]
                rec_tx[b, r, xo:xo + n_pre] = tx[xo:xo + n_pre]
                rec_ty[b, r, yo:yo + n_post] = ty[yo:yo + n_post]


@numba.njit(cache=True, nogil=True)
def _learn_epoch(l, step, n_pre, n_post, base, lp, l_int, l_frac, l_keep, l_zero, rnd, rc, prod, fac, fconst,
                 syn, x_tr, y_tr, tx, ty, xh, yh, n_thr):
    """Lava's run_lrn at the end of an epoch (on n_thr threads): trace histories, rules, new traces, reset of tx,
    ty.

    Only synapses with a live product change (a fixed point after epoch 1): every synapse in epoch 1, with
    dt rules or u; else every synapse of the pres with x0 and, of the other pres, those of the posts with y0."""
    tep, xo, yo = lp[l, L_TEP], lp[l, L_X], lp[l, L_Y]
    epoch = step // tep
    txl, tyl = tx[xo:xo + n_pre], ty[yo:yo + n_post]
    xh[0, :, :n_pre] = x_tr[:, xo:xo + n_pre]
    yh[0, :, :n_post] = y_tr[:, yo:yo + n_post]
    _histories(xh, 2, tep, l_keep[l, :2], l_zero[l, :2], rnd[l, 0, 2 * step], rnd[l, 1, 2 * step], txl,
               l_int[l, :2], l_frac[l, :2])
    _histories(yh, 3, tep, l_keep[l, 2:], l_zero[l, 2:], rnd[l, 2, 2 * step], rnd[l, 3, 2 * step], tyl,
               l_int[l, 2:], l_frac[l, 2:])
    k = lp[l, L_K]
    u = k >= 0 and epoch % (2 ** max(k, 0)) == 0
    p0, p1 = lp[l, L_P0], lp[l, L_P1]
    has_x0, has_y0, full = False, False, epoch == 1 or lp[l, L_DENSE] == 1
    used, need = np.zeros(3, np.bool_), np.zeros(3, np.bool_)  # targets; w, d, t read as factors
    for p in range(p0, p1):
        used[prod[p, P_TGT]] = True
        for f in range(prod[p, P_F0], prod[p, P_F1]):
            need[max(fac[f, F_CODE] - 7, 0)] |= fac[f, F_CODE] >= 7
        has_x0 |= prod[p, P_DEP] == 0
        has_y0 |= prod[p, P_DEP] == 1
        full |= prod[p, P_DEP] == 2 and u
    raw, cols = np.empty(max(n_pre, n_post), np.int64), np.empty(n_pre, np.int64)
    a_tab, b_tab = np.empty((p1 - p0, tep + 1, n_pre), np.int64), np.empty((p1 - p0, tep + 1, n_post), np.int64)
    _product_tables(a_tab, b_tab, p0, p1, prod, fac, fconst, xh[:, :, :n_pre], yh[:, :, :n_post], txl, tyl, tep,
                    raw)
    thr, sign = np.int64(np.floor(rc[l, epoch] * 128)), lp[l, L_SIGN]
    n_full = n_cols = 0  # columns learning with every post (at cols[:n_full]), the others (at cols[-n_cols:])
    for j in range(n_pre):
        if full or (has_x0 and txl[j] > 0):
            cols[n_full] = j
            n_full += 1
            continue
        live = used[2]  # else a pre whose y0 products are 0 at every post (their pre side is 0) keeps its synapses
        for p in range(p0, p1):  # (w, d are then in range: only tag_1 = -257 would change, by saturation)
            for t in range(1, tep + 1):
                live |= prod[p, P_DEP] == 1 and a_tab[p - p0, t, j] != 0
        if live:
            n_cols += 1
            cols[n_pre - n_cols] = j
    at = base + cols * n_post
    posts = np.flatnonzero(tyl > 0)  # the other columns learn only where y0 products run: posts with y0
    n_cols = n_cols if has_y0 and posts.size else 0
    args = (syn, at, cols, n_full, n_cols, posts, n_post, a_tab, b_tab, b_tab[:, :, posts], txl, tyl, tyl[posts], u,
            thr, sign, p0, p1, prod, fac, fconst, used, need)
    if n_thr > 1 and n_pre * n_post >= 2**18:  # big enough to pay for the threads
        _learn_parallel(n_thr, *args)
    else:
        _learn_share(0, 1, *args)
    x_tr[:, xo:xo + n_pre] = xh[tep, :, :n_pre]
    if not lp[l, L_3F]:
        y_tr[:, yo:yo + n_post] = yh[tep, :, :n_post]
    txl[:] = 0
    tyl[:] = 0


# ---- set-up ----------------------------------------------------------------------------------------

def trace_randoms(program: LearningProgram, steps: int) -> tuple[np.ndarray, ...]:
    """Lava's random streams for ``steps`` steps: x decay, x impulse, y decay, y impulse (index 2 * step after
    step ``step``; 2 draws a step) and the weight rounding stream (index = epoch), ``ConnVarRandom`` seed 2."""
    s = program.rng_seed
    n = 2 * steps + 1
    draw_d = [np.random.default_rng(s + o).random(n) for o in (0, 2)]
    draw_i = [np.random.default_rng(s + o).integers(0, 2**TRACE_BITS, size=n, dtype=int) for o in (1, 3)]
    conn = np.random.default_rng(2).random(steps // program.t_epoch + 1)
    return draw_d[0], draw_i[0], draw_d[1], draw_i[1], conn


def _trace_params(program: LearningProgram):
    """Per trace (x1 x2 y1 y2 y3): impulse integer part, fraction (1/256), exp(-1/tau) as Lava computes it,
    and whether tau is 0."""
    names = X_TRACES + Y_TRACES
    imp = np.array([getattr(program, f"{n}_impulse") for n in names], dtype=float)
    taus = [getattr(program, f"{n}_tau") for n in names]
    if program.three_factor:
        taus[2:] = [THIRD_FACTOR_TAU] * 3
    taus = np.array(taus)
    imp_int = np.floor(imp)
    imp_frac = np.round((imp - imp_int) * 2**8)
    keep = np.zeros(len(names))
    keep[taus != 0] = np.exp(-1 / taus[taus != 0][:, None])[:, 0]
    return imp_int.astype(np.int64), imp_frac.astype(np.int64), keep, taus == 0


def _tags(pl: Plasticity, name: str, which: str, shape, rng) -> np.ndarray:
    tag = getattr(pl, which)
    arr = np.zeros(shape, np.int64) if tag is None else np.asarray(tag)
    if arr.shape != shape:
        raise ShapeError(f"connection '{name}': {which} shape {arr.shape}, expected {shape}")
    if not np.issubdtype(arr.dtype, np.integer) and not np.array_equal(arr, np.round(arr)):
        raise InputError(f"connection '{name}': {which} must be integers")
    if arr.size and (arr.min() < rng[0] or arr.max() > rng[1]):
        raise QuantizationError(f"connection '{name}': {which} outside [{rng[0]}, {rng[1]}]")
    return np.ascontiguousarray(arr.astype(np.int32).T)


def _third_factors(y, name: str, batch: int, steps: int, n_post: int) -> np.ndarray:
    if y is None:
        raise InputError(f"connection '{name}': a three-factor program needs y_traces['{name}'] of shape "
                         f"(steps, 3, {n_post}): y1, y2, y3 from the post neuron every step")
    arr = np.asarray(y)
    arr = arr[None] if arr.ndim == 3 else arr
    if arr.shape[1:] != (steps, 3, n_post) or arr.shape[0] not in (1, batch):
        raise ShapeError(f"y_traces['{name}']: shape {np.shape(y)}, expected ([batch,] {steps}, 3, {n_post})")
    if not np.issubdtype(arr.dtype, np.integer) or arr.min(initial=0) < 0 or arr.max(initial=0) > _TRACE_MAX:
        raise InputError(f"y_traces['{name}']: must be integers in [0, {_TRACE_MAX}] (7-bit traces)")
    return np.ascontiguousarray(np.broadcast_to(arr, (batch, steps, 3, n_post)), dtype=np.int64)


def _program_tables(prog: LearningProgram, n_prod: int, n_fac: int):
    """Rows of the product and factor tables for one program (products numbered from n_prod, factors n_fac)."""
    prods, facs, consts = [], [], []
    for target, products in prog.products.items():
        for p in products:
            f0 = n_fac + len(facs)
            prods.append((TARGETS.index(target), _DEPS.index(p.dependency), p.mantissa, p.shift, p.exponent + 7,
                          f0, f0 + len(p.factors)))
            for f in p.factors:
                facs.append((_VARS.index(f.var), float(f.const) == int(f.const), f.sgn, FACTOR_BITS[f.var]))
                consts.append(float(f.const))
    return prods, facs, consts


def _neuron_tables(plan: Plan, steps: int):
    """Per-neuron integer rows (N_*), the burst probability tables, the burst neurons' draws for every
    step (steps, 2, n_burst: floor(256 u) for the burst, floor(2**15 u) for the valence rounding; BurstLIF's
    generator; column N_DRAW of a neuron) and the initial Pbar."""
    rows, luts, draws, pbar = [], [], [], []
    for layer in plan.layers:
        bp = layer.burst
        row = np.zeros((11, layer.size), np.int64)
        row[N_KEEP_U], row[N_KEEP_V], row[N_VTH], row[N_BIAS] = 4096 - (layer.du + 1), 4096 - layer.dv, \
            layer.vth << 6, layer.bias
        row[N_LUT] = -1
        if bp is not None:
            row[N_KEEP_D], row[N_LUT], row[N_LUT_OFF], row[N_LUT_SHIFT] = 4096 - bp.dv_d, len(luts), \
                bp.lut_offset, bp.lut_shift
            row[N_PBAR_SHIFT], row[N_LEVELS] = bp.pbar_shift, bp.valence_levels
            row[N_DRAW] = sum(d.shape[2] for d in draws) + np.arange(layer.size)
            luts.append(bp.lut)
            draws.append(integer_draws(burst_uniforms(bp.seed, steps, layer.size)))
        pbar.append(np.full(layer.size, 0 if bp is None else bp.pbar_init, np.int64))
        rows.append(row)
    luts = np.asarray(luts, np.int64).reshape(-1, 256)
    draws = np.concatenate(draws, axis=2) if draws else np.zeros((steps, 2, 0), np.int64)
    return np.concatenate(rows, axis=1), luts, draws, np.concatenate(pbar)


def simulate_learning(plan: Plan, spikes: np.ndarray, learning: Mapping[str, Plasticity] | None = None,
                      y_traces: Mapping[str, np.ndarray] | None = None, record: bool | Sequence[int] = True,
                      record_uv: bool = True, threads: int | None = None) -> LearningResult:
    """Run ``plan`` on input spikes (steps, n_in) or (batch, steps, n_in); the connections named in
    ``learning`` (default: ``plan.learning``) learn as Lava's ``LearningDense`` (their target layer's
    events are the BAP). Layers with ``burst`` plans run as neurolearn's ``BurstLIF``. Samples are
    independent: each learns from the plan's initial weights (``threads`` samples at a time; a single
    sample's big connections learn on ``threads`` threads, default numba's number) and draws the same
    burst randoms.

    ``y_traces[name]``: for three-factor programs onto plain LIF layers, integers 0..127 of shape
    (steps, 3, n_post) or (batch, steps, 3, n_post): what arrives on ``s_in_y1..3`` each step (onto burst
    layers the neurons send them). ``record``: the learning state after every step (True), after the
    last only (False), or after the given steps (0-based indices, ascending); ``record_uv``: layer u, v
    (and v_d).
    """
    learning = plan.learning if learning is None else learning
    inp = as_batch(spikes, plan.input_size)
    batch, steps, _ = inp.shape
    y_traces = dict(y_traces or {})
    names = [c.name for c in plan.connections]
    for name in sorted(set(learning) - set(names)):
        raise InputError(f"learning: connection '{name}' is not in the plan (it has {', '.join(names)})")
    if not any(name in learning for name in names):
        raise InputError("learning: no learning connection; use neurolearn.sims.fixed.simulate_fixed")
    offsets, n = {}, 0
    for layer in plan.layers:
        offsets[layer.name] = n
        n += layer.size
    neuron, luts, burst_r, pbar0 = _neuron_tables(plan, steps)
    teach = np.zeros(7, np.int64)
    if plan.teacher is not None:
        t = plan.teacher
        start = sum(L.size for L in plan.layers[:[L.name for L in plan.layers].index(t.layer)])
        teach[:] = (1, start, plan.layer(t.layer).size, t.up, t.down, t.lo, t.hi)

    conn, syn, lps, trace_rows, rand, rcs, prods, facs, consts, y3 = [], [], [], [], [], [], [], [], [], []
    n_syn = n_x = n_y = n_y3 = 0
    lrn_names = []
    for c in plan.connections:
        n_post, n_pre = c.weights.shape
        pl = learning.get(c.name)
        conn.append((-1 if c.source == plan.input_name else offsets[c.source], n_pre, offsets[c.target], n_post,
                     c.weight_exp, len(lrn_names) if pl else -1, n_syn, c.port == "apical", c.carries == "bursts",
                     (c.input_range or (0,))[0]))
        n_syn += n_pre * n_post
        if pl is None:
            zeros = np.zeros(n_pre * n_post, np.int64)
            syn.append(np.stack([effective_weights(c.weights, c.num_weight_bits).T.reshape(-1), zeros, zeros]))
            continue
        prog = pl.program
        lrn_names.append(c.name)
        syn.append(np.stack([truncate_weights(c.weights, pl.sign_mode, c.num_weight_bits).T.reshape(-1),
                             _tags(pl, c.name, "tag_2", (n_post, n_pre), TAG_2_RANGE).reshape(-1),
                             _tags(pl, c.name, "tag_1", (n_post, n_pre), TAG_1_RANGE).reshape(-1)]))
        p_rows, f_rows, f_consts = _program_tables(prog, len(prods), len(facs))
        from_neurons = prog.three_factor and plan.layer(c.target).burst is not None
        lps.append((prog.t_epoch, prog.three_factor, -1 if prog.k is None else prog.k,
                    SIGN_MODES.index(pl.sign_mode), "dt" in prog.products, len(prods), len(prods) + len(p_rows),
                    n_x, n_y, -1 if from_neurons else n_y3))
        prods += p_rows
        facs += f_rows
        consts += f_consts
        trace_rows.append(_trace_params(prog))
        xd, xi, yd, yi, rc = trace_randoms(prog, steps)
        rand.append(np.stack([xd, xi, yd, yi]))
        rcs.append(rc)
        if prog.three_factor and not from_neurons:
            y3.append(_third_factors(y_traces.get(c.name), c.name, batch, steps, n_post))
            n_y3 += n_post
        n_x += n_pre
        n_y += n_post
    rc = np.zeros((len(rcs), max(map(len, rcs))))
    for l, r in enumerate(rcs):
        rc[l, :len(r)] = r
    l_int, l_frac, l_keep, l_zero = (np.stack(col) for col in zip(*trace_rows))
    y_in = np.concatenate(y3, axis=3) if y3 else np.zeros((batch, steps, 3, 0), np.int64)

    inp_idx, inp_ptr = _spike_lists(inp)
    out_s = np.zeros((batch, steps, n), np.uint8)
    shape_uv = (batch, steps, n) if record_uv else (0, 0, 0)
    out_u, out_v = np.zeros(shape_uv, np.int32), np.zeros(shape_uv, np.int32)
    if record is True or record is False:
        at = np.arange(steps) if record else np.array([steps - 1])
    else:
        at = np.asarray(record, np.int64)
        if at.ndim != 1 or not at.size or at.min() < 0 or at.max() >= steps or np.any(np.diff(at) <= 0):
            raise InputError(f"record: steps must be ascending indices in 0..{steps - 1}")
    rec_row = np.full(steps, -1, np.int64)
    rec_row[at] = np.arange(len(at))
    n_rec = len(at)
    rec = [np.zeros((batch, n_rec) + shape, np.int32) for shape in ((3, n_syn), (2, n_x), (3, n_y), (n_x,), (n_y,))]
    out_b = np.zeros((batch, steps, n), np.uint8)
    out_vd = np.zeros(shape_uv, np.int32)
    args = (inp_idx, inp_ptr, neuron, luts, burst_r, pbar0, teach, np.asarray(conn, np.int64),
            np.concatenate(syn, axis=1).astype(np.int32),
            np.asarray(lps, np.int64), l_int, l_frac, l_keep, l_zero, np.stack(rand), rc,
            np.asarray(prods, np.int64).reshape(-1, 7), np.asarray(facs, np.int64).reshape(-1, 4),
            np.asarray(consts, np.float64), y_in, out_s, out_u, out_v, out_b, out_vd, record_uv, rec_row, *rec,
            (threads or numba.get_num_threads()) if batch == 1 else 1)
    with ThreadPoolExecutor(threads or 1) as pool:  # the compiled loop releases the GIL
        list(pool.map(lambda b: _run_sample(b, *args), range(batch)))

    layers = {}
    for layer in plan.layers:
        sl = slice(offsets[layer.name], offsets[layer.name] + layer.size)
        burst = layer.burst is not None
        layers[layer.name] = LayerRecord(spikes=out_s[:, :, sl], u=out_u[:, :, sl] if record_uv else None,
                                         v=out_v[:, :, sl] if record_uv else None,
                                         bursts=out_b[:, :, sl] if burst else None,
                                         v_d=out_vd[:, :, sl] if burst and record_uv else None)
    synapses = {}
    for name, lrow in zip(lrn_names, lps):
        c = conn[names.index(name)]
        n_pre, n_post, base, xo, yo = c[C_SRC_N], c[C_TGT_N], c[C_SYN], lrow[L_X], lrow[L_Y]
        mats = rec[0][:, :, :, base:base + n_pre * n_post].reshape(batch, n_rec, 3, n_pre, n_post)
        mats = mats.transpose(0, 1, 2, 4, 3)
        synapses[name] = SynapseRecord(weights=mats[:, :, 0], tag_2=mats[:, :, 1], tag_1=mats[:, :, 2],
                                       x=rec[1][:, :, :, xo:xo + n_pre], y=rec[2][:, :, :, yo:yo + n_post],
                                       tx=rec[3][:, :, xo:xo + n_pre], ty=rec[4][:, :, yo:yo + n_post])
    return LearningResult(SimResult(backend="fixed-learning", layers=layers, delays=plan.depths()), synapses)
