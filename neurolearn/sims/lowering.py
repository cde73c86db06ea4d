"""Plan -> the named integer tables that the compiled kernels (:mod:`neurolearn.sims.fixed`,
:mod:`neurolearn.sims.learning`) read, and their recordings -> result records: the only code that knows the
tables' layout.

Every table is a ``NamedTuple`` of numpy arrays, one entry per neuron, connection, learning connection
(*learner*), product or factor; numba kernels read them by name (``lif.keep_u[i]``, ``conns.n_tgt[c]``).
Neurons are numbered layer after layer in plan order; connections in plan order; learners in plan order of their
connections; products and factors program after program.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numba
import numpy as np
from numba.typed import List

from neurolearn.dynamics.burst_neuron import PLAIN_VALENCE, BurstStream, integer_draws
from neurolearn.dynamics.conv import conv_runs, conv_sum_bound, geometry_row, kernel_by_input
from neurolearn.dynamics.dense import effective_weights, sign_mode, truncate_weights
from neurolearn.dynamics.lif import ACTIVATION_SHIFT, DECAY_BITS
from neurolearn.errors import InputError, QuantizationError, ShapeError
from neurolearn.ir.plan import LUT_SIZE, RESET_MODES, SIGN_MODES, BandTeacherPlan, Plan, Plasticity
from neurolearn.ir.program import FACTOR_BITS, TARGETS, LearningProgram
from neurolearn.sims.learning_engine import (
    DEPENDENCIES,
    FACTOR_VARS,
    TAG_1_RANGE,
    TAG_2_RANGE,
    TRACE_MAX,
    TraceState,
    TraceStreams,
    trace_params,
)
from neurolearn.sims.result import LayerRecord, SynapseRecord

_ONE = 2**DECAY_BITS   # decays are fractions of 4096


class InputSpikes(NamedTuple):
    """The spiking input channels of every (sample, step) as CSR lists: row r = sample * steps + step has
    channels idx[ptr[r]:ptr[r + 1]]."""

    idx: np.ndarray   # int64
    ptr: np.ndarray   # (batch * steps + 1,) int64


class LifNeurons(NamedTuple):
    """Lava's LIF (or neurolearn's NIRNeuron) per neuron, int64 (Lava's units)."""

    keep_u: np.ndarray   # 4096 - du - 1: u's keep per step, 1/4096
    keep_v: np.ndarray   # 4096 - dv
    vth6: np.ndarray     # vth << 6: spike where v > vth6
    bias: np.ndarray     # bias_mant << bias_exp, added to v every step
    v_reset: np.ndarray  # v after a spike (reset mode zero)
    mode: np.ndarray     # reset mode: index in RESET_MODES (neurolearn.dynamics.lif.lif_int_step)
    v_init: np.ndarray   # v before the first step


class BurstNeurons(NamedTuple):
    """neurolearn's burst neuron (:func:`~neurolearn.dynamics.burst_neuron.burst_int_step`) per neuron, int64;
    ``lut`` -1 marks a plain LIF (the other columns are then 0)."""

    lut: np.ndarray          # row of its burst probability table in ``luts``, -1: no dendrite
    keep_d: np.ndarray       # 4096 - dv_d
    lut_offset: np.ndarray   # v_d units
    lut_shift: np.ndarray    # bits
    pbar_shift: np.ndarray   # bits
    levels: np.ndarray       # valence levels
    draw: np.ndarray         # column of its random numbers in ``draws``
    pbar0: np.ndarray        # initial Pbar (2**15 = probability 1)
    ebar0: np.ndarray        # initial event-rate accumulator (rate_target << rate_shift)
    valence: np.ndarray      # (n, 10): the valence's constants (BurstPlan.valence_shape), zeros for plain LIF
    bias_gain: np.ndarray    # homeostatic bias (BurstPlan.bias_gain; 0: none) and its shift
    bias_shift: np.ndarray
    luts: np.ndarray         # (n_tables, 256): burst probability * 256
    draws: np.ndarray        # (steps, 2, n_burst): r_burst, r_valence of every burst neuron (BurstLIF's generator)


class TeacherTable(NamedTuple):
    """The teacher gating the input's teacher channels, ints: ``kind`` 0 none, 1 the band teacher
    (:mod:`neurolearn.dynamics.band_teacher`: channels up, down), 2 the class teacher
    (:mod:`neurolearn.dynamics.class_teacher`: channels up .. up + 2 classes - 1)."""

    kind: int
    first: int     # first neuron of the watched layer
    size: int      # its neurons
    up: int        # input channel of the (first) up requests
    down: int      # band teacher: input channel of the down requests
    lo: int        # band: events; class: events per neuron and step times per_class << shift
    hi: int
    classes: int   # class teacher: populations (1 for the band teacher)
    shift: int


class Connections(NamedTuple):
    """Per connection (Lava Dense), int64."""

    src: np.ndarray        # first neuron of the source layer; -1: the input
    n_src: np.ndarray      # sources (input channels read)
    tgt: np.ndarray        # first neuron of the target layer
    n_tgt: np.ndarray
    weight_exp: np.ndarray
    buf: np.ndarray        # its n_tgt activations (delivered next step) start here in the kernel's buffer
    port: np.ndarray       # 0 soma, 1 apical dendrite
    carries: np.ndarray    # 0 the source's events, 1 its bursts
    input_lo: np.ndarray   # first input channel read (``input_range``)
    kind: np.ndarray       # KINDS index: 0 Dense (PackedWeights), 1 Sparse or delayed (SourceLists), 2 Conv


KINDS = ("dense", "listed", "conv")


class SourceLists(NamedTuple):
    """Sparse and delayed connections (Lava Sparse, DelayDense, DelaySparse) by source neuron: source j of
    connection c reaches entries k in ptr[first[c] + j] .. ptr[first[c] + j + 1] - 1: target tgt[k], Lava's
    effective weight weight[k], delay[k] steps beyond the usual one. Activations wait in a ring of slots[c]
    steps x n_tgt starting at ring_at[c]."""

    first: np.ndarray     # per connection (-1: not listed)
    slots: np.ndarray     # per connection: max delay + 1
    ring_at: np.ndarray   # per connection
    ptr: np.ndarray       # int64
    tgt: np.ndarray       # int64
    weight: np.ndarray    # int64
    delay: np.ndarray     # int64


class ConvTables(NamedTuple):
    """Convolutions (Lava Conv): per connection its geometry row (:func:`~neurolearn.dynamics.conv.geometry_row`,
    zeros if not a conv), where its kernel (:func:`~neurolearn.dynamics.conv.kernel_by_input`) starts and where
    its run table (:func:`~neurolearn.dynamics.conv.conv_runs`) starts in ``ptr`` (pointing into ``runs``)."""

    geo: np.ndarray       # (n_conn, 15) int64
    kern_at: np.ndarray   # per connection
    kern: np.ndarray      # int32
    ptr_at: np.ndarray    # per connection
    ptr: np.ndarray       # int64, into runs
    runs: np.ndarray      # (n_runs, 3) int64


class PackedWeights(NamedTuple):
    """The fixed-point simulator's weights (:func:`pack_weights`) per connection: w = (row + offset) << shift."""

    rows: List             # of (n_src, n_tgt) int8: the weights of source j in row j
    offset: np.ndarray     # int64
    shift: np.ndarray      # int64


class Synapses(NamedTuple):
    """Every connection's synapses in one table, learners' first: synapse (i, j) (post i, pre j) of
    connection c at column at[c] + j * n_tgt + i."""

    wdt: np.ndarray       # (3, n_syn) int32: w (Lava's truncated weights), d (tag_2), t (tag_1)
    at: np.ndarray        # per connection, int64
    learner: np.ndarray   # per connection: its learner, -1 a plain Dense
    n_learning: int       # the learners' synapses are columns 0..n_learning - 1


class Learners(NamedTuple):
    """Per learner (a LearningDense): its program's constants and Lava's random streams."""

    conn: np.ndarray          # its connection, int64
    t_epoch: np.ndarray       # steps
    three_factor: np.ndarray  # 0/1
    k: np.ndarray             # u<k>'s k, -1: no u
    sign: np.ndarray          # SIGN_MODES index
    has_dt: np.ndarray        # 0/1: a dt rule
    p0: np.ndarray            # its products p0..p1 - 1
    p1: np.ndarray
    x_at: np.ndarray          # its pres' x traces and tx start here in TraceState
    y_at: np.ndarray          # its posts' y traces and ty
    y_in_at: np.ndarray       # three-factor from the input: its posts' column in y_in; else -1
    imp_int: np.ndarray       # (n, 5) int64 per trace x1 x2 y1 y2 y3: impulse integer part
    imp_frac: np.ndarray      # (n, 5) int64: impulse fraction, 1/256
    keep: np.ndarray          # (n, 5) float64: exp(-1/tau) per step
    zero_tau: np.ndarray      # (n, 5) bool
    randoms: np.ndarray       # (n, 4, 2 steps + 1) float64: x decay, x impulse, y decay, y impulse (TraceStreams)
    rounding: np.ndarray      # (n, epochs + 1) float64: the weight rounding stream


class Products(NamedTuple):
    """Per product of every learner's rules, int64."""

    target: np.ndarray       # 0 w, 1 d, 2 t
    dependency: np.ndarray   # DEPENDENCIES index: 0 x0, 1 y0, 2 u
    mantissa: np.ndarray
    shift: np.ndarray        # Lava's hidden right shift, bits
    scale_exp: np.ndarray    # exponent + 7 (left shift)
    f0: np.ndarray           # its factors f0..f1 - 1
    f1: np.ndarray
    reads_wdt: np.ndarray    # 0/1: a factor is the synapse's own w, d or t


class Factors(NamedTuple):
    """Per factor of every product."""

    var: np.ndarray     # FACTOR_VARS index, int64
    exact: np.ndarray   # bool: an integer constant
    sgn: np.ndarray     # bool: sgn(var + const)
    bits: np.ndarray    # int64: width, bits (clip to -2**bits .. 2**bits - 1)
    const: np.ndarray   # float64


class FixedTables(NamedTuple):
    """What the fixed-point simulator's kernel reads."""

    lif: LifNeurons
    conns: Connections
    weights: PackedWeights
    lists: SourceLists
    convs: ConvTables


class LearningTables(NamedTuple):
    """What the learning simulator's kernel reads."""

    lif: LifNeurons
    bursts: BurstNeurons
    teacher: TeacherTable
    conns: Connections
    synapses: Synapses
    learners: Learners
    products: Products
    factors: Factors
    y_in: np.ndarray   # (batch, steps, 3, n) int64: third factors from the input (y_traces), learners side by side


class ChipState(NamedTuple):
    """Everything a learning run carries from one step to the next (one sample, or one continuous stream run
    chunk by chunk), int64 unless said: neurons, activations in flight, synapses, traces, the teacher."""

    u: np.ndarray       # (n,)
    v: np.ndarray
    v_d: np.ndarray
    pbar: np.ndarray
    ebar: np.ndarray
    hb: np.ndarray      # the burst neurons' homeostatic bias accumulators (the soma adds hb >> bias_shift)
    abuf: np.ndarray    # (n_buf,): every connection's activations, delivered next step (Connections.buf)
    syn: np.ndarray     # (3, n_syn) int32: w, d, t (Synapses.wdt)
    traces: TraceState
    teach: np.ndarray   # (3 + classes,): asked, count (band) or steps (class), gate (band), class counts
    step: np.ndarray    # (1,): steps run so far (the burst neurons' valence halvings count from the first)


class LayerOutputs(NamedTuple):
    """Recordings of every neuron, (batch, steps, n); (0, 0, 0) where not recorded."""

    spikes: np.ndarray   # uint8
    u: np.ndarray        # int32
    v: np.ndarray        # int32
    bursts: np.ndarray   # uint8
    v_d: np.ndarray      # int32


class SynapseOutputs(NamedTuple):
    """Recordings of the learners after the recorded steps: step t to row ``row[t]`` (-1: none)."""

    row: np.ndarray   # (steps,) int64
    wdt: np.ndarray   # (batch, R, 3, n_learning) int32
    x: np.ndarray     # (batch, R, 2, n_x) int32
    y: np.ndarray     # (batch, R, 3, n_y) int32
    tx: np.ndarray    # (batch, R, n_x) int32
    ty: np.ndarray    # (batch, R, n_y) int32


def _table(cls, entries: Sequence[tuple], dtypes: Mapping[str, type] | None = None, **given) -> NamedTuple:
    """The named table ``cls``: the fields not ``given`` from one tuple per entry (int64 columns unless
    ``dtypes`` says otherwise)."""
    names = [name for name in cls._fields if name not in given]
    cols = list(zip(*entries)) or [()] * len(names)
    return cls(**{name: np.array(col, (dtypes or {}).get(name, np.int64)) for name, col in zip(names, cols)},
               **given)


# ---- inputs, neurons, connections: both kernels -----------------------------------------------------

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


def input_spikes(inp: np.ndarray) -> InputSpikes:
    """The input spikes (batch, steps, n_in) uint8 (:func:`~neurolearn.sims.result.as_batch`) as CSR lists."""
    return InputSpikes(*_spike_lists(inp))


def layer_offsets(plan: Plan) -> dict[str, int]:
    """The first neuron of each layer (layers numbered one after another in plan order)."""
    sizes = np.cumsum([0] + [layer.size for layer in plan.layers])
    return {layer.name: int(at) for layer, at in zip(plan.layers, sizes)}


def _per_neuron(plan: Plan, value) -> np.ndarray:
    """value(layer) (a scalar or one per neuron) for every neuron, int64."""
    return np.concatenate([np.zeros(0, np.int64)] + [np.full(L.size, value(L), np.int64) for L in plan.layers])


def _lif_neurons(plan: Plan) -> LifNeurons:
    """Every neuron's LIF parameters as Lava's fixed-point model uses them."""
    return LifNeurons(keep_u=_per_neuron(plan, lambda L: _ONE - (L.du + 1)),
                      keep_v=_per_neuron(plan, lambda L: _ONE - L.dv),
                      vth6=_per_neuron(plan, lambda L: L.vth << ACTIVATION_SHIFT),
                      bias=_per_neuron(plan, lambda L: L.bias),
                      v_reset=_per_neuron(plan, lambda L: L.v_reset),
                      mode=_per_neuron(plan, lambda L: RESET_MODES.index(L.mode)),
                      v_init=_per_neuron(plan, lambda L: L.v_init))


def plan_connections(plan: Plan) -> Connections:
    """Every connection's endpoints and exponent; activation buffers one after another."""
    offsets, rows, buf = layer_offsets(plan), [], 0
    for c in plan.connections:
        n_tgt, n_src = c.shape
        kind = "conv" if c.conv is not None else "dense" if c.sparse is None and c.delays is None else "listed"
        rows.append((-1 if c.source == plan.input_name else offsets[c.source], n_src, offsets[c.target], n_tgt,
                     c.weight_exp, buf, c.port == "apical", c.carries == "bursts", (c.input_range or (0,))[0],
                     KINDS.index(kind)))
        buf += n_tgt
    return _table(Connections, rows)


def layer_outputs(batch: int, steps: int, n: int, record_uv: bool, bursts: bool) -> LayerOutputs:
    """Zeroed recordings: spikes always; u, v (and v_d if ``bursts``) if ``record_uv``; bursts if ``bursts``."""
    full, none = (batch, steps, n), (0, 0, 0)
    uv, b = full if record_uv else none, full if bursts else none
    vd = full if record_uv and bursts else none
    return LayerOutputs(np.zeros(full, np.uint8), np.zeros(uv, np.int32), np.zeros(uv, np.int32),
                        np.zeros(b, np.uint8), np.zeros(vd, np.int32))


def layer_records(plan: Plan, out: LayerOutputs) -> dict[str, LayerRecord]:
    """Each layer's part of the recordings (bursts and v_d of burst layers only); None where not recorded."""
    def part(arr, sl):
        return arr[:, :, sl] if arr.shape == out.spikes.shape else None

    records = {}
    for layer, at in zip(plan.layers, layer_offsets(plan).values()):
        sl, burst = slice(at, at + layer.size), layer.burst is not None
        records[layer.name] = LayerRecord(spikes=part(out.spikes, sl), u=part(out.u, sl), v=part(out.v, sl),
                                          bursts=part(out.bursts, sl) if burst else None,
                                          v_d=part(out.v_d, sl) if burst else None)
    return records


# ---- the fixed-point simulator ---------------------------------------------------------------------

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
    if packed.min(initial=0) < -128 or packed.max(initial=0) > 127:
        raise QuantizationError(f"weights in [{w.min()}, {w.max()}] do not pack into int8")
    return packed.astype(np.int8), offset, shift


def _source_lists(plan: Plan, kinds) -> SourceLists:
    """The sparse and delayed connections' synapses by source (Lava's effective weights; zero weights dropped:
    they add nothing to any delay's sum)."""
    per, ptrs, tgts, weights, delays, rows, ring = [], [np.zeros(0, np.int64)], [], [], [], 0, 0
    for c, kind in zip(plan.connections, kinds):
        if kind != KINDS.index("listed"):
            per.append((-1, 1, 0))
            continue
        n_tgt, n_src = c.shape
        w = effective_weights(c.weights, c.num_weight_bits)
        d = np.zeros_like(w) if c.delays is None else c.delays
        if c.sparse is not None:
            tgt, src = c.sparse.rows, c.sparse.cols
        else:
            tgt, src = np.nonzero(w)
            w, d = w[tgt, src], d[tgt, src]
        keep = w != 0
        order = np.argsort(src[keep], kind="stable")
        tgt, src, w, d = tgt[keep][order], src[keep][order], w[keep][order], d[keep][order]
        slots = int(c.delays.max(initial=0)) + 1 if c.delays is not None else 1
        per.append((rows, slots, ring))
        ptrs.append(sum(map(len, tgts)) + np.searchsorted(src, np.arange(n_src + 1)))
        tgts.append(tgt)
        weights.append(w)
        delays.append(d)
        rows, ring = rows + n_src + 1, ring + slots * n_tgt
    cat = lambda arrs: np.concatenate([np.zeros(0, np.int64)] + arrs).astype(np.int64)  # noqa: E731
    return _table(SourceLists, per, ptr=cat(ptrs), tgt=cat(tgts), weight=cat(weights), delay=cat(delays))


def _conv_tables(plan: Plan) -> ConvTables:
    """The convolutions' geometry rows, kernels (checked: exact in int32, as Lava's sums) and run tables."""
    geo, at, kerns = np.zeros((len(plan.connections), 15), np.int64), [], [np.zeros(0, np.int32)]
    ptr_at, ptrs, runs = [], [np.zeros(0, np.int64)], [np.zeros((0, 3), np.int64)]
    size, n_ptr, n_runs = 0, 0, 0
    for i, c in enumerate(plan.connections):
        at.append(size)
        ptr_at.append(n_ptr)
        if c.conv is None:
            continue
        if conv_sum_bound(c.conv) >= 2**31 - 2**23:
            raise ShapeError(f"connection '{c.name}': a kernel of {c.conv.kernel} x "
                             f"{c.conv.in_shape[0] // c.conv.groups}"
                             " inputs per output; the simulator (and Lava's int32 sums) support sums below 2**31")
        geo[i] = geometry_row(c.conv)
        kerns.append(kernel_by_input(c.weights, c.conv))
        size += kerns[-1].size
        ptr, run = conv_runs(c.conv)
        ptrs.append(ptr + n_runs)
        runs.append(run)
        n_ptr, n_runs = n_ptr + ptr.size, n_runs + len(run)
    return ConvTables(geo, np.array(at, np.int64), np.concatenate(kerns), np.array(ptr_at, np.int64),
                      np.concatenate(ptrs), np.concatenate(runs))


def fixed_tables(plan: Plan) -> FixedTables:
    """The fixed-point simulator's tables (a plan without bursts, apical ports, input ranges, teacher)."""
    conns = plan_connections(plan)
    rows, packing = List(), []
    for c, kind in zip(plan.connections, conns.kind):
        if kind != KINDS.index("dense"):
            rows.append(np.zeros((0, 0), np.int8))
            packing.append((0, 0))
            continue
        if c.weights.shape[1] * 256 >= 2**31:
            raise ShapeError(f"connection '{c.name}': {c.weights.shape[1]} sources; the simulator sums in "
                             "int32 and supports fewer than 2**23")
        q, offset, shift = pack_weights(c.weights, c.num_weight_bits)
        rows.append(np.ascontiguousarray(q.T))
        packing.append((offset, shift))
    if not plan.connections:  # numba needs a typed, non-empty list to infer its type
        rows.append(np.zeros((0, 0), np.int8))
    return FixedTables(_lif_neurons(plan), conns, _table(PackedWeights, packing, rows=rows),
                       _source_lists(plan, conns.kind), _conv_tables(plan))


# ---- the learning simulator ------------------------------------------------------------------------

def _burst_neurons(plan: Plan) -> BurstNeurons:
    """Every neuron's dendrite and burst generator (zeros and lut -1 for plain LIF neurons); no random numbers
    yet (:class:`ChipStreams` draws them)."""
    bursty = [layer for layer in plan.layers if layer.burst is not None]
    lut_of = {layer.name: k for k, layer in enumerate(bursty)}
    draw_at = dict(zip(lut_of, np.cumsum([0] + [layer.size for layer in bursty])))

    def per_neuron(value, plain=0):
        return _per_neuron(plan, lambda L: plain if L.burst is None else value(L))

    shapes = [np.zeros((L.size, len(PLAIN_VALENCE)), np.int64) if L.burst is None else
              np.tile(np.array(L.burst.valence_shape(), np.int64), (L.size, 1)) for L in plan.layers]
    return BurstNeurons(lut=per_neuron(lambda L: lut_of[L.name], plain=-1),
                        keep_d=per_neuron(lambda L: _ONE - L.burst.dv_d),
                        lut_offset=per_neuron(lambda L: L.burst.lut_offset),
                        lut_shift=per_neuron(lambda L: L.burst.lut_shift),
                        pbar_shift=per_neuron(lambda L: L.burst.pbar_shift),
                        levels=per_neuron(lambda L: L.burst.valence_levels),
                        draw=per_neuron(lambda L: draw_at[L.name] + np.arange(L.size)),
                        pbar0=per_neuron(lambda L: L.burst.pbar_init),
                        ebar0=per_neuron(lambda L: L.burst.rate_target << L.burst.rate_shift),
                        bias_gain=per_neuron(lambda L: L.burst.bias_gain),
                        bias_shift=per_neuron(lambda L: L.burst.bias_shift),
                        valence=np.concatenate([np.zeros((0, len(PLAIN_VALENCE)), np.int64)] + shapes),
                        luts=np.array([layer.burst.lut for layer in bursty], np.int64).reshape(-1, LUT_SIZE),
                        draws=np.zeros((0, 2, sum(layer.size for layer in bursty)), np.int64))


def teacher_table(plan: Plan) -> TeacherTable:
    """The plan's teacher (``kind`` 0: none)."""
    t = plan.teacher
    if t is None:
        return TeacherTable(0, 0, 0, 0, 0, 0, 0, 1, 0)
    first, size = layer_offsets(plan)[t.layer], plan.layer(t.layer).size
    if isinstance(t, BandTeacherPlan):
        return TeacherTable(1, first, size, t.up, t.down, t.lo, t.hi, 1, 0)
    return TeacherTable(2, first, size, t.first, -1, t.lo, t.hi, t.classes, t.shift)


class ChipStreams:
    """A learning plan's random numbers, continued chunk by chunk (the same numbers however the steps are
    grouped): every burst layer's draws (BurstLIF's generator) and every learner's trace and weight-rounding
    streams (Lava's, :class:`~neurolearn.sims.learning_engine.TraceStreams`)."""

    def __init__(self, plan: Plan, learning: Mapping[str, Plasticity]):
        self.bursts = [BurstStream(L.burst.seed, L.size) for L in plan.layers if L.burst is not None]
        self.traces = [TraceStreams(learning[c.name].program) for c in plan.connections if c.name in learning]

    def tables(self, net: LearningTables, steps: int) -> LearningTables:
        """``net`` with the random numbers of the next ``steps`` steps (a multiple of every learner's t_epoch)."""
        draws = np.concatenate([np.zeros((steps, 2, 0), np.int64)] + [integer_draws(b.take(steps))
                                                                          for b in self.bursts], axis=2)
        streams = [t.take(steps) for t in self.traces]
        n_l, n_round = len(streams), max([len(s[-1]) for s in streams], default=1)
        randoms = np.array([np.stack(s[:4]) for s in streams], np.float64).reshape(n_l, 4, 2 * steps + 1)
        rounding = np.zeros((n_l, n_round))
        for l, s in enumerate(streams):
            rounding[l, :len(s[-1])] = s[-1]
        return net._replace(bursts=net.bursts._replace(draws=draws),
                            learners=net.learners._replace(randoms=randoms, rounding=rounding))


def _tags(pl: Plasticity, name: str, which: str, shape, rng) -> np.ndarray:
    """A learner's initial tag_1 or tag_2, checked, as (n_pre, n_post) int32."""
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
    """A learner's third factors from the input (y_traces[name]), checked, as (batch, steps, 3, n_post)."""
    if y is None:
        raise InputError(f"connection '{name}': a three-factor program needs y_traces['{name}'] of shape "
                         f"(steps, 3, {n_post}): y1, y2, y3 from the post neuron every step")
    arr = np.asarray(y)
    arr = arr[None] if arr.ndim == 3 else arr
    if arr.shape[1:] != (steps, 3, n_post) or arr.shape[0] not in (1, batch):
        raise ShapeError(f"y_traces['{name}']: shape {np.shape(y)}, expected ([batch,] {steps}, 3, {n_post})")
    if not np.issubdtype(arr.dtype, np.integer) or arr.min(initial=0) < 0 or arr.max(initial=0) > TRACE_MAX:
        raise InputError(f"y_traces['{name}']: must be integers in [0, {TRACE_MAX}] (7-bit traces)")
    return np.ascontiguousarray(np.broadcast_to(arr, (batch, steps, 3, n_post)), dtype=np.int64)


def _program_rows(prog: LearningProgram, n_prod: int, n_fac: int):
    """Rows of the product and factor tables for one program (products numbered from n_prod, factors n_fac)."""
    prods, facs = [], []
    for target, products in prog.products.items():
        for p in products:
            f0 = n_fac + len(facs)
            prods.append((TARGETS.index(target), DEPENDENCIES.index(p.dependency), p.mantissa, p.shift,
                          p.exponent + 7, f0, f0 + len(p.factors), any(f.var in ("w", "d", "t") for f in p.factors)))
            facs += [(FACTOR_VARS.index(f.var), float(f.const) == int(f.const), f.sgn, FACTOR_BITS[f.var],
                      float(f.const)) for f in p.factors]
    return prods, facs


def _synapses(plan: Plan, learning: Mapping[str, Plasticity]) -> Synapses:
    """Every connection's w, d, t: plain Dense as Lava's Dense uses them (d, t 0), learners as LearningDense
    starts (weights truncated, not clipped; tags checked)."""
    at, wdt, n_syn = {}, [np.zeros((3, 0), np.int64)], 0
    for c in sorted(plan.connections, key=lambda c: c.name not in learning):  # learners first, in plan order
        n_post, n_pre = c.weights.shape
        at[c.name], n_syn = n_syn, n_syn + n_pre * n_post
        pl = learning.get(c.name)
        if pl is None:
            zeros = np.zeros(n_pre * n_post, np.int64)
            wdt.append(np.stack([effective_weights(c.weights, c.num_weight_bits).T.reshape(-1), zeros, zeros]))
        else:
            wdt.append(np.stack([truncate_weights(c.weights, pl.sign_mode, c.num_weight_bits).T.reshape(-1),
                                 _tags(pl, c.name, "tag_2", (n_post, n_pre), TAG_2_RANGE).reshape(-1),
                                 _tags(pl, c.name, "tag_1", (n_post, n_pre), TAG_1_RANGE).reshape(-1)]))
    learners = [c.name for c in plan.connections if c.name in learning]
    return Synapses(wdt=np.concatenate(wdt, axis=1).astype(np.int32),
                    at=np.array([at[c.name] for c in plan.connections], np.int64),
                    learner=np.array([learners.index(c.name) if c.name in learning else -1 for c in plan.connections],
                                     np.int64),
                    n_learning=sum(c.weights.size for c in plan.connections if c.name in learning))


def _learners(plan: Plan, learning: Mapping[str, Plasticity], y_traces: Mapping[str, np.ndarray], batch: int,
              steps: int) -> tuple[Learners, Products, Factors, np.ndarray]:
    """The learners in plan order (their random streams empty: :class:`ChipStreams` draws them), their products and
    factors, and the third factors from the input."""
    rows, traces, prods, facs, y3 = [], [], [], [], []
    n_x = n_y = n_y3 = 0
    for ci, c in enumerate(plan.connections):
        pl = learning.get(c.name)
        if pl is None:
            continue
        prog, (n_post, n_pre) = pl.program, c.weights.shape
        p_rows, f_rows = _program_rows(prog, len(prods), len(facs))
        from_input = prog.three_factor and plan.layer(c.target).burst is None
        rows.append((ci, prog.t_epoch, prog.three_factor, -1 if prog.k is None else prog.k,
                     SIGN_MODES.index(pl.sign_mode), "dt" in prog.products, len(prods), len(prods) + len(p_rows),
                     n_x, n_y, n_y3 if from_input else -1))
        prods += p_rows
        facs += f_rows
        traces.append(trace_params(prog))
        if from_input:
            y3.append(_third_factors(y_traces.get(c.name), c.name, batch, steps, n_post))
            n_y3 += n_post
        n_x += n_pre
        n_y += n_post
    n_l = len(rows)
    per_trace = {name: np.array([t[i] for t in traces], dtype).reshape(n_l, 5) for i, (name, dtype) in
                 enumerate((("imp_int", np.int64), ("imp_frac", np.int64), ("keep", np.float64),
                            ("zero_tau", np.bool_)))}
    learners = _table(Learners, rows, **per_trace, rounding=np.zeros((n_l, 1)), randoms=np.zeros((n_l, 4, 1)))
    return (learners, _table(Products, prods), _table(Factors, facs, {"exact": np.bool_, "sgn": np.bool_,
                                                                      "const": np.float64}),
            np.concatenate(y3, axis=3) if y3 else np.zeros((batch, steps, 3, 0), np.int64))


def learning_tables(plan: Plan, learning: Mapping[str, Plasticity], y_traces: Mapping[str, np.ndarray], batch: int,
                    steps: int) -> LearningTables:
    """The learning simulator's tables: ``learning`` (connection name -> Plasticity) learn as LearningDense,
    the other connections are plain Dense; third factors of three-factor learners onto plain LIF layers from
    ``y_traces`` (checked); the random numbers of the first ``steps`` steps."""
    names = [c.name for c in plan.connections]
    for name in sorted(set(learning) - set(names)):
        raise InputError(f"learning: connection '{name}' is not in the plan (it has {', '.join(names)})")
    learners, products, factors, y_in = _learners(plan, learning, y_traces, batch, steps)
    net = LearningTables(_lif_neurons(plan), _burst_neurons(plan), teacher_table(plan), plan_connections(plan),
                         _synapses(plan, learning), learners, products, factors, y_in)
    return ChipStreams(plan, learning).tables(net, steps)


def synapse_outputs(record: bool | Sequence[int], batch: int, steps: int, tables: LearningTables) -> SynapseOutputs:
    """Zeroed recordings of the learners after every step (``record`` True), the last (False) or the given
    steps (0-based, ascending)."""
    if record is True or record is False:
        at = np.arange(steps) if record else np.array([steps - 1])
    else:
        at = np.asarray(record, np.int64)
        if at.ndim != 1 or not at.size or at.min() < 0 or at.max() >= steps or np.any(np.diff(at) <= 0):
            raise InputError(f"record: steps must be ascending indices in 0..{steps - 1}")
    row = np.full(steps, -1, np.int64)
    row[at] = np.arange(len(at))
    ln, conns = tables.learners, tables.conns
    n_x, n_y = int(conns.n_src[ln.conn].sum()), int(conns.n_tgt[ln.conn].sum())
    return SynapseOutputs(row, *(np.zeros((batch, len(at)) + shape, np.int32) for shape in
                                 ((3, tables.synapses.n_learning), (2, n_x), (3, n_y), (n_x,), (n_y,))))


def no_synapse_outputs(steps: int) -> SynapseOutputs:
    """Recordings of no step (a run that only needs the layers' events)."""
    return SynapseOutputs(np.full(steps, -1, np.int64), np.zeros((1, 0, 3, 0), np.int32),
                          np.zeros((1, 0, 2, 0), np.int32),
                          np.zeros((1, 0, 3, 0), np.int32), np.zeros((1, 0, 0), np.int32),
                          np.zeros((1, 0, 0), np.int32))


def synapse_records(plan: Plan, tables: LearningTables, rec: SynapseOutputs) -> dict[str, SynapseRecord]:
    """Each learner's part of the recordings, by connection name (plan order)."""
    ln, conns, at = tables.learners, tables.conns, tables.synapses.at
    batch, n_rec = rec.wdt.shape[:2]
    records = {}
    for l, c in enumerate(ln.conn):
        n_pre, n_post, base, xo, yo = conns.n_src[c], conns.n_tgt[c], at[c], ln.x_at[l], ln.y_at[l]
        mats = rec.wdt[:, :, :, base:base + n_pre * n_post].reshape(batch, n_rec, 3, n_pre, n_post)
        mats = mats.transpose(0, 1, 2, 4, 3)
        records[plan.connections[c].name] = SynapseRecord(
            weights=mats[:, :, 0], tag_2=mats[:, :, 1], tag_1=mats[:, :, 2], x=rec.x[:, :, :, xo:xo + n_pre],
            y=rec.y[:, :, :, yo:yo + n_post], tx=rec.tx[:, :, xo:xo + n_pre], ty=rec.ty[:, :, yo:yo + n_post])
    return records
