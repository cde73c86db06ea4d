"""Record Lava's own outputs as the golden fixtures of tests/golden (run on Python 3.10 with neurolearn[lava]).

Each fixture is one .npz in tests/golden/fixtures: the inputs, the plan (plan.json text), and what Lava 0.10.0
(``Loihi2SimCfg(select_tag="fixed_pt")``) computed from them, so that tests/golden checks neurolearn's simulators
bit for bit on every Python, Lava installed or not. Kinds:

* ``plain``: a LIF plan (Dense, Conv, Sparse, DelayDense, DelaySparse), a batch of input spike trains; spikes,
  u, v of every layer at every step (``simulate_lava``). Hand-made plans put every integer field at its edges;
  the rest are drawn by the hypothesis strategies of the Lava tests (tests/strategies.py) and compiled from
  snntorch models.
* ``learning``: one sample through a plan with BurstLIF layers, apical ports, burst feedback, input ranges, the
  band or the class teacher and/or LearningDense programs (STDP, the burstprop valence, the rule plugins'
  programs, random dw/dd/dt programs with tags and u<k> products); spikes, u, v, bursts, v_d of every layer and
  weights, tags, traces and spike times of every learning connection at every step (``simulate_learning_lava``).
* ``epochs``: the on-chip XOR's whole input schedule (``run_lava``): events and bursts every step, weights
  at each epoch end.
* ``tables``: Lava's weight clipping and truncation (``lava.utils.weightutils``), its random streams
  (``TraceRandom``, ``ConnVarRandom``) and its parser's reading of random rule strings.

    PYTHONPATH=. .venv/bin/python tools/record_lava_fixtures.py            # (re)record all
    PYTHONPATH=. .venv/bin/python tools/record_lava_fixtures.py --only plain_recurrent --check

``--check`` records again and compares with the committed files instead of writing (exit 1 on a difference).
Files are deterministic: the same Lava writes the same bytes.
"""
from __future__ import annotations

import argparse
import functools
import importlib.metadata
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neurolearn.ir import plan as P  # noqa: E402
from neurolearn.ir.plan import Plasticity  # noqa: E402
from neurolearn.ir.program import TARGETS, LearningProgram  # noqa: E402

FIXTURES = ROOT / "tests" / "golden" / "fixtures"


def compact(a) -> np.ndarray:
    """The array in the smallest integer type that holds its values exactly (files stay small)."""
    a = np.asarray(a)
    if a.dtype.kind not in "iub" or a.size == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    for t in (np.uint8, np.int8, np.int16, np.int32, np.int64):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return a.astype(t)
    return a


def inputs(rng, shape, rate):
    return (rng.random(shape) < rate).astype(np.uint8)


# ---- plain LIF/Dense plans -------------------------------------------------------------------------------

def _layer(name, n, du, dv, vth, bias_mant=0, bias_exp=0):
    return P.LayerPlan(name, n, du=du, dv=dv, vth=vth, bias_mant=np.broadcast_to(bias_mant, (n,)),
                       bias_exp=np.broadcast_to(bias_exp, (n,)))


def plain_decay_edges():
    """du and dv at 0, 1, 4094, 4095 (Lava adds ds_offset 1 to du only), a chain of four layers."""
    rng = np.random.default_rng(10)
    pairs = [(0, 4095), (4095, 0), (1, 4094), (4094, 1)]
    layers = tuple(_layer(f"l{i}", 6, du, dv, vth=int(rng.integers(20, 200)), bias_mant=rng.integers(-30, 60, 6),
                          bias_exp=rng.integers(0, 3, 6)) for i, (du, dv) in enumerate(pairs))
    conns = tuple(P.ConnectionPlan(f"ff{i}", "in" if i == 0 else f"l{i - 1}", f"l{i}",
                                   rng.integers(-120, 200, (6, 8 if i == 0 else 6)))
                  for i in range(4))
    plan = P.Plan(1e-3, "in", 8, layers, conns, ("l3",))
    return plan, inputs(rng, (2, 50, 8), 0.4)


