"""Local learning rules as plugins: one interface, and a registry keyed by the rule name stored in NIR.

A rule is a frozen dataclass that subclasses :class:`LearningRule`, sets ``name`` (the string in a NIR
file's rules block, e.g. ``"W:input->hidden": {"rule": "stdp", "a_plus": 0.01}``) and declares every
parameter with :func:`param` (default, allowed values, unit). Defining the class registers it in
:data:`RULES`. Each rule gives:

* ``from_params(dict)`` / ``to_params()``: the rules-block form. A key the rule does not take, a value of
  the wrong type or out of range: one-line :class:`~neurolearn.errors.RuleError` naming the parameter and
  its allowed values (constructing the dataclass checks the same);
* ``init_state(n_pre, n_post, batch)`` and ``float_step(state, w, StepInput, dt)``: the float update of one
  step; :meth:`LearningRule.float_run` runs it over a spike train;
* ``chip_rule(ChipUnits)``: the learning-engine program (:class:`~neurolearn.ir.program.ChipRule`).

:func:`rule_from_params` reads one rules-block entry, :func:`registered_rules` a whole block (names not
registered here, such as the rate-form training rules, are left to the caller).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, NamedTuple

import numpy as np

from neurolearn.errors import RuleError, shown, where
from neurolearn.ir.program import SEED_RANGE, ChipRule
from neurolearn.nir.extension import normalize

RULES: dict[str, type["LearningRule"]] = {}   # rule name (as stored in NIR) -> rule class
RATE_FORM_RULES = ("burstprop", "backprop", "fa")   # what ``neurolearn train`` records for rate-form training:
#                                                    known, without a learning-engine form (inference builds)


@dataclass(frozen=True)
class Allowed:
    """A parameter's allowed values: finite numbers above ``gt``/``ge`` and below ``lt``/``le``, or one of
    ``choices`` (strings); ``optional``: None too (left out of the file). ``unit`` is for messages."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False
    unit: str = ""

    def admits(self, value) -> bool:
        if value is None:
            return self.optional
        if self.choices:
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))

    def __str__(self) -> str:
        low = ("(", self.gt) if self.gt is not None else ("[", self.ge)
        high = (")", self.lt) if self.lt is not None else ("]", self.le)
        if self.choices:
            text = ", ".join(self.choices)
        elif low[1] is not None and high[1] is not None:
            text = f"{low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
        elif low[1] is not None:
            text = f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
        elif high[1] is not None:
            text = f"{'<' if high[0] == ')' else '<='} {high[1]:g}"
        else:
            text = "finite"
        return text + (f" {self.unit}" if self.unit else "") + (", or left out" if self.optional else "")


def param(default, unit: str = "", *, gt=None, ge=None, lt=None, le=None, choices=(), optional=False):
    """A rule parameter: its default and :class:`Allowed` values (checked on construction)."""
    return field(default=default, metadata={"allowed": Allowed(gt, ge, lt, le, tuple(choices), optional, unit)})


@dataclass(frozen=True)
class ChipUnits:
    """What a rule's program depends on besides the rule: ``weight``, integer weight units per float weight
    unit of the learning connection (after its weight_exp); ``dt``, seconds per step (rules with time
    constants in seconds need it); ``rng_seed``, the learning engine's trace random streams."""

    weight: float
    dt: float | None = None
    rng_seed: int = 0

    def __post_init__(self):
        checks = (("weight", self.weight, Allowed(gt=0, unit="integer weight units per float weight unit")),
                  ("dt", self.dt, Allowed(gt=0, unit="s per step", optional=True)),
                  ("rng_seed", self.rng_seed, Allowed(ge=SEED_RANGE[0], le=SEED_RANGE[1])))
        for name, value, allowed in checks:
            if not allowed.admits(value) or (name == "rng_seed" and value != int(value)):
                raise RuleError(f"chip units: {name} = {shown(value)}; allowed {allowed}")


class StepInput(NamedTuple):
    """One step's signals at a learning connection, (batch, n) arrays (numpy; burstprop's step takes torch
    tensors too): ``pre`` presynaptic events, ``post`` postsynaptic events, ``bursts`` postsynaptic
    bursts (0/1), ``third`` a third factor per postsynaptic neuron (each rule says which)."""

    pre: Any
    post: Any = None
    bursts: Any = None
    third: Any = None


