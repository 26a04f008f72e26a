"""A small, safe expression language for flow conditions and assignments.

Flows need to test and compute things ("is the card blocked?", "the last four
digits"), but a flow file must never be able to run arbitrary code. So this is
a language of its own: a hand-written tokenizer and Pratt parser build an
immutable tree that a small interpreter walks. There is no `eval`, no Python
`ast`: only the operators and functions below exist.

    customer.status == 'blocked' and not defined('override')
    balance - 12.50 >= 0                 # decimals are exact: 0.1 + 0.2 == 0.3
    'Dear ' + upper(customer.name)
    caller in ['13800000000', '13900000000']

Values: null, true/false, integers, decimals (`decimal.Decimal`, 28 significant
digits, so money is exact; a float from a variable counts as the decimal it
prints as), strings, lists, and maps (dicts, from variables). Numbers stay
below 10**100.

Operators, loosest first:

    a or b, a and b     true/false; the right side is evaluated only if needed
    not a
    == != < <= > >= in, not in      (no chains: write `a < b and b < c`)
    + -                 numbers; `+` also joins two strings
    * / %               numbers; `/` always gives a decimal; `%` takes the sign of the right side
    -a
    a.field  a[index]   map field, list/string index (0-based), map key
    ( )

`==` and `!=` compare values of the same kind, or anything with null. A string
compared with a number is an error, not silently unequal: DTMF input is text,
so `input == 1` is a bug that should show, not a branch never taken. `in`
applies the same rule to list items. Ordering needs two numbers or two strings.

Functions (nothing else can be called; an unknown name is a parse error):

    len(x)                       length of a string, list or map
    lower(s), upper(s)
    int(x)                       whole number from a number (truncated) or digits such as '42'
    str(x)                       text of null, true/false, a number or a string
    number(x)                    decimal from a number or text such as '12.50'
    startswith(s, prefix), endswith(s, suffix)
    last(s, n)                   the last n characters of s
    contains(haystack, needle)   same as `needle in haystack`
    empty(x)                     x is null, '', [] or an empty map
    defined('name')              the variable exists; dotted paths too: defined('customer.status')

Parse problems raise `ExpressionError` with a 1-based column; run-time problems
(undefined variable, wrong kinds, division by zero) raise `EvaluationError`.
Messages name variables, source text and kinds, never values: values may be
card numbers or PINs, and the messages end up in call records. Hostile text
cannot crash or hang the parser: length, nesting depth, number size and string
length are capped.
"""
from __future__ import annotations

import decimal
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

MAX_LENGTH = 2000
MAX_DEPTH = 64
MAX_STRING = 10_000
# Bigger numbers are an error: money never needs them, and it bounds the work
# any expression can cause (there is no power operator to grow them faster).
MAX_NUMBER = 10 ** 100

