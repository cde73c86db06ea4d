"""neurolearn's fixed-point simulator: bit-exact with Lava 0.10.0's ``Loihi2SimCfg(select_tag="fixed_pt")``.

It runs a :class:`~neurolearn.compile.plan.Plan` (Lava ``Dense`` + ``LIF`` processes and an input
``RingBuffer``) over a batch of independent samples in one compiled loop: no per-step messaging,
integer arithmetic identical to ``PyLifModelBitAcc`` and ``PyDenseModelBitAcc``:

* Dense: weights clipped to 8 bits and LSB-truncated by sign mode and ``num_weight_bits`` (once);
  the summed activation is shifted by ``weight_exp`` (floor for negative exponents) and reaches the
  target one step later (every Dense adds one step of delay), wrapped to int32 as Lava's channel does.
* LIF: ``u = trunc0(u * (4096 - du - 1) / 4096) + (a_in << 6)``, wrapped once at +-2**23;
  ``v = trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp)``, saturated to 24 bits;
  spike where ``v > vth << 6``; ``v = 0`` after a spike. ``trunc0`` rounds toward zero.
"""
from __future__ import annotations

import numba
import numpy as np
from numba.typed import List

from neurolearn.compile.plan import Plan
from neurolearn.sims.result import LayerRecord, SimResult, as_batch

_MAX_UV = 2**23


