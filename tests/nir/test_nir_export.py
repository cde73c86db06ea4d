"""snntorch -> NIR -> file -> NIR -> torch: exact round trips and the export mapping."""
import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from neurolearn.errors import InputError, ShapeError, UnsupportedNodeError
from neurolearn.nir import export_to_nir, import_from_nir, read, write

STEPS = 50


def _boost(net: nn.Module, factor: float = 4.0) -> nn.Module:
    """Scale every Linear so that the random nets spike often."""
    with torch.no_grad():
        for m in net.modules():
            if type(m) is nn.Linear:
                m.weight.mul_(factor)
    return net


def _reference(net: nn.Sequential, x: torch.Tensor, neurons: dict[str, nn.Module]):
    """Run an snntorch Sequential step by step: output spikes and each neuron's (syn, mem) per step."""
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    spikes, states = [], {name: {"mem": [], "syn": []} for name in neurons}
    for t in range(x.shape[0]):
        out = net(x[t])
        spikes.append(out[0] if isinstance(out, tuple) else out)
        for name, m in neurons.items():
            states[name]["mem"].append(m.mem.clone())
            if hasattr(m, "syn"):
                states[name]["syn"].append(m.syn.clone())
    return torch.stack(spikes), states


def _round_trip(net, tmp_path, x, neurons, input_shape=None, dt=1e-4):
    """Export, write, read, import; assert outputs and membranes are bit-identical."""
    path = tmp_path / "net.nir"
    write(path, export_to_nir(net, dt=dt, input_shape=input_shape))
    model = import_from_nir(read(path))
    want, want_states = _reference(net, x, {src: m for src, (m, _) in neurons.items()})
    got, rec = model.run(x, record=True)
    assert torch.equal(got, want)
    assert 0 < want.sum() < want.numel()  # the comparison covers spiking and silent steps
    for src, (_, dst) in neurons.items():
        assert torch.equal(rec[dst]["mem"], torch.stack(want_states[src]["mem"]))
        if want_states[src]["syn"]:
            # Synaptic keeps NIR's current scaled by r*dt/tau_mem, which is exactly 1 here
            assert torch.equal(rec[dst]["syn"], torch.stack(want_states[src]["syn"]))
    return model


def _spikes(shape, p=0.3, seed=0):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def test_docstring_example_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    net = _boost(nn.Sequential(
        nn.Flatten(), nn.Linear(784, 500), snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(500, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True),
    ), 6.0)
    x = _spikes((STEPS, 4, 1, 28, 28))
    model = _round_trip(net, tmp_path, x, {"2": (net[2], "2"), "4": (net[4], "4")}, input_shape=(1, 28, 28))
    model.reset_hidden()
    assert model(x[0]).shape == (4, 10)  # one step, batch first


