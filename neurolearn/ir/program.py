"""Learning-engine programs: the on-chip rules of Lava 0.10.0's ``LearningDense``, as data.

A :class:`LearningProgram` holds what a ``Loihi2FLearningRule`` / ``Loihi3FLearningRule`` holds: the
``dw``, ``dd``, ``dt`` strings (sums of products ``D * S * F1 * F2 ...``, D in x0, y0, u<k>), the trace
impulses and time constants, ``t_epoch`` and the seed of the trace random streams. It is validated on
construction (one-line :class:`~neurolearn.errors.RuleError`) and parsed into :class:`Product` tuples
that neurolearn's simulator runs (``neurolearn.sims.learning_engine``), exactly as Lava's own parser
(``ProductSeries(SymbolicEquation(...))``) reads the string. The grammar (spaces removed)::

    rule    := product (("+" | "-") product)*
    product := ["+" | "-"] term (["*"] term)*          # "*" may be left out
    term    := "x0" | "y0" | "u"<digit> | var | literal | "(" inner ")" | "sgn(" inner ")"
    var     := "x1" | "x2" | "y1" | "y2" | "y3" | "w" | "d" | "t"
    literal := n | "2^"e | n"*2^"e                     # n digits, e [+-]digits
    inner   := [+-] operand [(+|-) operand]            # operand: var, x0, y0, u<k> or literal

How Lava reads a product (signs, literal folding, the scale's normalisation, what brackets mean and
where it refuses) is spelled out at :func:`_product` and :func:`_bracket`.

Widths (bits, Lava's ``learning/constants.py``): traces 7 (+8 fractional bits of impulse),
x0/y0 1, w/d/t 9 (signed), scale mantissa 4, accumulator 15 (+sign), epoch time 6.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Mapping

from neurolearn.errors import RuleError, shown

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
_VARIABLES = ("x1", "x2", "y1", "y2", "y3", "w", "d", "t")   # Lava's Variable symbols
_DEPENDENCY_OR_VAR = re.compile(r"x0|y0|u\d|x[12]|y[123]|[wdt]")
_OPERAND = re.compile(rf"{_DEPENDENCY_OR_VAR.pattern}|\d.*")
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
        raise RuleError(f"learning program: {name} = {shown(value)}; allowed integers {rng[0]}..{rng[1]}")


def _check_impulse(name: str, value) -> None:
    lo, hi = IMPULSE_RANGE
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        raise RuleError(f"learning program: {name} = {shown(value)}; allowed {lo}..{hi} (8-bit impulse)")
    scaled = value * 2**IMPULSE_FRACTION_BITS
    if scaled != round(scaled):
        near = round(scaled) / 2**IMPULSE_FRACTION_BITS
        raise RuleError(f"learning program: {name} = {shown(value)} is not a multiple of 2^-{IMPULSE_FRACTION_BITS} "
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


def _split_products(tokens: list[str]) -> list[list[str]]:
    """The tokens of each product, split as Lava splits: a top-level + or - starts a new product."""
    products, cur, depth = [], [], 0
    for tok in tokens:
        if depth == 0 and tok in "+-" and cur:
            products.append(cur)
            cur = []
        depth += tok in ("(", "sgn(")
        depth -= tok == ")"
        cur.append(tok)
    products.append(cur)
    return products


def _parse(target: str, text: str) -> tuple[Product, ...]:
    """Parse one rule string, product by product (so errors name the product)."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"{target} = {text!r}: expected a non-empty rule string")
    text = text.replace(" ", "")
    out = []
    for tokens in _split_products(_tokens(target, text)):
        piece = "".join(tokens)
        try:
            product = _product(tokens)
        except RuleError as exc:
            raise RuleError(f"{target} = '{text}': product '{piece}': {exc}") from None
        for f in product.factors:
            if abs(f.const) >= CONST_LIMIT:
                raise RuleError(f"{target} = '{text}': product '{piece}': constant {f.const} of {f.var} "
                                f"outside +-2^31")
        out.append(product)
    return tuple(out)


def _literal(tok: str) -> tuple[int, int]:
    """(n, e) of a literal 'n', '2^e' or 'n*2^e' ('2^e' is n = 1, 'n' is e = 0). Lava reads n and e as
    Python integer literals, which refuse leading zeros ('07')."""
    head, _, exp = tok.partition("^")
    parts = (head[:-2] or "1", exp) if exp else (tok, "0")
    for part in parts:
        if re.match(r"0+[1-9]", part.lstrip("+-")):
            raise RuleError(f"literal '{tok}': leading zeros in decimal integer literals are not permitted")
    return int(parts[0]), int(parts[1])


