"""Training harness, MNIST-format loader and the ``train`` subcommand."""
import argparse
import gzip
import json
import struct

import numpy as np
import pytest
import torch

from neurolearn.errors import InputError
from neurolearn.train.cli import add_train_parser
from neurolearn.train.datasets import mnist_format, read_idx
from neurolearn.train.loop import Task, TrainingError, load_task, preset_rule, train
from neurolearn.train.rate_rules import BurstpropRate

PNG = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_idx(path, arr, compress=False, magic=None):
    arr = np.asarray(arr)
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    head = magic if magic is not None else bytes([0, 0, code, arr.ndim])
    data = head + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:   # closed: Python 3.12's gzip buffers until then
        f.write(data)
    return path


def mnist_dir(tmp_path, n_train=12, n_test=5, compress=True, n_labels=None):
    rng = np.random.default_rng(0)
    ext = ".gz" if compress else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 4, 3), dtype=np.uint8),
                  compress)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte{ext}", rng.integers(0, 10, n_labels or n, dtype=np.uint8),
                  compress)
    return tmp_path


# ---- IDX / MNIST-format loader ----

@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_roundtrip(tmp_path, compress):
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    got = read_idx(write_idx(tmp_path / "a.idx", arr, compress))
    assert got.dtype == np.int32 and np.array_equal(got, arr)


def test_mnist_format_reads_images_and_labels(tmp_path):
    d = mnist_dir(tmp_path)
    x, y = mnist_format(d, "train")
    raw = read_idx(d / "train-images-idx3-ubyte.gz")
    assert x.shape == (12, 12) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, raw.reshape(12, 12) / 255, rtol=1e-6)
    assert np.array_equal(y, read_idx(d / "train-labels-idx1-ubyte.gz"))
    assert mnist_format(d, "test")[0].shape == (5, 12)


def test_mnist_format_accepts_dotted_names(tmp_path):
    d = mnist_dir(tmp_path, compress=False)
    (d / "train-images-idx3-ubyte").rename(d / "train-images.idx3-ubyte")
    assert mnist_format(d, "train")[0].shape == (12, 12)


def one_line_error(fn, *args, match):
    with pytest.raises(InputError, match=match) as exc:
        fn(*args)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_loader_errors(tmp_path):
    one_line_error(mnist_format, tmp_path / "nowhere", match="no such directory")
    one_line_error(mnist_format, tmp_path, match="no train-images-idx3-ubyte")
    one_line_error(read_idx, tmp_path / "none.idx", match="no such file")
    bad = write_idx(tmp_path / "bad", np.zeros((2, 2), np.uint8), magic=b"\x1f\x00\x08\x02")
    assert "bad" in one_line_error(read_idx, bad, match="not an IDX file")
    (tmp_path / "text.gz").write_bytes(gzip.compress(b"hello, world"))
    one_line_error(read_idx, tmp_path / "text.gz", match="not an IDX file")
    cut = write_idx(tmp_path / "cut", np.zeros((3, 2), np.uint8))
    cut.write_bytes(cut.read_bytes()[:-1])
    one_line_error(read_idx, cut, match=r"\(18 bytes\) but the file has 17 bytes")


def test_label_count_mismatch(tmp_path):
    d = mnist_dir(tmp_path, n_labels=11)
    msg = one_line_error(mnist_format, d, "train", match="11 labels but train-images-idx3-ubyte.gz has 12 images")
    assert "train-labels-idx1-ubyte.gz" in msg


def test_fashion_mnist_task_from_a_directory(tmp_path):
    task = load_task("fashion-mnist", mnist_dir(tmp_path))
    assert task.n_in == 12 and len(task.x_test) == 5
    assert abs(task.x_train.mean()) < 1e-5 and abs(task.x_train.std() - 1) < 1e-4
    with pytest.raises(InputError, match="unknown task"):
        load_task("cifar")


# ---- harness ----

def small_digits():
    full = load_task("digits")
    return Task("digits", full.x_train[:400], full.y_train[:400], full.x_test, full.y_test, 10)


def test_training_is_deterministic():
    task = small_digits()
    rule = preset_rule("burstprop", "digits", feedback="learned", n_hidden=1)
    (net_a, a), (net_b, b) = (train(rule, task, epochs=2, seed=3, hidden=(24,), progress=False) for _ in range(2))
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in a["history"]]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in b["history"]]
    assert all(torch.equal(x, y) for x, y in zip(net_a.state_dict().values(), net_b.state_dict().values()))
    net_c, _ = train(rule, task, epochs=2, seed=4, hidden=(24,), progress=False)
    assert not torch.equal(net_a.layers[0].W, net_c.layers[0].W)


# a 64-64-10 net learns faster at higher rates than the 500-wide presets (burstprop's: backprop's / p_b / 1/4)
QUICK = {"backprop": dict(lr_hidden=[0.2], lr_output=0.004), "fa": dict(lr_hidden=[0.2], lr_output=0.004),
         "burstprop": dict(lr_hidden=[4.0], lr_output=0.02)}


@pytest.mark.parametrize("name,feedback", [("burstprop", "learned"), ("burstprop", "random"), ("backprop", None),
                                           ("fa", None)])
def test_quick_training_learns_digits(name, feedback):
    rule = preset_rule(name, "digits", feedback=feedback, n_hidden=1, **QUICK[name])
    _, m = train(rule, load_task("digits"), epochs=4, seed=0, hidden=(64,), progress=False)
    h = m["history"]
    assert h[0]["test_acc"] < 0.2 and h[-1]["test_acc"] > 0.75, [r["test_acc"] for r in h]
    assert m["rule"]["rule"] == name and len(h) == 5 and m["seconds_per_epoch"] > 0
    if name == "burstprop":
        assert all(0 < p < 1 for p in h[-1]["burst_prob"]) and len(h[-1]["weight_angle_deg"]) == 1


