"""The flow expression language: tokenizer, parser, interpreter, limits, and properties over random input."""
import sys
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.expr import (MAX_DEPTH, MAX_LENGTH, MAX_STRING, AssignmentError, EvaluationError, Expression,
                      ExpressionError, apply_assignments, compile_assignments, is_variable_name, parse_expression,
                      parse_scalar, to_text, truthy)

CUSTOMER = {
    "name": "Li Wei",
    "status": "active",
    "segment": None,
    "accounts": [{"id": "A1", "balance": Decimal("1200.50")}, {"id": "A2", "balance": Decimal("-3.25")}],
    "limits": {"daily": 5000},
}
VARIABLES = {
    "customer": CUSTOMER,
    "card_number": "6222020012345678",
    "digits": "1",
    "tries": 2,
    "amount": Decimal("19.99"),
    "rate": 0.1,  # a float, as JSON gives it
    "flags": ["vip", "new"],
    "nothing": None,
    "yes": True,
    "empty_text": "",
    "empty_list": [],
}


def ev(text: str, variables=None):
    return parse_expression(text).evaluate(VARIABLES if variables is None else variables)


def parse_error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    return info.value


def eval_error(text: str, variables=None) -> str:
    with pytest.raises(EvaluationError) as info:
        ev(text, variables)
    return str(info.value)


def same(value, expected) -> bool:
    """Equal and of the same type (1 == True == Decimal(1) would hide int/Decimal/bool mix-ups)."""
    return type(value) is type(expected) and value == expected


# --- literals ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("42", 42),
    ("007", 7),
    ("0", 0),
    ("12.50", Decimal("12.50")),
    ("0.1", Decimal("0.1")),
    ("'single'", "single"),
    ('"double"', "double"),
    ("''", ""),
    (r"'it\'s'", "it's"),
    (r'"say \"hi\""', 'say "hi"'),
    (r"'back\\slash'", "back\\slash"),
    (r"'a\nb\tc'", "a\nb\tc"),
    ("'他说 \"你好\"'", '他说 "你好"'),
    ("'with ) and ( inside'", "with ) and ( inside"),
    ("true", True),
    ("false", False),
    ("null", None),
])
def test_literals(text, expected):
    assert same(ev(text), expected)


def test_list_literals():
    assert ev("[]") == []
    assert ev("[1, 'x', null, [2.5, true]]") == [1, "x", None, [Decimal("2.5"), True]]
    assert ev("[tries, tries + 1]") == [2, 3]


def test_each_list_literal_evaluation_is_a_new_list():
    expression = parse_expression("[1]")
    first = expression.evaluate({})
    first.append(2)
    assert expression.evaluate({}) == [1]


def test_whitespace_is_free():
    assert ev("  1\t+\n2  ") == 3
    assert ev("tries\u3000>\u30001") is True  # ideographic spaces, as a Chinese keyboard types them


# --- variables and access ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("tries", 2),
    ("customer.name", "Li Wei"),
    ("customer.limits.daily", 5000),
    ("customer.accounts[0].id", "A1"),
    ("customer.accounts[1].balance", Decimal("-3.25")),
    ("customer['status']", "active"),
    ("customer['limits']['daily']", 5000),
    ("customer.accounts[tries - 1].id", "A2"),
    ("card_number[0]", "6"),
    ("flags[1]", "new"),
    ("[10, 20, 30][2]", 30),
    ("'abc'[1]", "b"),
    ("(customer).name", "Li Wei"),
    ("lower(customer.name)[0]", "l"),
    ("customer.segment", None),
])
def test_access(text, expected):
    assert same(ev(text), expected)


def test_tuples_index_like_lists():
    assert ev("pair[1]", {"pair": ("a", "b")}) == "b"


@pytest.mark.parametrize(("text", "message"), [
    ("missing", "undefined variable 'missing'"),
    ("customer.missing", "'customer.missing' is not defined"),
    ("customer['missing']", "\"customer['missing']\" is not defined"),
    ("customer.accounts[2]", "'customer.accounts[2]': index out of range"),
    ("customer.accounts[-1]", "'customer.accounts[-1]': index out of range"),
    ("flags['vip']", "\"flags['vip']\": an index must be a whole number, got string"),
    ("flags[1.0]", "'flags[1.0]': an index must be a whole number, got number"),
    ("flags[true]", "'flags[true]': an index must be a whole number, got boolean"),
    ("customer[1]", "'customer[1]': map keys are strings, not number"),
    ("tries[0]", "'tries[0]': cannot index a number"),
    ("nothing[0]", "'nothing[0]': cannot index a null"),
    ("customer.name.first", "'customer.name.first': cannot read a field of a string"),
    ("customer.segment.code", "'customer.segment.code': cannot read a field of a null"),
])
def test_access_errors_name_the_path(text, message):
    assert eval_error(text) == message