def _product(tokens: list[str]) -> Product:
    """One product's tokens, read as Lava's ``ProductSeries`` reads them; RuleError(reason) where Lava raises.

    ``*`` is dropped (so juxtaposition multiplies too), a ``-`` negates the scale, the first x0/y0/u<k>
    is the dependency (later x0/y0 are factors, later u<k> only set k), every literal and ``(C)``
    folds into the scale m * 2^e. Then, while |m| > 7, m is even and e < 8: m /= 2, e += 1; the
    result must have -8 <= m <= 7 and -7 <= e <= 8."""
    lits = {t: _literal(t) for t in tokens if t[0].isdigit()}  # Lava reads every literal first
    dep, k, m, e, factors = None, None, 1, 0, []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "-":
            m = -m
        elif tok in lits:
            m, e = m * lits[tok][0], e + lits[tok][1]
        elif tok in _VARIABLES:
            factors.append(Factor(tok))
        elif tok[0] == "u":
            if k is not None and k != int(tok[1]):
                raise RuleError("Can't have multiple decimate exponents in the same ProductSeries.")
            k, dep = int(tok[1]), dep or "u"
        elif tok in ("x0", "y0"):
            if dep is None:
                dep = tok
            else:
                factors.append(Factor(tok))
        elif tok in ("(", "sgn("):
            end = tokens.index(")", i)
            sign, (n, ne), factor = _bracket(tok, tokens[i + 1:end], lits)
            m, e, i = m * sign * n, e + ne, end
            if factor is not None:
                factors.append(factor)
        i += 1
    try:
        while abs(m) > 7 and m % 2 == 0 and e < 8:
            m, e = int(m / 2), e + 1  # Lava halves in floating point: above 2^53 this rounds, as there
    except OverflowError:
        pass  # m beyond floats (Lava crashes here): refused as out of range below
    if dep is None:
        raise RuleError("no dependency (x0, y0 or u<k>)")
    if not (-8 <= m <= 7 and -7 <= e <= 8):
        raise RuleError("its literals fold to a scale m * 2^e outside Lava's range "
                        "(-8 <= m <= 7, -7 <= e <= 8 after normalisation)")
    if k is not None and dep != "u":
        raise RuleError("Can't have a non-null decimate exponent with a dependency different from u in "
                        f"Product. Found dependency is {dep}")
    return Product(dep, m, e, tuple(factors))


def _bracket(kind: str, inner: list[str], lits: dict) -> tuple[int, tuple[int, int], Factor | None]:
    """Lava's reading of '(...)' or 'sgn(...)' with ``inner`` tokens (shape checked by _check_bracket):
    (sign it puts on the scale, literal (n, e) it folds into the scale, factor or None).

    '(C)' folds +-C into the scale; '(var)' and 'sgn(var)' drop a leading '-'; '(x0)', '(y0)', '(u<k>)'
    vanish; '(C +- var)' is read as var +- C; a '-' before the var negates the scale and the constant."""
    sub = "".join(inner)
    if inner[0] not in "+-":
        inner = ["+", *inner]
    sign, fold, var, const, negative_var = 1, (1, 0), None, 0, False
    if len(inner) == 2:
        if inner[1] in _VARIABLES:
            var = inner[1]
        elif inner[1] in lits:
            sign, fold = (-1 if inner[0] == "-" else 1), lits[inner[1]]
    else:
        if _DEPENDENCY_OR_VAR.fullmatch(inner[1]) and inner[3] in lits:
            var_sign, var, const_sign, lit = inner
        elif _DEPENDENCY_OR_VAR.fullmatch(inner[3]) and inner[1] in lits:
            const_sign, lit, var_sign, var = inner
        else:
            raise RuleError(f"Sub-expression {sub} cannot be interpreted to be of type [+,-]var[+,-]const")
        n, ne = lits[lit]
        const = n * 2**ne * (-1 if const_sign == "-" else 1)
        negative_var = var_sign == "-"
        if negative_var:
            sign, const = -1, -const
    if kind == "(":
        if var is not None and var[0] == "u":
            raise RuleError("Unknown state_var in Factor.")
        return sign, fold, None if var is None else Factor(var, const)
    if var not in ("w", "d", "t"):
        raise RuleError("sgn(..) function can only be applied to 'w', 'd' or 't' variables.")
    if negative_var:
        raise RuleError("Variable in sgn(..) function cannot be negative.")
    return sign, fold, Factor(var, const, sgn=True)


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
