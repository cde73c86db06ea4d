"""Rung L3 without Lava: neurolearn's simulators reproduce Lava's recorded outputs bit for bit, on every Python.

tests/golden/fixtures holds what Lava 0.10.0 (``Loihi2SimCfg(select_tag="fixed_pt")``) computed for a set of
plans and inputs (written by tools/record_lava_fixtures.py on Python 3.10): spikes, u, v of every layer,
bursts and apical voltages of burst layers, weights, tags, traces and spike times of learning connections,
at every step (the on-chip XOR: at each epoch end), plus Lava's weight truncation, random streams and rule
parser. Every recorded value must come out of neurolearn unchanged: one bit off anywhere fails, naming the
fixture, the array and the first index that differs. Where Lava is installed, a few fixtures are also
recorded again and compared with the files (the fixtures are what Lava computes).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from neurolearn.dynamics.dense import effective_weights
from neurolearn.ir import plan as P
from neurolearn.ir.features import FEATURES, missing_features
from neurolearn.ir.plan import Plan, Plasticity
from neurolearn.ir.program import LearningProgram
from neurolearn.ir.schedule import Schedule
from neurolearn.sims.epochs import run_fixed
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.learning import simulate_learning
from neurolearn.sims.learning_engine import TraceStreams

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as d:
        return {k: d[k] for k in d.files}


def meta(data: dict) -> dict:
    return json.loads(str(data["meta"]))


ALL = {p.stem: meta(load(p.stem)) for p in sorted(FIXTURES.glob("*.npz"))}


def named(kind: str) -> list[str]:
    return [name for name, m in ALL.items() if m["kind"] == kind]


def assert_same_bits(name: str, backend: str, ours: dict, data: dict, prefix: str = "lava/"):
    """Every array recorded from Lava under ``prefix`` equals neurolearn's (``ours``: same keys, no prefix)."""
    lava = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
    assert lava, f"{name}: no recorded arrays"
    assert set(ours) >= set(lava), f"{name}: {backend} lacks {sorted(set(lava) - set(ours))}"
    for key, want in lava.items():
        got = np.asarray(ours[key])
        assert got.shape == want.shape, f"{name}: {backend} {key}: shape {got.shape}, Lava {want.shape}"
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{name}: {backend} {key}: {len(bad)} value(s) differ from Lava's, first at index "
                               f"{tuple(int(i) for i in bad[0])}: neurolearn {got[tuple(bad[0])]}, "
                               f"Lava {want[tuple(bad[0])]}")


def layer_arrays(sim) -> dict:
    return {f"{n}/{k}": getattr(r, k) for n, r in sim.layers.items() for k in ("spikes", "u", "v", "bursts", "v_d")
            if getattr(r, k) is not None}


def synapse_arrays(synapses) -> dict:
    return {f"{n}/{k}": getattr(s, k) for n, s in synapses.items()
            for k in ("weights", "tag_1", "tag_2", "x", "y", "tx", "ty")}


def learning_of(data: dict):
    if "learning" not in data:
        return None
    return {n: Plasticity.from_dict(d) for n, d in json.loads(str(data["learning"])).items()}


def y_traces_of(data: dict) -> dict:
    return {k[2:]: v for k, v in data.items() if k.startswith("y/")}


@pytest.mark.parametrize("name", named("plain"))
def test_plain_plans_equal_lava(name):
    """LIF plans (Dense, Conv, Sparse, delays): the batched fixed-point simulator, and the learning simulator
    where it runs the plan's features (every plan of Dense connections; it refuses the connection kinds)."""
    data = load(name)
    plan, x = Plan.from_json(str(data["plan"])), data["input"]
    assert_same_bits(name, "fixed", layer_arrays(simulate_fixed(plan, x)), data)
    if not missing_features(plan.features(), "learning"):
        assert_same_bits(name, "learning", layer_arrays(simulate_learning(plan, x).sim), data)


@pytest.mark.parametrize("name", named("learning"))
def test_learning_networks_equal_lava(name):
    data = load(name)
    plan, x = Plan.from_json(str(data["plan"])), data["input"]
    res = simulate_learning(plan, x, learning_of(data), y_traces_of(data))
    assert_same_bits(name, "learning", {**layer_arrays(res.sim), **synapse_arrays(res.synapses)}, data)


@pytest.mark.parametrize("name", named("epochs"))
def test_learning_schedule_equals_lava_at_every_epoch_end(name):
    data = load(name)
    plan = Plan.from_json(str(data["plan"]))
    run = run_fixed(plan, Schedule(data["input"], (), tuple(int(e) for e in data["epoch_ends"])))
    ours = {f"{n}/{k}": v for k, arrays in (("spikes", run.spikes), ("bursts", run.bursts), ("weights", run.weights))
            for n, v in arrays.items()}
    assert_same_bits(name, "learning (epochs)", ours, data)


