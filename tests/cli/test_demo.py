"""The demo's pieces: deterministic training, and the whole demo on a tiny budget."""
import numpy as np
import torch

from neurolearn.demo import accuracy, run_demo, train_demo_model
from neurolearn.train.datasets import digits


def test_training_is_deterministic_given_the_seed():
    x, y, _, _ = digits()
    a = train_demo_model(x[:128], y[:128], epochs=1, seed=3, progress=False)
    b = train_demo_model(x[:128], y[:128], epochs=1, seed=3, progress=False)
    c = train_demo_model(x[:128], y[:128], epochs=1, seed=4, progress=False)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_accuracy_counts_the_most_spiking_output():
    out = np.zeros((2, 4, 3), np.uint8)
    out[0, :, 2] = 1
    out[1, :2, 0] = 1
    assert accuracy(out, np.array([2, 1])) == 0.5


def test_demo_end_to_end(tmp_path, capsys):
    assert run_demo(tmp_path / "demo", seed=0, epochs=2) == 0
    out = capsys.readouterr().out
    assert "verify: 0 mismatches" in out and "fixed point" in out
    from neurolearn.lava.graph import lava_available

    assert ("Lava is not installed here (neurolearn[lava]" in out) == (not lava_available()), out  # float vs fixed only
    assert (tmp_path / "demo" / "build" / "plan.json").is_file()
