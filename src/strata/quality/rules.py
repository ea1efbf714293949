"""Declarative data-quality rules, parsed from the plain dicts of a model's ``[[rules]]`` block.

A rule is either row-level (judged on every row: ``not_null``, ``unique``, ``accepted_values``,
``range``, ``regex``, ``relationships``, ``expression``) or table-level (judged once per table:
``row_count``, ``freshness``). Every rule has a ``name`` (derived from its type and column when
not given), a ``severity`` (``"block"`` quarantines failing rows, ``"warn"`` only flags them) and,
for row-level block rules, a ``threshold``: the largest share of failing rows tolerated before the
whole step fails instead of quarantining (default 1.0: failing rows are quarantined, the step
goes on).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal

import sqlglot
from sqlglot.errors import SqlglotError

from strata.errors import ConfigError, unknown_name

Severity = Literal["block", "warn"]
Scalar = str | int | float | bool
Bound = int | float | date | datetime

SEVERITIES: tuple[Severity, ...] = ("block", "warn")


# Field checkers: each takes the raw value from the dict and returns the stored value, or raises
# ValueError saying what it expected. They hang off dataclass field metadata so each rule class
# declares its keys, defaults and checks in one place.


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("a non-empty list of strings")
    return tuple(_text(item) for item in value)


def _kind(item: Any) -> str | None:
    # Mixed kinds would make the SQL IN list cast one to the other and fail at run time.
    if isinstance(item, bool):  # checked first: bool is an int subclass
        return "bool"
    if isinstance(item, str):
        return "str"
    return "number" if isinstance(item, int | float) else None


def _scalars(value: Any) -> tuple[Scalar, ...]:
    expected = "a non-empty list of strings, of numbers or of booleans"
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(expected)
    kinds = {_kind(item) for item in value}
    if None in kinds or len(kinds) > 1:
        raise ValueError(expected)
    return tuple(value)


def _number(value: Any) -> float:
    # bool is an int subclass; `true` is never meant as a number.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("a finite number")
    return float(value)


def _bound(value: Any) -> Bound | None:
    if value is None or isinstance(value, date | datetime):
        return value
    _number(value)  # rejects booleans, text and inf/nan; the int or float itself is kept
    return value


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("a non-negative integer")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _severity(value: Any) -> Severity:
    if value not in SEVERITIES:
        raise unknown_name("severity", str(value), SEVERITIES)
    return value


def _check(checker: Callable[[Any], Any]) -> dict[str, Any]:
    return {"check": checker}


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A quality rule; subclasses add their own keys. Usually built by :func:`parse_rules`."""

    type: ClassVar[str]
    table_level: ClassVar[bool] = False

    name: str = field(default="", metadata=_check(_text))
    severity: Severity = field(default="warn", metadata=_check(_severity))
    threshold: float = field(default=1.0, metadata=_check(_number))

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name())
        # Names are joined with commas in the _dq_block/_dq_warn columns; a comma would split one.
        if "," in self.name:
            raise ConfigError(f"rule name {self.name!r} has a comma; name the rule without one")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"rule {self.name!r}: threshold must be between 0 and 1")
        # A threshold on a rule that never quarantines would silently do nothing.
        if self.threshold != 1.0 and (self.severity != "block" or self.table_level):
            raise ConfigError(
                f"rule {self.name!r}: threshold only applies to row-level rules with "
                "severity = 'block'"
            )

    def default_name(self) -> str:
        """The name used when the definition gives none, e.g. ``not_null:sensor_id``."""
        target = self.target()
        return f"{self.type}:{target}" if target else self.type

    def target(self) -> str | None:
        """The column(s) the rule looks at, for names and reports (None for none)."""
        return None


@dataclass(frozen=True, kw_only=True)
class NotNull(Rule):
    """The column is never NULL (the one rule where NULL fails)."""

    type: ClassVar[str] = "not_null"
    column: str = field(metadata=_check(_text))

    def target(self) -> str | None:
        return self.column


@dataclass(frozen=True, kw_only=True)
class Unique(Rule):
    """No two rows share the same values in ``columns``; every duplicate row is flagged."""

    type: ClassVar[str] = "unique"
    columns: tuple[str, ...] = field(metadata=_check(_texts))

    def target(self) -> str | None:
        # "+" rather than "," because rule names must not contain commas.
        return "+".join(self.columns)


@dataclass(frozen=True, kw_only=True)
class AcceptedValues(Rule):
    """The column holds only the listed values."""

    type: ClassVar[str] = "accepted_values"
    column: str = field(metadata=_check(_text))
    values: tuple[Scalar, ...] = field(metadata=_check(_scalars))

    def target(self) -> str | None:
        return self.column


@dataclass(frozen=True, kw_only=True)
class Range(Rule):
    """The column lies between ``min`` and ``max`` (either may be omitted)."""

    type: ClassVar[str] = "range"
    column: str = field(metadata=_check(_text))
    min: Bound | None = field(default=None, metadata=_check(_bound))
    max: Bound | None = field(default=None, metadata=_check(_bound))
    inclusive: bool = field(default=True, metadata=_check(_flag))

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bounds(self.name, self.min, self.max)

    def target(self) -> str | None:
        return self.column


@dataclass(frozen=True, kw_only=True)
class Regex(Rule):
    """The column matches ``pattern`` somewhere (anchor with ^...$ for a full match)."""

    type: ClassVar[str] = "regex"
    column: str = field(metadata=_check(_text))
    pattern: str = field(metadata=_check(_text))

    def target(self) -> str | None:
        return self.column


