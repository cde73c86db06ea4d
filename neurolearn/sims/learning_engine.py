"""Lava 0.10.0's ``LearningDense`` (``PyLearningDenseModelBitApproximate``, fixed_pt) mirrored bit for bit: the
learning engine of neurolearn's simulator. Lava is the spec; this is its one copy.

Every step, after its Dense work, a learning connection (:func:`spike_step`):

* pre spikes: a repeat spike within the epoch adds the impulse to x1, x2 now (+1 if the impulse has a
  fraction); ``tx`` = within-epoch step (1..t_epoch) of the last spike;
* post spikes (BAP = the target layer's spikes of this step): a repeat spike adds the y impulses, rounded up
  when ``r_imp < frac * 256``; ``ty`` likewise (a three-factor program's y1..y3 are then overwritten by its
  third factors: the network kernel's part);
* at ``step % t_epoch == 0`` (:func:`learn_epoch`): trace histories over the epoch (``floor(exp(-1/tau) * z)``
  + 1 if ``r_decay`` < the fraction; impulse at ``tx``/``ty``; clip to 7 bits; tau 0 keeps nothing), then every
  product of every rule from the pre-update w, d, t: factors clipped to their widths, int32 products,
  ``* m >> shift << e+7``, 15-bit saturation, sign saturation, stochastic rounding (``ConnVarRandom``, seed 2)
  and clipping.

Random numbers are Lava's (:class:`TraceStreams`): per step two draws of ``TraceRandom(seed, seed + 1)`` (x)
and ``TraceRandom(seed + 2, seed + 3)`` (y), one ``ConnVarRandom(2)`` draw per epoch; all drawn up front.

The kernels read the named tables of :mod:`neurolearn.sims.lowering`: ``ln`` (:class:`Learners`), ``prod``
(:class:`Products`), ``fac`` (:class:`Factors`); the state of every learning connection is a :class:`TraceState`.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from neurolearn.dynamics.lif import wrap32
from neurolearn.ir.program import THIRD_FACTOR_TAU, TRACE_BITS, X_TRACES, Y_TRACES, LearningProgram

TAG_1_RANGE = (-257, 255)   # Lava clips tag_1 ('t') to [-2**8 - 1, 2**8 - 1] and tag_2 ('d') to [0, 2**8 - 1]
TAG_2_RANGE = (0, 255)
FACTOR_VARS = ("x0", "y0", "x1", "x2", "y1", "y2", "y3", "w", "d", "t")   # Factors.var codes 0..9
DEPENDENCIES = ("x0", "y0", "u")                                          # Products.dependency codes 0..2
TRACE_MAX = 2**TRACE_BITS - 1
_ACC_MIN, _ACC_MAX = -(2**15) - 1, 2**15 - 1    # Lava's accumulator saturation (sic: -2**15 - 1)


class TraceState(NamedTuple):
    """Every learning connection's traces, side by side (learner l's at columns ``Learners.x_at[l]``.. and
    ``y_at[l]``..), and the scratch of an epoch's trace histories."""

    x: np.ndarray    # (2, n_x) int64: x1, x2 of every pre
    y: np.ndarray    # (3, n_y) int64: y1, y2, y3 of every post
    tx: np.ndarray   # (n_x,) int64: within-epoch step of the pre's last spike, 0 = none
    ty: np.ndarray   # (n_y,) int64: likewise of the post
    xh: np.ndarray   # (t_max + 1, 2, n_max) int64: x1, x2 at within-epoch steps 0..t_epoch
    yh: np.ndarray   # (t_max + 1, 3, n_max) int64: y1, y2, y3 likewise


