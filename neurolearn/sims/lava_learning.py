"""Learning networks in Lava's own CPU runtime: the reference :mod:`neurolearn.sims.learning` must match.

A plan's connections named in ``learning`` become ``LearningDense`` processes (their target ``LIF``'s
``s_out`` wired to ``s_in_bap``; for three-factor programs ``RingBuffer`` s feed ``s_in_y1..3``), the others
``Dense``. Slow: every process is an OS process; keep networks and runs small.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Mapping

import numpy as np

from neurolearn.compile.lava_graph import LavaGraph, import_lava
from neurolearn.compile.lava_script import build_neurons
from neurolearn.compile.plan import Plan, Plasticity
from neurolearn.errors import ShapeError
from neurolearn.sims.lava_backend import run_monitored
from neurolearn.sims.learning import LearningResult, SynapseRecord
from neurolearn.sims.result import LayerRecord, SimResult

SYNAPSE_VARS = ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3", "tx", "ty")


def _burst_lif(layer):
    """neurolearn's BurstLIF process for a burst layer of the plan."""
    from neurolearn.compile.processes.process import BurstLIF

    bp = layer.burst
    return BurstLIF(shape=(layer.size,), du=layer.du, dv=layer.dv, dv_d=bp.dv_d, vth=layer.vth,
                    bias_mant=layer.bias_mant.astype(np.int32), bias_exp=layer.bias_exp.astype(np.int32),
                    burst_lut=bp.lut.astype(np.int32), lut_offset=bp.lut_offset, lut_shift=bp.lut_shift,
                    pbar_init=bp.pbar_init, pbar_shift=bp.pbar_shift, valence_levels=bp.valence_levels, seed=bp.seed,
                    name=layer.name)


def _band_teacher(plan: Plan, c, requests, lifs):
    """A BandTeacher between the teacher channels' RingBuffer and their Dense; returns its output port."""
    from neurolearn.compile.processes.process import BandTeacher

    t = plan.teacher
    if c.input_range != (t.up, t.up + 2) or t.down != t.up + 1:
        raise ShapeError(f"plan: connection '{c.name}': in Lava the teacher channels need input_range "
                         f"({t.up}, {t.up + 2}) with down = up + 1")
    teacher = BandTeacher(n_watch=plan.layer(t.layer).size, lo=t.lo, hi=t.hi, name="teacher_gate")
    requests.connect(teacher.s_request_in)
    lifs[t.layer].s_out.connect(teacher.s_watch_in)
    return teacher.s_out


def lava_learning_graph(plan: Plan, spikes: np.ndarray, learning: Mapping[str, Plasticity] | None = None,
                        y_traces: Mapping[str, np.ndarray] | None = None) -> LavaGraph:
    """Lava processes for ``plan`` fed by ``spikes`` (steps, n_in); y_traces[name]: (steps, 3, n_post)
    for three-factor programs onto plain LIF layers. Connections with an ``input_range`` get a
    RingBuffer of their own; burst layers are neurolearn's ``BurstLIF``."""
    lava = import_lava()
    from lava.proc.dense.process import LearningDense
    from lava.utils.weightutils import SignMode

    learning = plan.learning if learning is None else learning
    plain = [asdict(L) for L in plan.layers if L.burst is None]
    source, lifs = build_neurons(plain, spikes, lava)
    lifs.update({L.name: _burst_lif(L) for L in plan.layers if L.burst is not None})
    lifs = {L.name: lifs[L.name] for L in plan.layers}
    denses = {}
    for c in plan.connections:
        w = c.weights.astype(np.int32)
        pl = learning.get(c.name)
        target = lifs[c.target]
        if pl is None:
            dense = lava["Dense"](weights=w, weight_exp=c.weight_exp, num_weight_bits=c.num_weight_bits, name=c.name)
        else:
            tags = {k: np.asarray(getattr(pl, k), np.int32) for k in ("tag_1", "tag_2") if getattr(pl, k) is not None}
            dense = LearningDense(weights=w, weight_exp=c.weight_exp, num_weight_bits=c.num_weight_bits, name=c.name,
                                  learning_rule=pl.program.to_lava(), sign_mode=SignMode[pl.sign_mode.upper()], **tags)
            bursty = plan.layer(c.target).burst is not None
            (target.s_out_bap if bursty else target.s_out).connect(dense.s_in_bap)
            for q in range(3 if pl.program.three_factor else 0):
                port = getattr(dense, f"s_in_y{q + 1}")
                if bursty:
                    getattr(target, f"s_out_y{q + 1}").connect(port)
                else:
                    y = np.ascontiguousarray(np.asarray(y_traces[c.name])[:, q].T, dtype=np.int32)
                    lava["RingBuffer"](data=y).s_out.connect(port)
        if c.source != plan.input_name:
            src = lifs[c.source].s_out_burst if c.carries == "bursts" else lifs[c.source].s_out
        elif c.input_range is not None:
            lo, hi = c.input_range
            src = lava["RingBuffer"](data=np.ascontiguousarray(np.asarray(spikes)[:, lo:hi].T, dtype=np.int32)).s_out
            if plan.teacher is not None and lo <= plan.teacher.up < hi:
                src = _band_teacher(plan, c, src, lifs)
        else:
            src = source.s_out
        src.connect(dense.s_in)
        dense.a_out.connect(target.a_apical_in if c.port == "apical" else target.a_in)
        denses[c.name] = dense
    return LavaGraph(source, lifs, denses)


def simulate_learning_lava(plan: Plan, spikes: np.ndarray, learning: Mapping[str, Plasticity] | None = None,
                           y_traces: Mapping[str, np.ndarray] | None = None) -> LearningResult:
    """One sample (steps, n_in) in Lava, every LIF and learning Var monitored every step (after learning)."""
    learning = plan.learning if learning is None else learning
    graph = lava_learning_graph(plan, spikes, learning, y_traces)
    ports = {(n, k): getattr(lif, p) for n, lif in graph.lifs.items() for k, p in
             (("spikes", "s_out"), ("u", "u"), ("v", "v"))}
    bursty = [L.name for L in plan.layers if L.burst is not None]
    ports.update({(n, k): getattr(graph.lifs[n], p) for n in bursty for k, p in (("bursts", "s_out_burst"),
                                                                                  ("v_d", "v_d"))})
    ports.update({(n, k): getattr(graph.denses[n], k) for n in learning for k in SYNAPSE_VARS})
    data = {key: val[None] for key, val in run_monitored(graph.lifs, ports, len(spikes)).items()}
    layers = {n: LayerRecord(spikes=data[n, "spikes"].astype(np.uint8), u=data[n, "u"].astype(np.int32),
                             v=data[n, "v"].astype(np.int32),
                             bursts=data[n, "bursts"].astype(np.uint8) if n in bursty else None,
                             v_d=data[n, "v_d"].astype(np.int32) if n in bursty else None) for n in graph.lifs}
    synapses = {n: SynapseRecord(**{k: data[n, k].astype(np.int32) for k in ("weights", "tag_1", "tag_2", "tx", "ty")},
                                 x=np.stack([data[n, "x1"], data[n, "x2"]], axis=2).astype(np.int32),
                                 y=np.stack([data[n, f"y{q}"] for q in (1, 2, 3)], axis=2).astype(np.int32))
                for n in learning}
    return LearningResult(SimResult(backend="lava-learning", layers=layers, delays=plan.depths()), synapses)