def test_function_names_are_free_as_variable_names():
    assert ev("len + last", {"len": 1, "last": 2}) == 3


# --- arithmetic and money ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2", 3),
    ("5 - 7", -2),
    ("6 * 7", 42),
    ("7 % 3", 1),
    ("-7 % 3", 2),
    ("7 % -3", -2),
    ("-7.0 % 3", Decimal("2.0")),
    ("7.5 % 2", Decimal("1.5")),
    ("7 / 2", Decimal("3.5")),
    ("10 / 5", Decimal("2")),
    ("-tries", -2),
    ("- - 3", 3),
    ("--3", 3),
    ("-amount", Decimal("-19.99")),
    ("'ab' + 'cd'", "abcd"),
    ("'卡号' + last(card_number, 4)", "卡号5678"),
])
def test_arithmetic(text, expected):
    assert same(ev(text), expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("0.1 + 0.2 == 0.3", True),
    ("0.1 + 0.2", Decimal("0.3")),
    ("19.99 * 3", Decimal("59.97")),
    ("amount * 3 == 59.97", True),
    ("customer.accounts[0].balance - 1200.5", Decimal("0.00")),
    ("100.00 - 0.01", Decimal("99.99")),
    ("rate * 3", Decimal("0.3")),  # the float 0.1 reads as decimal 0.1, not 0.1000000000000000055...
    ("rate + 0.2 == 0.3", True),
    ("1 / 3", Decimal("0.3333333333333333333333333333")),  # 28 significant digits
    ("2 + 3", 5),  # integers stay integers
])
def test_decimal_money_arithmetic_is_exact(text, expected):
    assert same(ev(text), expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 3 - 2", 5),  # left to right
    ("10 - (3 - 2)", 9),
    ("2 * 3 % 4", 2),
    ("2 * (3 % 4)", 6),
    ("12 / 3 / 2", Decimal("2")),
    ("-2 * 3", -6),
    ("-(2 + 3) * 2", -10),
    ("1 + 2 == 3", True),
])
def test_arithmetic_precedence(text, expected):
    assert same(ev(text), expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("true or false and false", True),  # and binds tighter than or
    ("(true or false) and false", False),
    ("not true or true", True),  # not binds tighter than or
    ("not (true or true)", False),
    ("not false and false", False),  # and (not false) and false
    ("not 1 == 2", True),  # not binds looser than comparisons
    ("not tries > 1", False),
    ("1 + 1 == 2 and 'a' < 'b'", True),
    ("tries + 1 in [3, 4]", True),  # in compares after arithmetic
    ("'ab' + 'c' in ['abc']", True),
    ("not 'x' in flags", True),
    ("-2 < -1", True),
])
def test_logical_and_comparison_precedence(text, expected):
    assert same(ev(text), expected)


