"""A biased layer reached after d steps starts from v_init: Lava adds its bias from step 0 but its first input
arrives at step d; from v_init those d steps of bias end exactly at rest, so the layer starts its first input
where the NIR model (and the float reference, which has no delays) starts it."""
import nir
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolearn.cli import main
from neurolearn.compile.build import compile_model
from neurolearn.dynamics.lif import STATE_MAX, lif_int_step, lif_start_voltage
from neurolearn.nir import write
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.float_ref import simulate_float

ints = st.integers


@settings(max_examples=300, deadline=None)
@given(bias=ints(-2**16, 2**16), keep=ints(0, 4096), vth6=ints(1, 2**17 - 1).map(lambda v: v << 6),
       mode=ints(0, 4), steps=ints(0, 6))
def test_the_start_voltage_reaches_rest_without_a_spike(bias, keep, vth6, mode, steps):
    v_init, exact = lif_start_voltage(np.array([bias]), keep, vth6, mode, steps)
    u, v, zero = np.zeros(1, np.int64), v_init.astype(np.int64), np.zeros(1, np.int64)
    spiked = False
    for _ in range(steps):
        s, u, v = lif_int_step(u, v, zero, zero + 4095, np.int64(keep), np.array([bias]), np.int64(vth6), zero,
                               mode)
        spiked |= bool(s[0])
    if exact[0]:
        assert not spiked and (v[0] == 0 or keep == 0) and abs(v_init[0]) <= STATE_MAX
    else:
        assert v_init[0] == 0
    if abs(bias) * 32 <= vth6 and keep >= 2048 and steps <= 3:   # the start stays within a threshold: exact
        assert exact[0]


def two_biased_layers(bias2=(0.1, -0.3), tau2=0.01):
    """input -> Affine (biases of both signs) -> LIF -> Affine (bias) -> LIF: the second layer lags two steps."""
    def lif(n, tau):
        return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / 1e-3), v_leak=np.zeros(n), v_threshold=np.ones(n),
                       v_reset=np.zeros(n))

    nodes = {"input": nir.Input(np.array([4])),
             "fc1": nir.Affine(weight=np.full((3, 4), 0.5), bias=np.array([0.3, -0.2, 0.05])), "lif1": lif(3, 0.01),
             "fc2": nir.Affine(weight=np.full((2, 3), 0.4), bias=np.asarray(bias2, float)), "lif2": lif(2, tau2),
             "output": nir.Output(np.array([2]))}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    g.metadata["neurolearn"] = {"version": 1, "dt": 1e-3}
    return g


def test_biased_layers_start_at_rest_as_in_the_nir_model(tmp_path):
    write(tmp_path / "m.nir", two_biased_layers())
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    assert {L.name: bool(np.any(L.v_init)) for L in build.plan.layers} == {"lif1": True, "lif2": True}
    assert "start_voltage" in build.plan.features()
    report = (tmp_path / "b" / "report.md").read_text()
    assert "lif2: its bias acts from step 0, its first input arrives at step 2" in report
    x = np.zeros((1, 40, 4), np.uint8)
    x[0, 10:20:3] = 1
    fl, fx = simulate_float(build.network, x), simulate_fixed(build.plan, x)
    for L in build.plan.layers:
        d = fx.delays[L.name]
        got = fx.layers[L.name].v[0, d:d + 30] / L.scale
        want = fl.layers[L.name].v[0, :30]
        assert np.abs(got - want).max() < 1e-3, (L.name, np.abs(got - want).max())
        assert np.array_equal(fx.layers[L.name].spikes[0, d:d + 30], fl.layers[L.name].spikes[0, :30])


def test_a_bias_that_would_spike_before_the_first_input_is_reported(tmp_path, capsys):
    """lif2 would have to start above its threshold (bias -0.9 per step, beta 0.5, two steps): it starts at 0,
    two steps of bias ahead: a warning, and --strict refuses."""
    write(tmp_path / "m.nir", two_biased_layers(bias2=(0.1, -0.9 * 2), tau2=0.002))
    build = compile_model(tmp_path / "m.nir", tmp_path / "b")
    assert "bias acts before the first input: 1 neuron (lif2 1)" in build.warnings
    assert not np.any(build.plan.layer("lif2").v_init[1])
    assert main(["compile", str(tmp_path / "m.nir"), "-o", str(tmp_path / "strict"), "--strict"]) == 1
    assert "bias acts before the first input" in capsys.readouterr().err
    assert not (tmp_path / "strict").exists()


@pytest.mark.lava
def test_lava_starts_from_v_init(tmp_path, capsys):
    write(tmp_path / "m.nir", two_biased_layers())
    assert main(["verify", str(tmp_path / "m.nir"), "--steps", "40", "--rate", "0.3"]) == 0, capsys.readouterr()
    assert "all layers match (0 mismatches)" in capsys.readouterr().out
