"""Declarative data-quality rules compiled to portable SQL (DuckDB now, Spark SQL via SQLGlot).

Typical use: ``rules = parse_rules(model_config["rules"])`` then
``passed, quarantined, report = evaluate(con, "staged_view", rules, table_name="silver.readings")``.
"""

from strata.quality.compile import compile_checks, compile_table_checks
from strata.quality.report import (
    QualityCheckFailed,
    QualityReport,
    RuleResult,
    evaluate,
    quality_score,
)
from strata.quality.rules import (
    RULE_TYPES,
    AcceptedValues,
    Expression,
    Freshness,
    NotNull,
    Range,
    Regex,
    Relationships,
    RowCount,
    Rule,
    Severity,
    Unique,
    parse_rule,
    parse_rules,
)

__all__ = [
    "RULE_TYPES",
    "AcceptedValues",
    "Expression",
    "Freshness",
    "NotNull",
    "QualityCheckFailed",
    "QualityReport",
    "Range",
    "Regex",
    "Relationships",
    "RowCount",
    "Rule",
    "RuleResult",
    "Severity",
    "Unique",
    "compile_checks",
    "compile_table_checks",
    "evaluate",
    "parse_rule",
    "parse_rules",
    "quality_score",
]