@pytest.mark.parametrize(("text", "message"), [
    ("1 / 0", "division by zero"),
    ("1 / 0.0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("0 / 0", "division by zero"),
    ("1 + 'a'", "'+' needs two numbers or two strings, got number and string"),
    ("'a' - 'b'", "'-' needs two numbers, got string and string"),
    ("'ab' * 3", "'*' needs two numbers, got string and number"),
    ("true + 1", "'+' needs two numbers or two strings, got boolean and number"),
    ("null * 2", "'*' needs two numbers, got null and number"),
    ("flags + flags", "'+' needs two numbers or two strings, got list and list"),
    ("-'a'", "'-' needs a number, got string"),
    ("-yes", "'-' needs a number, got boolean"),
])
def test_arithmetic_errors(text, message):
    assert eval_error(text) == message


def test_number_limits():
    big = "9" * 100  # the largest number there is: 10**100 - 1
    assert ev(f"{big} + 0") == int(big)
    assert eval_error(f"{big} + 1") == "number too large"
    assert eval_error(f"{big} * {big}") == "number too large"
    assert eval_error(f"{big}.5 * 10") == "number too large"
    assert eval_error(f"1 / 0.{'0' * 99}1") == "number too large"
    assert same(ev(f"-{big}.5"), Decimal(f"-{big}.5"))  # negation is exact, not rounded to 28 digits
    assert eval_error("x + 1", {"x": 10 ** 100}) == "number too large"
    assert eval_error("x + 1", {"x": float("inf")}) == "not a finite number"
    assert eval_error("x == 1", {"x": Decimal("NaN")}) == "not a finite number"
    error = parse_error("1" + "0" * 100)
    assert (error.column, error.message) == (1, "number too large at column 1")


def test_remainder_too_fine_for_28_digits_is_an_evaluation_error():
    assert "cannot be computed" in eval_error("99999999999999999999999999999999.5 % 0.0000001")


def test_string_concatenation_is_capped():
    half = "x" * (MAX_STRING // 2)
    assert len(ev("a + a", {"a": half})) == MAX_STRING
    assert eval_error("a + a + 'y'", {"a": half}) == f"string longer than {MAX_STRING} characters"


# --- comparisons -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1 == 1", True), ("1 == 1.0", True), ("1 != 2", True), ("2 != 2", False),
    ("1 < 2", True), ("2 < 1", False), ("2 <= 2", True), ("3 <= 2", False),
    ("3 > 2", True), ("2 > 3", False), ("2 >= 2", True), ("1 >= 2", False),
    ("'a' < 'b'", True), ("'b' >= 'a'", True), ("'abc' == 'abc'", True), ("'a' != 'A'", True),
    ("amount > 19.98", True), ("customer.accounts[1].balance < 0", True),
    ("true == true", True), ("true != false", True),
    ("nothing == null", True), ("null == null", True), ("tries == null", False), ("'' != null", True),
    ("customer.segment == null", True),
    ("flags == ['vip', 'new']", True), ("customer.limits == customer.limits", True),
    ("rate == 0.1", True),
])
def test_comparisons(text, expected):
    assert same(ev(text), expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("'vip' in flags", True), ("'gold' in flags", False), ("'gold' not in flags", True),
    ("'2220' in card_number", True), ("'9999' not in card_number", True),
    ("'status' in customer", True), ("'pin' in customer", False), ("'pin' not in customer", True),
    ("2 in [1, 2.0]", True), ("null in [1, null]", True), ("1 in []", False),
])
def test_membership(text, expected):
    assert same(ev(text), expected)


@pytest.mark.parametrize(("text", "message"), [
    ("digits == 1", "cannot compare string with number"),  # DTMF input is text: a real bug, not just false
    ("digits != 1", "cannot compare string with number"),
    ("yes == 1", "cannot compare boolean with number"),
    ("flags == 'vip'", "cannot compare list with string"),
    ("digits < 2", "'<' needs two numbers or two strings, got string and number"),
    ("null > 1", "'>' needs two numbers or two strings, got null and number"),
    ("flags <= flags", "'<=' needs two numbers or two strings, got list and list"),
    ("true >= false", "'>=' needs two numbers or two strings, got boolean and boolean"),
    ("digits in [1, 2]", "cannot compare string with number"),
    ("1 in card_number", "looking for a number in a string"),
    ("1 in customer", "map keys are strings, not number"),
    ("1 in tries", "'in' needs a string, list or map on the right, got number"),
    ("'a' not in null", "'in' needs a string, list or map on the right, got null"),
])
def test_comparison_errors(text, message):
    assert eval_error(text) == message


def test_comparisons_do_not_chain():
    error = parse_error("1 < tries < 3")
    assert error.column == 11
    assert error.message == "comparisons cannot be chained: '<' at column 11 (write 'a < b and b < c')"
    assert ev("(1 < 2) == true") is True  # explicit grouping is fine


def test_signalling_nan_inside_a_list_is_an_evaluation_error():
    assert "invalid number" in eval_error("x == [1]", {"x": [Decimal("sNaN")]})


# --- logic ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("true and true", True), ("true and false", False), ("false or true", True), ("false or false", False),
    ("not true", False), ("not false", True), ("not not true", True),
    ("1 and 'x'", True), ("0 or ''", False), ("not []", True), ("not flags", False),
    ("tries and customer", True),
])
def test_logic_gives_booleans(text, expected):
    assert same(ev(text), expected)


def test_and_or_short_circuit():
    assert ev("defined('missing') and missing > 1") is False
    assert ev("not defined('missing') or missing > 1") is True
    assert ev("true or 1 / 0") is True
    assert ev("false and 1 / 0") is False
    assert eval_error("true and missing") == "undefined variable 'missing'"


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), (False, False), (0, False), (Decimal("0.00"), False), (0.0, False), ("", False),
    ([], False), ((), False), ({}, False),
    (True, True), (1, True), (Decimal("-0.01"), True), ("0", True), ("false", True), ([0], True),
    ({"a": None}, True), (object(), True),
])
def test_truthy(value, expected):
    assert truthy(value) is expected


