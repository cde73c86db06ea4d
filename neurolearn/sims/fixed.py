"""neurolearn's fixed-point simulator: bit-exact with Lava 0.10.0's ``Loihi2SimCfg(select_tag="fixed_pt")``.

It runs a :class:`~neurolearn.ir.plan.Plan` (Lava ``Dense``, ``Sparse``, ``DelayDense``, ``DelaySparse``, ``Conv``
and ``LIF`` processes and an input ``RingBuffer``) over a batch of independent samples in one compiled loop: no
per-step messaging, integer arithmetic identical to ``PyLifModelBitAcc``, ``PyDenseModelBitAcc``,
``PySparseModelBitAcc``, ``PyDelayDenseModelBitAcc``, ``PyDelaySparseModelBitAcc`` and ``PyConvModelFixed``;
event-driven: only the rows (kernel slices) of the sources that spiked are read:

* Dense: weights clipped to 8 bits and LSB-truncated by sign mode and ``num_weight_bits`` (once);
  the summed activation is shifted by ``weight_exp`` (floor for negative exponents) and reaches the
  target one step later (every Dense adds one step of delay), wrapped to int32 as Lava's channel does.
  Sparse: the same on the stored weights. DelayDense and DelaySparse: the weights of each delay d are summed
  and shifted apart and reach the target 1 + d steps later.
* Conv: the kernel as given (no ``weight_exp``, no truncation), sums wrapped to 24 bits, one step later
  (:mod:`neurolearn.dynamics.conv`).
* LIF: ``u = trunc0(u * (4096 - du - 1) / 4096) + (a_in << 6)``, wrapped once at +-2**23;
  ``v = trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp)``, saturated to 24 bits;
  spike where ``v > vth << 6``; ``v = 0`` after a spike. ``trunc0`` rounds toward zero. v starts at the
  layer's ``v_init`` (Lava's ``v`` argument), u at 0.
* neurolearn's NIRNeuron (the other reset modes, readouts, dv = 4096): as LIF, then the layer's reset mode
  (:func:`neurolearn.dynamics.lif.lif_int_step`, the step both this kernel and the Lava model call).
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from neurolearn.dynamics.conv import conv_gather, conv_scatter
from neurolearn.dynamics.lif import lif_int_step, wrap32
from neurolearn.ir.features import require
from neurolearn.ir.plan import Plan
from neurolearn.sims.lowering import fixed_tables, input_spikes, layer_outputs, layer_records
from neurolearn.sims.result import SimResult, as_batch


@numba.njit(cache=True, inline="always")
def deliver(a_in, abuf, conns):
    """a_in[port, neuron] = the wrap32 sum of what the Dense processes into it computed on the previous step
    (abuf: each connection's n_tgt activations at conns.buf)."""
    a_in[:] = 0
    for c in range(conns.tgt.size):
        p, o, ob = conns.port[c], conns.tgt[c], conns.buf[c]
        for j in range(conns.n_tgt[c]):
            a_in[p, o + j] = wrap32(a_in[p, o + j] + abuf[ob + j])


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


@numba.njit(cache=True)
def _shifted(acc, e):
    """Lava's weight_exp on a summed activation: ``acc << e``, or ``acc >> -e`` (floor)."""
    return acc << e if e >= 0 else acc >> (-e)


@numba.njit(cache=True)
def _listed(c, t, rows, count, nt, lists, e, ring, acc, used):
    """A Sparse or delayed connection at step t: the spiking sources' weights summed per delay d, shifted, added
    to the activation ring for step t + 1 + d (wrap32, as Lava's int32 buffer)."""
    first, slots, at = lists.first[c], lists.slots[c], lists.ring_at[c]
    for k in range(count):
        for s in range(lists.ptr[first + rows[k]], lists.ptr[first + rows[k] + 1]):
            d = lists.delay[s]
            acc[d * nt + lists.tgt[s]] += lists.weight[s]
            used[d] = True
    for d in range(slots):
        if used[d]:
            used[d] = False
            o = at + ((t + 1 + d) % slots) * nt
            for j in range(nt):
                ring[o + j] = wrap32(ring[o + j] + _shifted(acc[d * nt + j], e))
                acc[d * nt + j] = 0


@numba.njit(parallel=True, cache=True)
def _simulate(inp, lif, conns, weights, lists, convs, out):
    """All samples in parallel; each sample runs in an ordinary (fully optimized) compiled function. (The
    tables of FixedTables one by one: numba's parallel loops take no nested tuples.)"""
    for b in numba.prange(out.spikes.shape[0]):
        _simulate_sample(b, inp, lif, conns, weights, lists, convs, out)


@numba.njit(cache=True)
def _simulate_sample(b, inp, lif, conns, weights, lists, convs, out):
    """Sample b, every step: its input (InputSpikes) through the network (LifNeurons, Connections,
    PackedWeights, SourceLists, ConvTables) -> the recordings (LayerOutputs)."""
    _, steps, n = out.spikes.shape
    record_uv = out.u.size > 0
    n_conn = conns.tgt.size
    u = np.zeros(n, np.int64)
    v = lif.v_init.copy()
    a_in = np.zeros((1, n), np.int64)  # soma only
    abuf = np.zeros(conns.n_tgt.sum(), np.int64)  # every connection's activations, at conns.buf
    acc = np.zeros(n, np.int32)  # exact: |sum| <= 128 * sources < 2**31 (checked by the lowering)
    acc16 = np.zeros(n, np.int16)
    max_in = 0
    for r in range(inp.ptr.size - 1):
        max_in = max(max_in, inp.ptr[r + 1] - inp.ptr[r])
    rows = np.zeros(max(n, max_in), np.int64)  # the source rows that spiked, per connection
    s = np.zeros(n, np.bool_)
    fired = np.zeros(n, np.int64)  # indices of neurons that spiked this step
    n_ring, n_acc = 0, 0
    for c in range(n_conn):
        n_ring += lists.slots[c] * conns.n_tgt[c] if lists.first[c] >= 0 else 0
        n_acc = max(n_acc, lists.slots[c] * conns.n_tgt[c] if lists.first[c] >= 0 else 0)
    ring = np.zeros(n_ring, np.int64)  # listed connections' pending activations, a ring of steps each
    acc_d = np.zeros(n_acc, np.int64)  # a listed connection's sums per delay
    used = np.zeros(64, np.bool_)
    acc_c = np.zeros(n, np.int32)  # a convolution's output map (H_out, W_out, C_out)
    quiet = np.zeros(n_conn, np.bool_)  # a convolution's activations are all 0
    for t in range(steps):
        # 1. every LIF receives what its connections computed for this step
        for c in range(n_conn):
            if lists.first[c] >= 0:
                o, ob, nt = lists.ring_at[c] + (t % lists.slots[c]) * conns.n_tgt[c], conns.buf[c], conns.n_tgt[c]
                for j in range(nt):
                    abuf[ob + j] = ring[o + j]
                    ring[o + j] = 0
        deliver(a_in, abuf, conns)
        # 2. neuron dynamics: u wraps once at +-2**23, v saturates at 24 bits, then the layer's reset
        for i in range(n):
            s[i], u[i], v[i] = lif_int_step(u[i], v[i], a_in[0, i], lif.keep_u[i], lif.keep_v[i], lif.bias[i],
                                            lif.vth6[i], lif.v_reset[i], lif.mode[i])
        n_fired = 0
        for i in range(n):
            if s[i]:
                fired[n_fired] = i
                n_fired += 1
        if record_uv:
            for i in range(n):
                out.u[b, t, i] = u[i]
                out.v[b, t, i] = v[i]
        for k in range(n_fired):
            out.spikes[b, t, fired[k]] = 1
        # 3. every connection sums the weights of this step's spikes (delivered on the next step, or later)
        r = b * steps + t
        for c in range(n_conn):
            nt, src = conns.n_tgt[c], conns.src[c]
            if src < 0:  # the input
                count = inp.ptr[r + 1] - inp.ptr[r]
                for k in range(count):
                    rows[k] = inp.idx[inp.ptr[r] + k]
            else:
                count = 0
                for k in range(n_fired):
                    f = fired[k] - src
                    if 0 <= f < conns.n_src[c]:
                        rows[count] = f
                        count += 1
            kind = conns.kind[c]
            if kind == 1:
                _listed(c, t, rows, count, nt, lists, conns.weight_exp[c], ring, acc_d, used)
                continue
            if kind == 2:
                if count or not quiet[c]:
                    geo = convs.geo[c]
                    kern, ptr = convs.kern[convs.kern_at[c]:], convs.ptr[convs.ptr_at[c]:]
                    conv_scatter(acc_c, kern, rows, count, geo, ptr, convs.runs)
                    conv_gather(abuf[conns.buf[c]:], acc_c, geo)
                    quiet[c] = count == 0
                continue
            _sum_rows(weights.rows[c], rows, count, nt, acc, acc16)
            e, sh, off, ob = conns.weight_exp[c], weights.shift[c], weights.offset[c] * count, conns.buf[c]
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
    batch, steps, _ = inp.shape
    out = layer_outputs(batch, steps, sum(layer.size for layer in plan.layers), record_uv, bursts=False)
    net = fixed_tables(plan)
    run = functools.partial(_simulate_sample, 0) if batch == 1 else _simulate   # one sample: no thread pool to wake
    run(input_spikes(inp), net.lif, net.conns, net.weights, net.lists, net.convs, out)
    return SimResult(backend="fixed", layers=layer_records(plan, out), delays=plan.depths())
