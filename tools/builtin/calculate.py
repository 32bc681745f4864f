"""Arithmetic with physical units ("5 miles in km", "3 ft + 20 cm to m", "2^10").

Parsing reuses pint's own tokenizer and operator-precedence parser (the same ones
``UnitRegistry.parse_expression`` uses, which never call Python's ``eval``), but the
tree is evaluated here, so that every step is checked: only numbers, units, a fixed set
of functions and arithmetic operators are accepted, numbers are floats (an overflow is an
error instead of a multi-gigabyte integer), and exponents are bounded.
"""

from __future__ import annotations

import functools
import math
import re
import tokenize
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from tools.base import Annotations, Tool, ToolContext, ToolError
from tools.lazy import lazy_module, preload

if TYPE_CHECKING:
    from pint import UnitRegistry
pint = lazy_module("pint")  # pint.pint_eval and pint.util come with it

MAX_EXPRESSION_LENGTH = 500
# 10**308 is the float limit anyway; a bigger exponent only makes sense to overflow or
# to build an absurd unit power such as m**1000000.
MAX_EXPONENT = 1000

# What may separate the expression from the unit to convert to ("5 miles in km").
# The words need a space on both sides; lookarounds so that "12 in to cm" finds " to ".
_TARGET_SEPARATOR = re.compile(r"(?<=\s)(?:in|to|as|into)(?=\s)|->|=>|→", re.IGNORECASE)

# No "%": pint reads it as the unit percent ("15 % * 200" is 30).
_ALLOWED_OPERATORS = {"+", "-", "*", "/", "//", "**", "(", ")"}
_PRIORITY = {"**": 3, "unary": 2, "*": 1, "/": 1, "//": 1, "": 1, "+": 0, "-": 0}


@preload
@functools.cache
def unit_registry() -> UnitRegistry:
    # Loading the definitions takes a while; one registry serves every call.
    return pint.UnitRegistry()


class CalculateInput(BaseModel):
    expression: str = Field(
        description=(
            "An arithmetic expression, optionally with units and a target unit: '5 miles in km', "
            "'3 ft + 20 cm to m', '2^10', 'sqrt(16) * 3', '100 km/h to m/s', '32 degF to degC'. "
            "Functions: " + ", ".join(sorted([
                "sqrt", "abs", "exp", "ln", "log", "log10", "log2", "sin", "cos", "tan", "asin",
                "acos", "atan", "floor", "ceil", "round",
            ])) + "."
        ),
        min_length=1,
        max_length=MAX_EXPRESSION_LENGTH,
    )
    significant_digits: int = Field(
        default=10, ge=1, le=15, description="Significant digits of the value in `text`."
    )


class CalculateOutput(BaseModel):
    value: float = Field(description="The numeric result, in `unit`.")
    unit: str = Field(description="The result's unit, spelled out ('kilometer / hour'); empty if none.")
    unit_symbol: str = Field(description="The result's unit as symbols ('km/h'); empty if none.")
    text: str = Field(description="The result as a sentence fragment, e.g. '8.04672 kilometer'.")
    expression: str = Field(description="The expression as understood, with canonical unit names.")


# --- Evaluation ---------------------------------------------------------------------------


def _plain_number(value: Any, what: str) -> float:
    """A dimensionless value as a float, or a ToolError naming what needed it."""
    if isinstance(value, pint.Quantity):
        if not value.dimensionless:
            raise ToolError(f"{what} must be a plain number, not a quantity in {value.units:P}.")
        return float(value.to("dimensionless").magnitude)
    return float(value)


def _angle(value: Any) -> float:
    # pint treats angles as dimensionless, so "30 deg" becomes 0.5236 (radians) here.
    return _plain_number(value, "The argument of a trigonometric function")


def _unitless(fn: Callable[[float], float], name: str) -> Callable[[Any], float]:
    return lambda value: fn(_plain_number(value, f"The argument of {name}()"))


def _sqrt(value: Any) -> Any:
    if isinstance(value, pint.Quantity):
        return value**0.5
    if value < 0:
        raise ToolError("sqrt() of a negative number is not a real number.")
    return math.sqrt(value)


def _keep_units(value: Any, fn: Callable[[float], int]) -> Any:
    if isinstance(value, pint.Quantity):
        return unit_registry().Quantity(float(fn(value.magnitude)), value.units)
    return float(fn(value))


FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "sqrt": _sqrt,
    "abs": abs,
    "exp": _unitless(math.exp, "exp"),
    "ln": _unitless(math.log, "ln"),
    "log": _unitless(math.log10, "log"),
    "log10": _unitless(math.log10, "log10"),
    "log2": _unitless(math.log2, "log2"),
    "sin": lambda v: math.sin(_angle(v)),
    "cos": lambda v: math.cos(_angle(v)),
    "tan": lambda v: math.tan(_angle(v)),
    "asin": _unitless(math.asin, "asin"),
    "acos": _unitless(math.acos, "acos"),
    "atan": _unitless(math.atan, "atan"),
    "floor": lambda v: _keep_units(v, math.floor),
    "ceil": lambda v: _keep_units(v, math.ceil),
    "round": lambda v: _keep_units(v, round),
}


def _power(left: Any, right: Any) -> Any:
    exponent = _plain_number(right, "An exponent")
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"Exponents are limited to ±{MAX_EXPONENT}.")
    return left**exponent


def _implicit_multiply(left: Any, right: Any) -> Any:
    # "32 degF" is the quantity 32 °F; multiplying by an offset unit would be ambiguous,
    # so a number next to a unit builds the quantity directly (as pint's own parser does).
    if not isinstance(left, pint.Quantity) and isinstance(right, pint.Quantity) and right.magnitude == 1:
        return unit_registry().Quantity(left, right.units)
    return left * right


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "**": _power,
    "*": lambda a, b: a * b,
    "": _implicit_multiply,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
}


def _check_number(value: Any) -> Any:
    magnitude = value.magnitude if isinstance(value, pint.Quantity) else value
    if isinstance(magnitude, complex):
        raise ToolError("The result is not a real number.")
    if not math.isfinite(magnitude):
        raise ToolError("The result is too large (or not a number).")
    return value


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        tokens = list(pint.pint_eval.tokenizer(text))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ToolError(f"Could not read the expression: {exc}") from None
    kept = []
    for token in tokens:
        if token.type in (tokenize.NEWLINE, tokenize.NL):
            continue
        if token.type == tokenize.OP and token.string not in _ALLOWED_OPERATORS:
            raise ToolError(f"Unsupported operator {token.string!r}.")
        if token.type not in (tokenize.NUMBER, tokenize.NAME, tokenize.OP, tokenize.ENDMARKER):
            raise ToolError(f"Unsupported input {token.string!r}: use numbers, units and operators.")
        kept.append(token)
    return kept


def _evaluate(node: Any) -> tuple[Any, str, str]:
    """Return (value, text as understood, operator of the node for parenthesising) of a
    ``pint.pint_eval.EvalTreeNode`` (Any: its left and right are typed as nodes or tokens,
    and which one a branch holds follows from the node's shape)."""
    ureg = unit_registry()
    if node.right is not None:
        op = node.operator.string if node.operator else ""
        left_is_name = node.left.right is None and node.left.operator is None
        if op == "" and left_is_name and node.left.left.string in FUNCTIONS:
            name = node.left.left.string
            argument, argument_text, _ = _evaluate(node.right)
            return _check_number(FUNCTIONS[name](argument)), f"{name}({argument_text})", "call"
        left, left_text, left_op = _evaluate(node.left)
        right, right_text, right_op = _evaluate(node.right)
        if left_op in _PRIORITY and (
            _PRIORITY[left_op] < _PRIORITY[op] or (op == "**" and _PRIORITY[left_op] == _PRIORITY[op])
        ):
            left_text = f"({left_text})"
        if right_op in _PRIORITY and (
            _PRIORITY[right_op] < _PRIORITY[op] or (op != "**" and _PRIORITY[right_op] == _PRIORITY[op])
        ):
            right_text = f"({right_text})"
        text = f"{left_text} {right_text}" if op == "" else f"{left_text} {op} {right_text}"
        return _check_number(_BINARY[op](left, right)), text, op
    if node.operator is not None:
        value, text, inner_op = _evaluate(node.left)
        if inner_op in _PRIORITY and _PRIORITY[inner_op] < _PRIORITY["unary"]:
            text = f"({text})"
        if node.operator.string == "-":
            return -value, f"-{text}", "unary"
        if node.operator.string == "+":
            return value, f"+{text}", "unary"
        raise ToolError(f"Unsupported operator {node.operator.string!r}.")
    token = node.left
    if token.type == tokenize.NUMBER:
        try:
            number = float(token.string.replace("_", ""))
        except ValueError:
            raise ToolError(f"Not a number: {token.string!r}.") from None
        if not math.isfinite(number):
            raise ToolError(f"The number {token.string} is too large.")
        return number, token.string, "number"
    if token.string in FUNCTIONS:
        raise ToolError(f"{token.string}() needs an argument in parentheses.")
    unit = ureg.parse_units(token.string)
    return ureg.Quantity(1.0, unit), str(unit), "unit"