@pytest.mark.parametrize("name", [name for name in ALL if "model_nir" in np.load(FIXTURES / f"{name}.npz").files])
def test_the_recorded_model_compiles_to_the_recorded_plan(name, tmp_path):
    """The compiler gives here (any Python; numpy 2: NEP 50 promotion, scalar reprs) the plan and report.md it
    gave when recording."""
    from neurolearn.compile.build import compile_model

    data = load(name)
    (tmp_path / "m.nir").write_bytes(data["model_nir"].tobytes())
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    ours, want = build.plan.to_dict(), Plan.from_json(str(data["plan"])).to_dict()
    assert {k: v for k, v in ours.items() if k != "source"} == {k: v for k, v in want.items() if k != "source"}
    assert (build.path / "report.md").read_text().splitlines() == str(data["report"]).splitlines()


@pytest.mark.parametrize("name", [name for name, m in ALL.items() if "on_chip_xor" in m])
def test_the_on_chip_xor_compiles_to_the_recorded_plan_and_input(name):
    """The on-chip XOR's plan and its Poisson input schedule are the same here as when recording (the recorded
    plan.json read by this neurolearn: a later plan version adds fields with their defaults)."""
    from neurolearn.ir.plan import Plan
    from neurolearn.train.onchip import OnChipConfig, compile_xor

    xor, data = ALL[name]["on_chip_xor"], load(name)
    compiled, schedule, _ = compile_xor(xor["seed"], OnChipConfig(epochs=xor["epochs"]))
    assert compiled.plan.to_json() == Plan.from_json(str(data["plan"])).to_json()
    assert np.array_equal(schedule.spikes, data["input"]) and list(schedule.epoch_ends) == list(data["epoch_ends"])


def test_effective_weights_are_lavas():
    data = load("lava_weightutils")
    ours = np.stack([np.concatenate([effective_weights(row[None], bits) for row in data["w"]])
                     for bits in range(1, 9)])
    assert_same_bits("lava_weightutils", "effective_weights", {"effective": ours}, data)


def test_random_streams_are_lavas():
    """numpy's generators (Lava's TraceRandom and ConnVarRandom draw from them) give Lava's streams: a
    learning connection's first take of all the steps (TraceStreams)."""
    data = load("lava_random_streams")
    steps, ours = int(data["steps"]), {}
    for s in data["seeds"]:
        xd, xi, yd, yi, conn = TraceStreams(LearningProgram(dw="x0", rng_seed=int(s))).take(steps)
        ours.update({f"{s}/x_decay": xd, f"{s}/x_impulse": xi, f"{s}/y_decay": yd, f"{s}/y_impulse": yi,
                     "conn": conn})
    assert_same_bits("lava_random_streams", "TraceStreams", ours, data)