# --- functions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("len(card_number)", 16), ("len(flags)", 2), ("len(customer)", 5), ("len('')", 0), ("len('你好')", 2),
    ("lower('AbC')", "abc"), ("upper(customer.name)", "LI WEI"),
    ("int('42')", 42), ("int(' -7 ')", -7), ("int('+3')", 3), ("int(12.99)", 12), ("int(-12.99)", -12),
    ("int(tries)", 2), ("int(rate)", 0),
    ("str(42)", "42"), ("str(12.50)", "12.50"), ("str(amount * 100)", "1999.00"), ("str(10 / 4)", "2.5"),
    ("str(true)", "true"), ("str(null)", "null"), ("str('x')", "x"), ("str(-0.5)", "-0.5"),
    ("number('12.50')", Decimal("12.50")), ("number(' -3 ')", Decimal("-3")), ("number(7)", Decimal("7")),
    ("number('0.1') + number('0.2') == 0.3", True), ("number(rate)", Decimal("0.1")),
    ("startswith(card_number, '6222')", True), ("startswith(card_number, '4')", False),
    ("endswith(card_number, '5678')", True), ("endswith('', 'x')", False),
    ("last(card_number, 4)", "5678"), ("last('ab', 5)", "ab"), ("last('ab', 0)", ""),
    ("contains(flags, 'vip')", True), ("contains(card_number, '999')", False), ("contains(customer, 'name')", True),
    ("empty(nothing)", True), ("empty('')", True), ("empty([])", True), ("empty(customer.limits)", False),
    ("empty(0)", False), ("empty('0')", False), ("empty(flags)", False),
    ("defined('tries')", True), ("defined('missing')", False), ("defined('customer.limits.daily')", True),
    ("defined('customer.limits.weekly')", False), ("defined('customer.name.first')", False),
    ("defined('nothing')", True), ("defined(\"customer\")", True),
])
def test_functions(text, expected):
    assert same(ev(text), expected)


def test_str_of_a_large_decimal_never_uses_an_exponent():
    assert ev("str(x)", {"x": Decimal("1E+3")}) == "1000"
    assert ev("str(x)", {"x": Decimal("1E-7")}) == "0.0000001"


@pytest.mark.parametrize(("text", "message"), [
    ("len(tries)", "len() needs a string, list or map, got number"),
    ("lower(1)", "lower() needs a string, got number"),
    ("upper(null)", "upper() needs a string, got null"),
    ("int('12.5')", "int() needs a number or a string of digits, got other text"),
    ("int('1_000')", "int() needs a number or a string of digits, got other text"),
    ("int('²')", "int() needs a number or a string of digits, got other text"),
    ("int(yes)", "int() needs a number or a string of digits, got boolean"),
    ("int('" + "9" * 101 + "')", "int() needs a number or a string of digits, got other text"),
    ("number('1e5')", "number() needs a number or text such as '12.50', got other text"),
    ("number('NaN')", "number() needs a number or text such as '12.50', got other text"),
    ("number('')", "number() needs a number or text such as '12.50', got other text"),
    ("number(flags)", "number() needs a number or text such as '12.50', got list"),
    ("str(flags)", "cannot turn a list into text"),
    ("str(customer)", "cannot turn a map into text"),
    ("startswith(1, 'a')", "startswith() needs a string, got number"),
    ("endswith('a', null)", "endswith() needs a string, got null"),
    ("last(card_number, -1)", "last() needs a whole number of characters >= 0, got number"),
    ("last(card_number, '4')", "last() needs a whole number of characters >= 0, got string"),
    ("last(tries, 1)", "last() needs a string, got number"),
    ("contains(1, 1)", "'in' needs a string, list or map on the right, got number"),
])
def test_function_errors(text, message):
    assert eval_error(text) == message


def test_evaluation_errors_never_show_values():
    # Values may be card numbers or PINs, and error messages go into call records.
    secret = {"pan": "6222020012345678", "pin": "4321", "wallet": {"pan": "6222020012345678"}}
    for text in ["pan == 1", "pin < 5", "int(pan + 'x')", "number(pin + '.x')", "pan * 2", "-pin",
                 "wallet[pin]", "wallet.pan[99]", "1 in pan", "pan[pin]"]:
        message = eval_error(text, secret)
        assert "6222" not in message and "4321" not in message, (text, message)


