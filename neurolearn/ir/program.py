"""Learning-engine programs: the on-chip rules of Lava 0.10.0's ``LearningDense``, as data.

A :class:`LearningProgram` holds what a ``Loihi2FLearningRule`` / ``Loihi3FLearningRule`` holds: the
``dw``, ``dd``, ``dt`` strings (sums of products ``D * S * F1 * F2 ...``, D in x0, y0, u<k>), the trace
impulses and time constants, ``t_epoch`` and the seed of the trace random streams. It is validated on
construction (one-line :class:`~neurolearn.errors.RuleError`) and parsed, with Lava's own parser, into
:class:`Product` tuples that neurolearn's simulator runs (``neurolearn.sims.learning``).

Widths (bits, Lava's ``learning/constants.py``): traces 7 (+8 fractional bits of impulse),
x0/y0 1, w/d/t 9 (signed), scale mantissa 4, accumulator 15 (+sign), epoch time 6.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Mapping

from neurolearn.errors import RuleError

TRACE_BITS = 7                  # x1 x2 y1 y2 y3 are 0..127
IMPULSE_FRACTION_BITS = 8       # impulses are multiples of 2**-8
ACCUMULATOR_BITS = 15           # |dZ| accumulator, plus sign
MANTISSA_BITS = 4               # the scale S = m * 2**e of a product
FACTOR_BITS = {"x0": 1, "y0": 1, "x1": 7, "x2": 7, "y1": 7, "y2": 7, "y3": 7, "w": 9, "d": 9, "t": 9}
TARGETS = ("dw", "dd", "dt")    # -> LearningDense Vars weights, tag_2, tag_1
X_TRACES = ("x1", "x2")
Y_TRACES = ("y1", "y2", "y3")
IMPULSE_RANGE = (0, 255)        # 8-bit Vars x1_impulse ... in Lava's fixed-point model
TAU_RANGE = (0, 255)            # 8-bit Vars x1_tau ...; 0 = no carry-over between epochs
T_EPOCH_RANGE = (1, 63)         # 6-bit within-epoch spike times tx, ty
SEED_RANGE = (0, 2**31 - 5)     # Lava seeds four generators: rng_seed .. rng_seed + 3
CONST_LIMIT = 2**31             # |C| of a bracketed (var + C)
THIRD_FACTOR_TAU = 65535        # Loihi3FLearningRule's y taus: the post neuron supplies y1..y3
VALENCE_ZERO = 64               # a signed third factor q travels as y = 64 + 8 q (BurstLIF's valence)

# Lava's symbols, in the order its parser tries them (spaces are removed first).
_TOKEN = re.compile(r"sgn\(|[()+\-*]|x0|y0|u\d(?!\d)|x[12]|y[123]|[wdt]|\d+\*2\^[+-]?\d+|2\^[+-]?\d+|\d+")
_OPERAND = re.compile(r"x0|y0|u\d|x[12]|y[123]|[wdt]|\d.*")
_UK = re.compile(r"u(\d)")
_SYMBOLS = "x0 y0 u0..u9 x1 x2 y1 y2 y3 w d t sgn(.) (.) + - * and literals n, 2^e, n*2^e"


def product_shift(factors) -> int:
    """Lava's hidden right shift (bits) of a product of the given factor variables (x1, y2, w, ...):
    their widths plus the 4-bit mantissa beyond the 15-bit accumulator."""
    return max(0, sum(FACTOR_BITS[f] for f in factors) + MANTISSA_BITS - ACCUMULATOR_BITS)


@dataclass(frozen=True)
class Factor:
    """One factor: ``var`` (x0 y0 x1 x2 y1 y2 y3 w d t) plus ``const``, or ``sgn(var + const)``."""

    var: str
    const: float = 0
    sgn: bool = False

    @property
    def bits(self) -> int:
        """Width Lava saturates the factor to: [-2**bits, 2**bits - 1]."""
        return FACTOR_BITS[self.var]


@dataclass(frozen=True)
class Product:
    """``dependency * mantissa * 2**exponent * factors...``; dependency x0, y0 or u (u<k>: see program.k)."""

    dependency: str
    mantissa: int
    exponent: int
    factors: tuple[Factor, ...]

    @property
    def shift(self) -> int:
        """Lava's hidden right shift (bits): see :func:`product_shift`."""
        return product_shift(f.var for f in self.factors)

    @property
    def scale(self) -> float:
        """Change of the variable per unit product of the factors, after the hidden shift (float)."""
        return self.mantissa * 2.0 ** (self.exponent - self.shift)


