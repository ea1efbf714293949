"""DuckDB SQL to Spark SQL, with SQLGlot, failing loudly where the two do not meet.

Models are written once, in the DuckDB dialect. SQLGlot rewrites most of it (types, functions,
`* EXCLUDE`, NULL ordering, regular expressions); this module adds what SQLGlot leaves to the
engine and refuses what neither can run:

- several `unnest()` in one SELECT: DuckDB unnests them side by side (padding the shorter lists
  with NULL), Spark allows one generator per SELECT. They become one
  `LATERAL VIEW INLINE(ARRAYS_ZIP(...))`, which zips and pads the same way.
- constructs with no Spark equivalent that SQLGlot passes through unchanged (ASOF and POSITIONAL
  joins, DuckDB-only functions) raise `Untranspilable` naming the construct, instead of failing
  later inside Spark with a message about SQL the user never wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from strata.errors import ModelError

ZIP_ALIAS = "_strata_zip"
_UNSUPPORTED_JOINS = ("ASOF", "POSITIONAL", "ANTI ASOF")


class Untranspilable(ModelError):
    """A model's SQL uses a DuckDB construct that Spark SQL cannot express."""

    def __init__(self, construct: str, detail: str = "") -> None:
        self.construct = construct
        reason = f"{construct} has no Spark SQL equivalent"
        super().__init__("query", f"{reason} ({detail})" if detail else reason)


