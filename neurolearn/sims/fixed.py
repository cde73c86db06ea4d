"""neurolearn's fixed-point simulator: bit-exact with Lava 0.10.0's ``Loihi2SimCfg(select_tag="fixed_pt")``.

It runs a :class:`~neurolearn.ir.plan.Plan` (Lava ``Dense`` + ``LIF`` processes and an input
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

from neurolearn.dynamics.dense import effective_weights, sign_mode
from neurolearn.dynamics.lif import lif_current, lif_voltage, wrap32
from neurolearn.errors import ShapeError
from neurolearn.ir.features import require
from neurolearn.ir.plan import Plan
from neurolearn.sims.result import LayerRecord, SimResult, as_batch


def pack_weights(weights: np.ndarray, num_weight_bits: int):
    """Lava's effective weights packed exactly into int8: ``w == (q + offset) << shift``.

    Lava's truncation leaves multiples of ``2**shift``; after the shift mixed weights fit int8 and
    one-signed weights fit after an offset of -+128. The simulator sums int8 rows (4x less memory
    traffic than int32) and restores ``(sum + offset * n_spikes) << shift`` exactly.
    """
    w = effective_weights(weights, num_weight_bits)
    shift = 8 - num_weight_bits + int(sign_mode(w) == "mixed")
    q = w >> shift
    # excitatory q in [0, 255] -> q - 128; inhibitory q in [-255, 0] -> q + 127
    offset = 0 if q.min(initial=0) >= -128 and q.max(initial=0) <= 127 else (128 if q.min() >= 0 else -127)
    packed = q - offset
    assert packed.min(initial=0) >= -128 and packed.max(initial=0) <= 127, "weights do not pack into int8"
    return packed.astype(np.int8), offset, shift


@numba.njit(cache=True)
def _spike_lists(inp):
    """CSR lists of the spiking input channels of every (sample, step): indices and row pointers."""
    batch, steps, n_in = inp.shape
    ptr = np.zeros(batch * steps + 1, np.int64)
    idx = np.empty(int(inp.sum()), np.int64)
    k = 0
    for b in range(batch):
        for t in range(steps):
            for i in range(n_in):
                if inp[b, t, i]:
                    idx[k] = i
                    k += 1
            ptr[b * steps + t + 1] = k
    return idx, ptr


@numba.njit(cache=True)
def _sum_rows(w, rows, count, nt, acc, acc16):
    """acc[:nt] = sum of int8 rows w[rows[:count]], added in int16 chunks of 255 rows (|chunk| <= 32640)
    for twice the SIMD width of int32, then widened: exact."""
    acc[:nt] = 0
    for start in range(0, count, 255):
        acc16[:nt] = 0
        for k in range(start, min(count, start + 255)):
            row = w[rows[k]]
            for j in range(nt):  # explicit int16: numba would widen to int64 and vectorize less
                acc16[j] = np.int16(acc16[j] + np.int16(row[j]))
        for j in range(nt):
            acc[j] += acc16[j]


@numba.njit(parallel=True, cache=True)
def _simulate(inp_idx, inp_ptr, keep_u, keep_v, vth6, bias, w_list, c_src, c_tgt, c_tgt_n, c_off, c_shift,
              c_exp, c_buf, n_buf, n_layers_src, out_s, out_u, out_v, record_uv):
    """All samples in parallel; each sample runs in an ordinary (fully optimized) compiled function."""
    for b in numba.prange(out_s.shape[0]):
        _simulate_sample(b, inp_idx, inp_ptr, keep_u, keep_v, vth6, bias, w_list, c_src, c_tgt, c_tgt_n, c_off,
                         c_shift, c_exp, c_buf, n_buf, n_layers_src, out_s, out_u, out_v, record_uv)


@numba.njit(cache=True)
def _simulate_sample(b, inp_idx, inp_ptr, keep_u, keep_v, vth6, bias, w_list, c_src, c_tgt, c_tgt_n, c_off,
                     c_shift, c_exp, c_buf, n_buf, n_layers_src, out_s, out_u, out_v, record_uv):
    """One sample, every step. inp_idx/inp_ptr: CSR lists of spiking input channels per (sample, step)."""
    _, steps, n = out_s.shape
    n_conn = len(w_list)
    u = np.zeros(n, np.int64)
    v = np.zeros(n, np.int64)
    a_in = np.zeros(n, np.int64)
    abuf = np.zeros(n_buf, np.int64)
    acc = np.zeros(n, np.int32)  # exact: |sum| <= 128 * sources < 2**31 (checked by the caller)
    acc16 = np.zeros(n, np.int16)
    max_in = 0
    for r in range(inp_ptr.size - 1):
        max_in = max(max_in, inp_ptr[r + 1] - inp_ptr[r])
    rows = np.zeros(max(n, max_in), np.int64)  # the source rows that spiked, per connection
    s = np.zeros(n, np.bool_)
    fired = np.zeros(n, np.int64)  # indices of neurons that spiked this step
    for t in range(steps):
        # 1. every LIF receives what its Dense processes computed on the previous step
        a_in[:] = 0
        for c in range(n_conn):
            o, ob = c_tgt[c], c_buf[c]
            for j in range(c_tgt_n[c]):
                a_in[o + j] = wrap32(a_in[o + j] + abuf[ob + j])
        # 2. LIF dynamics: u wraps once at +-2**23, v saturates at 24 bits, reset to 0 on a spike
        for i in range(n):
            u[i] = lif_current(u[i], a_in[i], keep_u[i])
        for i in range(n):
            y = lif_voltage(v[i], u[i], keep_v[i], bias[i])
            s[i] = y > vth6[i]
            v[i] = 0 if s[i] else y
        n_fired = 0
        for i in range(n):
            if s[i]:
                fired[n_fired] = i
                n_fired += 1
        if record_uv:
            for i in range(n):
                out_u[b, t, i] = u[i]
                out_v[b, t, i] = v[i]
        for k in range(n_fired):
            out_s[b, t, fired[k]] = 1
        # 3. every Dense sums the weights of this step's spikes (delivered on the next step)
        r = b * steps + t
        for c in range(n_conn):
            nt = c_tgt_n[c]
            if c_src[c] < 0:  # the input
                count = inp_ptr[r + 1] - inp_ptr[r]
                for k in range(count):
                    rows[k] = inp_idx[inp_ptr[r] + k]
            else:
                count = 0
                for k in range(n_fired):
                    f = fired[k] - c_src[c]
                    if 0 <= f < n_layers_src[c]:
                        rows[count] = f
                        count += 1
            _sum_rows(w_list[c], rows, count, nt, acc, acc16)
            e, sh, off, ob = c_exp[c], c_shift[c], c_off[c] * count, c_buf[c]
            if e >= 0:
                for j in range(nt):
                    abuf[ob + j] = wrap32(((np.int64(acc[j]) + off) << sh) << e)
            else:  # arithmetic right shift: floor, as numpy's right_shift
                for j in range(nt):
                    abuf[ob + j] = wrap32(((np.int64(acc[j]) + off) << sh) >> (-e))


def simulate_fixed(plan: Plan, spikes: np.ndarray, record_uv: bool = True) -> SimResult:
    """Run ``plan`` on input spikes of shape (steps, n_in) or (batch, steps, n_in).

    Returns per-layer spikes (and u, v as int32 if ``record_uv``), each (batch, steps, size),
    exactly as Lava's fixed_pt models produce them step by step.
    """
    require(plan.features(), "fixed")
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
    cols = {k: [] for k in ("src", "tgt", "tgt_n", "off", "shift", "exp", "buf", "src_n")}
    n_buf = 0
    for c in plan.connections:
        q, off, shift = pack_weights(c.weights, c.num_weight_bits)
        if c.weights.shape[1] * 256 >= 2**31:
            raise ShapeError(f"connection '{c.name}': {c.weights.shape[1]} sources; the simulator sums in "
                             "int32 and supports fewer than 2**23")
        w_list.append(np.ascontiguousarray(q.T))
        for key, val in (("src", -1 if c.source == plan.input_name else offsets[c.source]),
                         ("tgt", offsets[c.target]), ("tgt_n", c.weights.shape[0]), ("off", off),
                         ("shift", shift), ("exp", c.weight_exp), ("buf", n_buf), ("src_n", c.weights.shape[1])):
            cols[key].append(val)
        n_buf += c.weights.shape[0]
    if not plan.connections:  # numba needs a typed, non-empty list to infer its type
        w_list.append(np.zeros((0, 0), np.int8))
        for key in cols:
            cols[key].append(0)
    ints = {k: np.asarray(v, dtype=np.int64) for k, v in cols.items()}

    batch, steps, _ = inp.shape
    inp_idx, inp_ptr = _spike_lists(inp)
    out_s = np.zeros((batch, steps, n), np.uint8)
    shape_uv = (batch, steps, n) if record_uv else (0, 0, 0)
    out_u = np.zeros(shape_uv, np.int32)
    out_v = np.zeros(shape_uv, np.int32)
    _simulate(inp_idx, inp_ptr, keep_u, keep_v, vth6, bias, w_list, ints["src"], ints["tgt"], ints["tgt_n"],
              ints["off"], ints["shift"], ints["exp"], ints["buf"], max(n_buf, 1), ints["src_n"],
              out_s, out_u, out_v, record_uv)

    layers = {}
    for layer in plan.layers:
        sl = slice(offsets[layer.name], offsets[layer.name] + layer.size)
        layers[layer.name] = LayerRecord(
            spikes=out_s[:, :, sl],
            u=out_u[:, :, sl] if record_uv else None,
            v=out_v[:, :, sl] if record_uv else None,
        )
    return SimResult(backend="fixed", layers=layers, delays=plan.depths())
