"""Place a compiled network on the cores of a chip or board.

Each layer's neurons are cut into contiguous chunks that fit one core (neurons, synaptic memory of
their incoming synapses, input axons); partly filled chunks of different layers then share cores
(first-fit decreasing). Synapses live on the core of their target neuron, as on Loihi.

A neuron needs one output axon per core that holds any of its targets (at most one per synapse it
makes); a burst layer's bursts travel on axons of their own. Synaptic memory model (per connection, the
cheaper of the two): dense ``n_pre * w_bits`` per target neuron, or sparse ``nnz * (w_bits + index_bits)``;
``w_bits`` is ``num_weight_bits`` plus a sign bit for mixed-sign matrices.

Learning connections (``plan.learning``) are dense: every (post, pre) pair learns, zeros too. A learning
synapse holds the full learnable weight (``weight_bits``, plus a sign bit in sign mode 'mixed') and its tags
(``learning_extra_bits``). Traces share the core's memory: every core holding part of a learning
connection's target layer keeps each presynaptic neuron's x1, x2 and spike time (``pre_traces * trace_bits +
epoch_time_bits``), and each target neuron its y1..y3 and spike time (``post_traces * trace_bits +
epoch_time_bits``), per learning connection as in Lava's LearningDense. Neuron state: every neuron takes
its model's state variables (:data:`NEURON_STATE`), each in whole ``state_word_bits``
words, from the core's ``neuron_state_words_per_core``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.errors import HardwareFitError
from neurolearn.hardware.description import Chip, Target
from neurolearn.ir.plan import Plan, Plasticity

# Per-neuron state variables (bits: the fixed-point models' precisions) of Lava's LIF and of neurolearn's
# BurstLIF (neurolearn/lava/processes/models.py); biases are configuration, not state. ``draw``: the burst
# draw's random state (model: one word per neuron; Loihi 2's random source for microcode is not public).
LIF_STATE = {"u": 24, "v": 24}
BURST_STATE = {**LIF_STATE, "v_d": 24, "pbar": 16, "ebar": 32, "draw": 24}
# what a BurstLIF option adds: a homeostatic bias (bias_gain > 0) its accumulator; a valence halving a step
# counter modulo the halving (24 bits) and the halvings so far (0..15) (counted per neuron: whether Loihi 2's
# microcode can read a shared time step is not public)
BURST_OPTIONS = {"homeostasis": {"hb": 32}, "halving": {"clock": 24, "halvings": 4}}
NEURON_STATE = {"LIF": LIF_STATE, "BurstLIF": BURST_STATE,   # neuron model -> its state variables
                "BurstLIF+homeostasis": {**BURST_STATE, **BURST_OPTIONS["homeostasis"]},
                "BurstLIF+halving": {**BURST_STATE, **BURST_OPTIONS["halving"]},
                "BurstLIF+homeostasis+halving": {**BURST_STATE, **BURST_OPTIONS["homeostasis"],
                                                 **BURST_OPTIONS["halving"]}}


def state_words(state_bits, word_bits: int) -> int:
    """Words of ``word_bits`` bits that a neuron whose state variables have ``state_bits`` bits takes."""
    return sum(-(-bits // word_bits) for bits in state_bits)


@dataclass(frozen=True)
class LayerDemand:
    """What one layer needs from the cores it is placed on."""

    name: str
    size: int
    row_bits: np.ndarray  # (size,) synaptic memory bits of each neuron's incoming synapses
    fan_in: int           # distinct presynaptic neurons (input axons) the layer listens to
    targets: tuple[str, ...] = ()  # layers it projects to, once per stream (events, bursts): each needs axons
    out_synapses: int = 2**62      # most synapses one neuron makes: bounds its destination cores
    model: str = "LIF"             # neuron model (NEURON_STATE): its state words
    trace_bits: int = 0            # bits of postsynaptic traces per neuron (learning connections into it)
    axon_trace_bits: int = 0       # bits of presynaptic traces on every core that holds part of the layer
    learning_synapses: int = 0     # learning synapses per neuron


@dataclass(frozen=True)
class Chunk:
    """Neurons start..stop-1 of a layer, on one core, and what they take there."""

    layer: str
    start: int
    stop: int
    syn_bits: int                  # bits of their incoming synapses (learning ones with their tags)
    fan_in: int                    # input axons
    trace_bits: int = 0            # bits of traces: theirs and the core's copy of the presynaptic ones
    state_words: int = 0           # words of neuron state
    learning_synapses: int = 0

    @property
    def neurons(self) -> int:
        return self.stop - self.start


def _summed(field: str) -> property:
    """A Core property: ``field`` summed over the core's chunks."""
    return property(lambda core: sum(getattr(k, field) for k in core.chunks), doc=f"{field}, summed over the chunks")