class _EpochWork(NamedTuple):
    """One learning connection's epoch as its column kernels read it. Columns (pres) cols[:n_full] learn with
    every post, cols[-n_cols:] only with the posts ``posts`` (b_posts, ty_posts: b_tab, ty restricted there)."""

    syn: np.ndarray       # (3, n_syn) int32: w, d, t of every synapse (Synapses.wdt)
    at: np.ndarray        # (n_pre,): first synapse of column cols[c] in syn
    cols: np.ndarray      # (n_pre,): pre indices
    n_full: int
    n_cols: int
    posts: np.ndarray
    n_post: int
    a_tab: np.ndarray     # (n_products, t_epoch + 1, n_pre): pre-side factors (_product_tables)
    b_tab: np.ndarray     # (n_products, t_epoch + 1, n_post): post-side factors
    b_posts: np.ndarray
    tx: np.ndarray        # (n_pre,) within-epoch spike steps
    ty: np.ndarray        # (n_post,)
    ty_posts: np.ndarray
    u: bool               # u<k> products run this epoch
    thr: int              # stochastic rounding: round up where the 7-bit fraction > thr
    sign: int             # SIGN_MODES index
    p0: int               # the connection's products p0..p1 - 1
    p1: int
    used: np.ndarray      # (3,) bool: w, d, t are targets
    need: np.ndarray      # (3,) bool: w, d, t are read as factors


# ---- Lava's parameters and random streams ---------------------------------------------------------

class TraceStreams:
    """Lava's random streams of one ``LearningDense``, continued chunk by chunk: ``take(k)`` gives the next k
    steps' numbers, the same however the steps are grouped (numpy's generators continue)."""

    def __init__(self, program: LearningProgram):
        s = program.rng_seed
        self.decay = [np.random.default_rng(s + o) for o in (0, 2)]
        self.impulse = [np.random.default_rng(s + o) for o in (1, 3)]
        self.conn = np.random.default_rng(2)
        self.t_epoch, self.first = program.t_epoch, True

    def take(self, steps: int) -> tuple[np.ndarray, ...]:
        """x decay, x impulse, y decay, y impulse (index 2 * step after step ``step`` of these steps, 1-based; 2
        draws a step) and the weight rounding stream (index = epoch of these steps), ``ConnVarRandom`` seed 2.
        Index 0 holds Lava's initial draws in the first take, 0 (unread) later; takes after the first must start
        at an epoch's start."""
        pad = np.zeros(0 if self.first else 1)
        n, n_epochs = 2 * steps + self.first, steps // self.t_epoch + self.first
        draw_d = [np.concatenate([pad, g.random(n)]) for g in self.decay]
        draw_i = [np.concatenate([pad, g.integers(0, 2**TRACE_BITS, size=n, dtype=int)]) for g in self.impulse]
        conn = np.concatenate([pad, self.conn.random(n_epochs)])
        self.first = False
        return draw_d[0], draw_i[0], draw_d[1], draw_i[1], conn


def trace_params(program: LearningProgram):
    """Per trace (x1 x2 y1 y2 y3): impulse integer part, fraction (1/256), exp(-1/tau) as Lava computes it
    (per step), and whether tau is 0."""
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


# ---- every step ------------------------------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _impulse(z, imp_int, imp_frac, r):
    """Lava's ``_add_impulse``: z + int + (r < frac), clipped to the 7-bit trace."""
    return min(max(z + imp_int + (r < imp_frac), 0), TRACE_MAX)


@numba.njit(cache=True, nogil=True, inline="always")
def spike_step(ts, pre, n_spk, post, xo, yo, imp_int, imp_frac, r_post, tr):
    """A learner's pre spikes (indices pre[:n_spk]; its x traces at TraceState columns xo..) and post spikes
    (bool per post; y at yo..) at within-epoch step ts (1..t_epoch): repeat spikes within the epoch add the
    impulses (imp_int, imp_frac: per trace x1 x2 y1 y2 y3; y's rounded up where r_post < fraction), tx and ty
    become ts. (The learner's constants come as values: an inlined tuple of arrays costs reference counts.)"""
    x, y, tx, ty = tr.x, tr.y, tr.tx, tr.ty
    for k in range(n_spk):
        j = xo + pre[k]
        if tx[j] > 0:
            for q in range(2):
                x[q, j] = _impulse(x[q, j], imp_int[q], imp_frac[q], 0)
        tx[j] = ts
    for i in range(post.size):
        if post[i]:
            if ty[yo + i] > 0:
                for q in range(3):
                    y[q, yo + i] = _impulse(y[q, yo + i], imp_int[2 + q], imp_frac[2 + q], r_post)
            ty[yo + i] = ts