# --- parse errors with exact columns ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "column", "message"), [
    ("(a + b))", 8, "unexpected ')' at column 8"),
    ("a + )", 5, "unexpected ')' at column 5"),
    ("tries >= ", 10, "unexpected end of expression at column 10"),
    ("", 1, "the expression is empty"),
    ("   ", 1, "the expression is empty"),
    ("(a + b", 7, "expected ')' to close '(' from column 1, found end of expression at column 7"),
    ("[1, 2", 6, "expected ',' or ']', found end of expression at column 6"),
    ("[1 2]", 4, "expected ',' or ']', found '2' at column 4"),
    ("[1, 2,]", 7, "unexpected ']' at column 7"),
    ("f(1", 1, "unknown function 'f' at column 1 (functions: contains, defined, empty, endswith, int, last, "
               "len, lower, number, startswith, str, upper)"),
    ("len(a", 6, "expected ',' or ')', found end of expression at column 6"),
    ("x[1", 4, "expected ']' to close '[' from column 2, found end of expression at column 4"),
    ("a b", 3, "unexpected 'b' at column 3"),
    ("a not b", 3, "unexpected 'not' at column 3"),
    ("a == not b", 6, "unexpected 'not' at column 6"),
    ("1 + not x", 5, "unexpected 'not' at column 5"),
    ("a and", 6, "unexpected end of expression at column 6"),
    ("or a", 1, "unexpected 'or' at column 1"),
    ("a = 1", 3, "unexpected character '=' at column 3 (compare with '==')"),
    ("!a", 1, "unexpected character '!' at column 1 (use 'not' or '!=')"),
    ("a && b", 3, "unexpected character '&' at column 3 (use 'and')"),
    ("a || b", 3, "unexpected character '|' at column 3 (use 'or')"),
    ("tries @ 2", 7, "unexpected character '@' at column 7"),
    ("名字 == 'x'", 1, "unexpected character '名' at column 1"),
    ("'abc", 1, "unterminated string starting at column 1"),
    ("x + \"abc", 5, "unterminated string starting at column 5"),
    ("'abc\\", 1, "unterminated string starting at column 1"),
    (r"'a\qb'", 3, "unknown escape at column 3 (after \\ use \\, ', \", n or t)"),
    ("customer.", 10, "expected a field name after '.', found end of expression at column 10"),
    ("customer.1", 10, "expected a field name after '.', found '1' at column 10"),
    ("customer.and", 10, "expected a field name after '.', found 'and' at column 10"),
    (".5", 1, "unexpected '.' at column 1"),
    ("len(a, b)", 1, "len() takes 1 argument, got 2, at column 1"),
    ("last('x')", 1, "last() takes 2 arguments, got 1, at column 1"),
    ("empty()", 1, "empty() takes 1 argument, got 0, at column 1"),
    ("defined(x)", 9, "defined() takes a quoted variable name such as 'customer.status' at column 9"),
    ("defined('a b')", 9, "defined() takes a quoted variable name such as 'customer.status' at column 9"),
    ("defined('1a')", 9, "defined() takes a quoted variable name such as 'customer.status' at column 9"),
    ("defined('a', 'b')", 12, "expected ')' to close '(' from column 8, found ',' at column 12"),
    ("x == 'a very long string literal here' 'next'", 40,
     "unexpected \"'next'\" at column 40"),
    ("a == 'a very long string literal here' 'next and more text here'", 40,
     "unexpected \"'next and more te...\" at column 40"),
])
def test_parse_errors_name_the_problem_and_column(text, column, message):
    error = parse_error(text)
    assert (error.message, error.column) == (message, column)
    assert str(error) == message


def test_parse_error_is_a_value_error():
    assert isinstance(parse_error(")"), ValueError)


# --- limits ------------------------------------------------------------------------------------------


def test_length_limit():
    assert ev("1" + " " * (MAX_LENGTH - 1)) == 1
    error = parse_error("1" + " " * MAX_LENGTH)
    assert error.column == MAX_LENGTH + 1
    assert error.message == f"expression longer than {MAX_LENGTH} characters at column {MAX_LENGTH + 1}"


@pytest.mark.parametrize(("opener", "closer", "levels", "column"), [
    ("(", ")", MAX_DEPTH, 65),
    ("[", "]", MAX_DEPTH, 65),
    ("-", "", MAX_DEPTH, 65),
    ("not ", "", MAX_DEPTH, 257),
    ("len(", ")", MAX_DEPTH, 260),  # at the '(' of the 65th call
    ("x[", "]", MAX_DEPTH, 130),
    ("-(", ")", MAX_DEPTH // 2, 65),  # two levels each
])
def test_nesting_limit(opener, closer, levels, column):
    parse_expression(opener * levels + "1" + closer * levels)  # the limit itself is fine
    error = parse_error(opener * (levels + 1) + "1" + closer * (levels + 1))
    assert error.message == f"expression nested more than {MAX_DEPTH} levels deep at column {column}"
    assert error.column == column


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@pytest.mark.parametrize(("layer", "closers", "depth", "evaluates"), [
    # every precedence level inside every nesting level: the most parser frames per level
    # (evaluation stops at the second level, where `e * (a boolean)` is an error)
    ("a or b and c == d + e * (", ")", 1, False),
    # four levels a layer (- [ len( str(), and the values make every level evaluate the next
    ("a or b and c == d + e * -f[len(str(", "))]", 4, True),
])
def test_the_deepest_expressions_need_well_under_the_default_recursion_limit(layer, closers, depth, evaluates):
    levels = MAX_DEPTH // depth
    text = layer * levels + "1" + closers * levels
    variables = {"a": 0, "b": 1, "c": 1, "d": 1, "e": 1, "f": [0] * 6}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 650)  # Python's default is 1000
    try:
        expression = parse_expression(text)
        if evaluates:
            assert expression.evaluate(variables) is True
        else:
            with pytest.raises(EvaluationError):
                expression.evaluate(variables)
    finally:
        sys.setrecursionlimit(limit)
    assert parse_error(layer + text + closers).message.startswith("expression nested more than")