@dataclass(frozen=True, kw_only=True)
class Relationships(Rule):
    """Every value of ``column`` exists in ``field`` of the table ``to`` (e.g. silver.sensors)."""

    type: ClassVar[str] = "relationships"
    column: str = field(metadata=_check(_text))
    to: str = field(metadata=_check(_text))
    field: str = field(default="", metadata=_check(_text))

    def __post_init__(self) -> None:
        if not self.field:
            object.__setattr__(self, "field", self.column)
        super().__post_init__()

    def target(self) -> str | None:
        return self.column


@dataclass(frozen=True, kw_only=True)
class Expression(Rule):
    """A boolean SQL predicate (DuckDB dialect) over the row's columns; NULL counts as passing."""

    type: ClassVar[str] = "expression"
    sql: str = field(metadata=_check(_text))

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_predicate(self.name, self.sql)

    def default_name(self) -> str:
        return f"expression:{' '.join(self.sql.split())}"


@dataclass(frozen=True, kw_only=True)
class RowCount(Rule):
    """The table has between ``min`` and ``max`` rows."""

    type: ClassVar[str] = "row_count"
    table_level: ClassVar[bool] = True
    min: int | None = field(default=None, metadata=_check(_count))
    max: int | None = field(default=None, metadata=_check(_count))

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bounds(self.name, self.min, self.max)


@dataclass(frozen=True, kw_only=True)
class Freshness(Rule):
    """The newest value of ``column`` is at most ``max_age_hours`` old (an empty table fails)."""

    type: ClassVar[str] = "freshness"
    table_level: ClassVar[bool] = True
    column: str = field(metadata=_check(_text))
    max_age_hours: float = field(metadata=_check(_number))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_age_hours <= 0:
            raise ConfigError(f"rule {self.name!r}: max_age_hours must be positive")

    def target(self) -> str | None:
        return self.column


RULE_TYPES: dict[str, type[Rule]] = {
    cls.type: cls
    for cls in (
        NotNull,
        Unique,
        AcceptedValues,
        Range,
        Regex,
        Relationships,
        Expression,
        RowCount,
        Freshness,
    )
}


def _check_bounds(name: str, low: Any, high: Any) -> None:
    if low is None and high is None:
        raise ConfigError(f"rule {name!r}: give min, max or both")
    if low is None or high is None:
        return
    try:
        inverted = low > high
    except TypeError:
        raise ConfigError(f"rule {name!r}: min and max must be of the same kind") from None
    if inverted:
        raise ConfigError(f"rule {name!r}: min ({low!r}) is above max ({high!r})")


def _check_predicate(name: str, sql: str) -> None:
    # Parse up front so a typo fails at load time, and so the text cannot close the
    # surrounding CASE and smuggle in more SQL: it must be exactly one expression.
    try:
        parsed = sqlglot.parse(sql, read="duckdb")
    except SqlglotError as exc:
        raise ConfigError(f"rule {name!r}: sql is not a valid expression: {exc}") from exc
    if len(parsed) != 1 or parsed[0] is None or not isinstance(parsed[0], sqlglot.exp.Condition):
        raise ConfigError(f"rule {name!r}: sql must be one boolean expression, got {sql!r}")


def _label(index: int, item: Mapping[str, Any]) -> str:
    name = item.get("name")
    return f"rule {name!r}" if isinstance(name, str) else f"rule #{index + 1}"


def _rule_class(index: int, item: Mapping[str, Any]) -> type[Rule]:
    kind = item.get("type")
    if kind is None:
        choices = ", ".join(sorted(RULE_TYPES))
        raise ConfigError(f"{_label(index, item)} has no type (choices: {choices})")
    if kind not in RULE_TYPES:
        error = unknown_name("rule type", str(kind), RULE_TYPES)
        raise ConfigError(f"{_label(index, item)}: {error}")
    return RULE_TYPES[kind]


def _field_values(index: int, cls: type[Rule], item: Mapping[str, Any]) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in item.items():
        if key == "type":
            continue
        if key not in fields:
            error = unknown_name(f"key for a {cls.type} rule", str(key), [*fields, "type"])
            raise ConfigError(f"{_label(index, item)}: {error}")
        try:
            values[key] = fields[key].metadata["check"](raw)
        except ValueError as exc:
            raise ConfigError(f"{_label(index, item)}: {key} must be {exc}, got {raw!r}") from exc
        except ConfigError as exc:
            raise ConfigError(f"{_label(index, item)}: {exc}") from exc
    return values


def _missing(cls: type[Rule], values: Mapping[str, Any]) -> list[str]:
    required = (
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return [name for name in required if name not in values]


def parse_rule(item: Mapping[str, Any], index: int = 0) -> Rule:
    """Build one rule from its dict; ``index`` (0-based) only labels error messages."""
    if not isinstance(item, Mapping):
        raise ConfigError(f"rule #{index + 1} must be a table of keys, got {item!r}")
    cls = _rule_class(index, item)
    values = _field_values(index, cls, item)
    missing = _missing(cls, values)
    if missing:
        raise ConfigError(f"{_label(index, item)} ({cls.type}) is missing {', '.join(missing)}")
    return cls(**values)


def _check_names(rules: Iterable[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"two rules are named {rule.name!r}; give one a distinct name")
        seen.add(rule.name)


def parse_rules(items: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """Parse a model's ``[[rules]]`` entries, raising ConfigError on the first bad one.

    Unknown types and keys name the valid choices and the closest match; rule names (given or
    derived) must be unique within the list.
    """
    rules = [parse_rule(item, index) for index, item in enumerate(items)]
    _check_names(rules)
    return rules