def plain_bias_threshold_edges():
    """bias_mant at -4096, -4095, 4094, 4095 and 0 with bias_exp 0, 1, 6, 7; vth at 0, 1, 2**17 - 2, 2**17 - 1;
    dv = 0 lets v saturate at +-(2**23 - 1) (above vth << 6 even at the largest vth)."""
    mants = np.array([-4096, -4095, 4094, 4095, 0])
    exps = np.array([0, 1, 6, 7])
    mant, exp = np.meshgrid(mants, exps)
    n = mant.size
    rng = np.random.default_rng(11)
    layers = tuple(_layer(f"v{i}", n, du=410, dv=dv, vth=vth, bias_mant=mant.ravel(), bias_exp=exp.ravel())
                   for i, (vth, dv) in enumerate([(0, 0), (1, 100), (2**17 - 2, 0), (2**17 - 1, 0)]))
    conns = tuple(P.ConnectionPlan(f"in{i}", "in", f"v{i}", rng.integers(-256, 256, (n, 3))) for i in range(4))
    plan = P.Plan(1e-3, "in", 3, layers, conns, tuple(L.name for L in layers))
    return plan, inputs(rng, (2, 40, 3), 0.5)


def plain_weight_edges():
    """Weights at -256, -255, 0, 254, 255 in each sign mode (mixed loses the lowest bit), weight_exp -8 and 7,
    num_weight_bits 1 to 8; weight_exp 7 overflows u (a_in << 6 wraps at 2**23, in int32)."""
    rng = np.random.default_rng(12)
    n_in = 10
    mats = {"mixed": rng.choice([-256, -255, -1, 0, 1, 254, 255], (5, n_in)),
            "excitatory": rng.choice([0, 1, 254, 255], (5, n_in)),
            "inhibitory": rng.choice([-255, -254, -1, 0], (5, n_in))}
    layers, conns = [], []
    for i, (kind, wexp) in enumerate([("mixed", 7), ("excitatory", -8), ("inhibitory", 0), ("mixed", -8),
                                      ("excitatory", 7), ("mixed", 3)]):
        layers.append(_layer(f"w{i}", 5, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                             vth=int(rng.integers(1, 3000)), bias_mant=rng.integers(-100, 100, 5)))
        for bits in (8, 1 + (i % 7)):   # two connections per layer: 8 bits and 1..7 bits
            conns.append(P.ConnectionPlan(f"c{i}b{bits}", "in", f"w{i}", mats[kind], weight_exp=wexp,
                                          num_weight_bits=bits))
    plan = P.Plan(1e-3, "in", n_in, tuple(layers), tuple(conns), tuple(L.name for L in layers))
    return plan, inputs(rng, (2, 40, n_in), 0.6)


def plain_recurrent():
    """Self-recurrence in every layer and feedback from the last layer to the first (every Dense one step)."""
    rng = np.random.default_rng(13)
    sizes = [8, 7, 5]
    layers = tuple(_layer(f"l{i}", n, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 1000)),
                          vth=int(rng.integers(10, 100)), bias_mant=rng.integers(-20, 40, n))
                   for i, n in enumerate(sizes))
    conns = [P.ConnectionPlan("ff0", "in", "l0", rng.integers(-100, 256, (8, 6))),
             P.ConnectionPlan("ff1", "l0", "l1", rng.integers(-100, 256, (7, 8)), num_weight_bits=6),
             P.ConnectionPlan("ff2", "l1", "l2", rng.integers(-100, 256, (5, 7)), weight_exp=1)]
    conns += [P.ConnectionPlan(f"rec{i}", f"l{i}", f"l{i}", rng.integers(-256, 256, (n, n)), recurrent=True,
                               weight_exp=int(rng.integers(-2, 3)), num_weight_bits=int(rng.integers(3, 9)))
              for i, n in enumerate(sizes)]
    conns.append(P.ConnectionPlan("back", "l2", "l0", rng.integers(-256, 0, (8, 5)), recurrent=True))
    plan = P.Plan(1e-3, "in", 6, layers, tuple(conns), ("l2",))
    return plan, inputs(rng, (2, 60, 6), 0.4)