def sign_mode(weights: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: 'excitatory' (all >= 0), 'inhibitory' (all <= 0) or 'mixed'."""
    if weights.min(initial=0) >= 0:
        return "excitatory"
    if weights.max(initial=0) <= 0:
        return "inhibitory"
    return "mixed"


def effective_weights(weights: np.ndarray, num_weight_bits: int) -> np.ndarray:
    """The weights Lava's Dense actually uses: ``clip_weights(num_bits=8)`` then ``truncate_weights``.

    Mixed-sign weights lose one more bit (the sign's): with 8 weight bits they become even.
    """
    w = np.asarray(weights, dtype=np.int64)
    mode = sign_mode(w)
    mixed = mode == "mixed"
    if mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 if mixed else 0, 255)
    shift = 8 - num_weight_bits + int(mixed)
    w = (w >> shift) << shift
    return -w if mode == "inhibitory" else w


@numba.njit(cache=True, inline="always")
def _wrap32(x):
    return ((x + 2**31) & (2**32 - 1)) - 2**31


@numba.njit(cache=True, inline="always")
def _trunc_decay(x, keep):
    """Lava's decay: sign(x) * ((|x| * keep) >> 12), i.e. rounding toward zero."""
    p = x * keep
    if p < 0:
        return -((-p) >> 12)
    return p >> 12


@numba.njit(parallel=True, cache=True)
def _simulate(inp, keep_u, keep_v, vth6, bias, w_list, c_src, c_src_n, c_tgt, c_tgt_n, c_exp, c_buf,
              n_buf, out_s, out_u, out_v, record_uv):
    batch, steps, _ = inp.shape
    n = keep_u.shape[0]
    n_conn = len(w_list)
    for b in numba.prange(batch):
        u = np.zeros(n, np.int64)
        v = np.zeros(n, np.int64)
        s = np.zeros(n, np.uint8)
        a_in = np.zeros(n, np.int64)
        abuf = np.zeros(n_buf, np.int64)
        acc = np.zeros(n, np.int64)
        for t in range(steps):
            # 1. every LIF receives what its Dense processes computed on the previous step
            a_in[:] = 0
            for c in range(n_conn):
                for j in range(c_tgt_n[c]):
                    a_in[c_tgt[c] + j] = _wrap32(a_in[c_tgt[c] + j] + abuf[c_buf[c] + j])
            # 2. LIF dynamics
            for i in range(n):
                du = _trunc_decay(u[i], keep_u[i]) + _wrap32(a_in[i] << 6)
                du = _wrap32(du)
                if du > _MAX_UV:
                    du = du - 2 * _MAX_UV
                elif du <= -_MAX_UV:
                    du = _wrap32(du + 2 * _MAX_UV)
                u[i] = du
                vv = _wrap32(_wrap32(_trunc_decay(v[i], keep_v[i]) + du) + bias[i])
                vv = min(max(vv, -_MAX_UV + 1), _MAX_UV - 1)
                if vv > vth6[i]:
                    s[i] = 1
                    vv = 0
                else:
                    s[i] = 0
                v[i] = vv
            # 3. every Dense sums the weights of this step's spikes (sent on the next step)
            for c in range(n_conn):
                w = w_list[c]
                nt = c_tgt_n[c]
                acc[:nt] = 0
                for k in range(c_src_n[c]):
                    spiked = inp[b, t, k] if c_src[c] < 0 else s[c_src[c] + k]
                    if spiked:
                        acc[:nt] += w[k]
                e = c_exp[c]
                for j in range(nt):
                    x = acc[j] << e if e >= 0 else acc[j] >> (-e)
                    abuf[c_buf[c] + j] = _wrap32(x)
            out_s[b, t] = s
            if record_uv:
                for i in range(n):
                    out_u[b, t, i] = u[i]
                    out_v[b, t, i] = v[i]


def simulate_fixed(plan: Plan, spikes: np.ndarray, record_uv: bool = True) -> SimResult:
    """Run ``plan`` on input spikes of shape (steps, n_in) or (batch, steps, n_in).

    Returns per-layer spikes (and u, v as int32 if ``record_uv``), each (batch, steps, size),
    exactly as Lava's fixed_pt models produce them step by step.
    """
    inp = as_batch(spikes, plan.input_size)
    offsets, n = {}, 0
    for layer in plan.layers:
        offsets[layer.name] = n
        n += layer.size
    keep_u = np.concatenate([np.full(L.size, 4096 - (L.du + 1)) for L in plan.layers]).astype(np.int64)
    keep_v = np.concatenate([np.full(L.size, 4096 - L.dv) for L in plan.layers]).astype(np.int64)
    vth6 = np.concatenate([np.full(L.size, L.vth << 6) for L in plan.layers]).astype(np.int64)
    bias = np.concatenate([L.bias for L in plan.layers]).astype(np.int64)

    w_list = List()
    c_src, c_src_n, c_tgt, c_tgt_n, c_exp, c_buf, n_buf = [], [], [], [], [], [], 0
    for c in plan.connections:
        w_list.append(np.ascontiguousarray(effective_weights(c.weights, c.num_weight_bits).T.astype(np.int64)))
        c_src.append(-1 if c.source == plan.input_name else offsets[c.source])
        c_src_n.append(c.weights.shape[1])
        c_tgt.append(offsets[c.target])
        c_tgt_n.append(c.weights.shape[0])
        c_exp.append(c.weight_exp)
        c_buf.append(n_buf)
        n_buf += c.weights.shape[0]
    if not plan.connections:  # numba needs a typed, non-empty list to infer its type
        w_list.append(np.zeros((0, 0), np.int64))
        c_src, c_src_n, c_tgt, c_tgt_n, c_exp, c_buf = [0], [0], [0], [0], [0], [0]
    ints = [np.asarray(x, dtype=np.int64) for x in (c_src, c_src_n, c_tgt, c_tgt_n, c_exp, c_buf)]

    batch, steps, _ = inp.shape
    out_s = np.zeros((batch, steps, n), np.uint8)
    shape_uv = (batch, steps, n) if record_uv else (0, 0, 0)
    out_u = np.zeros(shape_uv, np.int32)
    out_v = np.zeros(shape_uv, np.int32)
    _simulate(inp, keep_u, keep_v, vth6, bias, w_list, *ints, max(n_buf, 1), out_s, out_u, out_v, record_uv)

    layers = {}
    for layer in plan.layers:
        sl = slice(offsets[layer.name], offsets[layer.name] + layer.size)
        layers[layer.name] = LayerRecord(
            spikes=out_s[:, :, sl],
            u=out_u[:, :, sl] if record_uv else None,
            v=out_v[:, :, sl] if record_uv else None,
        )
    return SimResult(backend="fixed", layers=layers, delays=plan.depths())
