"""Convolutions, sparse matrices and delays as plan data: validated on construction (one line naming the
connection and parameter), round-tripped through plan.json, named by Plan.features()."""
import json

import numpy as np
import pytest

from neurolearn.errors import QuantizationError, ShapeError
from neurolearn.ir import plan as P
from neurolearn.ir.geometry import ConvGeometry, SparseLayout
from neurolearn.sims.fixed import simulate_fixed
from tests.conformance.test_backends import feature_plan


def test_geometry_output_shape_is_torchs():
    import torch

    g = ConvGeometry((2, 7, 6), 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    out = torch.nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                          groups=2)(torch.zeros(1, 2, 7, 6))
    assert g.out_shape == tuple(out.shape[1:]) and g.kernel_shape == (4, 1, 3, 2)
    assert ConvGeometry([1, 5, 5], 1, 3, stride=2) == ConvGeometry((1, 5, 5), 1, (3, 3), stride=(2, 2))


@pytest.mark.parametrize("kw,match", [
    (dict(in_shape=(2, 5)), r"in_shape \(2, 5\); expected \(channels, height, width\)"),
    (dict(groups=3), "groups 3 must divide in_channels 2 and out_channels 4"),
    (dict(kernel=(7, 1)), r"a \(7, 1\) kernel .* does not fit the \(5, 5\) input"),
    (dict(stride=0), r"stride \(0, 0\); allowed >= 1"),
    (dict(padding=(-1, 0)), r"padding \(-1, 0\); allowed >= 0"),
    (dict(dilation=(1, 2, 3)), "dilation .*; expected an integer or a pair of integers"),
])
def test_geometry_refusals(kw, match):
    args = dict(in_shape=(2, 5, 5), out_channels=4, kernel=(3, 3))
    args.update(kw)
    with pytest.raises(ShapeError, match=match):
        ConvGeometry(**args)


def test_sparse_layout_refusals():
    with pytest.raises(ShapeError, match="rows must be integers in"):
        SparseLayout((2, 3), [0, 2], [0, 1])
    with pytest.raises(ShapeError, match="row-major order, each at most once"):
        SparseLayout((2, 3), [1, 0], [0, 1])
    with pytest.raises(ShapeError, match="as many rows as cols"):
        SparseLayout((2, 3), [0, 1], [0])
    m = np.array([[0, 3, 0], [4, 0, 5]])
    at = SparseLayout.of(m)
    assert at.nnz == 3 and np.array_equal(at.dense(m[m != 0]), m)


def _conv(**kw):
    geo = ConvGeometry((1, 4, 4), 2, (3, 3), padding=1)
    args = dict(name="c", source="in", target="l", weights=np.ones(geo.kernel_shape, int), conv=geo)
    args.update(kw)
    return P.ConnectionPlan(**args)


@pytest.mark.parametrize("make,error,match", [
    (lambda: _conv(weight_exp=1), QuantizationError,
     r"node 'c': parameter 'weight_exp': 1 with num_weight_bits 8; Lava's Conv \(fixed_pt\) applies neither"),
    (lambda: _conv(num_weight_bits=6), QuantizationError, "allowed weight_exp 0, num_weight_bits 8"),
    (lambda: _conv(weights=np.ones((2, 1, 3, 2), int)), ShapeError,
     r"'weights': shape \(2, 1, 3, 2\), expected \(2, 1, 3, 3\)"),
    (lambda: _conv(weights=np.full((2, 1, 3, 3), 300)), QuantizationError, r"'weights' = 300 outside \[-256, 255\]"),
    (lambda: _conv(delays=np.zeros((2, 1, 3, 3), int)), ShapeError, "'delays': a convolution has none"),
    (lambda: _conv(conv=ConvGeometry((1, 200, 4), 2, (3, 3), stride=(130, 1))), ShapeError,
     r"'stride': \(130, 1\); Lava's Conv holds it in 8 bits: allowed <= 127"),
    (lambda: P.ConnectionPlan("s", "in", "l", np.ones(3, int), sparse=SparseLayout((2, 2), [0, 1], [1, 0])),
     ShapeError, r"'weights': shape \(3,\), expected \(2,\)"),
    (lambda: P.ConnectionPlan("d", "in", "l", np.ones((2, 2), int), delays=np.full((2, 2), 64)), QuantizationError,
     r"node 'd': parameter 'delays' = 64 outside \[0, 63\]"),
    (lambda: P.ConnectionPlan("d", "in", "l", np.ones((2, 2), int), delays=np.zeros((2, 3), int)), ShapeError,
     r"'delays': shape \(2, 3\), expected the weights' \(2, 2\)"),
    (lambda: P.ConnectionPlan("d", "in", "l", np.ones((2, 2), int), delays=np.full((2, 2), 0.5)), QuantizationError,
     "'delays': not all integers"),
])
def test_connection_kind_refusals_name_connection_and_parameter(make, error, match):
    with pytest.raises(error, match=match) as err:
        make()
    assert "\n" not in str(err.value)


def test_plan_checks_the_sizes_a_convolution_connects():
    c = _conv()   # (1, 4, 4) -> (2, 4, 4): 16 -> 32 neurons
    layer = P.LayerPlan("l", 30, 0, 0, 1, np.zeros(30, int), np.zeros(30, int))
    with pytest.raises(ShapeError, match=r"connection 'c' weights shape \(32, 16\), expected \(30, 16\)"):
        P.Plan(1e-3, "in", 16, (layer,), (c,), ("l",))


@pytest.mark.parametrize("feature", ["convolution", "sparse", "delays"])
def test_round_trip_through_plan_json_keeps_every_bit(feature):
    plan, x = feature_plan(feature)
    text = plan.to_json()
    again = P.Plan.from_json(text)
    assert again.to_json() == text and feature in again.features()
    d = json.loads(text)
    assert d["version"] == P.PLAN_VERSION == 7
    a, b = simulate_fixed(plan, x), simulate_fixed(again, x)
    for name in a.layers:
        assert np.array_equal(a.layers[name].v, b.layers[name].v)


def test_older_plans_have_none_of_the_new_kinds(small_plan):
    d = json.loads(small_plan.to_json())
    d["version"] = 2
    for c in d["connections"]:
        for key in ("conv", "sparse", "delays"):
            del c[key]
    again = P.Plan.from_dict(d)
    assert not again.features() & {"convolution", "sparse", "delays"}
    assert all(c.kind == "dense" for c in again.connections)
