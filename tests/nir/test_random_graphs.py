"""Random NIR graphs mixing convolution, pooling, Delay, per-neuron decays and thresholds, every reset mode, biases
of any size and a recurrent back edge (tests/nir/graph_strategies.py) compile, and the fixed-point simulator
equals Lava in spikes, u and v of every layer at every step; the float reference agrees with the fixed point in
most spikes, aligned by each layer's delay, so a timing bug shows. ``pytest --fuzz-long`` runs 20 times as many
graphs, not derandomized."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from neurolearn.compile.build import Build, compile_model
from neurolearn.nir import write
from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.float_ref import simulate_float
from neurolearn.sims.result import SimResult, node_records
from neurolearn.verify import compare_bits
from tests.nir.graph_strategies import mixed_graphs

MIN_SPIKES = 3           # every spiking node of a graph tested spikes at least this often
COUNTS = (0.35, 10)      # float vs fixed spike counts per node: within 35 % of the larger, plus 10
COINCIDENT = 0.75        # spikes at the same (step, neuron) in float and fixed, of the larger count, all nodes
# 288 random graphs: at least 0.84 coincident (one node at 0.4: a small weight 17 % off, 8 bits at weight_exp 5);
# with the fixed point read one step late, half of 30 fell below 0.75


def _settings(request, examples: int, shrink: bool = True):
    """Derandomized (not under --fuzz-long), no database; ``shrink``: False where each example runs Lava (shrinking
    took minutes)."""
    long = request.config.getoption("--fuzz-long")
    phases = [p for p in Phase if shrink or p not in (Phase.shrink, Phase.explain)]
    return settings(max_examples=examples * (20 if long else 1), derandomize=not long, database=None,
                    deadline=None, phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _active_run(graph, data, tmp: Path) -> tuple[Build, np.ndarray, SimResult]:
    """``graph`` compiled in ``tmp``, a drawn input and its fixed-point run; graphs with a quiet node are assumed
    away (bit-exactness of silence proves little)."""
    write(tmp / "m.nir", graph)
    build = compile_model(tmp / "m.nir", tmp / "b")
    steps, rate = data.draw(st.integers(40, 80)), data.draw(st.sampled_from([0.2, 0.5]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = (rng.random((1, steps, build.plan.input_size)) < rate).astype(np.uint8)
    fixed = simulate_fixed(build.plan, x)
    by_node = node_records(build.plan, fixed)
    for pop in build.network.populations:
        assume(by_node.layers[pop.name].spikes.sum() >= MIN_SPIKES)
    return build, x, fixed


def coincidence(build: Build, x: np.ndarray, fixed: SimResult) -> dict[str, tuple[int, int, int]]:
    """Per node: (spikes at the same sample, step and neuron in the float reference and the fixed point (shifted
    by the node's delay), the larger and the smaller of the two spike counts), over the steps both cover."""
    flt, fx = simulate_float(build.network, x), node_records(build.plan, fixed)
    out = {}
    for name, rec in flt.layers.items():
        d = fx.delays[name]
        a = rec.spikes[:, :x.shape[1] - d].astype(bool)
        b = fx.layers[name].spikes[:, d:].astype(bool)
        out[name] = (int((a & b).sum()), *sorted((int(a.sum()), int(b.sum())), reverse=True))
    return out


def assert_float_agrees(build: Build, x: np.ndarray, fixed: SimResult) -> None:
    """Most spikes at the same step and neuron; per node, about as many spikes (quantization moves a few)."""
    found = coincidence(build, x, fixed)
    for name, (_, larger, smaller) in found.items():
        assert larger - smaller <= COUNTS[0] * larger + COUNTS[1], (name, found)
    same, larger, _ = map(sum, zip(*found.values()))
    assert same >= COINCIDENT * larger, found


def test_random_graphs_compile_and_the_fixed_point_follows_the_float_reference(request):
    """Without Lava: every graph compiles, and the fixed point agrees with the float reference in most spikes."""
    @_settings(request, 30)
    @given(graph=mixed_graphs(), data=st.data())
    def case(graph, data):
        with tempfile.TemporaryDirectory() as tmp:
            build, x, fixed = _active_run(graph, data, Path(tmp))
            assert_float_agrees(build, x, fixed)

    case()


@pytest.mark.lava
def test_random_graphs_fixed_point_equals_lava(request):
    """Spikes, u and v of every layer at every step, on active graphs; and the float reference agrees."""
    from neurolearn.lava.runner import simulate_lava

    @_settings(request, 20, shrink=False)
    @given(graph=mixed_graphs(), data=st.data())
    def case(graph, data):
        with tempfile.TemporaryDirectory() as tmp:
            build, x, fixed = _active_run(graph, data, Path(tmp))
            rows = compare_bits(fixed, simulate_lava(build.plan, x))
            assert {r.layer for r in rows} == {L.name for L in build.plan.layers}
            bad = [r for r in rows if not r.ok]
            assert not bad, bad
            assert_float_agrees(build, x, fixed)

    case()
