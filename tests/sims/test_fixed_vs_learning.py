"""The two fixed-point kernels agree where both run: on every plan without learning connections,
simulate_learning (with nothing learning) gives simulate_fixed's spikes, u and v bit for bit."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolearn.sims.fixed import simulate_fixed
from neurolearn.sims.learning import simulate_learning
from tests.strategies import plans, spike_trains


@given(data=st.data())
@settings(max_examples=60)
def test_learning_kernel_without_learning_equals_fixed(data):
    plan = data.draw(plans())
    spikes = data.draw(spike_trains(plan.input_size, batch=data.draw(st.integers(1, 3))))
    fixed = simulate_fixed(plan, spikes)
    learning = simulate_learning(plan, spikes, learning={})
    assert learning.synapses == {}
    for name, want in fixed.layers.items():
        got = learning.sim.layers[name]
        for key in ("spikes", "u", "v"):
            np.testing.assert_array_equal(getattr(got, key), getattr(want, key), err_msg=f"{name}.{key}")
        assert got.bursts is None and got.v_d is None