@dataclass(frozen=True)
class Core:
    index: int
    chip: int
    chunks: tuple[Chunk, ...]
    fan_out: int = 0

    neurons = _summed("neurons")
    syn_bits = _summed("syn_bits")
    fan_in = _summed("fan_in")
    trace_bits = _summed("trace_bits")
    state_words = _summed("state_words")
    learning_synapses = _summed("learning_synapses")

    @property
    def memory_bits(self) -> int:
        """Synapses (with their tags) and traces: what the core's memory holds (bits)."""
        return self.syn_bits + self.trace_bits


@dataclass(frozen=True)
class Placement:
    target: Target
    cores: tuple[Core, ...]
    lower_bound: int  # max over resources of ceil(total demand / per-core capacity)

    def to_dict(self) -> dict:
        return {
            "target": self.target.name, "chip": self.target.chip.name, "chips_available": self.target.chips,
            "cores_used": len(self.cores), "lower_bound": self.lower_bound,
            "cores": [{"core": c.index, "chip": c.chip, "neurons": c.neurons, "syn_bits": c.syn_bits,
                       "trace_bits": c.trace_bits, "state_words": c.state_words,
                       "learning_synapses": c.learning_synapses, "fan_in": c.fan_in, "fan_out": c.fan_out,
                       "chunks": [{"layer": k.layer, "start": k.start, "stop": k.stop} for k in c.chunks]}
                      for c in self.cores],
        }


@dataclass(frozen=True)
class LearningCost:
    """What one learning connection costs on a chip (bits): per synapse, per presynaptic neuron on every core
    holding part of its target, per target neuron."""

    weight_bits: int
    tag_bits: int
    pre_trace_bits: int
    post_trace_bits: int

    @property
    def synapse_bits(self) -> int:
        return self.weight_bits + self.tag_bits

    @classmethod
    def of(cls, rule: Plasticity, chip: Chip) -> "LearningCost":
        return cls(chip.weight_bits + int(rule.sign_mode == "mixed"), chip.learning_extra_bits,
                   chip.pre_traces * chip.trace_bits + chip.epoch_time_bits,
                   chip.post_traces * chip.trace_bits + chip.epoch_time_bits)


def demands_from_plan(plan: Plan, target: Target) -> list[LayerDemand]:
    """Per-layer demands of a plan: synapses, the learning synapses and traces of ``plan.learning``, neuron state."""
    chip = target.chip
    names = [layer.name for layer in plan.layers]
    rows = {layer.name: np.zeros(layer.size, np.int64) for layer in plan.layers}
    fan_in, out_syn, traces, axon_traces, learning = ({n: 0 for n in names} for _ in range(5))
    streams = {n: [] for n in names}
    for c in plan.connections:
        w = c.weights
        if c.num_weight_bits > chip.weight_bits:
            raise HardwareFitError(f"connection '{c.name}': weights of {c.num_weight_bits} bits exceed "
                                   f"{target.chip.name}'s {chip.weight_bits}-bit weights")
        if not chip.weight_exp_min <= c.weight_exp <= chip.weight_exp_max:
            raise HardwareFitError(f"connection '{c.name}': weight_exp {c.weight_exp} outside {target.chip.name}'s "
                                   f"[{chip.weight_exp_min}, {chip.weight_exp_max}]")
        rule = plan.learning.get(c.name)
        if rule is None:
            present = w != 0
            w_bits = c.num_weight_bits + int(w.min() < 0 < w.max())
            dense = np.full(w.shape[0], w.shape[1] * w_bits, np.int64)
            sparse = np.count_nonzero(w, axis=1) * (w_bits + chip.index_bits)
            rows[c.target] += dense if dense.sum() <= sparse.sum() else sparse
        else:   # every pair learns (zeros may grow): dense, full-width weights and tags, traces
            present = np.ones(w.shape, bool)
            n_pre, cost = w.shape[1], LearningCost.of(rule, chip)
            rows[c.target] += n_pre * cost.synapse_bits
            learning[c.target] += n_pre
            traces[c.target] += cost.post_trace_bits
            axon_traces[c.target] += n_pre * cost.pre_trace_bits
        fan_in[c.target] += int(np.count_nonzero(np.any(present, axis=0)))
        if c.source in streams:
            streams[c.source].append((c.target, c.carries))
            out_syn[c.source] += int(present.sum(axis=0).max(initial=0))
    return [LayerDemand(layer.name, layer.size, rows[layer.name], fan_in[layer.name],
                        tuple(t for t, _ in dict.fromkeys(streams[layer.name])), out_syn[layer.name],
                        neuron_model(layer), traces[layer.name],
                        axon_traces[layer.name], learning[layer.name]) for layer in plan.layers]


def neuron_model(layer) -> str:
    """A layer's neuron model (a key of :data:`NEURON_STATE`)."""
    if layer.burst is None:
        return "LIF"
    options = [name for name, on in (("homeostasis", layer.burst.bias_gain), ("halving", layer.burst.valence_halving))
               if on]
    return "+".join(["BurstLIF", *options])