class PairTraces(NamedTuple):
    """Float pre and post spike traces (+1 per spike, read after this step's decay and spike), (batch, n)."""

    pre: Any
    post: Any

    @classmethod
    def zeros(cls, n_pre: int, n_post: int, batch: int) -> "PairTraces":
        return cls(np.zeros((batch, n_pre)), np.zeros((batch, n_post)))


class PairForm(NamedTuple):
    """A two-factor rule as the float twin runs it, per step: ``dw_ij = eta (x_j - pre_offset) (y_i - post_offset)
    - decay w_ij y2_i`` with spike traces (+1 per spike, read after this step's decay and spike) x (pre, tau_pre
    steps), y (post, tau_post steps) and y2 (post, tau_post2 steps; 0: y2 stays 0). eta in weight units per unit
    trace product, offsets in trace units (spikes), decay per unit y2 and step. ``every`` > 1: the change is made
    only at every ``every``-th step (counted from the first step the network ran, as the chip's learning epochs),
    ``every`` times as large (the program's t_epoch)."""

    eta: float
    pre_offset: float
    post_offset: float
    decay: float
    tau_pre: float
    tau_post: float
    tau_post2: float
    every: int = 1


class LearningRule:
    """Base of every rule (see the module docstring). Subclasses are frozen dataclasses whose fields are
    all declared with :func:`param`; ``name`` registers them."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "pair_form" in cls.__dict__:   # a class that writes its pair form has one
            cls.has_pair_form = True
        if "name" in cls.__dict__:
            if cls.name in RULES:
                raise RuleError(f"rule name '{cls.name}': registered twice ({RULES[cls.name].__qualname__}, "
                                f"{cls.__qualname__})")
            RULES[cls.name] = cls

    def __post_init__(self):
        for f in fields(self):
            allowed, value = f.metadata["allowed"], getattr(self, f.name)
            if not allowed.admits(value):
                raise RuleError(f"rule '{self.name}': parameter '{f.name}' = {_shown(value)}; allowed {allowed}")
        self.check()

    def check(self) -> None:
        """Constraints between parameters (RuleError naming them); none unless a rule adds some."""

    @classmethod
    def from_params(cls, params: Mapping, where: str = "") -> "LearningRule":
        """The rule of one rules-block entry ``{"rule": name, parameter: value, ...}``; RuleError prefixed
        with ``where`` (e.g. "m.nir: node 'W:input->hidden'") for an unknown key or a bad value."""
        prefix = f"{where}: " if where else ""
        if not isinstance(params, Mapping):
            raise RuleError(f"{prefix}rule '{cls.name}': parameters {params!r} are not a dict")
        names = [f.name for f in fields(cls)]
        kwargs = {}
        for key, value in params.items():
            if key == "rule":
                if value != cls.name:
                    raise RuleError(f"{prefix}parameter 'rule' = {value!r}; this is rule '{cls.name}'")
                continue
            if key not in names:
                raise RuleError(f"{prefix}rule '{cls.name}': parameter '{key}' is not one of its parameters "
                                f"({', '.join(names)})")
            kwargs[key] = normalize(value)
        try:
            return cls(**kwargs)
        except RuleError as exc:
            raise RuleError(prefix + str(exc)) from None

    def to_params(self) -> dict:
        """The rules-block entry: ``"rule"`` and every parameter (None omitted: HDF5 metadata has no None)."""
        return {"rule": self.name, **{f.name: getattr(self, f.name) for f in fields(self)
                                      if getattr(self, f.name) is not None}}

    def init_state(self, n_pre: int, n_post: int, batch: int = 1):
        """The float state before the first step (a NamedTuple of numpy arrays)."""
        raise NotImplementedError

    def float_step(self, state, w, step: StepInput, dt: float | None = None):
        """One step of the float rule: (new state, dw). ``w``: the weights (n_post, n_pre) before the step;
        ``dw``: their change (n_post, n_pre), float weight units, averaged over the batch; ``dt``: s per step."""
        raise NotImplementedError

    def chip_rule(self, units: ChipUnits) -> ChipRule:
        """The learning-engine program for a connection of ``units``."""
        raise NotImplementedError

    has_pair_form: ClassVar[bool] = False   # set for every class that defines pair_form (the float twin's form)

    def realized(self, units: ChipUnits) -> "LearningRule":
        """The float rule the program for ``units`` implements (constants as rounded on chip); rules that have one
        override this."""
        raise RuleError(f"rule '{self.name}': no realized float form")

    def pair_form(self) -> PairForm:
        """This rule as the float twin's two-factor form (:class:`PairForm`); the pair-trace rules override this
        (which sets ``has_pair_form``)."""
        raise RuleError(f"rule '{self.name}': no pair-trace form")

    def float_run(self, pre, post=None, *, bursts=None, third=None, w0=None, dt: float | None = None,
                  record: bool = False) -> np.ndarray:
        """:meth:`float_step` over one sample's run: ``pre`` (steps, n_pre), ``post``, ``bursts``, ``third``
        (steps, n_post) as the rule needs them, W from ``w0`` (n_post, n_pre; default 0). Returns the final W,
        or every step's (steps, n_post, n_pre) if ``record``."""
        pre = np.asarray(pre, dtype=float)
        rows = [None if a is None else np.asarray(a, dtype=float) for a in (post, bursts, third)]
        if w0 is None:
            w = np.zeros((next((a.shape[1] for a in rows if a is not None), 0), pre.shape[1]))
        else:
            w = np.array(w0, dtype=float)
        state, out = self.init_state(pre.shape[1], w.shape[0]), []
        for t in range(len(pre)):
            step = StepInput(pre[t][None], *(None if a is None else a[t][None] for a in rows))
            state, dw = self.float_step(state, w, step, dt)
            w = w + dw
            if record:
                out.append(w)
        return np.stack(out) if record else w

    def _require(self, step: StepInput, *signals: str) -> None:
        """RuleError unless ``step`` carries ``signals`` (names of StepInput fields)."""
        missing = [s for s in signals if getattr(step, s) is None]
        if missing:
            raise RuleError(f"rule '{self.name}': float_step needs {', '.join(missing)} (see its docstring)")


