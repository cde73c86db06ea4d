"""neurolearn's rule-string parser reads every string as Lava 0.10.0's parser does.

Everywhere: a table of hand-checked readings (each also checked against Lava where Lava is installed) and
the refusals. With Lava: random strings from the whole grammar (tests/strategies.py) give the same
products, or are refused for the same reason, as ``ProductSeries(SymbolicEquation(...))``.
"""
import re

import pytest
from hypothesis import HealthCheck, event, given, settings

from neurolearn.errors import RuleError
from neurolearn.ir.program import Factor, Product, _parse, _split_products, _tokens
from tests.strategies import rule_texts

LAVA_MISSING = "Lava (lava-nc 0.10.0, Python 3.10 only) is not installed: no reference parser to compare with"

# (rule, its products as (dependency, mantissa, exponent, ((var, const, sgn), ...))), checked by hand
READINGS = [
    ("2^-2 * x0 * y1 - 3*2^-3 * y0 * (x1 + 2) * sgn(w - 1)",
     [("x0", 1, -2, [("y1", 0, False)]), ("y0", -3, -3, [("x1", 2, False), ("w", -1, True)])]),
    ("16 * u2 * (5 - y3) * x0", [("u", -4, 2, [("y3", -5, False), ("x0", 0, False)])]),  # -(y3 - 5); 16 = 4*2^2
    ("x0 * 16", [("x0", 4, 2, [])]),                    # |m| > 7 and even: halve, exponent + 1
    ("-8 * x0", [("x0", -4, 1, [])]),                   # -8 fits 4 bits, but is halved all the same
    ("-8 * 2^8 * x0", [("x0", -8, 8, [])]),             # ... unless the exponent is already 8
    ("x0 * 6", [("x0", 6, 0, [])]),                     # |m| <= 7: even mantissas stay
    ("x0 * 24 * 2^-8", [("x0", 6, -6, [])]),
    ("x0 * 2^9 * 2^-9", [("x0", 1, 0, [])]),            # only the folded exponent must fit
    ("+x0 ** 2^-7 * (+2^3)", [("x0", 1, -4, [])]),      # '(C)' folds into the scale
    ("x0 * (-3)", [("x0", -3, 0, [])]),
    ("x0 * 2^+3 * 00", [("x0", 0, 3, [])]),
    ("x0 y1 2", [("x0", 2, 0, [("y1", 0, False)])]),    # no '*' needed
    ("x0 * 2^-60 * 1152921504606846978", [("x0", 4, -2, [])]),  # Lava halves 2^60 + 2 in floating point
    ("x0 * (-w)", [("x0", 1, 0, [("w", 0, False)])]),   # Lava drops the '-' of '(-var)' ...
    ("x0 * sgn(-w)", [("x0", 1, 0, [("w", 0, True)])]),  # ... and of 'sgn(-var)'
    ("y0 * (x0) * (u3)", [("y0", 1, 0, [])]),           # '(x0)', '(y0)', '(u<k>)' vanish
    ("x0 * (x0 + 1)", [("x0", 1, 0, [("x0", 1, False)])]),
    ("u1 * x0 * y0", [("u", 1, 0, [("x0", 0, False), ("y0", 0, False)])]),  # later x0, y0 are factors
    ("x0 * (w + 2^-1)", [("x0", 1, 0, [("w", 0.5, False)])]),
    ("x0 * (2 - x1)", [("x0", -1, 0, [("x1", -2, False)])]),  # -(x1 - 2)
    ("x0 * (-t + 4) * y0", [("x0", -1, 0, [("t", -4, False), ("y0", 0, False)])]),
    ("x0 * 2^-1 * (3) * (w + 0)", [("x0", 3, -1, [("w", 0, False)])]),
    ("x0 - y0 * sgn(d + 3*2^2)", [("x0", 1, 0, []), ("y0", -1, 0, [("d", 12, True)])]),
]

# (rule, what the one-line RuleError says)
REFUSALS = [
    ("x0 * (2 + 3)", "product 'x0*(2+3)': Sub-expression 2+3 cannot be interpreted to be of type [+,-]var[+,-]const"),
    ("x0 * (w + x1)", "Sub-expression w+x1 cannot be interpreted"),
    ("x0 * (u1 + 2)", "Unknown state_var in Factor."),
    ("x0 * u1", "non-null decimate exponent with a dependency different from u in Product. Found dependency is x0"),
    ("u1 * u2", "Can't have multiple decimate exponents in the same ProductSeries."),
    ("x0 * 07", "literal '07': leading zeros in decimal integer literals are not permitted"),
    ("x0 * 2^-07", "literal '2^-07': leading zeros"),
    ("x0 * sgn(2 - w)", "Variable in sgn(..) function cannot be negative."),
    ("x0 * sgn(-w + 1)", "Variable in sgn(..) function cannot be negative."),
    ("x0 * sgn(x1)", "sgn(..) function can only be applied to 'w', 'd' or 't' variables."),
    ("x0 * sgn(x0)", "sgn(..) function can only be applied"),
    ("x0 * sgn(2)", "sgn(..) function can only be applied"),
    ("x1 * y1", "product 'x1*y1': no dependency (x0, y0 or u<k>)"),
    ("x0 * -8", "product '-8': no dependency"),
    ("x0 +", "product '+': no dependency"),
    ("x0 * 9", "outside Lava's range (-8 <= m <= 7, -7 <= e <= 8 after normalisation)"),
    ("x0 * 16 * 2^7", "outside Lava's range"),       # 8 * 2^8: the exponent stops the halving at 8
    ("x0 * 2^9", "outside Lava's range"),
    ("x0 * 2^-8", "outside Lava's range"),
]
# refused by neurolearn only: Lava crashes (OverflowError halving the mantissa), or takes a constant beyond 32 bits
BEYOND_LAVA = [
    ("x0 * 2^-2000 * " + str(2**1500), "outside Lava's range"),
    ("x0 * (w + 2^31)", "constant 2147483648 of w outside +-2^31"),
]