def plain_from_snntorch(kind):
    """A plan compiled from an snntorch model (tests.helpers), as `neurolearn compile` writes it; the .nir and
    report.md too."""
    from neurolearn.compile.build import compile_model
    from tests.helpers import feedforward, recurrent, save

    model = feedforward(synaptic=True) if kind == "feedforward" else recurrent()
    with tempfile.TemporaryDirectory() as tmp:
        nir = save(model, Path(tmp) / "m.nir")
        plan = compile_model(nir, Path(tmp) / "b").plan
        source = {"model_nir": np.frombuffer(nir.read_bytes(), np.uint8),
                  "report": (Path(tmp) / "b" / "report.md").read_text()}
    return plan, inputs(np.random.default_rng(14), (2, 50, plan.input_size), 0.3), source


def hypothesis_draws(strategy, n, seed):
    """``n`` examples of a hypothesis strategy, the same ones on every run (fixed seed, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    out = []

    @hseed(seed)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(x):
        out.append(x)

    collect()
    return out


def varied(strategy, n, seed, key, keep):
    """``n`` examples of a hypothesis strategy, one from each of the seeds ``seed``, ``seed + 1``, ...: the first
    of its draws that ``keep`` accepts and whose ``key`` no earlier example had (a seed's draws are variations
    of each other, and the first ones are the simplest)."""
    out, keys = [], set()
    for s in range(seed, seed + 10 * n):
        for example in hypothesis_draws(strategy, 30, s):
            if key(example) not in keys and keep(example):
                keys.add(key(example))
                out.append(example)
                break
        if len(out) == n:
            return out
    raise RuntimeError(f"only {len(out)} of {n} examples found")


def plan_key(plan):
    return plan.to_json()


@functools.cache
def plain_random():
    """Random plans and inputs from the strategies of tests/sims/test_fixed_vs_lava.py (silent ones left out)."""
    from hypothesis import strategies as st

    from neurolearn.sims.fixed import simulate_fixed
    from tests.strategies import plans, spike_trains

    def active(case):
        plan, x = case
        return x.shape[1] >= 8 and sum(int(r.spikes.sum()) for r in simulate_fixed(plan, x).layers.values()) > 10

    return varied(plans().flatmap(lambda p: st.tuples(st.just(p), spike_trains(p.input_size, batch=2))), 14,
                  20260, key=lambda case: plan_key(case[0]), keep=active)


@functools.cache
def plain_connections():
    """Random plans with a convolution into l0, then a convolution, a sparse, a delayed or a delayed sparse
    connection into l1 (maybe a delayed sparse recurrence), from the strategy of tests/sims/test_connection_kinds.py
    (one per kind; both layers spike)."""
    from hypothesis import strategies as st

    from neurolearn.sims.fixed import simulate_fixed
    from tests.strategies import connection_plans, spike_trains

    def active(case):
        plan, x = case
        res = simulate_fixed(plan, x)
        return x.shape[1] >= 8 and all(int(r.spikes.sum()) > 2 for r in res.layers.values())

    out = []
    for i, kind in enumerate(("conv", "sparse", "delays", "sparse+delays")):
        strategy = connection_plans(kinds=(kind,)).flatmap(
            lambda p: st.tuples(st.just(p), spike_trains(p.input_size, batch=2)))
        out += varied(strategy, 1, 20270 + 20 * i, key=lambda case: plan_key(case[0]), keep=active)
    return out


def plain_neurons():
    """neurolearn's NIRNeuron process: one plan per reset mode of the second layer (subtract, subtract one step
    late, zero one step late, zero to a non-zero v_reset in the first layer too), a readout (never spikes) and a
    stateless layer (dv 4096, NIR Threshold); random weights strong enough to spike often and above 2 thresholds."""
    rng = np.random.default_rng(4096)
    modes = {"subtract": dict(reset="subtract"), "subtract_late": dict(reset="subtract", reset_delay=True),
             "zero_late": dict(reset="zero", reset_delay=True), "v_reset": dict(v_reset=rng.integers(-900, 900, 4)),
             "readout": dict(spiking=False), "stateless": dict(dv=P.DV_STATELESS)}
    out = []
    for mode, extra in modes.items():
        l0 = P.LayerPlan("l0", 6, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 2000)), vth=300,
                         bias_mant=rng.integers(-50, 100, 6), bias_exp=np.full(6, 3),
                         v_reset=rng.integers(-2000, 2000, 6) if mode == "v_reset" else None)
        l1 = P.LayerPlan("l1", 4, **{"du": 1000, "dv": 800, "vth": 250, "bias_mant": np.zeros(4, int),
                                     "bias_exp": np.zeros(4, int), **extra})
        conns = (P.ConnectionPlan("ff0", "in", "l0", rng.integers(-60, 200, (6, 5))),
                 P.ConnectionPlan("ff1", "l0", "l1", rng.integers(-80, 250, (4, 6))))
        out.append((P.Plan(1e-3, "in", 5, (l0, l1), conns, ("l1",)), inputs(rng, (2, 60, 5), 0.4)))
    return out


def plain_start_voltage():
    """Layers that start from v_init (Lava's LIF and, in the second layer, neurolearn's NIRNeuron with a late
    subtractive reset), v_init at both edges of the 24-bit range and in between, biases of both signs."""
    rng = np.random.default_rng(2**23)
    v0 = np.concatenate([[P.STATE_RANGE[0], P.STATE_RANGE[1]], rng.integers(-30000, 30000, 4)])
    l0 = P.LayerPlan("l0", 6, du=500, dv=300, vth=400, bias_mant=rng.integers(-100, 100, 6), bias_exp=np.full(6, 4),
                     v_init=v0)
    l1 = P.LayerPlan("l1", 4, du=1000, dv=800, vth=250, bias_mant=rng.integers(-60, 60, 4), bias_exp=np.full(4, 5),
                     reset="subtract", reset_delay=True, v_init=rng.integers(-20000, 20000, 4))
    conns = (P.ConnectionPlan("ff0", "in", "l0", rng.integers(-60, 200, (6, 5))),
             P.ConnectionPlan("ff1", "l0", "l1", rng.integers(-80, 250, (4, 6))))
    return P.Plan(1e-3, "in", 5, (l0, l1), conns, ("l1",)), inputs(rng, (2, 60, 5), 0.4)


def plain_neuron_parameters():
    """neurolearn's NIRNeuron with du, dv and vth per neuron (each at both edges of its range, dv 4096 too) in both
    layers, the second with a late subtractive reset; random weights strong enough to spike often."""
    rng = np.random.default_rng(4097)
    l0 = P.LayerPlan("l0", 6, du=np.array([0, 4095, 100, 2000, 3000, 410]), dv=np.array([0, 4095, 4096, 300, 800, 50]),
                     vth=np.array([0, 2**17 - 1, 300, 150, 500, 80]), bias_mant=rng.integers(-50, 100, 6),
                     bias_exp=np.full(6, 3))
    l1 = P.LayerPlan("l1", 4, du=rng.integers(0, 4096, 4), dv=rng.integers(0, 4096, 4), vth=rng.integers(100, 400, 4),
                     bias_mant=np.zeros(4, int), bias_exp=np.zeros(4, int), reset="subtract", reset_delay=True)
    conns = (P.ConnectionPlan("ff0", "in", "l0", rng.integers(-60, 200, (6, 5))),
             P.ConnectionPlan("ff1", "l0", "l1", rng.integers(-80, 250, (4, 6))))
    return P.Plan(1e-3, "in", 5, (l0, l1), conns, ("l1",)), inputs(rng, (2, 60, 5), 0.4)


# ---- learning plans ---------------------------------------------------------------------------------------

def burst_edges(variant):
    """random_burst_net with every BurstPlan field at an edge (two variants: low and high edges)."""
    from dataclasses import replace

    from tests.helpers import random_burst_net

    plan, x = random_burst_net(3 + variant)
    lo = dict(dv_d=0, lut=np.r_[np.zeros(128, int), np.full(128, 255)], lut_offset=-(2**23) + 1, lut_shift=0,
              pbar_shift=0, pbar_init=0, valence_levels=0, seed=0)
    hi = dict(dv_d=4095, lut=np.r_[np.zeros(200, int), np.full(56, 255)], lut_offset=2**23 - 1, lut_shift=23,
              pbar_shift=15, pbar_init=2**15, valence_levels=7, seed=2**31 - 1)
    mid = dict(dv_d=1, lut=np.arange(256), lut_offset=0, lut_shift=1, pbar_shift=1, pbar_init=1, valence_levels=1,
               seed=1)
    edges = [(lo, mid), (hi, dict(mid, dv_d=4094, lut_shift=22, pbar_shift=14, pbar_init=2**15 - 1,
                                  valence_levels=6))][variant]
    layers, k = [], 0
    for L in plan.layers:
        if L.burst is not None:
            L = replace(L, burst=P.BurstPlan(**edges[k]))
            k += 1
        layers.append(L)
    return replace(plan, layers=tuple(layers)), x, None, None


def stdp_large():
    from tests.sims.test_learning_engine import stdp_case

    plan, x, learning = stdp_case(t_epoch=2)
    return plan, x, learning, None


@functools.cache
def rules_programs():
    """The rule plugins' chip programs (STDP, BTSP, Hebbian, dendritic balance, dendrite form)."""
    from tests.rules.test_rules_onchip import lava_cases, one_layer

    cases, spikes, w0 = lava_cases()
    out = {}
    for name, (chip, mode, y) in cases.items():
        plan = one_layer(np.abs(w0), vth=30, dv=800, bias=300)
        out[f"rule_{name}"] = (plan, spikes, {"c": Plasticity(chip.program, mode)}, None if y is None else {"c": y})
    return out


