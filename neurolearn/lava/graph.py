"""Plan -> Lava process graph: one ``RingBuffer`` input, one ``Dense`` (``Sparse``, ``Conv``, ``DelayDense``,
``DelaySparse``) per connection, one ``LIF`` per layer (neurolearn's ``NIRNeuron`` where Lava's LIF cannot
run a layer; ``BurstLIF``, ``BandTeacher``, ``ClassTeacher``, ``LearningDense`` in learning graphs).

The construction of stock Lava graphs lives in :mod:`neurolearn.lava.graph_script` (numpy and Lava only), which
deployment bundles carry as their run script.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict, dataclass, fields
from typing import Mapping

import numpy as np

from neurolearn.errors import BackendUnavailableError, ShapeError
from neurolearn.ir.features import require
from neurolearn.ir.plan import RESET_MODES, BandTeacherPlan, Plan, Plasticity
from neurolearn.ir.program import Y_TRACES, LearningProgram
from neurolearn.lava import graph_script


def lava_available() -> bool:
    """Is Lava (lava-nc 0.10.0, the extra neurolearn[lava], Python 3.10 only) installed here?"""
    return importlib.util.find_spec("lava") is not None


LAVA_EXTRA = "neurolearn[lava] (lava-nc 0.10.0, Python 3.10 only)"


def lava_missing() -> str:
    """Why Lava is absent, for one-line messages."""
    return f"Lava is not installed for this Python ({sys.version.split()[0]})"


def require_lava() -> dict:
    """The Lava classes neurolearn uses, or BackendUnavailableError (exit code 3) saying what to install."""
    if not lava_available():
        raise BackendUnavailableError(f"the Lava backend needs {LAVA_EXTRA}; {lava_missing()}")
    try:
        return graph_script.import_lava()
    except Exception as exc:  # ImportError, or lava failing on an unsupported Python or numpy
        reason = " ".join(str(exc).split())
        raise BackendUnavailableError(f"the Lava backend needs {LAVA_EXTRA}; "
                                      f"importing it failed: {type(exc).__name__}: {reason}") from exc


def learning_rule_for_lava(program: LearningProgram):
    """Lava's ``Loihi2FLearningRule`` (``Loihi3FLearningRule`` if three_factor) holding ``program``."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule

    skip = {"three_factor"} | ({f"{y}_{p}" for y in Y_TRACES for p in ("impulse", "tau")}
                               if program.three_factor else set())
    args = {f.name: getattr(program, f.name) for f in fields(program) if f.init and f.name not in skip}
    return (Loihi3FLearningRule if program.three_factor else Loihi2FLearningRule)(**args)


@dataclass
class LavaGraph:
    """The processes of one built network, by plan name."""

    source: object
    lifs: dict
    denses: dict


def build_lava_graph(plan: Plan, spikes: np.ndarray) -> LavaGraph:
    """Build the Lava processes for ``plan`` fed by ``spikes`` of shape (steps, n_in): Lava's LIF where it runs
    a layer, else neurolearn's NIRNeuron."""
    lava = require_lava()
    made = {L.name: _nir_neuron(L) for L in plan.layers if not L.lava_lif}
    return LavaGraph(*graph_script.build(plan.to_dict(), spikes, lava, made))


def _nir_neuron(layer):
    """neurolearn's NIRNeuron process for a layer Lava's LIF cannot run (another reset, a readout, dv 4096)."""
    from neurolearn.lava.processes.process import NIRNeuron

    return NIRNeuron(shape=(layer.size,), du=layer.du, dv=layer.dv, vth=layer.vth,
                     bias_mant=layer.bias_mant.astype(np.int32), bias_exp=layer.bias_exp.astype(np.int32),
                     v_reset=layer.v_reset.astype(np.int32), reset_mode=RESET_MODES.index(layer.mode),
                     v=layer.v_init.astype(np.int32), name=layer.name)