def test_random_streams_continue_chunk_by_chunk():
    """Takes of fewer steps (a chip session's chunks) continue Lava's recorded streams: after the first, each take's
    index 0 is unread padding."""
    data = load("lava_random_streams")
    steps, ours = int(data["steps"]), {}
    for s in data["seeds"]:
        streams = TraceStreams(LearningProgram(dw="x0", rng_seed=int(s)))   # t_epoch 1: every step starts an epoch
        first, *later = [streams.take(k) for k in (1, steps // 3, steps - 1 - steps // 3)]
        xd, xi, yd, yi, conn = (np.concatenate([a] + [t[i][1:] for t in later]) for i, a in enumerate(first))
        ours.update({f"{s}/x_decay": xd, f"{s}/x_impulse": xi, f"{s}/y_decay": yd, f"{s}/y_impulse": yi,
                     "conn": conn})
    assert_same_bits("lava_random_streams", "TraceStreams in chunks", ours, data)


def test_rule_strings_read_as_lava_read_them():
    from tests.ir.test_program_parser import assert_reads_as

    rows = json.loads(str(load("lava_parser")["readings"]))
    kinds = [assert_reads_as(r["target"], r["text"], r["lava"]) for r in rows]
    assert kinds.count("read") >= len(kinds) // 4 and len(set(kinds)) >= 8, sorted(set(kinds))


# ---- the fixtures are representative ----------------------------------------------------------------------

def recorded_plans():
    out = []
    for name, m in ALL.items():
        if m["kind"] in ("plain", "learning", "epochs"):
            data = load(name)
            out.append((Plan.from_json(str(data["plan"])), learning_of(data), data))
    return out


def test_every_integer_field_is_recorded_at_both_edges():
    """Each field of LIF, Dense and BurstLIF reaches the ends of its legal range in some fixture."""
    plans = [p for p, _, _ in recorded_plans()]
    layers = [L for p in plans for L in p.layers]
    conns = [c for p in plans for c in p.connections]
    bursts = [L.burst for L in layers if L.burst is not None]
    fields = {("layer", "du"): (P.DU_RANGE, [v for L in layers for v in np.ravel(L.du)]),
              ("layer", "dv"): (P.DV_RANGE, [v for L in layers for v in np.ravel(L.dv)]),
              ("layer", "vth"): (P.VTH_RANGE, [v for L in layers for v in np.ravel(L.vth)]),
              ("layer", "bias_mant"): (P.BIAS_MANT_RANGE, [v for L in layers for v in L.bias_mant]),
              ("layer", "bias_exp"): (P.BIAS_EXP_RANGE, [v for L in layers for v in L.bias_exp]),
              ("layer", "v_init"): (P.STATE_RANGE, [v for L in layers for v in L.v_init]),
              ("connection", "weights"): (P.WEIGHT_RANGE, [v for c in conns for v in c.weights.ravel()]),
              ("connection", "weight_exp"): (P.WEIGHT_EXP_RANGE, [c.weight_exp for c in conns]),
              ("connection", "num_weight_bits"): (P.NUM_WEIGHT_BITS_RANGE, [c.num_weight_bits for c in conns]),
              ("burst", "dv_d"): (P.DV_RANGE, [b.dv_d for b in bursts]),
              ("burst", "lut"): (P.LUT_RANGE, [v for b in bursts for v in b.lut]),
              ("burst", "lut_offset"): (P.STATE_RANGE, [b.lut_offset for b in bursts]),
              ("burst", "lut_shift"): (P.LUT_SHIFT_RANGE, [b.lut_shift for b in bursts]),
              ("burst", "pbar_shift"): (P.PBAR_SHIFT_RANGE, [b.pbar_shift for b in bursts]),
              ("burst", "pbar_init"): ((0, P.PBAR_ONE), [b.pbar_init for b in bursts]),
              ("burst", "valence_levels"): (P.VALENCE_LEVELS_RANGE, [b.valence_levels for b in bursts]),
              ("burst", "seed"): (P.SEED_RANGE, [b.seed for b in bursts])}
    missing = [f"{what}.{field} {edge}" for (what, field), ((lo, hi), seen) in fields.items()
               for edge in (lo, hi) if edge not in set(int(v) for v in seen)]
    assert not missing, missing


def test_every_plan_feature_and_kind_of_program_is_recorded():
    plans = recorded_plans()
    assert set().union(*(p.features() for p, _, _ in plans)) == set(FEATURES)
    learning = [pl for p, separate, _ in plans for pl in (separate or p.learning).values()]
    progs = [pl.program for pl in learning]
    seen = {"dd": any(p.dd for p in progs), "dt": any(p.dt for p in progs),
            "initial tags": any(pl.tag_1 is not None and np.any(pl.tag_1) for pl in learning),
            "u<k> decimation": any(p.k for p in progs), "three_factor": any(p.three_factor for p in progs),
            "t_epoch > 1": any(p.t_epoch > 1 for p in progs),
            **{f"sign_mode {m}": any(pl.sign_mode == m for pl in learning) for m in P.SIGN_MODES},
            "y traces given": any(y_traces_of(d) for _, _, d in plans)}
    assert all(seen.values()), [k for k, v in seen.items() if not v]
    assert len(named("plain")) >= 10 and len(named("learning")) >= 20 and named("epochs")


def test_recorded_runs_are_active():
    """Guard: the recorded networks spike, and the learning ones learn, or bit-exactness proves little."""
    silent, frozen = [], []
    for name, m in ALL.items():
        if m["kind"] not in ("plain", "learning"):
            continue
        data = load(name)
        silent += [name] if sum(int(v.sum()) for k, v in data.items() if k.endswith("/spikes")) == 0 else []
        w = [v for k, v in data.items() if k.startswith("lava/") and k.endswith("/weights")]
        frozen += [name] if w and all(np.array_equal(v[:, 0], v[:, -1]) for v in w) else []
    assert not set(silent) & set(named("plain")), silent
    assert len(silent) <= len(named("learning")) // 5 and len(frozen) <= len(named("learning")) // 5, (silent, frozen)


@pytest.mark.lava
@pytest.mark.parametrize("name", ["plain_weight_edges", "burst_net_0", "tags_dd_dt"])
def test_fixtures_are_what_lava_computes(name):
    """With Lava installed: Lava, run again on a fixture's plan and input, gives the recorded arrays."""
    from neurolearn.lava.runner import simulate_lava, simulate_learning_lava

    data = load(name)
    plan, x = Plan.from_json(str(data["plan"])), data["input"]
    if ALL[name]["kind"] == "plain":
        ours = layer_arrays(simulate_lava(plan, x))
    else:
        res = simulate_learning_lava(plan, x, learning_of(data), y_traces_of(data))
        ours = {**layer_arrays(res.sim), **synapse_arrays(res.synapses)}
    assert_same_bits(name, "Lava today", ours, data)