def to_spark(
    sql: str,
    function_exists: Callable[[str], bool] | None = None,
    schema: dict[str, dict[str, str]] | None = None,
) -> str:
    """`sql` (DuckDB dialect, one statement) as Spark SQL.

    `function_exists` answers whether Spark knows a function name; functions SQLGlot does not
    translate are checked against it. `schema` ({relation: {column: DuckDB type}}) lets the
    numeric rewrites see types (see `_duckdb_numerics`). Raises Untranspilable naming the
    construct.
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except ParseError as exc:
        raise ModelError("query", f"SQL does not parse: {exc}") from exc
    _refuse_joins(tree)
    tree = _duckdb_numerics(tree, schema)
    try:
        spark_sql = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise Untranspilable(_first_line(str(exc))) from exc
    spark_tree = sqlglot.parse_one(spark_sql, read="spark")
    if function_exists is not None:
        _refuse_unknown_functions(spark_tree, function_exists)
    for number, select in enumerate(list(spark_tree.find_all(exp.Select))):
        _zip_generators(select, f"{ZIP_ALIAS}{number}")
    return spark_tree.sql(dialect="spark")


def _typed(tree: exp.Expr, schema: dict[str, dict[str, str]] | None) -> exp.Expr:
    """`tree` with SQLGlot's types on its expressions (DuckDB rules), qualified against
    `schema`; `tree` unchanged when it cannot be qualified (types then stay unknown)."""
    if not schema:
        return tree
    try:
        mapping = MappingSchema(dict(schema), dialect="duckdb")
        qualified = qualify(
            tree.copy(), schema=mapping, dialect="duckdb", validate_qualify_columns=False
        )
        return annotate_types(qualified, schema=mapping, dialect="duckdb")
    except (SqlglotError, KeyError, ValueError, TypeError):
        return tree


def _duckdb_numerics(tree: exp.Expr, schema: dict[str, dict[str, str]] | None) -> exp.Expr:
    """AVG, decimal division and ROUND as DuckDB computes them, so both engines agree.

    - DuckDB's `avg` is a DOUBLE: the exact sum (integers and decimals are summed exactly) as a
      double, divided by the count. Spark keeps decimals decimal (`avg` of DECIMAL(18,2) is
      DECIMAL(22,6)), which rounds differently at every .xx5. Spark gets
      `CAST(SUM(x) AS DOUBLE) / NULLIF(COUNT(x), 0)`, the same arithmetic.
    - DuckDB rounds a DOUBLE to n places as `std::round(x * 10^n) / 10^n`; Spark rounds the
      double's decimal representation half-up, which differs when `x * 10^n` lands on .5.
      A DOUBLE (by the types SQLGlot infers) gets `ROUND(x * 10^n, 0) / 10^n` (equal to
      std::round: the shortest representation of a double is .5 only when it is exactly .5).
      DECIMAL rounding is exact half-up on both and stays as it is.
    - DuckDB divides DECIMALs as DOUBLEs (`/` of a DECIMAL is a DOUBLE); Spark keeps a decimal
      quotient. Spark gets both operands cast to DOUBLE.
    """
    tree = _typed(tree, schema)
    double = exp.DataType.build("DOUBLE")
    for division in list(tree.find_all(exp.Div)):
        operands = (division.this, division.expression)
        if any(o.type is not None and o.type.is_type(exp.DataType.Type.DECIMAL) for o in operands):
            for key, operand in zip(("this", "expression"), operands, strict=True):
                division.set(key, exp.Cast(this=operand.copy(), to=double.copy()))
            division.type = double.copy()
    for node in list(tree.find_all(exp.Round)):
        places = node.args.get("decimals")
        value_type = node.this.type
        if (
            isinstance(places, exp.Literal)
            and places.is_int
            and int(places.this) > 0
            and value_type is not None
            and value_type.is_type(exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)
        ):
            scale = exp.Literal.number(10 ** int(places.this))
            shifted = exp.Round(this=exp.Mul(this=exp.paren(node.this.copy()), expression=scale))
            node.replace(exp.paren(exp.Div(this=shifted, expression=scale.copy())))
    for avg in list(tree.find_all(exp.Avg)):
        # The call as written: under a FILTER (WHERE …) and/or an OVER (…), both kept.
        wrappers = []
        outer: exp.Expr = avg
        while isinstance(outer.parent, exp.Filter | exp.Window) and outer.parent.this is outer:
            outer = outer.parent
            wrappers.append(outer)
        total = exp.Cast(
            this=_wrapped(exp.Sum(this=avg.this.copy()), wrappers),
            to=exp.DataType.build("DOUBLE"),
        )
        count = exp.Nullif(
            this=_wrapped(exp.Count(this=avg.this.copy()), wrappers),
            expression=exp.Literal.number(0),
        )
        outer.replace(exp.paren(exp.Div(this=total, expression=count)))
    return tree


def _wrapped(call: exp.Expr, wrappers: Sequence[exp.Expr]) -> exp.Expr:
    """`call` under copies of the FILTER and OVER clauses that wrapped the original call."""
    for wrapper in wrappers:
        copy = wrapper.copy()
        copy.set("this", call)
        call = copy
    return call


def _refuse_joins(tree: exp.Expr) -> None:
    for join in tree.find_all(exp.Join):
        kinds = " ".join(str(join.args.get(k) or "") for k in ("method", "side", "kind")).upper()
        for unsupported in _UNSUPPORTED_JOINS:
            if unsupported in kinds.split() or kinds.strip().startswith(unsupported):
                raise Untranspilable(f"{unsupported} JOIN", join.sql(dialect="duckdb")[:80])


def _refuse_unknown_functions(tree: exp.Expr, function_exists: Callable[[str], bool]) -> None:
    for call in tree.find_all(exp.Anonymous):
        name = str(call.this)
        if not function_exists(name):
            raise Untranspilable(f"function {name}()", call.sql(dialect="duckdb")[:80])


def _generators(select: exp.Select) -> Iterable[exp.Explode]:
    """The EXPLODEs in the projection of `select` itself (not in its subqueries)."""
    for projection in select.expressions:
        for node in projection.find_all(exp.Explode):
            if not isinstance(node, exp.ExplodeOuter | exp.Posexplode) and (
                node.find_ancestor(exp.Select) is select
            ):
                yield node


def _zip_generators(select: exp.Select, alias: str) -> None:
    """Several EXPLODEs in one projection become columns of one zipped LATERAL VIEW."""
    explodes = list(_generators(select))
    if len(explodes) < 2:
        return
    columns = [f"{alias}_{i}" for i in range(len(explodes))]
    # ARRAYS_ZIP is NULL when any list is: DuckDB pads a NULL list like an empty one.
    empty = exp.Array(expressions=[])
    arrays = [exp.Coalesce(this=node.this.copy(), expressions=[empty.copy()]) for node in explodes]
    for node, column in zip(explodes, columns, strict=True):
        node.replace(exp.column(column, table=alias))
    lateral = exp.Lateral(
        this=exp.Inline(this=exp.ArraysZip(expressions=arrays)),
        view=True,
        outer=False,
        alias=exp.TableAlias(
            this=exp.to_identifier(alias), columns=[exp.to_identifier(c) for c in columns]
        ),
    )
    select.append("laterals", lateral)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else text
