import os

from hypothesis import settings

# CI runs the same examples every time (same seed, same bits); locally hypothesis explores.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true",
                     help="fuzz tests run thousands of mutated files instead of a few hundred "
                          "(tools/fuzz_nir.py runs the >= 5,000-file acceptance run with hang detection)")


def lava_available() -> bool:
    """Lava (lava-nc 0.10.0) is importable: Python 3.10 with neurolearn[lava]."""
    import importlib.util

    return importlib.util.find_spec("lava") is not None


def pytest_collection_modifyitems(config, items):
    """Without Lava, tests marked ``lava`` (they run Lava itself) are skipped, saying so; the simulators'
    bit-exactness is then pinned by the recorded Lava outputs in tests/golden."""
    if lava_available():
        return
    import pytest

    skip = pytest.mark.skip(reason="Lava (neurolearn[lava]: lava-nc 0.10.0, Python 3.10) is not installed here; "
                                   "tests/golden checks the simulators against Lava's recorded outputs")
    for item in items:
        if "lava" in item.keywords:
            item.add_marker(skip)


import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neurolearn.ir.plan import ConnectionPlan, LayerPlan, Plan  # noqa: E402


@pytest.fixture
def small_plan():
    """A fixed 3-layer recurrent plan with mixed, excitatory and inhibitory weights."""
    rng = np.random.default_rng(1)
    sizes = [12, 16, 10, 4]
    layers, conns = [], []
    for i, n in enumerate(sizes[1:]):
        layers.append(LayerPlan(f"l{i}", n, du=[410, 4095, 0][i], dv=[820, 100, 4095][i], vth=[80, 40, 3][i],
                                bias_mant=rng.integers(-40, 40, n), bias_exp=rng.integers(0, 4, n)))
        w = rng.integers([-256, 0, -255][i], [256, 256, 1][i], (n, sizes[i]))
        conns.append(ConnectionPlan(f"ff{i}", "in" if i == 0 else f"l{i-1}", f"l{i}", w, weight_exp=i - 1))
    conns.append(ConnectionPlan("rec0", "l0", "l0", rng.integers(-60, 60, (16, 16)), recurrent=True,
                                num_weight_bits=5))
    return Plan(dt=1e-3, input_name="in", input_size=12, layers=tuple(layers), connections=tuple(conns),
                outputs=("l2",))


@pytest.fixture
def one_torch_thread():
    """Small nets run fastest, and bit-reproducibly, on one torch thread (the CI machine is shared)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
