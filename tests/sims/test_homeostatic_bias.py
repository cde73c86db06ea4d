"""The burst neuron's homeostatic bias (db = eta (rate - event) per step): compiled from a burst network's
layer parameters, run bit for bit as Lava runs it, holding the event rate in the simulator and in the float twin,
written to and read from NIR, and refused where it does not fit."""

import numpy as np
import pytest

from neurolearn.compile.burst_mapping import compile_burst_network
from neurolearn.errors import InputError, NIRFormatError, QuantizationError
from neurolearn.ir.burst_network import BurstLayer, BurstNetwork, BurstParams
from neurolearn.lava.runner import simulate_learning_lava
from neurolearn.nir.burst_encoding import from_nir, to_nir
from neurolearn.sims.float_twin import FloatTwinSession
from neurolearn.sims.learning import ChipSession, simulate_learning
from tests.helpers import assert_same_as_lava, random_burst_net

RATE, ETA = 0.05, 0.01


def one_layer(rate=RATE, eta=ETA, bias=0.0, n=8):
    """input (4 Poisson channels) -> one burst layer of ``n`` driven well above ``rate`` without homeostasis."""
    params = BurstParams(beta=0.9, beta_d=0.9, homeostasis_rate=rate, homeostasis_eta=eta)
    w = np.random.default_rng(0).uniform(0.3, 0.6, (n, 4))
    return BurstNetwork(dt=1e-3, input_size=4, layers=(BurstLayer("z", n, params, 3),),
                        weights={("input", "z"): w}, feedback={}, biases={"z": np.full(n, bias)})


def drive(steps=30000):
    return (np.random.default_rng(1).random((steps, 4)) < 0.2).astype(np.uint8)


@pytest.mark.lava
@pytest.mark.parametrize("seed", [0, 1])
def test_homeostatic_bias_bit_exact_with_lava(seed):
    plan, x = random_burst_net(seed, homeostasis=True)
    ours, lava = simulate_learning(plan, x), simulate_learning_lava(plan, x)
    assert_same_as_lava(ours, lava)
    plain, _ = random_burst_net(seed, homeostasis=True)
    layers = tuple(L if L.burst is None else type(L)(**{**L.__dict__, "burst": type(L.burst)(
        **{**L.burst.__dict__, "bias_gain": 0})}) for L in plain.layers)
    without = simulate_learning(type(plain)(**{**plain.__dict__, "layers": layers}), x)
    assert not np.array_equal(without.sim.layers["l0"].v, ours.sim.layers["l0"].v)   # the bias took effect


def test_compiled_gain_and_shift_realize_eta():
    compiled = compile_burst_network(one_layer())
    bp, layer = compiled.plan.layer("z").burst, compiled.plan.layer("z")
    assert bp.rate_target == round(RATE * 2**15) and bp.bias_gain >= 16
    realized = bp.bias_gain * 2**15 / 2**bp.bias_shift / layer.scale[0]
    assert abs(realized / ETA - 1) < 0.035
    assert any("z: homeostatic bias" in note and "saturates at" in note for note in compiled.notes)
    assert compile_burst_network(one_layer(eta=0.0, rate=0.0)).plan.layer("z").burst.bias_gain == 0


@pytest.mark.parametrize("backend", ["fixed", "float twin"])
def test_homeostasis_holds_the_event_rate(backend):
    x = drive()

    def rate(net):
        compiled = compile_burst_network(net)
        session = ChipSession(compiled.plan, threads=1) if backend == "fixed" else FloatTwinSession(net, compiled)
        spikes, _ = session.run(x)
        return spikes[-10000:].mean()

    free = rate(one_layer(eta=0.0, rate=0.0))
    assert free > 3 * RATE                               # the drive alone sets a much higher rate
    assert abs(rate(one_layer()) - RATE) < 0.2 * RATE
    assert abs(rate(one_layer(rate=0.02)) - 0.02) < 0.2 * 0.02


def test_layer_bias_compiles_and_reaches_the_soma():
    compiled = compile_burst_network(one_layer(eta=0.0, rate=0.0, bias=0.25))
    layer = compiled.plan.layer("z")
    assert np.all(layer.bias_mant << layer.bias_exp == round(0.25 * layer.scale[0]))
    silent = np.zeros((200, 4), np.uint8)
    spikes, _ = ChipSession(compiled.plan, threads=1).run(silent)
    assert spikes.sum() > 0                              # the bias alone drives the layer


