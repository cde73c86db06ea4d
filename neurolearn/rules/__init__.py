"""Local learning rules as plugins: each validates its parameters, gives a float update and a
learning-engine program (``chip_rule``) from one definition."""
from neurolearn.rules.btsp import BTSP, SimpleBTSP
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.rules.dendritic_balance import DendriticBalance, HebbianBaseline
from neurolearn.rules.stdp import STDP

__all__ = ["BTSP", "SimpleBTSP", "BurstpropSpiking", "DendriticBalance", "HebbianBaseline", "STDP"]