def test_nan_names_epoch_and_layer():
    rule = BurstpropRate(feedback="random", lr_hidden=1e38, lr_output=1e38)
    with pytest.raises(TrainingError, match=r"layer \d of 2 .* at epoch 1, batch \d+") as exc:
        train(rule, small_digits(), epochs=2, seed=0, hidden=(16,), progress=False)
    assert "\n" not in str(exc.value)


def test_xor_task_is_solved_and_recorded():
    _, m = train(preset_rule("burstprop", "xor"), load_task("xor"), epochs=40, seed=0, progress=False)
    after = [row[1] for row in m["xor_outputs"]["after"]]
    assert m["test_acc"] == 1.0 and min(after[1], after[2]) > max(after[0], after[3])


# ---- CLI ----

def run_cli(argv):
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def test_cli_writes_metrics_and_plots(tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli(["--rule", "burstprop", "--task", "xor", "--feedback", "random", "--epochs", "3",
                    "--seed", "1", "-o", str(run)]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["rule"]["feedback"] == "random" and m["seed"] == 1 and len(m["history"]) == 4
    for name in ("learning_curves.png", "burst_probability.png", "xor_outputs.png"):
        assert (run / name).read_bytes()[:8] == PNG, name
    assert "test accuracy" in capsys.readouterr().out
    # a second run replaces the first; leftovers of the atomic write are gone
    assert run_cli(["--rule", "fa", "--task", "xor", "--epochs", "2", "-o", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["rule"]["rule"] == "fa"
    assert not (run / "burst_probability.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_cli_digits_with_hidden_sizes(tmp_path):
    run = tmp_path / "r"
    assert run_cli(["--rule", "backprop", "--task", "digits", "--hidden", "16", "--epochs", "1", "--threads", "1",
                    "-o", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["sizes"] == [64, 16, 10]


@pytest.mark.parametrize("argv,err,match", [
    (["--rule", "burstprop", "--task", "fashion-mnist", "--spiking"], InputError, "spiking tasks are xor, digits"),
    (["--rule", "backprop", "--task", "xor", "--spiking"], InputError,
     r"--spiking trains --rule burstprop \(and, with"),
    (["--rule", "burstprop", "--task", "xor", "--spiking", "--feedback", "random"], InputError,
     "--feedback applies to the rate form only"),
    (["--rule", "backprop", "--task", "xor", "--feedback", "learned"], InputError, "--feedback applies"),
    (["--rule", "fa", "--task", "fashion-mnist", "--data", "/no/such/dir"], InputError, "/no/such/dir: no such"),
    (["--rule", "fa", "--task", "xor", "--hidden", "8,x"], InputError, "--hidden"),
])
def test_cli_bad_input(tmp_path, argv, err, match):
    with pytest.raises(err, match=match) as exc:
        run_cli([*argv, "--epochs", "1", "-o", str(tmp_path / "run")])
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "run").exists()


def test_cli_refuses_a_foreign_output_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a neurolearn run directory"):
        run_cli(["--rule", "fa", "--task", "xor", "--epochs", "1", "-o", str(tmp_path)])
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_cli_unknown_rule_is_refused(capsys):
    with pytest.raises(SystemExit):
        run_cli(["--rule", "hebb", "--task", "xor", "--epochs", "1", "-o", "x"])
    assert "invalid choice: 'hebb'" in capsys.readouterr().err


def test_main_cli_trains_spiking_xor_and_writes_nir(tmp_path, capsys, monkeypatch):
    """`neurolearn train --spiking` through the real entry point: metrics, plots and a model.nir that
    plain nir.read loads and neurolearn reads back exactly."""
    import nir as nir_pkg

    from neurolearn.cli import main
    from neurolearn.nir import read
    from neurolearn.nir.burst_encoding import from_nir
    from neurolearn.train import spiking

    short = spiking.XOR_CONFIG.__class__(**{**spiking.XOR_CONFIG.__dict__, "steps_predict": 20,
                                            "steps_teach": 10, "steps_eval": 20})
    monkeypatch.setattr(spiking, "XOR_CONFIG", short)
    run = tmp_path / "run"
    assert main(["train", "--rule", "burstprop", "--task", "xor", "--spiking", "--epochs", "3", "-o", str(run)]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["spiking"] and m["rule"]["rule"] == "burstprop-spiking" and len(m["history"]) == 3
    for name in ("learning_curves.png", "burst_probability.png", "xor_outputs.png"):
        assert (run / name).read_bytes()[:8] == PNG, name
    assert isinstance(nir_pkg.read(run / "model.nir"), nir_pkg.NIRGraph)
    net = from_nir(read(run / "model.nir"))
    assert [layer.name for layer in net.layers] == ["hidden", "out"]
    assert "XOR" in capsys.readouterr().out


def test_rate_run_exports_its_spiking_form(tmp_path):
    from neurolearn.nir import read
    from neurolearn.nir.burst_encoding import from_nir

    run = tmp_path / "r"
    assert run_cli(["--rule", "burstprop", "--task", "xor", "--epochs", "2", "-o", str(run)]) == 0
    net = from_nir(read(run / "model.nir"))
    assert [layer.size for layer in net.layers] == json.loads((run / "metrics.json").read_text())["sizes"][1:]
    assert net.rules and all(r["rule"] == "burstprop" for r in net.rules.values())