def _shown(value) -> str:
    """``repr(value)`` on one line, at most 60 characters."""
    text = " ".join(shown(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def rule_from_params(params: Mapping, where: str = "") -> LearningRule:
    """The registered rule of one rules-block entry (``params["rule"]`` names it); RuleError prefixed with
    ``where`` for a missing or unregistered name or a bad parameter."""
    prefix = f"{where}: " if where else ""
    name = params.get("rule") if isinstance(params, Mapping) else None
    if not (isinstance(name, str) and name in RULES):
        raise RuleError(f"{prefix}parameter 'rule' = {name!r}; registered rules: {', '.join(sorted(RULES))}")
    return RULES[name].from_params(params, where)


def registered_rules(block: Mapping, file: str | None = None) -> dict[str, LearningRule]:
    """The rules of a NIR rules block (connection name -> entry) whose name is registered, validated:
    RuleError naming file, connection and parameter. Entries that are no rule (no ``"rule"`` key, such as
    a training run's ``"task"``) and the rate-form training rules (:data:`RATE_FORM_RULES`, no learning-engine
    form) are left out; the compiler reports them. Any other rule name (a typo such as "stpd") is refused, so
    a misspelt rule never compiles silently into an inference build."""
    if not isinstance(block, Mapping):
        raise RuleError(f"{where(file) or 'graph'}: metadata 'rules' is not a dict")
    rules = {}
    for key, params in block.items():
        if not isinstance(params, Mapping):
            raise RuleError(f"{where(file, key)}: rules entry {_shown(params)} is not a dict")
        if "rule" not in params:
            continue
        name = params["rule"]
        if isinstance(name, str) and name in RATE_FORM_RULES:
            continue
        if not (isinstance(name, str) and name in RULES):
            raise RuleError(f"{where(file, key, 'rule')} = {_shown(name)}: not a known rule; registered rules: "
                            f"{', '.join(sorted(RULES))}; rate-form training rules (compiled for inference): "
                            f"{', '.join(RATE_FORM_RULES)}")
        rules[key] = rule_from_params(params, where(file, key))
    return rules
