"""On-chip classification (issue 11): ``neurolearn train --spiking --on-chip --task digits`` learns online in the
learning engine, writes metrics.json, plots and a learning build, and ``verify --learning --samples N`` replays its
first training samples in Lava bit for bit. Tiny sizes: the test is about the protocol, not the accuracy
(docs/onchip.md and benchmarks/ hold those)."""
import json

import pytest

from neurolearn.cli import main

ARGS = ["train", "--rule", "burstprop", "--task", "digits", "--spiking", "--on-chip", "--hidden", "12",
        "--epochs", "2", "--train-samples", "16", "--test-samples", "12", "--seed", "3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("onchip") / "run"
    assert main(ARGS + ["-o", str(out)]) == 0
    return out


def test_metrics_plots_and_build(run):
    m = json.loads((run / "metrics.json").read_text())
    assert m["on_chip"] and m["task"] == "digits" and m["samples"] == {"train": 16, "test": 12}
    for side in ("fixed", "float"):
        assert 0.0 <= m[side]["test_accuracy"] <= 1.0
        assert len(m[side]["epochs"]) == 2                         # the learning curve, per epoch
        assert sum(map(sum, m[side]["confusion"])) == 12            # every test sample counted once
    assert m["simulator_steps_per_s"] > 0
    assert set(m["saturated_weights"]) == {"W:input->h1", "W:h1->out"}
    for png in ("learning_curves.png", "confusion.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name for p in (run / "build").iterdir()} >= {"plan.json", "report.md", "schedule.npz", "model.nir"}


def test_same_seed_same_bits(run, tmp_path):
    assert main(ARGS + ["-o", str(tmp_path / "again")]) == 0
    first, again = (json.loads((d / "metrics.json").read_text()) for d in (run, tmp_path / "again"))
    timing = {"seconds", "steps_per_s"}   # wall time: the only thing that may differ
    for side in ("fixed", "float"):
        strip = lambda m: [{k: v for k, v in e.items() if k not in timing} for e in m[side]["epochs"]]  # noqa: E731
        assert strip(first) == strip(again) and first[side]["confusion"] == again[side]["confusion"]
        assert first[side]["test_accuracy"] == again[side]["test_accuracy"]
    assert (run / "build" / "plan.json").read_bytes() == (tmp_path / "again" / "build" / "plan.json").read_bytes()


@pytest.mark.lava
def test_verify_replays_the_first_samples_in_lava(run, capsys):
    capsys.readouterr()
    assert main(["verify", str(run / "build"), "--learning", "--samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "all 3 samples bit-identical (events, bursts, weights)" in out


def test_samples_and_epochs_are_one_or_the_other(run, capsys):
    assert main(["verify", str(run / "build"), "--learning", "--samples", "2", "--epochs", "1"]) == 2
    assert "--samples and --epochs: give one" in capsys.readouterr().err


def test_valence_halving_reaches_every_burst_layer_and_bad_values_are_refused():
    from dataclasses import replace

    from neurolearn.compile.burst_mapping import compile_burst_network
    from neurolearn.errors import InputError
    from neurolearn.train.onchip_classify import ONCHIP_PRESETS, OnChipClassifyConfig, classifier_network

    cfg = replace(ONCHIP_PRESETS[("digits", "burstprop")], hidden=(6,), halve_every=25)
    plan = compile_burst_network(classifier_network(8, 3, cfg, 0)).plan
    assert [L.burst.valence_halving for L in plan.layers] == [25 * cfg.steps] * 2
    assert ONCHIP_PRESETS[("fashion-mnist", "burstprop")].halve_every == 60000   # one halving per epoch
    for bad in (-1, 2.5, True, 279621):   # 279621 samples of 60 steps: beyond the neuron's 24-bit counter
        with pytest.raises(InputError, match=rf"halve_every = {bad} samples; allowed integers 0..279620 \(the "
                                             r"halving's 16777215 steps at 60 steps per sample\)"):
            OnChipClassifyConfig(halve_every=bad)


def test_float_twin_halves_at_the_same_steps_run_in_chunks():
    """The twin counts its steps across run() calls: chunked and whole runs halve alike, and the halving changes
    what it learns."""
    from dataclasses import replace

    import numpy as np

    from neurolearn.compile.burst_mapping import compile_burst_network
    from neurolearn.sims.float_twin import FloatTwinSession
    from neurolearn.train.onchip_classify import ONCHIP_PRESETS, PhaseEncoder, classifier_network

    rng = np.random.default_rng(0)
    x, labels = rng.random((6, 8)), rng.integers(0, 3, 6)
    runs = {}
    for every in (1, 0):
        cfg = replace(ONCHIP_PRESETS[("digits", "burstprop")], hidden=(6,), halve_every=every)
        net = classifier_network(8, 3, cfg, 0)
        spikes = PhaseEncoder(net.input_size, 3, cfg, 0).encode(x, labels)
        whole, chunked = (FloatTwinSession(net, compile_burst_network(net)) for _ in range(2))
        events = whole.run(spikes)[0]
        parts = np.concatenate([chunked.run(spikes[a:a + 70])[0] for a in range(0, len(spikes), 70)])
        assert np.array_equal(events, parts)
        for name in ("W:input->h1", "W:h1->out"):
            assert np.array_equal(whole.weights(name), chunked.weights(name))
        runs[every] = whole.weights("W:h1->out")
    assert not np.array_equal(runs[1], runs[0])
