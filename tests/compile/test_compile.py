"""Compiler: NIR -> float network -> plan; build directories; what it refuses and how it says so."""
import json
from dataclasses import dataclass

import nir
import numpy as np
import pytest
import torch

from neurolearn.compile.build import compile_model, load_build
from neurolearn.compile.normalize import to_network
from neurolearn.compile.quantize import quantize
from neurolearn.errors import InputError, UnsupportedNodeError
from neurolearn.nir import export_to_nir
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.float_ref import simulate_float
from neurolearn.verify import compare_float
from tests.helpers import feedforward, lif_graph, recurrent, save, spikes


def test_network_follows_snntorch_discretization():
    net = to_network(export_to_nir(feedforward(synaptic=True), dt=1e-3, input_shape=(12,)))
    hidden, out = net.populations
    assert hidden.kind == "LIF" and np.all(hidden.alpha == 0.0) and hidden.beta == pytest.approx(0.9, abs=1e-7)
    assert out.kind == "CubaLIF" and out.alpha == pytest.approx(0.7, abs=1e-7)
    assert [pr.recurrent for pr in net.projections] == [False, False]
    assert net.depths() == {"input": 0, hidden.name: 1, out.name: 2}


def test_recurrent_edge_is_marked():
    net = to_network(export_to_nir(recurrent(), dt=1e-3, input_shape=(10,)))
    rec = [pr for pr in net.projections if pr.recurrent]
    assert len(rec) == 1 and rec[0].source == rec[0].target


@pytest.mark.parametrize("make", [lambda: feedforward(), lambda: feedforward(synaptic=True), lambda: recurrent()])
def test_float_reference_matches_snntorch(make):
    """Rung L1 vs L0: identical spikes, voltages within 1e-6 relative."""
    from neurolearn.nir import import_from_nir

    model = make()
    graph = export_to_nir(model, dt=1e-3, input_shape=(model[0].in_features,))
    net = to_network(graph)
    x = spikes(net.input_size, steps=60, batch=3, rate=0.4)
    ref = simulate_float(net, x)
    with torch.no_grad():
        _, rec = import_from_nir(graph).run(torch.as_tensor(x, dtype=torch.float32).transpose(0, 1), record=True)
    checked = 0
    for pop in net.populations:
        if pop.name in rec:
            r = rec[pop.name]
            rows = compare_float(ref, r["out"].transpose(0, 1).numpy().astype(np.uint8),
                                 r["mem"].transpose(0, 1).numpy(), pop.name, pop.threshold, "snntorch vs float")
            assert all(row.mismatches == 0 for row in rows), rows
            checked += 1
    assert checked == len(net.populations)
    assert sum(int(r.spikes.sum()) for r in ref.layers.values()) > 0


def test_quantization_is_close_and_explained():
    net = to_network(export_to_nir(feedforward(), dt=1e-3, input_shape=(12,)))
    q = quantize(net)
    for pop, layer in zip(net.populations, q.plan.layers):
        s = layer.scale / 64
        assert layer.vth / s == pytest.approx(pop.threshold, rel=1e-12)   # folded into the scale: exact
        assert layer.vth >= 1024  # at least 0.1 % threshold resolution
        assert 1 - layer.dv / 4096 == pytest.approx(pop.beta, abs=1 / 8192)
    for pr, c in zip(net.projections, q.plan.connections):
        s = q.plan.layer(c.target).scale[:, None] / 64
        rep = c.weights * 2.0 ** c.weight_exp / s
        assert np.all(np.abs(rep - pr.weight) <= 2.0 ** c.weight_exp / s)  # mixed: within one even step
        assert np.abs(c.weights).max() >= 127  # the largest weight uses 8 bits
        assert np.all(c.weights % 2 == 0)  # mixed-sign weights are even, so Lava's truncation loses nothing
    assert {conv.param for conv in q.conversions} >= {"alpha", "beta", "threshold", "bias"}


def test_float_and_fixed_agree_at_task_level():
    model = feedforward()
    with torch.no_grad():
        model[2].weight *= 4  # make the output layer busy
    net = to_network(export_to_nir(model, dt=1e-3, input_shape=(12,)))
    plan = quantize(net).plan
    x = spikes(12, steps=80, batch=8, rate=0.4)
    pad = np.concatenate([x, np.zeros((8, 2, 12), np.uint8)], axis=1)
    flt, fx = simulate_float(net, x), simulate_fixed(plan, pad)
    for name in flt.layers:
        d = plan.depths()[name]
        a, b = flt.layers[name].spikes.sum(), fx.layers[name].spikes[:, d:d + 80].sum()
        assert a > 0 and abs(int(a) - int(b)) <= 0.05 * a


@dataclass(eq=False)
class Mystery(nir.NIRNode):
    """A node type NIR's readers do not know (another tool's extension)."""

    def __post_init__(self):
        self.input_type = self.output_type = {}


def test_unsupported_node_names_the_supported_ones():
    g = lif_graph(extra={"odd": Mystery()})
    with pytest.raises(UnsupportedNodeError, match=r"'odd' has type Mystery; supported: .*LIF.*Conv2d"):
        to_network(g)


def test_tau_shorter_than_dt_is_refused():
    with pytest.raises(UnsupportedNodeError, match=r"'tau' = 0.0005 s is shorter than dt = 0.001 s"):
        to_network(lif_graph(tau=5e-4))


def test_missing_dt_must_be_given():
    with pytest.raises(InputError, match="--dt"):
        to_network(lif_graph(dt=None))
    assert to_network(lif_graph(dt=None), dt=1e-3).dt == 1e-3


def test_nonspiking_readout_gets_maximum_threshold():
    g = lif_graph()
    g.nodes["lif"] = nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3))
    q = quantize(to_network(g))
    assert q.plan.layers[0].vth == 2**17 - 1 and not q.plan.layers[0].spiking
    assert any("non-spiking" in n for n in q.notes)


def test_output_fed_by_a_linear_node_is_refused():
    g = lif_graph()
    g.nodes["ro"] = nir.Linear(weight=np.ones((2, 3)))
    g.nodes["output"] = nir.Output(np.array([2]))
    g.edges = [("input", "fc"), ("fc", "lif"), ("lif", "ro"), ("ro", "output")]
    with pytest.raises(UnsupportedNodeError, match="output is fed by 'ro'"):
        to_network(g)


def test_build_directory_contents_and_reload(tmp_path):
    path = save(feedforward(), tmp_path / "m.nir")
    build = compile_model(path, tmp_path / "build")
    plan = json.loads((tmp_path / "build" / "plan.json").read_text())
    assert plan["format"] == "neurolearn-plan" and plan["dt"] == 1e-3
    report = (tmp_path / "build" / "report.md").read_text()
    assert "## Conversions" in report and "vth=" in report
    again = load_build(tmp_path / "build")
    assert again.plan.to_json() == build.plan.to_json()


def test_failed_recompile_leaves_previous_build_untouched(tmp_path):
    good = save(feedforward(), tmp_path / "good.nir")
    compile_model(good, tmp_path / "build")
    before = (tmp_path / "build" / "plan.json").read_text()
    bad = tmp_path / "bad.nir"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(Exception):
        compile_model(bad, tmp_path / "build")
    assert (tmp_path / "build" / "plan.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nir", "build", "good.nir"]


def test_compile_refuses_to_overwrite_a_foreign_directory(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not a neurolearn build directory"):
        compile_model(save(feedforward(), tmp_path / "m.nir"), tmp_path / "data")
    assert (tmp_path / "data" / "keep.txt").exists()