@pytest.mark.parametrize("operator", ["+", "-", "*", "/", "%", "and", "or"])
def test_long_chains_are_flat_not_deep(operator):
    # ~650 operands: a left-nested tree would overflow the interpreter's stack.
    text = f" {operator} ".join(["1"] * (MAX_LENGTH // (len(operator) + 3)))
    ev(text)


def test_long_access_chains_are_flat():
    text = "x" + ".x" * ((MAX_LENGTH - 1) // 2)
    nested: dict = {}
    node = nested
    for _ in range(text.count(".")):
        node["x"] = {}
        node = node["x"]
    assert ev(text, {"x": nested}) == {}


@pytest.mark.parametrize("text", [
    "(" * MAX_LENGTH, ")" * MAX_LENGTH, "[" * MAX_LENGTH, "-" * MAX_LENGTH, "not " * (MAX_LENGTH // 4),
    "'" + "\\'" * 999, "x." * 1000, "1" * MAX_LENGTH, "a[" * 1000, "len(" * 500, "((" + "1," * 998 + "1))",
    "1 < " * 500, "\\" * MAX_LENGTH, "\x00" * MAX_LENGTH, "defined(" * 250,
])
def test_hostile_text_fails_fast(text):
    started = time.perf_counter()
    try:
        parse_expression(text)
    except ExpressionError as error:
        assert 1 <= error.column <= len(text) + 1
    assert time.perf_counter() - started < 0.5


# --- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "names"), [
    ("1 + 2", set()),
    ("tries", {"tries"}),
    ("customer.accounts[i].balance > limit", {"customer", "i", "limit"}),
    ("len(card_number) == 16 and 'x' in flags", {"card_number", "flags"}),
    ("defined('customer') and customer.x", {"customer"}),
    ("defined('pin')", set()),  # testing for presence does not read the variable
    ("a.b.c", {"a"}),
    ("x[y[z]]", {"x", "y", "z"}),
    ("len + lower", {"len", "lower"}),
    ("[a, [b, -c]]", {"a", "b", "c"}),
    ("'not a name' + \"nor this\"", set()),
    ("true or null", set()),
])
def test_names(text, names):
    expression = parse_expression(text)
    assert expression.names == frozenset(names)
    assert expression.source == text


def test_expressions_are_immutable():
    expression = parse_expression("a + 1")
    with pytest.raises(AttributeError):
        expression.source = "b"  # type: ignore[misc]
    assert isinstance(expression, Expression)


# --- scalars, assignments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "source"), [
    ("tries + 1", "tries + 1"), (True, "true"), (False, "false"), (3, "3"), (1.5, "1.5"),
])
def test_parse_scalar(value, source):
    assert parse_scalar(value).source == source


@pytest.mark.parametrize("value", [None, [1], {"a": 1}])
def test_parse_scalar_rejects_non_scalars(value):
    with pytest.raises(ExpressionError) as info:
        parse_scalar(value)
    assert info.value.message.startswith("an expression must be text, a number or true/false")


def test_assignments_evaluate_every_right_side_before_assigning():
    variables = {"a": 1, "b": 2}
    apply_assignments(compile_assignments({"a": "b", "b": "a", "c": "a + b"}), variables)
    assert variables == {"a": 2, "b": 1, "c": 3}


def test_a_failing_assignment_changes_nothing():
    variables = {"a": 1}
    assignments = compile_assignments({"a": "a + 1", "b": "missing"})
    with pytest.raises(EvaluationError, match="undefined variable 'missing'"):
        apply_assignments(assignments, variables)
    assert variables == {"a": 1}