def rules_nir_build():
    """STDP and dendritic balance compiled from a .nir file onto BurstLIF layers (the .nir and report.md too)."""
    from neurolearn.compile.build import compile_model
    from neurolearn.rules import STDP, DendriticBalance
    from tests.rules.test_rule_plugins import write_net

    rules = {"W:input->hidden": STDP(a_plus=0.02, a_minus=0.025).to_params(),
             "W:hidden->out": DendriticBalance(eta=0.02, baseline=0.5).to_params()}
    with tempfile.TemporaryDirectory() as tmp:
        nir = write_net(Path(tmp), rules)
        plan = compile_model(nir, Path(tmp) / "b").plan
        source = {"model_nir": np.frombuffer(nir.read_bytes(), np.uint8),
                  "report": (Path(tmp) / "b" / "report.md").read_text()}
    return plan, inputs(np.random.default_rng(1), (80, 6), 0.4), None, None, source


def tags_dd_dt():
    """dw, dd and dt together: tags in the rules (d, t, sgn), initial tags, u1 decimation, every trace."""
    rng = np.random.default_rng(15)
    prog = LearningProgram(dw="2^-2 * x0 * y1 - 3*2^-4 * y0 * x1 * (w - 16) + u1 * d * y2 * 2^-5 - t * x0 * 2^-3",
                           dd="y0 * x2 * 2^-1 - 2^-2 * x0 * sgn(d - 4) * y3 + u1 * (x1 + 3) * 2^-3",
                           dt="x0 * y1 * 2^-2 - y0 * (t - 2) * 2^-1 + u1 * sgn(w + 1) * x2 * 2^-4",
                           x1_impulse=20.5, x1_tau=6, x2_impulse=7.25, x2_tau=30, y1_impulse=16, y1_tau=4,
                           y2_impulse=9.75, y2_tau=255, y3_impulse=3, y3_tau=1, t_epoch=3, rng_seed=21)
    n_in, n_out = 7, 6
    layer = _layer("l0", n_out, du=200, dv=300, vth=25, bias_mant=rng.integers(0, 40, n_out))
    w = rng.integers(-200, 220, (n_out, n_in))
    plan = P.Plan(1e-3, "in", n_in, (layer,), (P.ConnectionPlan("c0", "in", "l0", w, num_weight_bits=7),), ("l0",))
    learning = {"c0": Plasticity(prog, "mixed", tag_1=rng.integers(-257, 256, (n_out, n_in)),
                                 tag_2=rng.integers(0, 256, (n_out, n_in)))}
    return plan, inputs(rng, (70, n_in), 0.35), learning, None