def test_docstring_example_exports_without_input_shape():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 500), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.Linear(500, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    graph = export_to_nir(net, dt=1e-4)
    assert list(graph.nodes["input"].input_type["input"]) == [784]
    assert list(graph.nodes["output"].output_type["output"]) == [10]


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("delay", [True, False])
def test_leaky_and_synaptic_round_trip_is_exact(tmp_path, reset, delay):
    torch.manual_seed(1)
    net = _boost(nn.Sequential(
        nn.Linear(20, 16), snn.Synaptic(alpha=0.8, beta=0.7, init_hidden=True, threshold=0.5,
                                        reset_mechanism=reset, reset_delay=delay),
        nn.Sequential(nn.Linear(16, 8, bias=False),
                      snn.Leaky(beta=torch.linspace(0.5, 0.95, 8), threshold=torch.linspace(0.5, 1.5, 8),
                                init_hidden=True, reset_mechanism=reset, reset_delay=delay, output=True)),
    ))
    x = _spikes((STEPS, 3, 20), seed=2)
    _round_trip(net, tmp_path, x, {"1": (net[1], "1"), "2.1": (net[2][1], "2.1")})


@pytest.mark.parametrize("all_to_all", [True, False])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_rleaky_round_trip_is_exact(tmp_path, all_to_all, reset):
    torch.manual_seed(2)
    rec = (dict(linear_features=12) if all_to_all else dict(V=torch.linspace(-0.5, 0.5, 12)))
    net = _boost(nn.Sequential(
        nn.Linear(6, 12),
        snn.RLeaky(beta=0.85, all_to_all=all_to_all, init_hidden=True, reset_mechanism=reset, **rec),
        nn.Linear(12, 4), snn.Leaky(beta=0.7, init_hidden=True),
    ))
    x = _spikes((STEPS, 5, 6), seed=3)
    model = _round_trip(net, tmp_path, x, {"1": (net[1], "1.lif"), "3": (net[3], "3")})
    assert type(model.module("1.lif")) is snn.RLeaky
    assert model.module("1.lif").all_to_all is all_to_all


def test_rleaky_scalar_v_is_broadcast(tmp_path):
    torch.manual_seed(3)
    net = _boost(nn.Sequential(nn.Linear(5, 7), snn.RLeaky(beta=0.9, V=0.3, all_to_all=False, init_hidden=True)))
    graph = export_to_nir(net, dt=1e-3)
    np.testing.assert_array_equal(graph.nodes["1"].nodes["w_rec"].weight, np.diag(np.full(7, np.float32(0.3))))
    _round_trip(net, tmp_path, _spikes((STEPS, 2, 5), seed=4), {"1": (net[1], "1.lif")}, dt=1e-3)


def test_export_mapping_and_metadata():
    net = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.75, threshold=2.0, init_hidden=True),
                        nn.Linear(4, 2), snn.Synaptic(alpha=0.5, beta=0.8, init_hidden=True, reset_mechanism="zero",
                                                      reset_delay=False))
    dt = 1e-3
    g = export_to_nir(net, dt=dt)
    lif, cuba = g.nodes["1"], g.nodes["3"]
    assert type(g.nodes["0"]) is nir.Affine and type(lif) is nir.LIF and type(cuba) is nir.CubaLIF
    np.testing.assert_allclose(lif.tau, np.full(4, dt / 0.25))
    np.testing.assert_allclose(lif.r, lif.tau / dt)
    assert lif.tau.dtype == np.float64 and lif.tau.shape == (4,)
    np.testing.assert_array_equal(lif.v_threshold, np.full(4, 2.0))
    np.testing.assert_array_equal(lif.v_reset, np.zeros(4))
    np.testing.assert_allclose(cuba.tau_syn, np.full(2, dt / 0.5))
    np.testing.assert_allclose(cuba.w_in, cuba.tau_syn / dt)
    assert lif.metadata["neurolearn"] == {"reset": "subtract", "reset_delay": True, "module": "Leaky"}
    assert cuba.metadata["neurolearn"] == {"reset": "zero", "reset_delay": False, "module": "Synaptic"}
    assert g.metadata["neurolearn"]["dt"] == dt
    assert g.metadata["neurolearn"]["producer"].startswith("neurolearn ")


def test_beta_one_exports_as_if_and_round_trips(tmp_path):
    torch.manual_seed(4)
    net = _boost(nn.Sequential(nn.Linear(4, 6), snn.Leaky(beta=1.0, init_hidden=True, reset_mechanism="zero")), 2.0)
    g = export_to_nir(net, dt=1e-4)
    assert type(g.nodes["1"]) is nir.IF
    _round_trip(net, tmp_path, _spikes((STEPS, 2, 4), seed=5), {"1": (net[1], "1")})


def test_plain_nir_read_loads_the_file_with_type_checking(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), snn.RLeaky(beta=0.9, linear_features=5, init_hidden=True))
    write(tmp_path / "a.nir", export_to_nir(net, dt=2e-4, input_shape=(2, 3)))
    g = nir.read(str(tmp_path / "a.nir"), type_check=True)
    assert float(g.metadata["neurolearn"]["dt"]) == 2e-4
    assert g.metadata["neurolearn"]["integration"] == "euler"
    assert bool(g.nodes["2"].metadata["neurolearn"]["all_to_all"]) is True
    assert list(g.nodes["0"].output_type["output"]) == [6]