# A fixed context, so results never depend on what other code did to the
# thread's default one. Emax keeps decimals below MAX_NUMBER (Overflow is trapped).
_DECIMAL_CONTEXT = decimal.Context(prec=28, Emax=99, Emin=-99,
                                   traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_CONSTANTS = {"true": True, "false": False, "null": None}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER_LITERAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", ".")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_HINTS = {"=": "compare with '=='", "!": "use 'not' or '!='", "&": "use 'and'", "|": "use 'or'"}


class ExpressionError(ValueError):
    """Text that is not a valid expression; `column` is 1-based into that text."""

    def __init__(self, message: str, column: int):
        super().__init__(message)
        self.message = message
        self.column = column


class AssignmentError(ExpressionError):
    """A bad entry in an assignment mapping; `variable` is the offending key."""

    def __init__(self, variable: Any, message: str, column: int):
        super().__init__(message, column)
        self.variable = variable


class EvaluationError(ValueError):
    """An expression that cannot be evaluated with these variables."""


# --- values -------------------------------------------------------------------------


def kind(value: Any) -> str:
    """The expression-language kind of a Python value, as used in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    return type(value).__name__


def truthy(value: Any) -> bool:
    """How a condition reads a value: null, false, 0, '' and empty lists/maps are false."""
    if kind(value) in ("null", "boolean", "number", "string", "list", "map"):
        return bool(value)
    return True


def to_text(value: Any) -> str:
    """The text `str(value)` gives in an expression (also what `switch` compares)."""
    value_kind = kind(value)
    if value_kind == "null":
        return "null"
    if value_kind == "boolean":
        return "true" if value else "false"
    if value_kind == "number":
        number = _number(value)
        # 'f': money reads as 1000.00, never as 1.00000E+3
        return str(number) if isinstance(number, int) else format(number, "f")
    if value_kind == "string":
        return value
    raise EvaluationError(f"cannot turn a {value_kind} into text")


def _number(value: Any) -> int | Decimal:
    """A number value as int or finite Decimal within MAX_NUMBER (floats from JSON become Decimals)."""
    if isinstance(value, float):
        # repr gives the shortest text that reads back as this float: 0.1 -> Decimal('0.1')
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise EvaluationError("not a finite number")
    return _checked(value)


def _checked(number: int | Decimal) -> int | Decimal:
    # copy_abs, not abs(): abs() rounds to the context first, and can overflow doing so
    magnitude = number.copy_abs() if isinstance(number, Decimal) else abs(number)
    if magnitude >= MAX_NUMBER:
        raise EvaluationError("number too large")
    return number


def _numbers(symbol: str, left: Any, right: Any) -> tuple[int | Decimal, int | Decimal]:
    if kind(left) != "number" or kind(right) != "number":
        also = " or two strings" if symbol == "+" else ""
        raise EvaluationError(f"'{symbol}' needs two numbers{also}, got {kind(left)} and {kind(right)}")
    return _number(left), _number(right)


# --- operators ------------------------------------------------------------------------


def _add(left: Any, right: Any) -> Any:
    if kind(left) == "string" and kind(right) == "string":
        if len(left) + len(right) > MAX_STRING:
            raise EvaluationError(f"string longer than {MAX_STRING} characters")
        return left + right
    return _arithmetic("+", left, right)


def _divide(left: int | Decimal, right: int | Decimal) -> Decimal:
    return Decimal(left) / Decimal(right)


def _remainder(left: int | Decimal, right: int | Decimal) -> int | Decimal:
    # Decimal's % keeps the sign of the left side, int's that of the right side;
    # one rule for both, so `-7 % 3` and `-7.0 % 3` agree (2).
    result = left % right
    if result and (result < 0) != (right < 0):
        result += right
    return result


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide, "%": _remainder,
}


def _arithmetic(symbol: str, left: Any, right: Any) -> int | Decimal:
    a, b = _numbers(symbol, left, right)
    if symbol in "/%" and b == 0:
        raise EvaluationError("division by zero")
    try:
        return _checked(_ARITHMETIC[symbol](a, b))
    except decimal.Overflow:
        raise EvaluationError("number too large") from None
    except decimal.DecimalException:  # e.g. '%' whose quotient needs more than 28 digits
        raise EvaluationError(f"'{symbol}' cannot be computed to 28 digits") from None


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add, **{symbol: partial(_arithmetic, symbol) for symbol in "-*/%"},
}


def _equal(left: Any, right: Any) -> bool:
    left_kind, right_kind = kind(left), kind(right)
    if left_kind == "null" or right_kind == "null":
        return left is None and right is None
    if left_kind != right_kind:
        raise EvaluationError(f"cannot compare {left_kind} with {right_kind}")
    if left_kind == "number":
        return _number(left) == _number(right)
    try:
        return left == right  # lists and maps: item by item, as Python compares them
    except decimal.DecimalException:  # a signalling NaN inside
        raise EvaluationError(f"cannot compare a {left_kind} holding an invalid number") from None


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _order(symbol: str, left: Any, right: Any) -> bool:
    left_kind, right_kind = kind(left), kind(right)
    if left_kind == right_kind == "number":
        return _ORDER[symbol](_number(left), _number(right))
    if left_kind == right_kind == "string":
        return _ORDER[symbol](left, right)
    raise EvaluationError(f"'{symbol}' needs two numbers or two strings, got {left_kind} and {right_kind}")


def _contains(haystack: Any, needle: Any) -> bool:
    haystack_kind = kind(haystack)
    if haystack_kind == "string":
        if kind(needle) != "string":
            raise EvaluationError(f"looking for a {kind(needle)} in a string")
        return needle in haystack
    if haystack_kind == "list":
        return any(_equal(needle, item) for item in haystack)
    if haystack_kind == "map":
        if kind(needle) != "string":
            raise EvaluationError(f"map keys are strings, not {kind(needle)}")
        return needle in haystack
    raise EvaluationError(f"'in' needs a string, list or map on the right, got {haystack_kind}")


def _not_equal(left: Any, right: Any) -> bool:
    return not _equal(left, right)


def _in(needle: Any, haystack: Any) -> bool:
    return _contains(haystack, needle)


def _not_in(needle: Any, haystack: Any) -> bool:
    return not _contains(haystack, needle)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal, "!=": _not_equal, "in": _in, "not in": _not_in,
    **{symbol: partial(_order, symbol) for symbol in _ORDER},
}


# --- functions ---------------------------------------------------------------------------


def _string(function: str, value: Any) -> str:
    if kind(value) != "string":
        raise EvaluationError(f"{function}() needs a string, got {kind(value)}")
    return value


def _len(value: Any) -> int:
    if kind(value) not in ("string", "list", "map"):
        raise EvaluationError(f"len() needs a string, list or map, got {kind(value)}")
    return len(value)


# ASCII digits only (int() alone would take '1_000', '²' and Arabic digits); at
# most 100 of them, so the result stays below MAX_NUMBER.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,100}")
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]{1,100}(?:\.[0-9]{1,100})?")


def _int(value: Any) -> int:
    if kind(value) == "number":
        return int(_number(value))  # truncates towards zero
    if kind(value) == "string" and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    raise EvaluationError(f"int() needs a number or a string of digits, got {_described(value)}")


def _to_number(value: Any) -> Decimal:
    if kind(value) == "number":
        return Decimal(_number(value))
    if kind(value) == "string" and _DECIMAL_TEXT.fullmatch(value.strip()):
        return Decimal(value.strip())
    raise EvaluationError(f"number() needs a number or text such as '12.50', got {_described(value)}")


def _described(value: Any) -> str:
    """The kind, and for text that it is not a number; never the value itself (it may be secret)."""
    return "other text" if kind(value) == "string" else kind(value)


def _startswith(text: Any, prefix: Any) -> bool:
    return _string("startswith", text).startswith(_string("startswith", prefix))


def _endswith(text: Any, suffix: Any) -> bool:
    return _string("endswith", text).endswith(_string("endswith", suffix))


def _last(text: Any, count: Any) -> str:
    text = _string("last", text)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise EvaluationError(f"last() needs a whole number of characters >= 0, got {kind(count)}")
    return text[-count:] if count else ""


def _empty(value: Any) -> bool:
    return value is None or (kind(value) in ("string", "list", "map") and len(value) == 0)


_FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "len": (1, _len),
    "lower": (1, lambda s: _string("lower", s).lower()),
    "upper": (1, lambda s: _string("upper", s).upper()),
    "int": (1, _int),
    "str": (1, to_text),
    "number": (1, _to_number),
    "startswith": (2, _startswith),
    "endswith": (2, _endswith),
    "last": (2, _last),
    "contains": (2, _contains),
    "empty": (1, _empty),
}
# `defined` is parsed on its own: its argument is a name, not an expression to evaluate.
_FUNCTION_NAMES = ", ".join(sorted([*_FUNCTIONS, "defined"]))


# --- the tree ----------------------------------------------------------------------------
# Every node is a frozen dataclass with evaluate(variables). Same-precedence
# chains (a + b - c, a or b or c) are one n-ary node evaluated in a loop, so
# tree depth, and so interpreter recursion, is bounded by MAX_DEPTH, not by length.


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[Any, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> list[Any]:
        return [item.evaluate(variables) for item in self.items]


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        if self.name not in variables:
            raise EvaluationError(f"undefined variable {self.name!r}")
        return variables[self.name]


@dataclass(frozen=True, slots=True)
class _Defined:
    path: tuple[str, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        scope: Any = variables
        for name in self.path:
            if not isinstance(scope, Mapping) or name not in scope:
                return False
            scope = scope[name]
        return True


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    label: str  # source text up to here, for messages

    def apply(self, value: Any, variables: Mapping[str, Any]) -> Any:
        if not isinstance(value, Mapping):
            raise EvaluationError(f"{self.label!r}: cannot read a field of a {kind(value)}")
        if self.name not in value:
            raise EvaluationError(f"{self.label!r} is not defined")
        return value[self.name]


@dataclass(frozen=True, slots=True)
class _Index:
    index: Any
    label: str

    def apply(self, value: Any, variables: Mapping[str, Any]) -> Any:
        index = self.index.evaluate(variables)
        if kind(value) == "map":
            if kind(index) != "string":
                raise EvaluationError(f"{self.label!r}: map keys are strings, not {kind(index)}")
            if index not in value:
                raise EvaluationError(f"{self.label!r} is not defined")
            return value[index]
        if kind(value) not in ("list", "string"):
            raise EvaluationError(f"{self.label!r}: cannot index a {kind(value)}")
        if not isinstance(index, int) or isinstance(index, bool):
            raise EvaluationError(f"{self.label!r}: an index must be a whole number, got {kind(index)}")
        if not 0 <= index < len(value):
            raise EvaluationError(f"{self.label!r}: index out of range")
        return value[index]


@dataclass(frozen=True, slots=True)
class _Access:
    base: Any
    steps: tuple[_Field | _Index, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        value = self.base.evaluate(variables)
        for step in self.steps:
            value = step.apply(value, variables)
        return value


@dataclass(frozen=True, slots=True)
class _Call:
    function: Callable[..., Any]
    arguments: tuple[Any, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return self.function(*[argument.evaluate(variables) for argument in self.arguments])


@dataclass(frozen=True, slots=True)
class _Negate:
    operand: Any

    def evaluate(self, variables: Mapping[str, Any]) -> int | Decimal:
        value = self.operand.evaluate(variables)
        if kind(value) != "number":
            raise EvaluationError(f"'-' needs a number, got {kind(value)}")
        number = _number(value)
        # copy_negate is exact; unary minus would round to 28 digits (and could overflow)
        return number.copy_negate() if isinstance(number, Decimal) else -number


@dataclass(frozen=True, slots=True)
class _Not:
    operand: Any

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        return not truthy(self.operand.evaluate(variables))


@dataclass(frozen=True, slots=True)
class _Arithmetic:
    first: Any
    steps: tuple[tuple[str, Any], ...]  # (symbol, operand), all of one precedence level

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        value = self.first.evaluate(variables)
        for symbol, operand in self.steps:
            value = _BINARY[symbol](value, operand.evaluate(variables))
        return value


@dataclass(frozen=True, slots=True)
class _Compare:
    symbol: str
    left: Any
    right: Any

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        return _COMPARISONS[self.symbol](self.left.evaluate(variables), self.right.evaluate(variables))


@dataclass(frozen=True, slots=True)
class _Or:
    operands: tuple[Any, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        return any(truthy(operand.evaluate(variables)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _And:
    operands: tuple[Any, ...]

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        return all(truthy(operand.evaluate(variables)) for operand in self.operands)


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text, the root variable names it reads, and its tree."""

    source: str
    names: frozenset[str]  # root variables read (customer.status -> customer); not those in defined()
    root: Any = field(repr=False)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value with these variables; raises EvaluationError (and nothing else) if there is none."""
        with decimal.localcontext(_DECIMAL_CONTEXT):
            return self.root.evaluate(variables)


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str  # source text (for a string: with its quotes)
    value: Any  # a number or string literal's value
    column: int  # 1-based
    end: int  # 0-based index just past the token

    def is_op(self, symbol: str) -> bool:
        return self.kind == "op" and self.text == symbol

    def is_keyword(self, word: str) -> bool:
        return self.kind == "keyword" and self.text == word

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        return repr(self.text if len(self.text) <= 20 else self.text[:17] + "...")


def _error(problem: str, column: int, hint: str = "") -> ExpressionError:
    return ExpressionError(f"{problem} at column {column}" + (f" ({hint})" if hint else ""), column)


def _tokenize(source: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(source):
        char = source[position]
        if char.isspace():
            position += 1
            continue
        if number := _NUMBER_LITERAL.match(source, position):
            token = _number_token(number.group(), position)
        elif name := _IDENTIFIER.match(source, position):
            token = _name_token(name.group(), position)
        elif char in "'\"":
            token = _string_token(source, position)
        else:
            token = _operator_token(source, position)
        tokens.append(token)
        position = token.end
    tokens.append(_Token("end", "", None, len(source) + 1, len(source)))
    return tokens


def _number_token(text: str, start: int) -> _Token:
    value = Decimal(text) if "." in text else int(text)
    if value >= MAX_NUMBER:
        raise _error("number too large", start + 1)
    return _Token("number", text, value, start + 1, start + len(text))


def _string_token(source: str, start: int) -> _Token:
    quote = source[start]
    chars = []
    position = start + 1
    while position < len(source):
        char = source[position]
        if char == quote:
            return _Token("string", source[start:position + 1], "".join(chars), start + 1, position + 1)
        if char == "\\" and position + 1 < len(source):
            escaped = _ESCAPES.get(source[position + 1])
            if escaped is None:
                raise _error("unknown escape", position + 1, "after \\ use \\, ', \", n or t")
            chars.append(escaped)
            position += 2
            continue
        chars.append(char)
        position += 1
    raise _error("unterminated string starting", start + 1)


def _name_token(text: str, start: int) -> _Token:
    token_kind = "keyword" if text in _KEYWORDS else "name"
    return _Token(token_kind, text, None, start + 1, start + len(text))


def _operator_token(source: str, start: int) -> _Token:
    for symbol in _OPERATORS:
        if source.startswith(symbol, start):
            return _Token("op", symbol, None, start + 1, start + len(symbol))
    char = source[start]
    raise _error(f"unexpected character {char!r}", start + 1, _HINTS.get(char, ""))


# --- parser ------------------------------------------------------------------------------

# Binding power of infix operators: higher binds tighter.
_INFIX_POWER = {
    "or": 1, "and": 2,
    "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "in": 4, "not in": 4,
    "+": 5, "-": 5, "*": 6, "/": 6, "%": 6,
}
_NOT_POWER = 3  # `not a == b` is `not (a == b)`, and `not a and b` is `(not a) and b`
_COMPARISON_POWER = 4
_NEGATE_POWER = 7  # `-a * b` is `(-a) * b`


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = _tokenize(source)
        self.position = 0
        self.depth = 0
        self.names: set[str] = set()

    def parse(self) -> Expression:
        if self._peek().kind == "end":
            raise ExpressionError("the expression is empty", 1)
        root = self._expression(0)
        token = self._peek()
        if token.kind != "end":
            raise _error(f"unexpected {token.describe()}", token.column)
        return Expression(self.source, frozenset(self.names), root)

    # -- token access

    def _peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.position + ahead, len(self.tokens) - 1)]

    def _advance(self) -> _Token:
        token = self._peek()
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def _expect_close(self, opener: _Token, closer: str) -> _Token:
        token = self._advance()
        if not token.is_op(closer):
            raise _error(f"expected {closer!r} to close {opener.text!r} from column {opener.column}, "
                         f"found {token.describe()}", token.column)
        return token

    def _enter(self, token: _Token) -> None:
        # Every construct that recurses passes here, so parser and interpreter
        # recursion stay far below Python's limit, however the text is built.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(f"expression nested more than {MAX_DEPTH} levels deep", token.column)

    def _leave(self) -> None:
        self.depth -= 1

    # -- grammar

    def _expression(self, min_power: int) -> Any:
        left = self._prefix(min_power)
        compared = False
        while True:
            symbol = self._infix_symbol()
            if symbol is None or _INFIX_POWER[symbol] <= min_power:
                return left
            token = self._advance()
            if symbol == "not in":
                self._advance()
            power = _INFIX_POWER[symbol]
            if power == _COMPARISON_POWER:
                if compared:
                    raise _error(f"comparisons cannot be chained: {token.describe()}", token.column,
                                 "write 'a < b and b < c'")
                compared = True
            left = _combine(symbol, left, self._expression(power))

    def _infix_symbol(self) -> str | None:
        token = self._peek()
        if token.kind == "op" and token.text in _INFIX_POWER:
            return token.text
        if token.kind == "keyword" and token.text in ("and", "or", "in"):
            return token.text
        if token.is_keyword("not") and self._peek(1).is_keyword("in"):
            return "not in"
        return None

    def _prefix(self, min_power: int) -> Any:
        token = self._advance()
        # `a == not b` is rejected as in Python: `not` only where a whole condition may stand.
        if token.is_keyword("not") and min_power <= _NOT_POWER:
            return _Not(self._nested(token, _NOT_POWER))
        if token.is_op("-"):
            return _Negate(self._nested(token, _NEGATE_POWER))
        return self._postfix(self._primary(token), token)

    def _nested(self, token: _Token, power: int) -> Any:
        self._enter(token)
        node = self._expression(power)
        self._leave()
        return node

    def _primary(self, token: _Token) -> Any:
        if token.kind in ("number", "string"):
            return _Literal(token.value)
        if token.kind == "keyword" and token.text in _CONSTANTS:
            return _Literal(_CONSTANTS[token.text])
        if token.kind == "name":
            if self._peek().is_op("("):
                return self._call(token)
            self.names.add(token.text)
            return _Variable(token.text)
        if token.is_op("("):
            self._enter(token)
            node = self._expression(0)
            self._expect_close(token, ")")
            self._leave()
            return node
        if token.is_op("["):
            return _List(self._items(token, "]"))
        raise _error(f"unexpected {token.describe()}", token.column)

    def _items(self, opener: _Token, closer: str) -> tuple[Any, ...]:
        """Comma-separated expressions up to `closer` (the opener is already read)."""
        self._enter(opener)
        items = []
        if self._peek().is_op(closer):
            self._advance()
        else:
            while True:
                items.append(self._expression(0))
                token = self._advance()
                if token.is_op(closer):
                    break
                if not token.is_op(","):
                    raise _error(f"expected ',' or {closer!r}, found {token.describe()}", token.column)
        self._leave()
        return tuple(items)

    def _call(self, name: _Token) -> Any:
        opener = self._advance()
        if name.text == "defined":
            return self._defined(opener)
        if name.text not in _FUNCTIONS:
            raise _error(f"unknown function {name.text!r}", name.column, f"functions: {_FUNCTION_NAMES}")
        arity, function = _FUNCTIONS[name.text]
        arguments = self._items(opener, ")")
        if len(arguments) != arity:
            plural = "" if arity == 1 else "s"
            raise _error(f"{name.text}() takes {arity} argument{plural}, got {len(arguments)},", name.column)
        return _Call(function, arguments)

    def _defined(self, opener: _Token) -> _Defined:
        argument = self._advance()
        if argument.kind != "string" or not _PATH.fullmatch(argument.value):
            raise _error("defined() takes a quoted variable name such as 'customer.status'", argument.column)
        self._expect_close(opener, ")")
        return _Defined(tuple(argument.value.split(".")))

    def _postfix(self, node: Any, first: _Token) -> Any:
        """`.field` and `[index]` after a primary, as one n-ary access node."""
        start = first.column - 1
        steps: list[_Field | _Index] = []
        while True:
            token = self._peek()
            if token.is_op("."):
                self._advance()
                name = self._advance()
                if name.kind != "name":
                    raise _error(f"expected a field name after '.', found {name.describe()}", name.column)
                steps.append(_Field(name.text, self.source[start:name.end]))
            elif token.is_op("["):
                self._advance()
                index = self._nested(token, 0)
                closer = self._expect_close(token, "]")
                steps.append(_Index(index, self.source[start:closer.end]))
            else:
                return _Access(node, tuple(steps)) if steps else node


def _combine(symbol: str, left: Any, right: Any) -> Any:
    """Join two operands; a left operand at the same level is extended, keeping the tree shallow."""
    if symbol == "or":
        return _Or((*left.operands, right) if isinstance(left, _Or) else (left, right))
    if symbol == "and":
        return _And((*left.operands, right) if isinstance(left, _And) else (left, right))
    if _INFIX_POWER[symbol] == _COMPARISON_POWER:
        return _Compare(symbol, left, right)
    step = (symbol, right)
    if isinstance(left, _Arithmetic) and _INFIX_POWER[left.steps[0][0]] == _INFIX_POWER[symbol]:
        return _Arithmetic(left.first, (*left.steps, step))
    return _Arithmetic(left, (step,))


# --- public entry points -------------------------------------------------------------------


def parse_expression(text: str) -> Expression:
    """Parse `text`; raises ExpressionError (with a 1-based column) if it is not a valid expression."""
    if len(text) > MAX_LENGTH:
        raise _error(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    return _Parser(text).parse()


def parse_scalar(value: Any) -> Expression:
    """Parse an expression written as a YAML scalar: text, or a number or true/false taken as its text."""
    if isinstance(value, bool):
        return parse_expression("true" if value else "false")
    if isinstance(value, (int, float)):
        return parse_expression(str(value))
    if isinstance(value, str):
        return parse_expression(value)
    raise ExpressionError(f"an expression must be text, a number or true/false, not {kind(value)}", 1)


def is_variable_name(name: Any) -> bool:
    return isinstance(name, str) and bool(_IDENTIFIER.fullmatch(name)) and name not in _KEYWORDS


def compile_assignments(mapping: Mapping[Any, Any]) -> tuple[tuple[str, Expression], ...]:
    """Parse `{variable: expression}`; an AssignmentError names the offending variable."""
    compiled = []
    for name, source in mapping.items():
        if not is_variable_name(name):
            raise AssignmentError(name, f"{name!r} is not a variable name "
                                        "(letters, digits and _, not starting with a digit, not a keyword)", 1)
        try:
            compiled.append((name, parse_scalar(source)))
        except ExpressionError as exc:
            raise AssignmentError(name, f"{name}: {exc.message}", exc.column) from None
    return tuple(compiled)


def apply_assignments(assignments: tuple[tuple[str, Expression], ...], variables: dict[str, Any]) -> None:
    """Evaluate every right-hand side first, then assign: `a: b, b: a` swaps, and an error changes nothing."""
    values = [(name, expression.evaluate(variables)) for name, expression in assignments]
    variables.update(values)