@functools.cache
def learning_random(three_factor):
    """Random learning networks and programs from the strategies of tests/sims/test_learning_engine.py (ones
    whose weights do not change left out)."""
    from neurolearn.sims.learning import simulate_learning
    from tests.sims.test_learning_engine import learning_cases

    def learns(case):
        plan, x, learning, ys = case
        res = simulate_learning(plan, x, learning, ys)
        return len(x) >= 8 and any(np.any(s.weights[0, -1] != s.weights[0, 0]) for s in res.synapses.values())

    def key(case):
        return plan_key(case[0]), json.dumps({n: pl.to_dict() for n, pl in case[2].items()})

    return varied(learning_cases(three_factor=three_factor), 8 if three_factor else 14, 20300 + 100 * three_factor,
                  key=key, keep=learns)


def classify_steps():
    """A small on-chip classifier (train/onchip_classify.py: expected valence, Pbar fixed, event-rate homeostasis and
    dead zone in the hidden layer, balance connections Z, per-class teacher channels, the class teacher): three
    training samples (two classes), every step."""
    from neurolearn.compile.burst_mapping import compile_burst_network
    from neurolearn.train.onchip_classify import OnChipClassifyConfig, PhaseEncoder, classifier_network

    cfg = OnChipClassifyConfig(hidden=(12,), per_class=3, steps=60, teach_from=15, n_bias=2)
    net = classifier_network(6, 2, cfg, seed=4)
    compiled = compile_burst_network(net)
    x = np.random.default_rng(17).random((3, 6))
    spikes = PhaseEncoder(net.input_size, 2, cfg, seed=4).encode(x, np.array([0, 1, 1]))
    return compiled.plan, spikes, None, None


