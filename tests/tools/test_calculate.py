from __future__ import annotations

import pytest

from executions.policy import ArgumentsInvalid
from executions.services import execute_tool
from tools.base import InvalidArguments, ToolContext, ToolError
from tools.builtin.calculate import MAX_EXPRESSION_LENGTH, CalculateTool


def calculate(expression: str, **options):
    tool = CalculateTool()
    return tool.run(tool.validate({"expression": expression, **options}), ToolContext(user=None, execution_id="test"))


def test_it_converts_miles_to_kilometres():
    result = calculate("5 miles in km")
    assert result.value == pytest.approx(8.04672)
    assert result.unit == "kilometer"
    assert result.unit_symbol == "km"
    assert result.text == "8.04672 kilometer"
    assert result.expression == "5 mile to kilometer"


def test_it_adds_lengths_in_different_units_and_converts_the_sum():
    result = calculate("3 ft + 20 cm to m")
    assert result.value == pytest.approx(3 * 0.3048 + 0.2)
    assert result.unit == "meter"


def test_it_reads_in_as_inch_when_it_is_not_a_separator():
    assert calculate("12 in to cm").value == pytest.approx(30.48)
    assert calculate("10 in in cm").value == pytest.approx(25.4)
    result = calculate("12 in + 3 ft")
    assert (result.value, result.unit) == (pytest.approx(48), "inch")


def test_it_accepts_an_arrow_as_separator():
    assert calculate("1 mile -> m").value == pytest.approx(1609.344)


def test_it_converts_speeds():
    result = calculate("100 km/h to m/s")
    assert result.value == pytest.approx(27.7777777778)
    assert result.unit_symbol == "m/s"


@pytest.mark.parametrize(
    ("expression", "value", "unit"),
    [
        ("32 degF to degC", 0.0, "degree Celsius"),
        ("212 degF to degC", 100.0, "degree Celsius"),
        ("-40 degC to degF", -40.0, "degree Fahrenheit"),
        ("20 °C in K", 293.15, "kelvin"),
    ],
)
def test_it_converts_temperatures_on_offset_scales(expression, value, unit):
    result = calculate(expression)
    # Rounded on purpose: 32 degF is exactly 0 degC, not 5.7e-14.
    assert result.value == value
    assert result.unit == unit


def test_it_explains_that_offset_temperatures_cannot_be_added():
    with pytest.raises(ToolError, match="offset scale"):
        calculate("100 degC + 5 degC")


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2^10", 1024),
        ("2**10", 1024),
        ("sqrt(16) * 3", 12),
        ("3 * (2 + 4) / 3", 6),
        ("2 - 3 - 4", -5),
        ("2^3^2", 512),
        ("(-2)^2", 4),
        ("-2^2", -4),
        ("log(1000) + ln(1)", 3),
        ("sin(30 deg)", 0.5),
        ("round(2.4) + abs(-3)", 5),
        ("1,000 + 1", 1001),
        ("50 % * 200", 100),
    ],
)
def test_it_does_plain_arithmetic(expression, value):
    result = calculate(expression)
    assert result.value == pytest.approx(value)
    assert result.unit == ""


def test_it_shows_integers_without_a_decimal_point():
    assert calculate("2^10").text == "1024"


def test_it_shows_the_expression_as_understood_with_grouping_kept():
    assert calculate("2 / (3 * 4)").expression == "2 / (3 * 4)"
    assert calculate("2 kg * 3 m/s^2 to N").expression == "2 kilogram * 3 meter / second ** 2 to newton"


def test_it_keeps_units_through_functions():
    result = calculate("sqrt(16 m^2)")
    assert (result.value, result.unit) == (pytest.approx(4), "meter")


def test_it_rounds_the_text_to_the_requested_significant_digits():
    assert calculate("5 miles in km", significant_digits=4).text == "8.047 kilometer"


def test_it_names_an_unknown_unit():
    with pytest.raises(ToolError, match="Unknown unit 'flurbs'"):
        calculate("5 flurbs to m")


def test_it_refuses_to_convert_between_incompatible_units():
    with pytest.raises(ToolError, match=r"Incompatible units.*meter.*second"):
        calculate("5 m to s")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("5 +", "Could not understand"),
        ("()", "Could not understand"),
        ("1/0", "Division by zero"),
        ("sqrt(-1)", "not a real number"),
        ("(-8)^(1/3)", "not a real number"),
        ("sqrt", "needs an argument"),
    ],
)
def test_it_reports_syntax_and_math_errors_clearly(expression, message):
    with pytest.raises(ToolError, match=message):
        calculate(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "Unsupported input"),
        ("__import__('os').system('true')", "Unsupported"),
        ("().__class__", "Unsupported operator '.'"),
        ("x = 1", "Unsupported operator '='"),
        ("lambda: 1", "Unsupported operator ':'"),
        ("[1][0]", "Unsupported operator"),
        ("open", "Unknown unit 'open'"),
    ],
)
def test_it_rejects_code_instead_of_running_it(expression, message):
    with pytest.raises(ToolError, match=message):
        calculate(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9**9**9**9", "Exponents are limited"),
        ("2^1001", "Exponents are limited"),
        ("10 m ** 5000", "Exponents are limited"),
        ("999^999", "too large"),
        ("10^300 * 10^300", "too large"),
        ("1" * 400, "too large"),
        ("2" + "**2" * 150, "too deeply nested"),
        ("(" * 240 + "1" + ")" * 240, "nested parentheses"),
    ],
)
def test_it_rejects_huge_numbers_and_deep_nesting_before_they_cost_anything(expression, message):
    with pytest.raises(ToolError, match=message):
        calculate(expression)


def test_it_rejects_an_overlong_expression_at_validation():
    with pytest.raises(InvalidArguments, match="at most 500 characters"):
        CalculateTool().validate({"expression": "1+" * MAX_EXPRESSION_LENGTH + "1"})


@pytest.mark.django_db
def test_it_runs_through_the_execution_service(user):
    execution = execute_tool(user=user, tool_name="calculate", arguments={"expression": "5 miles in km"}, via="api")
    assert execution.status == "success"
    assert execution.result["value"] == pytest.approx(8.04672)
    assert execution.result["text"] == "8.04672 kilometer"


@pytest.mark.django_db
def test_it_records_a_bad_expression_as_an_error_execution(user):
    execution = execute_tool(user=user, tool_name="calculate", arguments={"expression": "5 flurbs"}, via="api")
    assert execution.status == "error"
    assert "Unknown unit 'flurbs'" in execution.error


@pytest.mark.django_db
def test_it_refuses_an_overlong_expression_before_recording_anything(user):
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="calculate", arguments={"expression": "9" * 10_000}, via="api")