# ---- at an epoch's end -----------------------------------------------------------------------------

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
def _multiply(term, raw, n, bits, exact, sgn, fcon):
    """term[e] = wrap32(term[e] * the factor (Factors: bits, exact, sgn, const) of the value raw[e]), e < n."""
    lo, hi, icon = -(2 ** bits), 2 ** bits - 1, np.int64(fcon)
    for e in range(n):
        term[e] = wrap32(term[e] * _clip_factor(raw[e], lo, hi, exact, icon, fcon, sgn))


@numba.njit(cache=True, nogil=True)
def _side_table(out, f0, f1, side, t_read, live, fac, h, t_sp, raw):
    """out[e] = the wrap32 product of factors f0..f1 - 1 (a product's) on one side, for every neuron e of that side
    (side 0: x0, x1, x2 of pre e; side 1: y0, y1, y2, y3 of post e), times ``t_sp[e] > 0`` if ``live``.
    Traces are read from the history h at within-epoch step t_read, or at the neuron's own spike step
    t_sp[e] if t_read < 0."""
    n = t_sp.size
    for e in range(n):
        out[e] = t_sp[e] > 0 if live else 1
    spike, tr0, n_tr = (0, 2, 2) if side == 0 else (1, 4, 3)
    var, bits, exact, sgn, const = fac.var, fac.bits, fac.exact, fac.sgn, fac.const
    for f in range(f0, f1):
        code = var[f]
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
        _multiply(out, raw, n, bits[f], exact[f], sgn[f], const[f])


@numba.njit(cache=True, nogil=True)
def _product_tables(a_tab, b_tab, p0, p1, prod, fac, xh, yh, tx, ty, t_epoch, raw):
    """Per product p (row p - p0) of an epoch: its pre-side factors a_tab[., ta, j] and post-side factors
    b_tab[., tb, i], so that its term at synapse (i, j) is wrap32(a * b) times its w, d, t factors, with
    (ta, tb) = (0, tx[j]) for dependency x0, (ty[i], 0) for y0, (0, 0) for u. The dependency is folded in
    (row 0 of the side read at the other's spike step is 0: no spike); u's is not (a u product runs or not)."""
    dependency, f0, f1 = prod.dependency, prod.f0, prod.f1
    for p in range(p0, p1):
        q, dep, fa, fb = p - p0, dependency[p], f0[p], f1[p]
        if dep == 0:
            _side_table(a_tab[q, 0], fa, fb, 0, -1, True, fac, xh, tx, raw)
            b_tab[q, 0] = 0
            for t in range(1, t_epoch + 1):
                _side_table(b_tab[q, t], fa, fb, 1, t, False, fac, yh, ty, raw)
        elif dep == 1:
            _side_table(b_tab[q, 0], fa, fb, 1, -1, True, fac, yh, ty, raw)
            a_tab[q, 0] = 0
            for t in range(1, t_epoch + 1):
                _side_table(a_tab[q, t], fa, fb, 0, t, False, fac, xh, tx, raw)
        else:
            _side_table(a_tab[q, 0], fa, fb, 0, t_epoch, False, fac, xh, tx, raw)
            _side_table(b_tab[q, 0], fa, fb, 1, t_epoch, False, fac, yh, ty, raw)


@numba.njit(cache=True, nogil=True)
def _synapse_term(term, a, b, old, n, f0, f1, fac):
    """term[e] = wrap32(a * b[e]) times the w, d, t factors among f0..f1 - 1 (a product's) of the synapse at e
    (old[0..2, e])."""
    for e in range(n):
        term[e] = wrap32(a * b[e])
    for f in range(f0, f1):
        if fac.var[f] >= 7:
            _multiply(term, old[fac.var[f] - 7], n, fac.bits[f], fac.exact[f], fac.sgn[f], fac.const[f])