def _burst_lif(layer):
    """neurolearn's BurstLIF process for a burst layer of the plan."""
    from neurolearn.lava.processes.process import BurstLIF

    bp = layer.burst
    return BurstLIF(shape=(layer.size,), du=layer.du, dv=layer.dv, dv_d=bp.dv_d, vth=layer.vth,
                    bias_mant=layer.bias_mant.astype(np.int32), bias_exp=layer.bias_exp.astype(np.int32),
                    burst_lut=bp.lut.astype(np.int32), lut_offset=bp.lut_offset, lut_shift=bp.lut_shift,
                    pbar_init=bp.pbar_init, pbar_shift=bp.pbar_shift, valence_levels=bp.valence_levels, seed=bp.seed,
                    valence_expected=int(bp.valence == "expected"), pbar_fixed=int(bp.pbar_fixed),
                    rate_target=bp.rate_target, rate_shift=bp.rate_shift, homeo_gain=bp.homeo_gain,
                    homeo_shift=bp.homeo_shift, homeo_cap=bp.homeo_cap, dead_zone=bp.dead_zone,
                    ebar_init=bp.rate_target << bp.rate_shift, bias_gain=bp.bias_gain, bias_shift=bp.bias_shift,
                    plateau_split=int(bp.plateau_split), valence_halving=bp.valence_halving,
                    name=layer.name)


def _teacher_gate(plan: Plan, c, requests, lifs):
    """The plan's teacher (a BandTeacher or a ClassTeacher) between the teacher channels' RingBuffer and their
    Dense; returns its output port."""
    from neurolearn.lava.processes.process import BandTeacher, ClassTeacher

    t = plan.teacher
    if isinstance(t, BandTeacherPlan):
        if c.input_range != (t.up, t.up + 2) or t.down != t.up + 1:
            raise ShapeError(f"plan: connection '{c.name}': in Lava the teacher channels need input_range "
                             f"({t.up}, {t.up + 2}) with down = up + 1")
        teacher = BandTeacher(n_watch=plan.layer(t.layer).size, lo=t.lo, hi=t.hi, name="teacher_gate")
    else:
        if c.input_range != t.channels:
            raise ShapeError(f"plan: connection '{c.name}': in Lava the class teacher's channels need input_range "
                             f"{t.channels}")
        teacher = ClassTeacher(n_watch=plan.layer(t.layer).size, classes=t.classes, lo=t.lo, hi=t.hi, shift=t.shift,
                               name="teacher_gate")
    requests.connect(teacher.s_request_in)
    lifs[t.layer].s_out.connect(teacher.s_watch_in)
    return teacher.s_out


def lava_learning_graph(plan: Plan, spikes: np.ndarray, learning: Mapping[str, Plasticity] | None = None,
                        y_traces: Mapping[str, np.ndarray] | None = None) -> LavaGraph:
    """Lava processes for ``plan`` fed by ``spikes`` (steps, n_in); y_traces[name]: (steps, 3, n_post)
    for three-factor programs onto plain LIF layers. Connections with an ``input_range`` get a
    RingBuffer of their own; burst layers are neurolearn's ``BurstLIF``."""
    require(plan.features(), "lava-learning")
    lava = require_lava()
    from lava.proc.dense.process import LearningDense
    from lava.utils.weightutils import SignMode

    learning = plan.learning if learning is None else learning
    plain = [asdict(L) for L in plan.layers if L.burst is None]
    source, lifs = graph_script.build_neurons(plain, spikes, lava)
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
                                  learning_rule=learning_rule_for_lava(pl.program),
                                  sign_mode=SignMode[pl.sign_mode.upper()], **tags)
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
            t = plan.teacher
            if t is not None and lo <= (t.up if isinstance(t, BandTeacherPlan) else t.first) < hi:
                src = _teacher_gate(plan, c, src, lifs)
        else:
            src = source.s_out
        src.connect(dense.s_in)
        dense.a_out.connect(target.a_apical_in if c.port == "apical" else target.a_in)
        denses[c.name] = dense
    return LavaGraph(source, lifs, denses)