def test_compile_assignments_takes_yaml_scalars():
    compiled = compile_assignments({"done": True, "count": 0, "label": "'x'"})
    assert [(name, e.source) for name, e in compiled] == [("done", "true"), ("count", "0"), ("label", "'x'")]


@pytest.mark.parametrize(("mapping", "variable", "message", "column"), [
    ({"ok": "1", "bad": "1 +"}, "bad", "bad: unexpected end of expression at column 4", 4),
    ({"x": None}, "x", "x: an expression must be text, a number or true/false, not null", 1),
    ({"1x": "1"}, "1x", "'1x' is not a variable name", 1),
    ({"my-var": "1"}, "my-var", "'my-var' is not a variable name", 1),
    ({"not": "1"}, "not", "'not' is not a variable name", 1),
    ({"true": "1"}, "true", "'true' is not a variable name", 1),
])
def test_compile_assignments_errors_name_the_variable(mapping, variable, message, column):
    with pytest.raises(AssignmentError) as info:
        compile_assignments(mapping)
    assert info.value.variable == variable
    assert info.value.message.startswith(message)
    assert info.value.column == column
    assert isinstance(info.value, ExpressionError)


@pytest.mark.parametrize(("name", "valid"), [
    ("a", True), ("_x1", True), ("CamelCase", True), ("1a", False), ("", False), ("a.b", False),
    ("in", False), ("null", False), ("len", True), ("名字", False), (1, False),
])
def test_is_variable_name(name, valid):
    assert is_variable_name(name) is valid


def test_to_text():
    assert to_text(Decimal("12.50")) == "12.50"
    assert to_text(7) == "7"
    assert to_text(False) == "false"
    with pytest.raises(EvaluationError):
        to_text([1])


# --- properties --------------------------------------------------------------------------------------------

# Characters that exercise every tokenizer branch, heavy on brackets and quotes.
NASTY = "()[](((]]]''\"\"\\.,+-*/%<>=!&| \t\n0123456789.abnotrdifl_xyz名\u3000\x00"
ANY_TEXT = st.one_of(
    st.text(max_size=100),
    st.text(alphabet=NASTY, max_size=200),
    # Long text cheaply, as a repeated piece: runs of '(' or '-', and lengths either side of MAX_LENGTH.
    st.builds(lambda piece, times: piece * times, st.text(alphabet=NASTY, min_size=1, max_size=25),
              st.integers(1, 150)),
)


@settings(max_examples=1000, deadline=timedelta(milliseconds=500), suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT)
def test_any_text_parses_or_fails_with_a_column(text):
    try:
        parse_expression(text)
    except ExpressionError as error:
        assert 1 <= error.column <= len(text) + 1, (text, error)


# Generated expressions are (source, root variable names in it). Two grammars: an
# untyped one that combines anything with anything (mostly reaching evaluation
# errors), and a typed one whose numbers, texts and conditions fit together, so
# that evaluation mostly succeeds and reaches deep into the interpreter.

def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _wrap(template: str):
    """Put generated children into a template of '{}' holes, each child parenthesised."""
    def build(children):
        sources = [f"({source})" for source, _ in children]
        names = frozenset().union(*(names for _, names in children))
        return template.format(*sources), names
    return build


def _constant(source_strategy):
    return source_strategy.map(lambda source: (source, frozenset()))


def _variable(names: list[str]):
    return st.sampled_from(names).map(lambda name: (name, frozenset({name.split(".")[0]})))


def _operation(operators: list[str], left, right):
    return st.tuples(st.sampled_from(operators), left, right).map(lambda t: _wrap("{} " + t[0] + " {}")(t[1:]))


def _function(name: str, *arguments):
    return st.tuples(*arguments).map(_wrap(name + "(" + ", ".join(["{}"] * len(arguments)) + ")"))


def _levels(leaves, compound, levels: int):
    """At most `levels` constructs deep (st.recursive would not bound chains of unary operators)."""
    strategy = leaves
    for _ in range(levels):
        strategy = st.one_of(leaves, compound(strategy))
    return strategy


INTEGERS = _constant(st.integers(0, 10 ** 6).map(str))
DECIMALS = _constant(st.tuples(st.integers(0, 10 ** 4), st.integers(0, 99)).map(lambda t: f"{t[0]}.{t[1]:02d}"))
TEXTS = _constant(st.text(max_size=8).map(_quoted))

# -- untyped
VARIABLE_NAMES = ["a", "b", "customer", "x_1", "_tmp", "len", "last", "Tries", "n", "s"]
LEAVES = st.one_of(
    INTEGERS, DECIMALS, TEXTS, _constant(st.sampled_from(["true", "false", "null", "[]"])),
    _variable(VARIABLE_NAMES),
    _constant(st.sampled_from(VARIABLE_NAMES).map(lambda name: f"defined('{name}.f')")),
)
BINARY_OPERATORS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%"]
FUNCTIONS = {"len": 1, "lower": 1, "upper": 1, "int": 1, "str": 1, "number": 1, "startswith": 2, "endswith": 2,
             "last": 2, "contains": 2, "empty": 1}