@pytest.mark.parametrize("change, message", [
    (dict(eta=1e-12), r"m.nir: node 'z': parameter 'homeostasis_eta' = 1e-12: no 8-bit gain and shift 8..18 "
                      r"\(a bias range of at least the threshold, 1\) express it within 12.5%; "
                      r"allowed 6.104e-05 .. 3.992"),
    (dict(eta=1e6), r"parameter 'homeostasis_eta' = 1e\+06: no 8-bit gain"),
    (dict(rate=1.5), r"parameter 'homeostasis_rate' = 1.5; allowed 0 .. 1 events per step"),
    (dict(eta=0.0, rate=0.0, bias=1e4), r"parameter 'bias' = 10000: beyond the 13-bit bias"),
])
def test_homeostasis_refusals_name_the_layer_and_parameter(change, message):
    with pytest.raises(QuantizationError, match=message):
        compile_burst_network(one_layer(**change), file="m.nir")


def test_homeostasis_and_bias_travel_through_nir(tmp_path):
    from neurolearn.nir import read, write

    net = one_layer(bias=-0.5)
    write(tmp_path / "h.nir", to_nir(net))
    again = from_nir(read(tmp_path / "h.nir"), file="h.nir")
    assert again.layers[0].params == net.layers[0].params
    assert np.array_equal(again.biases["z"], net.biases["z"])
    graph = to_nir(net)
    graph.nodes["z.apical"].metadata["neurolearn"]["burst"]["homeostasis"] = {"rate": -0.1, "eta": 0.01}
    with pytest.raises(NIRFormatError, match=r"h.nir: node 'z': parameter 'homeostasis.rate' = -0.1; allowed 0 .. 1"):
        from_nir(graph, file="h.nir")


def test_host_side_neuron_refuses_homeostasis():
    import torch

    from neurolearn.nets.burst_module import BurstNeuronState, burst_neuron_step

    z = torch.zeros(3)
    with pytest.raises(InputError, match="homeostasis_eta = 0.01; the host-side neuron has no homeostatic bias"):
        burst_neuron_step(z, z, BurstNeuronState(z, z, z), BurstParams(homeostasis_eta=0.01), torch.rand(3))


def test_accumulator_saturates_at_32_bits_and_needs_a_shift_of_8():
    from neurolearn.dynamics.burst_neuron import homeostatic_bias_int
    from neurolearn.ir.plan import HB_RANGE, BurstPlan

    hb = np.array([HB_RANGE[1] - 5, HB_RANGE[0] + 5, 0])
    up = homeostatic_bias_int(hb, np.array([0, 1, 0]), 2**14, 255)
    assert list(up) == [HB_RANGE[1], HB_RANGE[0], 255 * 2**14]
    with pytest.raises(QuantizationError, match=r"burst: bias_shift = 7 with bias_gain 3; allowed 8..31"):
        BurstPlan(dv_d=0, lut=np.zeros(256), bias_gain=3, bias_shift=7)


def test_plan_json_carries_the_bias_and_version_4_plans_load_without_it():
    import json

    from neurolearn.ir.plan import Plan

    plan = compile_burst_network(one_layer()).plan
    again = Plan.from_json(plan.to_json())
    assert again.to_json() == plan.to_json() and again.layer("z").burst.bias_gain == plan.layer("z").burst.bias_gain > 0
    old = json.loads(compile_burst_network(one_layer(eta=0.0, rate=0.0)).plan.to_json())
    old["version"] = 4
    for layer in old["layers"]:
        for key in ("bias_gain", "bias_shift"):
            del layer["burst"][key]
    assert Plan.from_dict(old).layer("z").burst.bias_gain == 0


@pytest.mark.parametrize("entry, message", [
    ({"rate": "x", "eta": 0.01}, r"parameter 'homeostasis.rate' = 'x'; allowed a number"),
    ({"rate": 0.1, "eta": True}, r"parameter 'homeostasis.eta' = True; allowed a number"),
    ({"rate": 0.1}, r"parameter 'homeostasis' = \{'rate': 0.1\}; allowed"),
])
def test_malformed_homeostasis_metadata_is_one_nir_error(entry, message):
    graph = to_nir(one_layer())
    graph.nodes["z.apical"].metadata["neurolearn"]["burst"]["homeostasis"] = entry
    with pytest.raises(NIRFormatError, match=rf"h.nir: node 'z': {message}"):
        from_nir(graph, file="h.nir")


def test_a_rate_without_eta_is_refused():
    with pytest.raises(QuantizationError, match=r"'homeostasis_rate' = 0.05 with homeostasis_eta 0; allowed: a rate "
                                                r"with an eta > 0, or neither"):
        compile_burst_network(one_layer(eta=0.0))


@pytest.mark.parametrize("threshold", [0.0, -1.0, 2000.0])
def test_a_threshold_the_bias_cannot_span_is_refused(threshold):
    net = one_layer()
    layer = net.layers[0]
    net = BurstNetwork(**{**net.__dict__, "layers": (BurstLayer(layer.name, layer.size,
                                                                 layer.params._replace(threshold=threshold), 3),)})
    with pytest.raises(QuantizationError, match=rf"node 'z': parameter 'threshold' = {threshold:g}: a homeostatic bias "
                                                r"needs a range of at least the threshold"):
        compile_burst_network(net, file="m.nir")