@settings(max_examples=200)
@given(beta=st.floats(min_value=2.0 ** -28, max_value=1.0, exclude_max=True, width=32),
       dt=st.sampled_from([1e-4, 1e-3, 2.5e-5, 1.0]))
def test_beta_tau_beta_recovers_float32_beta(beta, dt):
    net = nn.Sequential(nn.Linear(2, 3), snn.Leaky(beta=beta, init_hidden=True))
    model = import_from_nir(export_to_nir(net, dt=dt))
    assert torch.equal(model.module("1").beta, net[1].beta)
    assert type(model.gains[model.order.index("1")]) is nn.Identity  # gain r*dt/tau is exactly 1


@pytest.mark.filterwarnings("ignore:Inhibition is an unstable feature")
@pytest.mark.parametrize("make, match", [
    (lambda: snn.Alpha(alpha=0.9, beta=0.8), "module '0' has type Alpha; supported: nn.Sequential"),
    (lambda: nn.ReLU(), "module '0' has type ReLU"),
    (lambda: snn.Leaky(beta=1.5), r"module '0' \(Leaky\): parameter 'beta' = 1.5 outside \(0, 1\]"),
    (lambda: snn.Leaky(beta=0.0), r"parameter 'beta' = 0.0 outside"),
    (lambda: snn.Leaky(beta=0.9, reset_mechanism="none"), "reset_mechanism = 'none'"),
    (lambda: snn.Leaky(beta=0.9, inhibition=True), "inhibition=True"),
    (lambda: snn.Synaptic(alpha=1.0, beta=0.9), r"parameter 'alpha' = 1.0 outside \(0, 1\)"),
    (lambda: snn.Leaky(beta=torch.tensor([0.5, 1.0, 0.5, 0.5])), "mixes 1"),
])
def test_export_refuses_unsupported_modules(make, match):
    with pytest.raises(UnsupportedNodeError, match=match):
        export_to_nir(nn.Sequential(make(), nn.Linear(4, 2)), dt=1e-4, input_shape=(4,))


def test_export_refuses_max_pooling_with_its_path():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.MaxPool2d(2)))
    with pytest.raises(UnsupportedNodeError, match=r"^module '1.0' \(MaxPool2d\): NIR has no max pooling \(only "
                                                   r"SumPool2d and AvgPool2d\); use nn.AvgPool2d$"):
        export_to_nir(net, dt=1e-4, input_shape=(1, 6, 6))


def _nir_forward(node, x: torch.Tensor) -> torch.Tensor:
    """A NIR Conv2d / AvgPool2d / Flatten / Affine / Linear node applied to a batch, by NIR's definitions."""
    f = torch.nn.functional
    t = lambda a: torch.as_tensor(np.asarray(a))  # noqa: E731
    ints = lambda a: a if isinstance(a, str) else tuple(int(v) for v in np.atleast_1d(a))  # noqa: E731
    if isinstance(node, nir.Conv2d):
        return f.conv2d(x, t(node.weight), t(node.bias), stride=ints(node.stride), padding=ints(node.padding),
                        dilation=ints(node.dilation), groups=int(node.groups))
    if isinstance(node, nir.AvgPool2d):
        return f.avg_pool2d(x, ints(node.kernel_size), ints(node.stride), ints(node.padding))
    if isinstance(node, nir.Flatten):
        return x.flatten(node.start_dim + 1, node.end_dim if node.end_dim < 0 else node.end_dim + 1)
    bias = t(node.bias) if isinstance(node, nir.Affine) else 0
    return x @ t(node.weight).T + bias


