"""The quantization search: each layer's vth (scale), weight_exp and bias_exp are chosen together, so a valid
network is never refused because one parameter is large relative to another; where precision must be lost the
plan with the least error is taken and reported; what cannot fit at any scale saturates, loudly."""
import math

import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolearn.cli import main
from neurolearn.compile.normalize import to_network
from neurolearn.compile.quantize import VTH_HEADROOM, VTH_TARGET, _at, choose_integers, quantize
from neurolearn.ir import plan as P
from neurolearn.nir import write
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.float_ref import simulate_float
from tests.helpers import lif_graph, spikes


def recurrent_cuba(n_in=5, n=10, seed=3, dt=1e-3):
    """The issue's network: a recurrent CubaLIF whose Affine biases (trained in snntorch) reach -7.5 thresholds per
    step at the membrane, next to weights of about one threshold."""
    rng = np.random.default_rng(seed)
    tau_syn, tau_mem = 2 * dt, 10 * dt
    bias = rng.normal(0, 2.5, n)
    bias[n - 1] = -7.49532   # the input gain (w_in dt/tau_syn)(r dt/tau_mem) is 1
    nodes = {"input": nir.Input(np.array([n_in])),
             "fc": nir.Affine(weight=rng.normal(0, 1.2, (n, n_in)), bias=bias),
             "cuba": nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / dt),
                                 v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.full(n, tau_syn / dt)),
             "rec": nir.Linear(weight=rng.normal(0, 0.6, (n, n))),
             "output": nir.Output(np.array([n]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "cuba"), ("cuba", "rec"), ("rec", "cuba"),
                                         ("cuba", "output")], type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": dt}
    return g


def test_the_issues_recurrent_cubalif_with_large_biases_compiles():
    net = to_network(recurrent_cuba())
    assert net.populations[0].input_bias.min() == pytest.approx(-7.49532)   # steady state, thresholds per step
    q = quantize(net)
    layer = q.plan.layers[0]
    rep = layer.bias / layer.scale
    want = net.populations[0].input_bias / (1 - net.populations[0].alpha)
    np.testing.assert_allclose(rep, want, atol=1e-3)   # every bias represented
    assert layer.vth < VTH_TARGET                        # resolution given up for the bias, and said so
    assert any(f"vth = {layer.vth}" in n and "limited by bias" in n for n in q.notes)
    assert not any("SATURATED" in n for n in q.notes)


def test_float_and_fixed_agree_on_the_issues_network():
    net = to_network(recurrent_cuba())
    plan = quantize(net).plan
    x = spikes(5, steps=120, batch=6, rate=0.5)
    flt = simulate_float(net, x).layers["cuba"].spikes.sum()
    fx = simulate_fixed(plan, np.concatenate([x, np.zeros((6, 1, 5), np.uint8)], axis=1)).layers["cuba"].spikes
    assert flt > 50 and abs(int(fx[:, 1:].sum()) - int(flt)) <= 0.05 * flt


@pytest.mark.lava
def test_the_issues_network_verifies(tmp_path, capsys):
    write(tmp_path / "c.nir", recurrent_cuba())
    assert main(["verify", str(tmp_path / "c.nir"), "--steps", "60", "--rate", "0.5"]) == 0
    assert "all layers match (0 mismatches)" in capsys.readouterr().out


def test_ordinary_layers_keep_full_resolution():
    q = quantize(to_network(lif_graph(weight=np.random.default_rng(0).normal(0, 0.3, (6, 8)))))
    layer, conn = q.plan.layers[0], q.plan.connections[0]
    assert VTH_TARGET <= layer.vth
    assert np.abs(conn.weights).max() >= 250   # the largest weight fills the 8-bit mantissa
    q = quantize(to_network(lif_graph(weight=np.random.default_rng(0).normal(0, 3.0, (6, 8)))))
    assert VTH_TARGET <= q.plan.layers[0].vth <= VTH_HEADROOM and np.abs(q.plan.connections[0].weights).max() >= 250


def test_a_bias_beyond_any_scale_saturates_and_says_so(tmp_path, capsys):
    g = lif_graph()
    g.nodes["fc"] = nir.Affine(weight=np.full((3, 4), 0.5), bias=np.array([0.0, 1e9, 0.0]))
    q = quantize(to_network(g))
    assert q.plan.layers[0].vth == 1 and q.plan.layers[0].bias[1] == P.BIAS_MANT_RANGE[1] << 7
    assert any("SATURATED bias of neurons [1]" in n for n in q.notes)
    write(tmp_path / "u.nir", g)
    assert main(["compile", str(tmp_path / "u.nir"), "-o", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("warning: lif: SATURATED bias") for line in err)   # (and the weights it zeroes)
    assert all(line.startswith("warning: ") for line in err)
    assert main(["compile", str(tmp_path / "u.nir"), "-o", str(tmp_path / "c"), "--strict"]) == 1
    assert "SATURATED bias" in (tmp_path / "b" / "report.md").read_text()


@st.composite
def layers(draw):
    """A layer's thresholds, incoming weights, biases and v_reset with magnitudes anywhere from 1e-3 to 1e4 of one
    another (as trained networks have them)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 6))
    mag = lambda: 10.0 ** draw(st.floats(-3, 4))  # noqa: E731
    spiking = draw(st.booleans())
    theta = rng.uniform(0.5, 2.0, n) * mag() if spiking else None
    blocks = []
    for _ in range(draw(st.integers(0, 3))):
        w = rng.normal(0, 1, (n, draw(st.integers(1, 5)))) * mag()
        if draw(st.booleans()):
            w = np.abs(w)
        blocks.append((w, bool(w.min() < 0 < w.max())))
    bias = rng.normal(0, 1, n) * mag() * draw(st.sampled_from([0, 1]))
    v_reset = rng.normal(0, 1, n) * mag() * draw(st.sampled_from([0, 1])) if spiking else np.zeros(n)
    return theta, blocks, bias, v_reset


@given(layers())
@settings(max_examples=150)
def test_the_search_fits_everything_and_finds_the_least_error(layer):
    theta, blocks, bias, v_reset = layer
    q, why = choose_integers(theta, blocks, bias, v_reset)
    n = bias.size
    lp = P.LayerPlan("x", n, 0, 0, int(q.t) if theta is not None else P.VTH_RANGE[1], q.bias[0], q.bias[1],
                     scale=64 * q.scale, v_reset=q.v_reset if theta is not None else None)   # every range checked
    for (w, mixed), (wi, e) in zip(blocks, q.weights):
        P.ConnectionPlan("c", "in", "x", wi, weight_exp=e)
        assert not mixed or np.all(wi % 2 == 0)
    if theta is not None:
        np.testing.assert_allclose(lp.vth / q.scale, theta, rtol=1e-12)   # thresholds exact
    if q.saturated:   # only where nothing fits even at the smallest scale
        assert theta is not None and q.t == 1 or theta is None
        return
    # no vth up to the headroom limit at which everything fits has a finer resolution (coarsest step)
    g = 1 / theta if theta is not None else np.full(n, q.scale[0] / q.t)
    grid = range(1, max(VTH_HEADROOM, int(q.t)) + 1) if theta is not None else np.linspace(q.t / 64, q.t, 400)
    fits = [o.error for o in (_at(t, g, blocks, bias, v_reset) for t in grid) if not o.saturated]
    assert fits and q.error <= min(fits) * 1.01 + 1e-15, (q.t, q.error, min(fits), why)
    assert math.isfinite(q.error)