def _chunks(d: LayerDemand, target: Target, max_neurons: int) -> list[Chunk]:
    chip = target.chip
    full = chip.synaptic_memory_bytes_per_core * 8
    mem = full - d.axon_trace_bits
    words = state_words(NEURON_STATE[d.model].values(), chip.state_word_bits)
    if d.fan_in > chip.axons_in_per_core:
        raise HardwareFitError(f"layer '{d.name}': fan-in {d.fan_in} input axons; a {chip.name} core has "
                               f"{chip.axons_in_per_core}")
    if words > chip.neuron_state_words_max:
        raise HardwareFitError(f"layer '{d.name}': a {d.model} neuron needs {words} state words of "
                               f"{chip.state_word_bits} bits; a {chip.name} neuron holds at most "
                               f"{chip.neuron_state_words_max}")
    per_neuron = d.row_bits + d.trace_bits
    worst = int(per_neuron.max(initial=0))
    if worst > mem:
        traces = f" beside {d.axon_trace_bits // 8} bytes of presynaptic traces" if d.axon_trace_bits else ""
        raise HardwareFitError(f"layer '{d.name}': one neuron needs {worst // 8} bytes of synaptic memory{traces}; "
                               f"a {chip.name} core has {full // 8}")
    max_neurons = min(max_neurons, chip.neuron_state_words_per_core // words)
    cum = np.concatenate([[0], np.cumsum(per_neuron)])
    syn = np.concatenate([[0], np.cumsum(d.row_bits)])
    out, start = [], 0
    while start < d.size:
        stop = min(start + max_neurons, int(np.searchsorted(cum, cum[start] + mem, side="right")) - 1)
        stop = max(stop, start + 1)
        n = stop - start
        out.append(Chunk(d.name, start, stop, int(syn[stop] - syn[start]), d.fan_in,
                         trace_bits=n * d.trace_bits + d.axon_trace_bits, state_words=n * words,
                         learning_synapses=n * d.learning_synapses))
        start = stop
    return out


def map_network(demands: list[LayerDemand], target: Target) -> Placement:
    """Place every layer; raise HardwareFitError naming the resource, layer, needed and available."""
    chip = target.chip
    cap = np.array([chip.neurons_per_core, chip.synaptic_memory_bytes_per_core * 8, chip.axons_in_per_core,
                    chip.axons_out_per_core, chip.neuron_state_words_per_core], float)
    # per core: neurons, memory bits (synapses and traces), input axons, output axons, neuron state words
    by_name = {d.name: d for d in demands}
    # Output axons: a neuron needs one per core holding its targets, so a layer whose targets span many
    # cores gets fewer neurons per core. Target core counts depend only on the targets' own chunking;
    # iterate until no layer's chunking changes (each pass can only add chunks).
    limit = {d.name: chip.neurons_per_core for d in demands}
    for _ in range(len(demands) + 1):
        chunks = {d.name: _chunks(d, target, limit[d.name]) for d in demands}
        dests = {d.name: min(d.out_synapses, sum(len(chunks[t]) for t in d.targets)) for d in demands}
        new = {n: min(chip.neurons_per_core, chip.axons_out_per_core // max(1, dests[n])) for n in limit}
        if new == limit:
            break
        if min(new.values()) < 1:
            bad = min(new, key=new.get)
            raise HardwareFitError(f"layer '{bad}': each neuron needs {dests[bad]} output axons; a {chip.name} "
                                   f"core has {chip.axons_out_per_core}")
        limit = new
    else:
        raise HardwareFitError("mapper: output-axon limits did not settle")  # pragma: no cover
    items = [k for d in demands for k in chunks[d.name]]
    loads = np.array([[k.neurons, k.syn_bits + k.trace_bits, k.fan_in, k.neurons * dests[k.layer], k.state_words]
                      for k in items], float).reshape(-1, len(cap)) / cap
    order = np.argsort(-loads.max(axis=1), kind="stable")  # first-fit decreasing
    used = np.zeros((len(items), len(cap)))  # summed load per core
    bins: list[list[Chunk]] = []
    for i in order:
        fits = np.nonzero(np.all(used[:len(bins)] + loads[i] <= 1.0 + 1e-12, axis=1))[0]
        b = int(fits[0]) if fits.size else len(bins)
        if b == len(bins):
            bins.append([])
        bins[b].append(items[i])
        used[b] += loads[i]
    where = {}
    for i, b in enumerate(bins):
        for k in b:
            where.setdefault(k.layer, set()).add(i)
    cores = []
    for i, b in enumerate(bins):
        fan_out = sum(k.neurons * min(by_name[k.layer].out_synapses,
                                      sum(len(where[t]) for t in by_name[k.layer].targets)) for k in b)
        cores.append(Core(index=i, chip=i // chip.cores_per_chip, chunks=tuple(b), fan_out=fan_out))
    total = np.array([sum(d.size for d in demands),
                      sum(int(d.row_bits.sum()) + d.size * d.trace_bits + d.axon_trace_bits for d in demands),
                      sum(d.size * dests[d.name] for d in demands),
                      sum(k.state_words for k in items)], float)
    lower = int(max(np.ceil(total / cap[[0, 1, 3, 4]]).max(), 1 if demands else 0))
    return Placement(target=target, cores=tuple(cores), lower_bound=lower)