def _parse(text: str) -> tuple[Any, str]:
    # Stripped first: Python's tokenizer reads leading blanks as an indent. pint has no
    # public way to run a registry's preprocessors (its parse_expression runs them and then
    # evaluates, which this parser does itself): the private method, here only.
    prepared = pint.util.string_preprocessor(unit_registry()._apply_preprocessors(text.strip())).strip()
    tokens = _tokens(prepared)
    if len(tokens) <= 1:
        raise ToolError("The expression is empty.")
    tree = pint.pint_eval.build_eval_tree(tokens, op_priority=_PRIORITY)
    value, understood, _ = _evaluate(tree)
    return value, understood


def _split_target(expression: str) -> tuple[str, str | None]:
    """Split "5 miles in km" into ("5 miles", "km"); try the last separator first.

    "in" is also the inch, so a split only counts when what follows is a unit.
    """
    for match in reversed(list(_TARGET_SEPARATOR.finditer(expression))):
        source, target = expression[: match.start()], expression[match.end() :]
        if not source.strip() or not target.strip():
            continue
        try:
            target_value, _ = _parse(target)
        except Exception:  # whatever the reason, what follows is not a unit: no split here
            continue
        if isinstance(target_value, pint.Quantity) and target_value.magnitude == 1:
            return source, target
    return expression, None


def _format(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


class CalculateTool(Tool):
    name = "calculate"
    title = "Calculate"
    description = (
        "Evaluate arithmetic with physical units and convert between units: '5 miles in km', "
        "'3 ft + 20 cm to m', '2^10', 'sqrt(16) * 3', '100 km/h to m/s', '32 degF to degC'. "
        "Returns the value, its unit and a readable text."
    )
    input_model = CalculateInput
    output_model = CalculateOutput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True

    def run(self, arguments: CalculateInput, ctx: ToolContext) -> CalculateOutput:
        expression = arguments.expression.strip()
        if len(expression) > MAX_EXPRESSION_LENGTH:
            raise ToolError(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
        source, target = _split_target(expression)
        try:
            value, understood = _parse(source)
            if target is not None:
                target_value, target_text = _parse(target)
                if not isinstance(value, pint.Quantity):
                    value = unit_registry().Quantity(value)
                value = value.to(target_value.units)
                understood = f"{understood} to {target_text}"
            elif isinstance(value, pint.Quantity) and value.dimensionless and value.to_root_units().unitless:
                # "pi", "50 %" and "3 m / cm" are plain numbers unless a unit was asked for;
                # angles keep theirs (their root unit is the radian).
                value = value.to("dimensionless")
        except pint.UndefinedUnitError as exc:
            raise ToolError(f"Unknown unit {', '.join(repr(u) for u in exc.unit_names)}.") from None
        except pint.DimensionalityError as exc:
            raise ToolError(f"Incompatible units: {exc}") from None
        except pint.OffsetUnitCalculusError:
            raise ToolError(
                "Temperatures on an offset scale (degC, degF) can only be converted, not added or "
                "multiplied; use kelvin, or delta_degC / delta_degF for differences."
            ) from None
        except pint.DefinitionSyntaxError as exc:
            raise ToolError(f"Could not understand the expression: {exc}") from None
        except ZeroDivisionError:
            raise ToolError("Division by zero.") from None
        except OverflowError:
            raise ToolError("The result is too large.") from None
        except RecursionError:
            raise ToolError("The expression is nested too deeply.") from None
        except (AssertionError, IndexError):
            # pint's parser asserts on some malformed token sequences, e.g. "()".
            raise ToolError("Could not understand the expression.") from None
        except (ValueError, TypeError) as exc:
            raise ToolError(f"Could not calculate that: {exc}") from None

        if isinstance(value, pint.Quantity):
            magnitude = float(value.magnitude)
            units = value.units
            # Not `value.unitless`: pint calls "percent" unitless too.
            unit, symbol = (
                ("", "") if str(units) == "dimensionless" else (f"{units:P}".replace("_", " "), f"{units:~P}")
            )
            if not value._is_multiplicative:  # pint's own test for offset units (no public one)
                # Offset scales add float noise (32 degF -> 5.7e-14 degC); nobody needs a
                # temperature to more than nine decimals.
                magnitude = round(magnitude, 9)
        else:
            magnitude, unit, symbol = float(value), "", ""
        _check_number(magnitude)
        magnitude = float(f"{magnitude:.15g}") or 0.0  # drops float noise in the last digit
        number = _format(magnitude, arguments.significant_digits)
        return CalculateOutput(
            value=magnitude,
            unit=unit,
            unit_symbol=symbol,
            text=f"{number} {unit}" if unit else number,
            expression=understood,
        )