@numba.njit(cache=True, nogil=True, inline="always")
def _accumulate(acc, a, b, n, m, sh, se):
    """acc[e] = sat(acc + sat(wrap32(wrap32(term * m) >> sh << se))) with term = wrap32(a * b[e]), e < n
    (Lava's scaling and 15-bit saturation)."""
    for e in range(n):
        c = wrap32(wrap32(wrap32(wrap32(a * b[e]) * m) >> sh) << se)
        acc[e] = min(max(acc[e] + min(max(c, _ACC_MIN), _ACC_MAX), _ACC_MIN), _ACC_MAX)


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
def _learn_share(part, n_part, wk, prod, fac):
    """New w, d, t (those ``used``) in place at share ``part`` of ``n_part`` of an epoch's columns (disjoint
    synapses: shares may run at once): first of the columns that learn with every post, then of those that learn
    with ``posts`` only (b_posts and ty_posts then stand for b_tab and ty: index e is post posts[e]). (Tables are
    read into locals before the loops, and few calls made: numba counts the references of every array it passes
    or takes from a tuple, atomically.)"""
    syn, ats, cols, a_tab, tx, posts, used, need = wk.syn, wk.at, wk.cols, wk.a_tab, wk.tx, wk.posts, wk.used, wk.need
    target, dependency, reads_wdt = prod.target, prod.dependency, prod.reads_wdt
    mantissa, shift, scale_exp, f0, f1 = prod.mantissa, prod.shift, prod.scale_exp, prod.f0, prod.f1
    thr, sign, p0, p1 = wk.thr, wk.sign, wk.p0, wk.p1
    n_max = max(cols.size, wk.n_post)
    old, acc, term = np.empty((3, n_max), np.int64), np.empty(n_max, np.int64), np.empty(n_max, np.int64)
    for every in (True, False):
        if every:
            first, n_col, n, b_tab, ty, u = 0, wk.n_full, wk.n_post, wk.b_tab, wk.ty, wk.u
        else:
            first, n_col, n, b_tab, ty, u = cols.size - wk.n_cols, wk.n_cols, posts.size, wk.b_posts, wk.ty_posts, False
        for c in range(first + n_col * part // n_part, first + n_col * (part + 1) // n_part):
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
                    if target[p] != tgt:
                        continue
                    # the product's term at post e before its w, d, t factors: wrap32(a * b[e])
                    q, dep = p - p0, dependency[p]
                    if dep == 1 and a_tab.shape[1] == 2:  # t_epoch 1: every y0 is at step 1
                        a, b = a_tab[q, 1, k], b_tab[q, 0]
                    elif dep == 1:
                        for i in range(n):
                            term[i] = wrap32(b_tab[q, 0, i] * a_tab[q, ty[i], k])
                        a, b = 1, term
                    elif (dep == 0 and tx[k] > 0) or (dep == 2 and u):
                        a, b = a_tab[q, 0, k], b_tab[q, tx[k] if dep == 0 else 0]
                    else:  # a product that is 0 here
                        if tgt == 2:
                            _saturate(acc, n)
                        continue
                    if reads_wdt[p]:  # the synapse's own w, d or t is a factor: the whole term first
                        _synapse_term(term, a, b, old, n, f0[p], f1[p], fac)
                        a, b = 1, term
                    _accumulate(acc, a, b, n, mantissa[p], shift[p], scale_exp[p])
                a_lo, a_hi, lo, hi = _bounds(tgt, sign)
                for e in range(n if every else 0):
                    syn[tgt, np.uint64(at + e)] = _rounded(acc[e], a_lo, a_hi, lo, hi, thr)
                for e in range(0 if every else n):
                    syn[tgt, np.uint64(at + posts[e])] = _rounded(acc[e], a_lo, a_hi, lo, hi, thr)


@numba.njit(cache=True, nogil=True, parallel=True)
def _learn_parallel(n_part, wk, prod, fac):
    """_learn_share for shares 0..n_part-1 on as many threads (deterministic: the shares are disjoint)."""
    for part in numba.prange(n_part):
        _learn_share(part, n_part, wk, prod, fac)


@numba.njit(cache=True, nogil=True)
def learn_epoch(l, step, n_pre, n_post, at0, ln, prod, fac, syn, tr, n_thr):
    """Lava's run_lrn for learner l at the end of an epoch (``step``, 1-based), its synapses at syn[:, at0:]
    (pre-major), on n_thr threads: trace histories, rules, new traces, reset of tx, ty.

    Only synapses with a live product change (a fixed point after epoch 1): every synapse in epoch 1, with
    dt rules or u; else every synapse of the pres with x0 and, of the other pres, those of the posts with y0."""
    tep, xo, yo = ln.t_epoch[l], ln.x_at[l], ln.y_at[l]
    epoch = step // tep
    xh, yh = tr.xh, tr.yh
    txl, tyl = tr.tx[xo:xo + n_pre], tr.ty[yo:yo + n_post]
    xh[0, :, :n_pre] = tr.x[:, xo:xo + n_pre]
    yh[0, :, :n_post] = tr.y[:, yo:yo + n_post]
    _histories(xh, 2, tep, ln.keep[l, :2], ln.zero_tau[l, :2], ln.randoms[l, 0, 2 * step],
               ln.randoms[l, 1, 2 * step], txl, ln.imp_int[l, :2], ln.imp_frac[l, :2])
    _histories(yh, 3, tep, ln.keep[l, 2:], ln.zero_tau[l, 2:], ln.randoms[l, 2, 2 * step],
               ln.randoms[l, 3, 2 * step], tyl, ln.imp_int[l, 2:], ln.imp_frac[l, 2:])
    k = ln.k[l]
    u = k >= 0 and epoch % (2 ** max(k, 0)) == 0
    p0, p1 = ln.p0[l], ln.p1[l]
    dependency, var = prod.dependency, fac.var
    has_x0, has_y0, full = False, False, epoch == 1 or ln.has_dt[l]
    used, need = np.zeros(3, np.bool_), np.zeros(3, np.bool_)  # targets; w, d, t read as factors
    for p in range(p0, p1):
        used[prod.target[p]] = True
        for f in range(prod.f0[p], prod.f1[p]):
            need[max(var[f] - 7, 0)] |= var[f] >= 7
        has_x0 |= dependency[p] == 0
        has_y0 |= dependency[p] == 1
        full |= dependency[p] == 2 and u
    raw, cols = np.empty(max(n_pre, n_post), np.int64), np.empty(n_pre, np.int64)
    a_tab, b_tab = np.empty((p1 - p0, tep + 1, n_pre), np.int64), np.empty((p1 - p0, tep + 1, n_post), np.int64)
    _product_tables(a_tab, b_tab, p0, p1, prod, fac, xh[:, :, :n_pre], yh[:, :, :n_post], txl, tyl, tep, raw)
    n_full = n_cols = 0  # columns learning with every post (at cols[:n_full]), the others (at cols[-n_cols:])
    for j in range(n_pre):
        if full or (has_x0 and txl[j] > 0):
            cols[n_full] = j
            n_full += 1
            continue
        live = used[2]  # else a pre whose y0 products are 0 at every post (their pre side is 0) keeps its synapses
        for p in range(p0, p1):  # (w, d are then in range: only tag_1 = -257 would change, by saturation)
            for t in range(1, tep + 1):
                live |= dependency[p] == 1 and a_tab[p - p0, t, j] != 0
        if live:
            n_cols += 1
            cols[n_pre - n_cols] = j
    posts = np.flatnonzero(tyl > 0)  # the other columns learn only where y0 products run: posts with y0
    wk = _EpochWork(syn, at0 + cols * n_post, cols, n_full, n_cols if has_y0 and posts.size else 0, posts, n_post,
                    a_tab, b_tab, b_tab[:, :, posts], txl, tyl, tyl[posts], u,
                    np.int64(np.floor(ln.rounding[l, epoch] * 128)), ln.sign[l], p0, p1, used, need)
    if n_thr > 1 and n_pre * n_post >= 2**18:  # big enough to pay for the threads
        _learn_parallel(n_thr, wk, prod, fac)
    else:
        _learn_share(0, 1, wk, prod, fac)
    tr.x[:, xo:xo + n_pre] = xh[tep, :, :n_pre]
    if not ln.three_factor[l]:
        tr.y[:, yo:yo + n_post] = yh[tep, :, :n_post]
    txl[:] = 0
    tyl[:] = 0
