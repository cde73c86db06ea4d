"""Place a compiled network on the cores of a chip or board.

Each layer's neurons are cut into contiguous chunks that fit one core (neurons, synaptic memory of
their incoming synapses, input axons); partly filled chunks of different layers then share cores
(first-fit decreasing). Synapses live on the core of their target neuron, as on Loihi.

A neuron needs one output axon per core that holds any of its targets (at most one per synapse it
makes). Synaptic memory model (per connection, the cheaper of the two): dense ``n_pre * w_bits`` per target
neuron, or sparse ``nnz * (w_bits + index_bits)``; learning synapses add ``learning_extra_bits`` each.
``w_bits`` is ``num_weight_bits`` plus a sign bit for mixed-sign matrices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurolearn.errors import HardwareFitError
from neurolearn.hardware.description import Target
from neurolearn.ir.plan import Plan


@dataclass(frozen=True)
class LayerDemand:
    """What one layer needs from the cores it is placed on."""

    name: str
    size: int
    row_bits: np.ndarray  # (size,) synaptic memory bits of each neuron's incoming synapses
    fan_in: int           # distinct presynaptic neurons (input axons) the layer listens to
    targets: tuple[str, ...] = ()  # layers it projects to (each needs output axons)
    out_synapses: int = 2**62      # most synapses one neuron makes: bounds its destination cores


@dataclass(frozen=True)
class Chunk:
    layer: str
    start: int
    stop: int
    syn_bits: int
    fan_in: int

    @property
    def neurons(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Core:
    index: int
    chip: int
    chunks: tuple[Chunk, ...]
    fan_out: int = 0

    @property
    def neurons(self) -> int:
        return sum(c.neurons for c in self.chunks)

    @property
    def syn_bits(self) -> int:
        return sum(c.syn_bits for c in self.chunks)

    @property
    def fan_in(self) -> int:
        return sum(c.fan_in for c in self.chunks)


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
                       "fan_in": c.fan_in, "fan_out": c.fan_out,
                       "chunks": [{"layer": k.layer, "start": k.start, "stop": k.stop} for k in c.chunks]}
                      for c in self.cores],
        }


def demands_from_plan(plan: Plan, target: Target, learning: frozenset[str] = frozenset()) -> list[LayerDemand]:
    """Per-layer demands of a plan. ``learning``: names of connections whose synapses learn."""
    chip = target.chip
    rows = {layer.name: np.zeros(layer.size, np.int64) for layer in plan.layers}
    fan_in = {layer.name: 0 for layer in plan.layers}
    targets = {layer.name: [] for layer in plan.layers}
    out_syn = {layer.name: 0 for layer in plan.layers}
    for c in plan.connections:
        w = c.weights
        mixed = w.min() < 0 < w.max()
        w_bits = c.num_weight_bits + int(mixed)
        if c.num_weight_bits > chip.weight_bits:
            raise HardwareFitError(f"connection '{c.name}': weights of {c.num_weight_bits} bits exceed "
                                   f"{target.chip.name}'s {chip.weight_bits}-bit weights")
        if not chip.weight_exp_min <= c.weight_exp <= chip.weight_exp_max:
            raise HardwareFitError(f"connection '{c.name}': weight_exp {c.weight_exp} outside {target.chip.name}'s "
                                   f"[{chip.weight_exp_min}, {chip.weight_exp_max}]")
        extra = chip.learning_extra_bits if c.name in learning else 0
        nnz_rows = np.count_nonzero(w, axis=1)
        dense = w.shape[1] * (w_bits + extra) * np.ones(w.shape[0], np.int64)
        sparse = nnz_rows * (w_bits + chip.index_bits + extra)
        rows[c.target] += dense if dense.sum() <= sparse.sum() else sparse
        fan_in[c.target] += int(np.count_nonzero(np.any(w != 0, axis=0)))
        if c.source in targets:
            targets[c.source].append(c.target)
            out_syn[c.source] += int(np.count_nonzero(w, axis=0).max(initial=0))
    return [LayerDemand(layer.name, layer.size, rows[layer.name], fan_in[layer.name],
                        tuple(dict.fromkeys(targets[layer.name])), out_syn[layer.name]) for layer in plan.layers]


def _chunks(d: LayerDemand, target: Target, max_neurons: int) -> list[Chunk]:
    chip = target.chip
    mem = chip.synaptic_memory_bytes_per_core * 8
    if d.fan_in > chip.axons_in_per_core:
        raise HardwareFitError(f"layer '{d.name}': fan-in {d.fan_in} input axons; a {chip.name} core has "
                               f"{chip.axons_in_per_core}")
    worst = int(d.row_bits.max(initial=0))
    if worst > mem:
        raise HardwareFitError(f"layer '{d.name}': one neuron needs {worst // 8} bytes of synaptic memory; a "
                               f"{chip.name} core has {mem // 8}")
    cum = np.concatenate([[0], np.cumsum(d.row_bits)])
    out, start = [], 0
    while start < d.size:
        stop = min(start + max_neurons, int(np.searchsorted(cum, cum[start] + mem, side="right")) - 1)
        stop = max(stop, start + 1)
        out.append(Chunk(d.name, start, stop, int(cum[stop] - cum[start]), d.fan_in))
        start = stop
    return out


def map_network(demands: list[LayerDemand], target: Target) -> Placement:
    """Place every layer; raise HardwareFitError naming the resource, layer, needed and available."""
    chip = target.chip
    cap = np.array([chip.neurons_per_core, chip.synaptic_memory_bytes_per_core * 8, chip.axons_in_per_core,
                    chip.axons_out_per_core], float)  # per core: neurons, bits, input axons, output axons
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
    loads = np.array([[k.neurons, k.syn_bits, k.fan_in, k.neurons * dests[k.layer]] for k in items],
                     float).reshape(-1, 4) / cap
    order = np.argsort(-loads.max(axis=1), kind="stable")  # first-fit decreasing
    used = np.zeros((len(items), 4))  # summed load per core
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
    total = np.array([sum(d.size for d in demands), sum(int(d.row_bits.sum()) for d in demands),
                      sum(d.size * dests[d.name] for d in demands)], float)
    lower = int(max(np.ceil(total / cap[[0, 1, 3]]).max(), 1 if demands else 0))
    return Placement(target=target, cores=tuple(cores), lower_bound=lower)