@dataclass(frozen=True)
class LearningProgram:
    """One ``LearningDense`` rule. Impulses: trace units (multiples of 2**-8); taus: steps (0 = no decay
    memory); ``t_epoch``: steps per learning epoch; ``three_factor``: y1..y3 come from the post neuron."""

    dw: str | None = None
    dd: str | None = None
    dt: str | None = None
    x1_impulse: float = 0
    x1_tau: int = 0
    x2_impulse: float = 0
    x2_tau: int = 0
    y1_impulse: float = 0
    y1_tau: int = 0
    y2_impulse: float = 0
    y2_tau: int = 0
    y3_impulse: float = 0
    y3_tau: int = 0
    t_epoch: int = 1
    rng_seed: int = 0
    three_factor: bool = False
    products: Mapping[str, tuple[Product, ...]] = field(init=False, repr=False, compare=False)
    k: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        rules = {t: getattr(self, t) for t in TARGETS if getattr(self, t) is not None}
        if not rules:
            raise RuleError("learning program: no rule; give at least one of dw, dd, dt")
        for trace in X_TRACES + Y_TRACES:
            _check_impulse(f"{trace}_impulse", getattr(self, f"{trace}_impulse"))
            _check_int(f"{trace}_tau", getattr(self, f"{trace}_tau"), TAU_RANGE)
        if self.three_factor:
            for trace in Y_TRACES:
                for p in ("impulse", "tau"):
                    if getattr(self, f"{trace}_{p}"):
                        raise RuleError(f"learning program: {trace}_{p} = {getattr(self, f'{trace}_{p}')}; a "
                                        "three-factor program takes y1..y3 from the post neuron, leave it 0")
        _check_int("t_epoch", self.t_epoch, T_EPOCH_RANGE)
        _check_int("rng_seed", self.rng_seed, SEED_RANGE)
        products = {t: _parse(t, s) for t, s in rules.items()}
        ks = {}
        for t, s in rules.items():
            for k in _UK.findall(s.replace(" ", "")):
                ks.setdefault(int(k), t)
        if len(ks) > 1:
            used = ", ".join(f"u{k} (in {t})" for k, t in sorted(ks.items()))
            raise RuleError(f"learning program: products use {used}; all u<k> must share one k")
        object.__setattr__(self, "products", products)
        object.__setattr__(self, "k", next(iter(ks), None))


def _check_int(name: str, value, rng) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not rng[0] <= value <= rng[1]:
        raise RuleError(f"learning program: {name} = {value!r}; allowed integers {rng[0]}..{rng[1]}")


def _check_impulse(name: str, value) -> None:
    lo, hi = IMPULSE_RANGE
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        raise RuleError(f"learning program: {name} = {value!r}; allowed {lo}..{hi} (8-bit impulse)")
    scaled = value * 2**IMPULSE_FRACTION_BITS
    if scaled != round(scaled):
        near = round(scaled) / 2**IMPULSE_FRACTION_BITS
        raise RuleError(f"learning program: {name} = {value!r} is not a multiple of 2^-{IMPULSE_FRACTION_BITS} "
                        f"(the impulse's fraction has {IMPULSE_FRACTION_BITS} bits); nearest {near}")


def _tokens(target: str, text: str) -> list[str]:
    """Lava's symbols of ``text`` (spaces removed); RuleError naming an unknown symbol or bad bracket."""
    out, pos, depth, opened = [], 0, 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            sym = re.compile(r"[A-Za-z_]\w*|\S").match(text, pos).group()
            raise RuleError(f"{target} = '{text}': unknown symbol '{sym}' at position {pos}; allowed {_SYMBOLS}")
        tok = m.group()
        if tok in ("(", "sgn("):
            depth, opened = depth + 1, len(out)
            if depth > 1:
                raise RuleError(f"{target} = '{text}': nested brackets at position {pos}; Lava reads only "
                                "'(var +- C)', '(C)' or 'sgn(var +- C)'")
        elif tok == ")":
            depth -= 1
            if depth < 0:
                raise RuleError(f"{target} = '{text}': unbalanced ')' at position {pos}")
            _check_bracket(target, text, out[opened:] + [tok])
        out.append(tok)
        pos = m.end()
    if depth:
        raise RuleError(f"{target} = '{text}': unclosed bracket")
    return out