def xor_steps():
    """The on-chip XOR network (BurstLIF, valence program, band teacher): its first 360 steps, every step."""
    from neurolearn.train.onchip import OnChipConfig, compile_xor

    compiled, schedule, _ = compile_xor(2, OnChipConfig(epochs=1, steps_predict=40, steps_teach=50))
    return compiled.plan, schedule.spikes[:360], None, None


# ---- recording ---------------------------------------------------------------------------------------------

def meta(kind, about, **more):
    import platform

    return json.dumps({"kind": kind, "about": about, "lava-nc": importlib.metadata.version("lava-nc"),
                       "numpy": np.__version__, "python": platform.python_version(),
                       "recorded_by": "tools/record_lava_fixtures.py", **more}, sort_keys=True)


def record_plain(plan, x, source=None, *, about):
    """``source``: {"model_nir": the .nir file's bytes, "report": its report.md} where the plan was compiled."""
    from neurolearn.lava.runner import simulate_lava

    lava = simulate_lava(plan, x)
    arrays = {f"lava/{n}/{k}": compact(getattr(r, k)) for n, r in lava.layers.items() for k in ("spikes", "u", "v")}
    return {"meta": meta("plain", about), "plan": plan.to_json(), "input": compact(x), **(source or {}), **arrays}


def record_learning(plan, x, learning, ys, source=None, *, about):
    from neurolearn.lava.runner import simulate_learning_lava

    lava = simulate_learning_lava(plan, x, learning, ys)
    out = {"meta": meta("learning", about), "plan": plan.to_json(), "input": compact(x), **(source or {})}
    if learning is not None:
        out["learning"] = json.dumps({n: pl.to_dict() for n, pl in learning.items()})
    for n, y in (ys or {}).items():
        out[f"y/{n}"] = compact(y)
    for n, r in lava.sim.layers.items():
        for k in ("spikes", "u", "v", "bursts", "v_d"):
            if getattr(r, k) is not None:
                out[f"lava/{n}/{k}"] = compact(getattr(r, k))
    for n, s in lava.synapses.items():
        for k in ("weights", "tag_1", "tag_2", "x", "y", "tx", "ty"):
            out[f"lava/{n}/{k}"] = compact(getattr(s, k))
    return out