def _anything(children):
    return st.one_of(
        _operation(BINARY_OPERATORS, children, children),
        children.map(lambda c: _wrap("-{}")([c])),
        children.map(lambda c: _wrap("not {}")([c])),
        st.lists(children, max_size=3).map(lambda cs: _wrap("[" + ", ".join(["{}"] * len(cs)) + "]")(cs)),
        st.tuples(children, children).map(_wrap("{}[{}]")),
        st.tuples(children, st.sampled_from(["f", "g"])).map(lambda t: _wrap("{}." + t[1])([t[0]])),
        st.sampled_from(sorted(FUNCTIONS)).flatmap(lambda name: _function(name, *[children] * FUNCTIONS[name])),
    )


UNTYPED = _levels(LEAVES, _anything, 6)

# -- typed: n and customer.f are numbers, s and customer.g are texts (see TYPED_SCOPES)
NUMBER_LEAVES = st.one_of(INTEGERS, DECIMALS, _variable(["n", "customer.f"]))
TEXT_LEAVES = st.one_of(TEXTS, _variable(["s", "customer.g"]))
CONDITION_LEAVES = st.one_of(_constant(st.sampled_from(["true", "false", "defined('customer.f')"])),
                             _variable(["flag"]))


def _typed(numbers, texts, conditions):
    """One more level of (numbers, texts, conditions), each built from the level below."""
    small = _constant(st.integers(0, 20).map(str))
    return (
        st.one_of(NUMBER_LEAVES, _operation(["+", "-", "*", "/", "%"], numbers, numbers),
                  numbers.map(lambda c: _wrap("-{}")([c])), _function("len", texts), _function("int", numbers),
                  _function("number", numbers)),
        st.one_of(TEXT_LEAVES, _operation(["+"], texts, texts), _function("lower", texts),
                  _function("upper", texts), _function("str", numbers), _function("str", conditions),
                  _function("last", texts, small), st.tuples(texts, small).map(_wrap("{}[{}]"))),
        st.one_of(CONDITION_LEAVES, _operation(["==", "!=", "<", "<=", ">", ">="], numbers, numbers),
                  _operation(["==", "!=", "<", ">=", "in", "not in"], texts, texts),
                  _operation(["and", "or"], conditions, conditions), conditions.map(lambda c: _wrap("not {}")([c])),
                  _function("startswith", texts, texts), _function("contains", texts, texts),
                  _function("empty", texts), st.tuples(numbers, numbers, numbers).map(_wrap("{} in [{}, {}]"))),
    )


def _typed_levels(levels: int):
    numbers, texts, conditions = NUMBER_LEAVES, TEXT_LEAVES, CONDITION_LEAVES
    for _ in range(levels):
        numbers, texts, conditions = _typed(numbers, texts, conditions)
    return st.one_of(numbers, texts, conditions)


TYPED = _typed_levels(5)
EXPRESSIONS = st.one_of(UNTYPED, TYPED)

NUMBER_VALUES = st.one_of(st.integers(-10 ** 6, 10 ** 6), st.decimals(-10 ** 6, 10 ** 6, places=2))
TYPED_SCOPES = st.fixed_dictionaries({
    "n": NUMBER_VALUES, "s": st.text(max_size=8), "flag": st.booleans(),
    "customer": st.fixed_dictionaries({"f": NUMBER_VALUES, "g": st.text(max_size=8)}),
})
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10 ** 101, 10 ** 101),
              st.decimals(allow_nan=True, allow_infinity=True), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["f", "g", "h"]), inner, max_size=3)),
    max_leaves=6,
)
SCOPES = st.one_of(TYPED_SCOPES, st.dictionaries(st.sampled_from(VARIABLE_NAMES), VALUES))


@settings(max_examples=300, deadline=timedelta(milliseconds=500), suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.tuples(TYPED, TYPED_SCOPES), st.tuples(EXPRESSIONS, SCOPES)))
def test_well_formed_expressions_evaluate_or_raise_only_evaluation_error(case):
    (source, _), variables = case
    parsed = parse_expression(source)
    try:
        parsed.evaluate(variables)
    except EvaluationError:
        pass


@settings(max_examples=300, deadline=timedelta(milliseconds=500), suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_names_are_the_variables_put_in(expression):
    source, names = expression
    assert parse_expression(source).names == names