def _check_bracket(target: str, text: str, toks: list[str]) -> None:
    """Lava reads '(var)', '(C)', '(var +- C)', '(C +- var)' (optionally signed); anything else it
    misreads silently ('(w*2)' as w + 2, '(w+1+2)' as w + 1), so refuse it."""
    inner = toks[1:-1]
    if inner[:1] not in (["+"], ["-"]):
        inner = ["+"] + inner
    shape = ["s" if t in "+-" else "o" if _OPERAND.fullmatch(t) else "?" for t in inner]
    if shape not in (["s", "o"], ["s", "o", "s", "o"]):
        raise RuleError(f"{target} = '{text}': bracket '{''.join(toks)}' is not one of (var), (C), (var +- C), "
                        "(C +- var), sgn(var +- C)")


def _split_products(tokens: list[str]) -> list[str]:
    """Product strings, split as Lava splits: a top-level + or - starts a new product."""
    products, cur, depth = [], [], 0
    for tok in tokens:
        if depth == 0 and tok in "+-" and cur:
            products.append("".join(cur))
            cur = []
        depth += tok in ("(", "sgn(")
        depth -= tok == ")"
        cur.append(tok)
    products.append("".join(cur))
    return products


def _parse(target: str, text: str) -> tuple[Product, ...]:
    """Parse one rule string with Lava's parser, product by product (so errors name the product)."""
    from lava.magma.core.learning.product_series import ProductSeries
    from lava.magma.core.learning.symbolic_equation import SymbolicEquation

    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"{target} = {text!r}: expected a non-empty rule string")
    text = text.replace(" ", "")
    out = []
    for piece in _split_products(_tokens(target, text)):
        try:
            lava_products = ProductSeries(SymbolicEquation(target, piece)).products
        except (ValueError, AttributeError, IndexError, SyntaxError, TypeError) as exc:
            reason = str(exc) or type(exc).__name__
            if reason.startswith(("Mantissa", "Exponent")):
                reason = ("its literals fold to a scale m * 2^e outside Lava's range "
                          "(-8 <= m <= 7, -7 <= e <= 8 after normalisation)")
            elif reason.startswith("No dependency"):
                reason = "no dependency (x0, y0 or u<k>)"
            raise RuleError(f"{target} = '{text}': product '{piece}': {reason}") from None
        for p in lava_products:
            factors = tuple(Factor(f.state_var, f.const if f.has_const() else 0, f.is_sgn) for f in p.factors)
            for f in factors:
                if abs(f.const) >= CONST_LIMIT:
                    raise RuleError(f"{target} = '{text}': product '{piece}': constant {f.const} of {f.var} "
                                    f"outside +-2^31")
            out.append(Product(p.dependency, p.s_mantissa, p.s_exp - 7, factors))
    return tuple(out)


@dataclass(frozen=True)
class ChipRule:
    """A rule object's learning-engine form: the program, what feeds its third factors, and every
    approximation made in writing it (each with its size), so the compiler can report them.

    ``third_factors``: y trace name -> what arrives there each step (e.g. ``"y1": "burst * 64"``);
    ``delivered_by``: the process that sends them (``"post neuron"``: the target layer's
    ``s_out_y1..3``; ``"input"``: a RingBuffer of the network's inputs); empty if the program is
    two-factor. ``float_update``: the float rule the program implements, in words. ``post_neuron``:
    settings the post neuron must have to send those third factors (e.g. ``{"valence_levels": 4}``)."""

    program: LearningProgram
    float_update: str
    third_factors: Mapping[str, str] = field(default_factory=dict)
    delivered_by: str = ""
    approximations: tuple[str, ...] = ()
    post_neuron: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self):
        if self.program.three_factor and not self.delivered_by:
            raise RuleError("chip rule: a three-factor program needs 'delivered_by' (the process that sends y1..y3)")