def record_xor_epochs():
    from neurolearn.lava.runner import run_lava
    from neurolearn.train.onchip import OnChipConfig, compile_xor

    xor = {"seed": 1, "epochs": 2}
    compiled, schedule, _ = compile_xor(xor["seed"], OnChipConfig(epochs=xor["epochs"]))
    run = run_lava(compiled.plan, schedule)
    out = {"meta": meta("epochs", "the on-chip XOR (compile_xor(seed, OnChipConfig(epochs)), its whole schedule): "
                        "events and bursts every step, weights at each epoch end", on_chip_xor=xor),
           "plan": compiled.plan.to_json(), "input": compact(schedule.spikes),
           "epoch_ends": np.array(schedule.epoch_ends, np.int64)}
    out.update({f"lava/{n}/spikes": compact(s) for n, s in run.spikes.items()})
    out.update({f"lava/{n}/bursts": compact(s) for n, s in run.bursts.items()})
    out.update({f"lava/{n}/weights": compact(w) for n, w in run.weights.items()})
    return out


def record_weightutils():
    """Lava's clip_weights + truncate_weights (what a Dense applies) for edge and random matrices, 1..8 bits."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(16)
    mats = [np.array([[-256, -255, -254, -2, -1, 0, 1, 2, 127, 128, 253, 254, 255]]),
            np.array([[0, 1, 2, 3, 127, 128, 129, 254, 255, 0, 7, 8, 9]]),
            np.array([[-255, -254, -253, -129, -128, -127, -3, -2, -1, 0, 0, -7, -8]])]
    mats += [rng.integers(lo, hi, (1, 13)) for lo, hi in ((-256, 256), (0, 256), (-255, 1)) for _ in range(4)]
    w = np.concatenate(mats)
    want = np.stack([np.concatenate([truncate_weights(clip_weights(m.copy(), determine_sign_mode(m), num_bits=8),
                                                      determine_sign_mode(m), bits) for m in mats])
                     for bits in range(1, 9)])
    return {"meta": meta("tables", "Lava's effective Dense weights: rows of w (one sign mode each), for "
                         "num_weight_bits 1..8 (axis 0)"), "w": compact(w), "lava/effective": compact(want)}


def record_random_streams():
    """Lava's TraceRandom (rng_seed, +1 for x; +2, +3 for y) and ConnVarRandom streams."""
    from lava.magma.core.learning.random import ConnVarRandom, TraceRandom

    seeds = np.array([0, 1, 11, 12345, 2**31 - 5])
    steps = 40
    out = {"meta": meta("tables", f"Lava's random streams: {2 * steps + 1} draws (trace decay, impulse) of "
                        "TraceRandom(seed + 2q, seed + 2q + 1), q = 0 (x), 1 (y); ConnVarRandom's rounding draws"),
           "seeds": seeds, "steps": np.array(steps)}
    for s in seeds:
        for q, which in enumerate("xy"):
            gen = TraceRandom(int(s) + 2 * q, int(s) + 2 * q + 1)
            seen = []
            for _ in range(2 * steps + 1):
                seen.append((gen.random_trace_decay, gen.random_impulse_addition))
                gen.advance()
            seen = np.array(seen)
            out[f"lava/{s}/{which}_decay"], out[f"lava/{s}/{which}_impulse"] = seen[:, 0], compact(seen[:, 1])
    conn = ConnVarRandom()
    out["lava/conn"] = np.array([conn.random_stochastic_round] +
                                [conn.advance() or conn.random_stochastic_round for _ in range(steps)])
    return out


def record_parser():
    """Lava's reading of random rule strings (tests/strategies.py rule_texts, most corners of the grammar)."""
    from tests.ir.test_program_parser import lava_outcome
    from tests.strategies import rule_texts

    texts = list(dict.fromkeys(hypothesis_draws(rule_texts(), 400, 20262)))
    rows = [{"target": TARGETS[i % 3], "text": text, "lava": lava_outcome(TARGETS[i % 3], text)}
            for i, text in enumerate(texts)]
    return {"meta": meta("tables", "Lava's parser (ProductSeries(SymbolicEquation)) on random rule strings: per "
                         "string the products, or the product and message Lava refuses, as repr"),
            "readings": json.dumps(rows)}


