"""The plan as data: validation on construction, errors naming the part, plan.json round trips (v1 and v2)."""
import json

import numpy as np
import pytest

from neurolearn.errors import QuantizationError, ShapeError
from neurolearn.ir import plan as P
from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan
from neurolearn.ir.program import LearningProgram
from neurolearn.sims.learning import simulate_learning
from tests.helpers import random_burst_net


def test_plan_v2_round_trip_same_bits():
    plan, x = random_burst_net(3)
    again = P.Plan.from_json(plan.to_json())
    assert again.teacher == plan.teacher and set(again.learning) == set(plan.learning)
    a, b = simulate_learning(plan, x), simulate_learning(again, x)
    for n in a.synapses:
        assert np.array_equal(a.synapses[n].weights, b.synapses[n].weights)
    for n in a.sim.layers:
        assert np.array_equal(a.sim.layers[n].spikes, b.sim.layers[n].spikes)


def test_plan_errors_name_the_part():
    plan, _ = random_burst_net(0)
    kw = plan.__dict__
    three = P.Plasticity(LearningProgram(dw="y0 * x1 * (y1 - 64)", x1_impulse=4, three_factor=True))
    with pytest.raises(QuantizationError, match=r"connection 'b'.*three-factor.*'l1' is a plain LIF"):
        P.Plan(**{**kw, "learning": {"b": three}})
    bad = P.ConnectionPlan("q", "l1", "l2", np.ones((plan.layers[2].size, plan.layers[1].size)), carries="bursts")
    with pytest.raises(ShapeError, match="carries bursts but 'l1' is not a burst layer"):
        P.Plan(**{**kw, "connections": plan.connections + (bad,)})
    bad = P.ConnectionPlan("q", "l0", "l1", np.ones((plan.layers[1].size, plan.layers[0].size)), port="apical")
    with pytest.raises(ShapeError, match="apical dendrite of 'l1'"):
        P.Plan(**{**kw, "connections": plan.connections + (bad,)})
    with pytest.raises(QuantizationError, match=r"'valence_levels' = 9 outside \[0, 7\]"):
        P.BurstPlan(dv_d=1, lut=np.zeros(256), valence_levels=9)
    with pytest.raises(QuantizationError, match=r"layer 'h': .*'lut_shift' = 40 outside \[0, 23\]"):
        P.LayerPlan('h', 1, 0, 0, 1, [0], [0], burst=dict(dv_d=1, lut=[0] * 256, lut_shift=40))


def test_plan_version_1_still_reads(small_plan):
    d = json.loads(small_plan.to_json())
    d["version"] = 1
    for key in ("learning", "teacher"):
        del d[key]
    for layer in d["layers"]:
        del layer["burst"]
    for c in d["connections"]:
        for key in ("port", "carries", "input_range"):
            del c[key]
    again = P.Plan.from_dict(d)
    assert again.learning == {} and all(L.burst is None for L in again.layers)
    assert [c.port for c in again.connections] == ["soma"] * len(again.connections)


def test_plan_json_round_trip(small_plan):
    again = Plan.from_json(small_plan.to_json())
    assert again.to_json() == small_plan.to_json()


@pytest.mark.parametrize("field,value,match", [
    ("du", 4096, r"'du' = 4096 outside \[0, 4095\]"),
    ("dv", -1, r"'dv' = -1 outside \[0, 4095\]"),
    ("vth", 2**17, r"'vth' = 131072 outside \[0, 131071\]"),
    ("bias_mant", [5000], r"'bias_mant' = 5000 outside \[-4096, 4095\]"),
    ("bias_exp", [8], r"'bias_exp' = 8 outside \[0, 7\]"),
])
def test_plan_layer_ranges(field, value, match):
    args = dict(name="l", size=1, du=0, dv=0, vth=1, bias_mant=[0], bias_exp=[0])
    args[field] = value
    with pytest.raises(QuantizationError, match=match):
        LayerPlan(**args)


@pytest.mark.parametrize("kw,match", [
    (dict(weights=[[300]]), r"'weights' = 300 outside \[-256, 255\]"),
    (dict(weight_exp=8), r"'weight_exp' = 8 outside \[-8, 7\]"),
    (dict(num_weight_bits=0), r"'num_weight_bits' = 0 outside \[1, 8\]"),
    (dict(weights=[[0.5]]), "not all integers"),
])
def test_plan_connection_ranges(kw, match):
    args = dict(name="c", source="in", target="l", weights=[[1]])
    args.update(kw)
    with pytest.raises(QuantizationError, match=match):
        ConnectionPlan(**args)


def test_plan_shape_mismatch():
    layer = LayerPlan("l", 2, 0, 0, 1, [0, 0], [0, 0])
    with pytest.raises(ShapeError, match=r"weights shape \(2, 3\), expected \(2, 4\)"):
        Plan(1e-3, "in", 4, (layer,), (ConnectionPlan("c", "in", "l", np.zeros((2, 3), int)),), ("l",))