def as_rows(products):
    return [(p.dependency, p.mantissa, p.exponent, [(f.var, f.const, f.sgn) for f in p.factors]) for p in products]


def outcome(fn, target, text):
    """fn(target, text), or the message of the RuleError it raises."""
    try:
        return fn(target, text)
    except RuleError as err:
        return str(err)


def lava_reading(target, text):
    """Lava's parser on each product of ``text`` (split as neurolearn splits): Product tuples, or
    (product, Lava's message) for the first product Lava refuses."""
    series = pytest.importorskip("lava.magma.core.learning.product_series", reason=LAVA_MISSING)
    from lava.magma.core.learning.symbolic_equation import SymbolicEquation

    out = []
    for tokens in _split_products(_tokens(target, text.replace(" ", ""))):
        piece = "".join(tokens)
        try:
            products = series.ProductSeries(SymbolicEquation(target, piece)).products
        except (ValueError, SyntaxError) as exc:
            return piece, str(exc)
        out += [Product(p.dependency, p.s_mantissa, p.s_exp - 7,
                        tuple(Factor(f.state_var, 0 if f.const is None else f.const, f.is_sgn) for f in p.factors))
                for p in products]
    return tuple(out)


def lava_outcome(target, text) -> list:
    """What Lava makes of ``text``, as JSON-able data (tests/golden records it): ["refused", message] before
    its parser, ["refused product", piece, reason], or ["read", repr(products), whole]: whole is Lava's
    (dependency, mantissa, exponent) rows of the string read in one go, None where it holds several u<k>."""
    lava = outcome(lava_reading, target, text)
    if isinstance(lava, str):
        return ["refused", lava]
    if isinstance(lava[0], str):
        return ["refused product", *lava]
    whole = None
    if len(set(re.findall(r"u\d", text))) <= 1:  # Lava reads the whole string in one go the same way
        from lava.magma.core.learning.product_series import ProductSeries
        from lava.magma.core.learning.symbolic_equation import SymbolicEquation

        series = ProductSeries(SymbolicEquation(target, text))
        whole = [[p.dependency, p.s_mantissa, p.s_exp - 7] for p in series.products]
    return ["read", repr(lava), whole]


# Lava's messages that neurolearn words differently (the rest it repeats)
OUR_WORDS = {"Mantissa": "its literals fold to a scale", "Exponent": "its literals fold to a scale",
             "No dependency": "no dependency (x0, y0 or u<k>)",
             "leading zeros": "leading zeros in decimal integer literals are not permitted"}


def assert_reads_as(target, text, lava: list) -> str:
    """Our reading of ``text`` is ``lava`` (:func:`lava_outcome`); returns which kind of outcome both had."""
    ours = outcome(_parse, target, text)
    if lava[0] == "refused":             # refused before Lava's parser (unknown symbol, bracket shape)
        assert ours == lava[1]
        return "refused before the parser"
    if lava[0] == "refused product":     # Lava refuses a product
        _, piece, reason = lava
        head = f"{target} = '{text.replace(' ', '')}': product '{piece}': "
        assert isinstance(ours, str) and ours.startswith(head), (ours, lava)
        word = next((w for key, w in OUR_WORDS.items() if reason.startswith(key)), None)
        assert word in ours if word else ours == head + reason, (ours, lava)
        return f"refused: {reason[:30]}"
    _, products, whole = lava
    assert repr(ours) == products  # repr: 8 and 8.0, 0 and -0.0 differ too
    if whole is not None:
        assert [list(row) for row in whole] == [[p.dependency, p.mantissa, p.exponent] for p in ours]
    return "read"


def assert_reads_as_lava(target, text) -> str:
    """Our reading of ``text`` is Lava's; returns which kind of outcome both had."""
    return assert_reads_as(target, text, lava_outcome(target, text))


@pytest.mark.parametrize("text, rows", READINGS, ids=[r for r, _ in READINGS])
def test_hand_checked_readings(text, rows):
    assert as_rows(_parse("dw", text)) == rows


@pytest.mark.parametrize("text, message", REFUSALS + BEYOND_LAVA, ids=[r[:30] for r, _ in REFUSALS + BEYOND_LAVA])
def test_refusals_name_the_product_and_reason(text, message):
    with pytest.raises(RuleError) as err:
        _parse("dd", text)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"dd = '{text.replace(' ', '')}': product '")


def test_strategy_reaches_every_corner():
    """Guard: random rules are mostly read, and refused for many different reasons, or the Lava test proves little."""
    seen = []

    @given(text=rule_texts())
    @settings(max_examples=300, database=None, suppress_health_check=[HealthCheck.too_slow])
    def draw(text):
        got = outcome(_parse, "dw", text)
        seen.append("read" if isinstance(got, tuple) else re.sub(r".*': ", "", got)[:20])

    draw()
    assert seen.count("read") >= len(seen) // 4, seen
    assert len(set(seen)) >= 8, sorted(set(seen))


@pytest.mark.lava
@pytest.mark.parametrize("text", [r for r, _ in READINGS + REFUSALS])
def test_table_is_lavas_reading(text):
    assert_reads_as_lava("dw", text)


@pytest.mark.lava
@given(text=rule_texts())
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_random_rules_read_as_lava_reads_them(text):
    event(assert_reads_as_lava("dt", text))
