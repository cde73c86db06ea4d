"""One training harness for every rule on every task: rule x task x seed -> metrics per epoch.

Deterministic given the seed (initialization from the rule's ``net(sizes, seed)``, minibatch order
from ``numpy.random.default_rng(seed)``) for a fixed number of torch threads. The data split does
not depend on the seed: every run of a task sees the same training and test sets.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from neurolearn.errors import InputError, TrainingError
from neurolearn.nets.rate import RateNet
from neurolearn.train import datasets
from neurolearn.train.catalog import HIDDEN, TASKS
from neurolearn.train.rate_rules import RATE_RULES, BurstpropRate, Rule, angle_deg, make_rate_rule

# Learning rates (top hidden layer, output layer) tuned for backprop per task, every hidden layer
# at the top one's rate. Feedback alignment uses them as they are (its B has W's init scale).
# Burstprop converts them so that each layer moves as far as under backprop: its error k layers
# below the output is p_baseline (1/4)^k times backprop's (the output teacher scales by p_baseline,
# each dendritic sigmoid in its linear range by sigmoid'(0) = 1/4). Digits' output rate was halved
# from 0.001 after one of 5 seeds of learned-feedback burstprop lost a class there (a sigmoid output
# unit stuck near 0); backprop is as good at either.
LEARNING_RATES = {"xor": (0.1, 0.1), "digits": (0.05, 0.0005), "fashion-mnist": (0.02, 0.001)}


def preset_rule(name: str, task: str, *, feedback: str | None = None, n_hidden: int | None = None,
                **overrides) -> Rule:
    """The rule ``name`` with the learning rates for ``task`` (LEARNING_RATES) and ``n_hidden``
    hidden layers (default: the task's default depth); ``overrides`` replace any parameter."""
    if name not in RATE_RULES:
        raise InputError(f"unknown rule {name!r}; allowed {', '.join(RATE_RULES)}")
    if task not in LEARNING_RATES:
        raise InputError(f"unknown task {task!r}; allowed {', '.join(TASKS)}")
    lr_top, lr_output = LEARNING_RATES[task]
    n_hidden = len(HIDDEN[task]) if n_hidden is None else n_hidden
    params = {"lr_hidden": [lr_top] * n_hidden, "lr_output": lr_output}
    if name == "burstprop":
        p_b = overrides.get("p_baseline", BurstpropRate.p_baseline)
        params = {"lr_hidden": [float(f"{lr_top / (p_b * 0.25 ** (n_hidden - i)):.6g}") for i in range(n_hidden)],
                  "lr_output": float(f"{lr_output / p_b:.6g}")}
        if feedback is not None:
            params["feedback"] = feedback
    return make_rate_rule(name, **{**params, **overrides})


@dataclass(frozen=True)
class Task:
    """A classification task: float32 inputs (n, n_in) and int64 labels (n,), train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_in(self) -> int:
        return self.x_train.shape[1]


def xor_task(repeats: int = 64) -> Task:
    """2-input XOR as two classes; the training set is the 4 patterns ``repeats`` times each, the
    test set the 4 patterns once. Inputs are 0/1 rates."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0], np.int64)
    return Task("xor", np.tile(x, (repeats, 1)), np.tile(y, repeats), x, y, 2)


def _standardized(name: str, x_tr, y_tr, x_te, y_te) -> Task:
    """Inputs shifted and scaled by the training set's pixel mean and std (as the original does)."""
    mean, std = float(x_tr.mean()), float(x_tr.std())
    return Task(name, (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te, int(y_tr.max()) + 1)


def load_task(name: str, data_dir=None) -> Task:
    """The task ``name`` (one of TASKS). ``data_dir``: MNIST-format directory for "fashion-mnist"
    (default Debian's /usr/share/datasets/fashion-mnist); plain MNIST works the same way."""
    if name == "xor":
        return xor_task()
    if name == "digits":
        return _standardized(name, *datasets.digits(seed=0))
    if name == "fashion-mnist":
        return _standardized(name, *datasets.fashion_mnist(data_dir or datasets.FASHION_MNIST_DIR))
    raise InputError(f"unknown task {name!r}; allowed {', '.join(TASKS)}")


def _first_bad_layer(net: RateNet, x: torch.Tensor) -> tuple[int, str]:
    """Index and tensor name of the lowest layer holding (or, from x, computing) a non-finite value."""
    for i, layer in enumerate(net.layers):
        for name, t in (("W", layer.W), ("c", layer.c), ("Y", layer.Y), ("Z", layer.Z)):
            if t is not None and not torch.isfinite(t).all():
                return i, name
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            x = layer(x)
            if not torch.isfinite(x).all():
                return i, "event rate"
    return len(net.layers) - 1, "output"


def _diverged(net: RateNet, x: torch.Tensor, epoch: int, batch: int, rule: Rule) -> TrainingError:
    i, what = _first_bad_layer(net, x)
    return TrainingError(f"training diverged: NaN/inf in layer {i + 1} of {len(net.layers)} ({what}) at epoch "
                         f"{epoch}, batch {batch}; lower the learning rates (rule {rule.name}: lr_hidden "
                         f"{rule.lr_hidden}, lr_output {rule.lr_output})")


def evaluate(net: RateNet, x: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean over samples of 1/2 ||e_out - onehot||^2, accuracy of the most active output unit)."""
    with torch.no_grad():
        e = net(x)
        y = torch.nn.functional.one_hot(labels, e.shape[1]).to(e.dtype)
        return float(0.5 * ((e - y) ** 2).sum(1).mean()), float((e.argmax(1) == labels).double().mean())


def feedback_angles(net: RateNet) -> list[float]:
    """Angle (degrees) between W and Y of every layer that holds its own Y."""
    return [angle_deg(layer.W, layer.Y) for layer in net.layers if layer.Y is not None]


def train(rule: Rule, task: Task, *, epochs: int, seed: int, hidden: Sequence[int] | None = None,
          batch_size: int = 32, progress: bool = True) -> tuple[RateNet, dict]:
    """Train ``rule``'s network on ``task``; returns the net and the metrics (JSON-serialisable).

    Metrics hold, per epoch (epoch 0 = before training): train and test loss and accuracy, the
    seconds spent on training updates, the mean burst probability per hidden layer (burstprop) and
    the W-Y angles (layers with their own Y). Raises TrainingError on NaN/inf, naming epoch and layer.
    """
    from neurolearn.progress import progress_bar

    if epochs < 1 or batch_size < 1:
        raise InputError(f"epochs = {epochs}, batch_size = {batch_size}; both must be >= 1")
    hidden = tuple(HIDDEN[task.name] if hidden is None else hidden)
    sizes = [task.n_in, *hidden, task.n_classes]
    net = rule.net(sizes, seed)
    opt = rule.optimizer(net)
    x_tr, lbl_tr = torch.from_numpy(task.x_train), torch.from_numpy(task.y_train)
    x_te, lbl_te = torch.from_numpy(task.x_test), torch.from_numpy(task.y_test)
    y_tr = torch.nn.functional.one_hot(lbl_tr, task.n_classes).float()
    rng = np.random.default_rng(seed)

    def record(epoch, **extra):
        test_loss, test_acc = evaluate(net, x_te, lbl_te)
        row = {"epoch": epoch, **extra, "test_loss": test_loss, "test_acc": test_acc}
        angles = feedback_angles(net)
        if angles:
            row["weight_angle_deg"] = angles
        return row

    history = [record(0)]
    with torch.no_grad():
        before = net(x_te).tolist() if task.name == "xor" else None
    bar = progress_bar(range(1, epochs + 1), f"{rule.name} {task.name} seed {seed}", unit="epochs", enabled=progress)
    for epoch in bar:
        order = torch.from_numpy(rng.permutation(len(x_tr)))
        loss, correct, burst = torch.zeros(()), torch.zeros((), dtype=torch.long), None
        start = time.perf_counter()
        for batch, i in enumerate(range(0, len(order), batch_size)):
            idx = order[i:i + batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            update = rule.update(net, xb, yb)
            if not torch.isfinite(update.output).all():
                raise _diverged(net, xb, epoch, batch, rule)
            opt.apply(update)
            loss += 0.5 * ((update.output - yb) ** 2).sum()
            correct += (update.output.argmax(1) == lbl_tr[idx]).sum()
            if update.burst_prob is not None:
                burst = update.burst_prob * len(idx) + (0 if burst is None else burst)
        seconds = time.perf_counter() - start
        if not all(torch.isfinite(t).all() for t in net.state_dict().values()):
            raise _diverged(net, x_tr[:batch_size], epoch, batch, rule)
        row = record(epoch, train_loss=float(loss) / len(order), train_acc=int(correct) / len(order),
                     seconds=seconds)
        if burst is not None:
            row["burst_prob"] = (burst / len(order)).tolist()
        history.append(row)
        bar.set_postfix(test_acc=f"{row['test_acc']:.4f}")
    metrics = {
        "task": task.name, "rule": rule.params(), "sizes": sizes, "seed": seed, "epochs": epochs,
        "batch_size": batch_size, "form": "rate", "torch_threads": torch.get_num_threads(),
        "test_acc": history[-1]["test_acc"],
        "seconds_per_epoch": float(np.mean([row["seconds"] for row in history[1:]])),
        "history": history,
    }
    if before is not None:
        with torch.no_grad():
            metrics["xor_outputs"] = {"patterns": task.x_test.astype(int).tolist(), "before": before,
                                      "after": net(x_te).tolist()}
    return net, metrics