def cases():
    """name -> function returning the fixture's arrays (each runs Lava)."""
    out = {name: (lambda f=f, about=about: record_plain(*f(), about=about)) for name, f, about in [
        ("plain_decay_edges", plain_decay_edges, plain_decay_edges.__doc__),
        ("plain_bias_threshold_edges", plain_bias_threshold_edges, plain_bias_threshold_edges.__doc__),
        ("plain_weight_edges", plain_weight_edges, plain_weight_edges.__doc__),
        ("plain_recurrent", plain_recurrent, plain_recurrent.__doc__),
        ("plain_snntorch_feedforward", lambda: plain_from_snntorch("feedforward"), "snntorch Leaky + Synaptic"),
        ("plain_snntorch_recurrent", lambda: plain_from_snntorch("recurrent"), "snntorch RLeaky"),
        ("plain_start_voltage", plain_start_voltage, plain_start_voltage.__doc__),
        ("plain_neuron_parameters", plain_neuron_parameters, plain_neuron_parameters.__doc__),
    ]}
    for i in range(14):
        out[f"plain_random_{i:02d}"] = lambda i=i: record_plain(*plain_random()[i], about=plain_random.__doc__)
    for i, kind in enumerate(("conv", "sparse", "delays", "sparse_delays")):
        out[f"plain_connections_{kind}"] = lambda i=i: record_plain(*plain_connections()[i],
                                                                    about=plain_connections.__doc__)
    for i, mode in enumerate(("subtract", "subtract_late", "zero_late", "v_reset", "readout", "stateless")):
        out[f"plain_neurons_{mode}"] = lambda i=i: record_plain(*plain_neurons()[i], about=plain_neurons.__doc__)
    from tests.helpers import random_burst_net

    for seed in (0, 1, 2):
        out[f"burst_net_{seed}"] = lambda seed=seed: record_learning(
            *random_burst_net(seed), None, None, about=random_burst_net.__doc__)
    for v in (0, 1):
        out[f"burst_edges_{v}"] = lambda v=v: record_learning(*burst_edges(v), about=burst_edges.__doc__)
    out["stdp_large"] = lambda: record_learning(*stdp_large(), about="STDP, 30 -> 20, t_epoch 2, u1 decimation")
    for name in ("stdp", "btsp", "hebbian", "balance", "dendrite"):
        out[f"rule_{name}"] = lambda name=name: record_learning(*rules_programs()[f"rule_{name}"],
                                                               about=f"the {name} rule plugin's chip program")
    out["rules_nir_build"] = lambda: record_learning(*rules_nir_build(), about=rules_nir_build.__doc__)
    out["tags_dd_dt"] = lambda: record_learning(*tags_dd_dt(), about=tags_dd_dt.__doc__)
    for three, n in ((False, 14), (True, 8)):
        for i in range(n):
            out[f"learning_{'three' if three else 'two'}_factor_{i:02d}"] = lambda i=i, three=three: record_learning(
                *learning_random(three)[i], about=learning_random.__doc__)
    out["xor_steps"] = lambda: record_learning(*xor_steps(), about=xor_steps.__doc__)
    out["classify_steps"] = lambda: record_learning(*classify_steps(), about=classify_steps.__doc__)
    out["xor_epochs"] = record_xor_epochs
    out["lava_weightutils"] = record_weightutils
    out["lava_random_streams"] = record_random_streams
    out["lava_parser"] = record_parser
    return out


def npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def same_content(a: bytes, b: bytes) -> bool:
    with np.load(io.BytesIO(a)) as x, np.load(io.BytesIO(b)) as y:
        return x.files == y.files and all(
            np.array_equal(x[k], y[k]) for k in x.files if k != "meta")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="fixture names (default: all)")
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args(argv)
    from neurolearn.lava.graph import require_lava

    require_lava()
    todo = cases()
    unknown = set(args.only or ()) - set(todo)
    if unknown:
        print(f"error: unknown fixtures {sorted(unknown)}; known: {', '.join(todo)}", file=sys.stderr)
        return 2
    FIXTURES.mkdir(parents=True, exist_ok=True)
    bad = []
    for name in args.only or todo:
        data = npz_bytes(todo[name]())
        path = FIXTURES / f"{name}.npz"
        if args.check:
            ok = path.is_file() and same_content(data, path.read_bytes())
            bad += [] if ok else [name]
            print(f"{name}: {'same' if ok else 'DIFFERS'}")
        else:
            path.write_bytes(data)
            print(f"{name}: {len(data) / 1024:.1f} KiB")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
