"""Local learning rules as data: each gives a float update for a layer stack and records its
hyperparameters (``rule.params()``, JSON-serialisable) for export.

    rule = BurstpropRate(feedback="learned")
    net = rule.net([784, 500, 500, 10], seed=0)
    opt = rule.optimizer(net)
    opt.apply(rule.update(net, x, y_onehot))
"""
from neurolearn.errors import InputError
from neurolearn.rules.base import LayerSGD, Rule, Update, angle_deg
from neurolearn.rules.baselines import Backprop, FeedbackAlignment
from neurolearn.rules.burstprop import BurstpropRate
from neurolearn.rules.btsp import BTSP, SimpleBTSP
from neurolearn.rules.dendritic_balance import DendriticBalance, HebbianBaseline
from neurolearn.rules.stdp import STDP

RULES = {"burstprop": BurstpropRate, "backprop": Backprop, "fa": FeedbackAlignment}


def make_rule(name: str, **params) -> Rule:
    """The rule called ``name`` ("burstprop", "backprop", "fa") with hyperparameters ``params``."""
    if name not in RULES:
        raise InputError(f"unknown rule {name!r}; allowed {', '.join(RULES)}")
    try:
        return RULES[name](**params)
    except TypeError as exc:
        raise InputError(f"{name}: {exc}") from None


__all__ = ["RULES", "Backprop", "BurstpropRate", "FeedbackAlignment", "LayerSGD", "Rule", "Update", "angle_deg",
           "make_rule", "BTSP", "SimpleBTSP", "DendriticBalance", "HebbianBaseline", "STDP"]
