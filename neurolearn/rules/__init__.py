"""Local learning rules as plugins: each validates its parameters and gives a float step and a
learning-engine program (``chip_rule``) from one definition; :data:`RULES` holds them by the name stored
in NIR (see :mod:`neurolearn.rules.plugin`)."""
from neurolearn.rules.btsp import BTSP, SimpleBTSP
from neurolearn.rules.btsp_credit import BTSPCredit
from neurolearn.rules.burstprop_spiking import BurstpropSpiking
from neurolearn.rules.dendritic_balance import DendriticBalance, HebbianBaseline
from neurolearn.rules.plugin import RULES, ChipUnits, LearningRule, StepInput, registered_rules, rule_from_params
from neurolearn.rules.stdp import STDP

__all__ = ["BTSP", "BTSPCredit", "SimpleBTSP", "BurstpropSpiking", "DendriticBalance", "HebbianBaseline", "STDP",
           "RULES", "ChipUnits", "LearningRule", "StepInput", "registered_rules", "rule_from_params"]