def test_conv_pool_flatten_export_computes_what_torch_computes(tmp_path):
    """Each exported node, evaluated by NIR's definition, gives the torch module's output; the types are
    torch's shapes; plain nir.read type-checks the file."""
    torch.manual_seed(7)
    layers = [nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), nn.AvgPool2d(2, stride=1, padding=1),
              nn.Conv2d(4, 6, 3, dilation=(1, 2), padding="same"), nn.AvgPool2d((2, 3)),
              nn.Conv2d(6, 3, 1, padding="valid"), nn.Flatten(), nn.Linear(3 * 3 * 1, 5)]
    net = nn.Sequential(*layers)
    write(tmp_path / "c.nir", export_to_nir(net, dt=1e-3, input_shape=(2, 9, 8)))
    graph = nir.read(str(tmp_path / "c.nir"), type_check=True)
    x = torch.rand(3, 2, 9, 8)
    for i, layer in enumerate(layers):
        node = graph.nodes[str(i)]
        want = layer(x)
        assert list(node.input_type["input"]) == list(x.shape[1:])
        assert list(node.output_type["output"]) == list(want.shape[1:])
        torch.testing.assert_close(_nir_forward(node, x), want, rtol=0, atol=1e-6)
        x = want
    assert type(graph.nodes["0"]) is nir.Conv2d and not np.asarray(graph.nodes["0"].bias).any()
    assert type(graph.nodes["1"]) is nir.AvgPool2d and type(graph.nodes["6"]) is nir.Affine


def test_conv_net_with_subtractive_leaky_exports_per_neuron_arrays():
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.AvgPool2d(2), snn.Leaky(beta=0.8, init_hidden=True),
                        nn.Flatten(), nn.Linear(12, 2), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    g = export_to_nir(net, dt=1e-3, input_shape=(1, 6, 6))
    lif = g.nodes["2"]
    assert type(lif) is nir.LIF and lif.tau.shape == (3, 2, 2) and lif.v_threshold.shape == (3, 2, 2)
    np.testing.assert_allclose(lif.tau, np.full((3, 2, 2), 1e-3 / 0.2))
    assert lif.metadata["neurolearn"] == {"reset": "subtract", "reset_delay": True, "module": "Leaky"}
    assert list(g.nodes["3"].output_type["output"]) == [12]


def test_conv_first_model_needs_input_shape():
    with pytest.raises(InputError, match=r"no nn.Linear first\); pass input_shape=\(...\), e.g. \(1, 28, 28\)"):
        export_to_nir(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)), dt=1e-3)


def test_export_refuses_a_convolution_of_the_wrong_input_and_what_nir_cannot_say():
    with pytest.raises(ShapeError, match=r"module '1' \(Conv2d\): input shape \(4,\); expected \(1, H, W\)"):
        export_to_nir(nn.Sequential(nn.Linear(4, 4), nn.Conv2d(1, 2, 3)), dt=1e-4)
    with pytest.raises(UnsupportedNodeError, match=r"module '0' \(Conv2d\): padding_mode 'circular'"):
        export_to_nir(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")), dt=1e-4,
                      input_shape=(1, 5, 5))
    with pytest.raises(UnsupportedNodeError, match=r"module '0' \(AvgPool2d\): ceil_mode=True"):
        export_to_nir(nn.Sequential(nn.AvgPool2d(2, ceil_mode=True)), dt=1e-4, input_shape=(1, 5, 5))


def test_export_refuses_non_sequential_and_bad_arguments():
    class Net(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(UnsupportedNodeError, match="model has type Net; .*nn.Sequential"):
        export_to_nir(Net(), dt=1e-4)
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(InputError, match="dt"):
        export_to_nir(net, dt=0.0)
    with pytest.raises(ShapeError, match=r"expects input shape \(3,\), gets \(4,\)"):
        export_to_nir(net, dt=1e-4, input_shape=(4,))
    with pytest.raises(InputError, match="input_shape"):
        export_to_nir(nn.Sequential(snn.Leaky(beta=0.5)), dt=1e-4)
    rl = snn.RLeaky(beta=0.5, conv2d_channels=2, kernel_size=3)
    with pytest.raises(UnsupportedNodeError, match="recurrence Conv2d"):
        export_to_nir(nn.Sequential(nn.Linear(3, 4), rl), dt=1e-4)
