"""Rate burstprop: the layer equations, the rule against backprop, feedback modes, baselines."""
import json

import pytest
import torch

from neurolearn.errors import InputError
from neurolearn.nets.rate import EventState, RateNet, RateParams, teacher_step
from neurolearn.train.rate_rules import (
    Backprop,
    BurstpropRate,
    FeedbackAlignment,
    LayerSGD,
    Update,
    angle_deg,
    make_rate_rule,
)

SIZES = [20, 30, 30, 5]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def batch(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, SIZES[0], generator=g)
    y = torch.nn.functional.one_hot(torch.randint(0, SIZES[-1], (n,), generator=g), SIZES[-1]).float()
    return x, y


def angles(rule, seed=1):
    x, y = batch()
    ours = rule.update(rule.net(SIZES, seed), x, y).grads
    bp = Backprop().update(Backprop().net(SIZES, seed), x, y).grads
    return [angle_deg(a["W"], b["W"]) for a, b in zip(ours, bp)], ours, bp


@pytest.mark.parametrize("recurrent", [False, True])
def test_symmetric_feedback_follows_backprop_gradient(recurrent):
    """With Y = W the burst error is backprop's up to positive scale (p_b, then 1/4 per layer)."""
    ang, ours, bp = angles(BurstpropRate(feedback="symmetric", recurrent=recurrent))
    assert max(ang) < 1.0, ang
    # the output layer is exactly p_baseline times the MSE gradient
    torch.testing.assert_close(ours[-1]["W"], 0.2 * bp[-1]["W"])


def test_random_feedback_is_not_backprop():
    """The angle test can fail: fixed random Y gives hidden updates far from backprop's."""
    ang, _, _ = angles(BurstpropRate(feedback="random"))
    assert min(ang[:-1]) > 45, ang
    assert ang[-1] < 1e-3  # the output layer's update needs no feedback


def test_feedback_alignment_with_W_as_B_is_backprop():
    x, y = batch()
    fa = FeedbackAlignment()
    net = fa.net(SIZES, 3)
    for layer in net.layers[1:]:
        layer.Y = layer.W.detach().clone()
    got = fa.update(net, x, y).grads
    want = Backprop().update(Backprop().net(SIZES, 3), x, y).grads
    for g, w in zip(got, want):
        torch.testing.assert_close(g["W"], w["W"])
        torch.testing.assert_close(g["c"], w["c"])


def test_same_seed_same_W_whatever_the_feedback():
    nets = [RateNet(SIZES, feedback=fb, recurrent=True, seed=5) for fb in ("random", "learned", "symmetric")]
    for layers in zip(*(n.layers for n in nets)):
        assert all(torch.equal(layers[0].W, other.W) for other in layers[1:])
    assert nets[2].layers[1].params().Y is nets[2].layers[1].W
    assert nets[0].layers[0].Y is None and nets[0].layers[-1].Z is None and nets[0].layers[0].Z is not None


def test_output_teacher():
    e = torch.tensor([[0.3, 0.8]])
    y = torch.tensor([[1.0, 0.0]])
    params = RateParams(torch.zeros(2, 3), torch.zeros(2), None, None)
    down, st = teacher_step(y, EventState(torch.zeros(1, 3), e), params, 0.2)
    assert down is None
    torch.testing.assert_close(st.p, torch.full_like(e, 0.2))
    torch.testing.assert_close(st.p_hat, 0.2 * (1 + (y - e) * (1 - e)))
    torch.testing.assert_close(st.delta, -0.2 * (y - e) * e * (1 - e))
    _, st = teacher_step(e, EventState(torch.zeros(1, 3), e), params, 0.2)  # target reached: no error
    assert torch.count_nonzero(st.delta) == 0


def test_recurrent_Z_drives_apical_potential_to_zero():
    """Z's update (grad Z = -u^T b_pre) keeps the teacher-free dendrite in its linear range."""
    rule = BurstpropRate(feedback="random", y_gain=20.0, lr_hidden=0.0, lr_output=0.0, lr_recurrent=0.005)
    net = rule.net(SIZES, 2)
    opt = rule.optimizer(net)
    x, y = batch()

    def apical():
        with torch.no_grad():
            return float(net.bursts(x, y, rule.p_baseline)[1].u.abs().mean())

    u0 = apical()
    for _ in range(100):
        opt.apply(rule.update(net, x, y))
    assert apical() < 0.5 * u0, (u0, apical())


def test_kolen_pollack_aligns_Y_with_W():
    rule = BurstpropRate(feedback="learned", lr_hidden=[2.0, 0.5], lr_output=0.005, weight_decay=1e-2)
    net = rule.net(SIZES, 0)
    opt = rule.optimizer(net)
    before = [angle_deg(layer.W, layer.Y) for layer in net.layers[1:]]
    for step in range(200):
        opt.apply(rule.update(net, *batch(step)))
    after = [angle_deg(layer.W, layer.Y) for layer in net.layers[1:]]
    assert all(a < b - 20 for a, b in zip(after, before)), (before, after)


def test_fixed_random_Y_does_not_move():
    rule = BurstpropRate(feedback="random")
    net = rule.net(SIZES, 0)
    y0 = [layer.Y.clone() for layer in net.layers[1:]]
    rule.optimizer(net).apply(rule.update(net, *batch()))
    assert all(torch.equal(a, layer.Y) for a, layer in zip(y0, net.layers[1:]))
    assert not torch.equal(net.layers[0].W, rule.net(SIZES, 0).layers[0].W)


def test_sgd_momentum_and_weight_decay():
    net = RateNet([3, 2], seed=0)
    w0 = net.layers[0].W.detach().clone()
    g = torch.ones(2, 3)
    opt = LayerSGD(net, [{"W": 0.1, "c": 0.1}], momentum=0.5, weight_decay=0.01)
    upd = Update([{"W": g}], torch.zeros(1, 2), None)
    opt.apply(upd)
    opt.apply(upd)
    w1 = 0.99 * w0 - 0.1
    torch.testing.assert_close(net.layers[0].W.detach(), 0.99 * w1 + (0.5 * -0.1 - 0.1))


def test_params_are_json_and_rebuild_the_rule():
    rule = BurstpropRate(feedback="random", lr_hidden=[1.0, 0.25], p_baseline=0.3)
    params = json.loads(json.dumps(rule.params()))
    assert params["rule"] == "burstprop" and params["lr_hidden"] == [1.0, 0.25]
    assert make_rate_rule(params.pop("rule"), **params) == rule


@pytest.mark.parametrize("make", [
    lambda: BurstpropRate(feedback="sideways"),
    lambda: BurstpropRate(p_baseline=1.5),
    lambda: make_rate_rule("hebb"),
    lambda: make_rate_rule("fa", feedback="random"),
    lambda: Backprop(lr_hidden=[0.1]).optimizer(RateNet(SIZES)),
    lambda: RateNet(SIZES).bursts(*batch(), p_baseline=0.2),
])
def test_bad_rule_parameters(make):
    with pytest.raises(InputError) as exc:
        make()
    assert "\n" not in str(exc.value)
