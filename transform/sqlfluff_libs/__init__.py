"""What dbt provides to the models, for sqlfluff's jinja templater (`library_path` in .sqlfluff).

sqlfluff renders the models without dbt or a warehouse; these stand-ins render what dbt would on
the embedded default's DuckDB target. For linting only: dbt never reads this package.
"""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from jinja2 import pass_context
from jinja2.runtime import Context

_PROJECT_VARS = yaml.safe_load((Path(__file__).parent.parent / "dbt_project.yml").read_text())[
    "vars"
]

target = SimpleNamespace(name="duckdb", type="duckdb", schema="marts", database="analytics")


def var(name: str, default: Any = None) -> Any:
    """The project's vars (dbt_project.yml), so that arithmetic on them renders."""
    return _PROJECT_VARS.get(name, default)


@pass_context
def _dispatch(context: Context, macro_name: str, macro_namespace: str | None = None) -> Any:
    for prefix in ("duckdb__", "default__"):
        if f"{prefix}{macro_name}" in context:
            return context[f"{prefix}{macro_name}"]
    raise KeyError(f"adapter.dispatch: no duckdb__ or default__ macro named {macro_name!r}")


adapter = SimpleNamespace(dispatch=_dispatch)

# dbt's cross-database macros the models call, as they render on DuckDB.
dbt = SimpleNamespace(
    date_trunc=lambda datepart, date: f"date_trunc('{datepart}', {date})",
    dateadd=lambda datepart, interval, start: f"({start} + interval ({interval}) {datepart})",
    datediff=lambda first, second, datepart: f"date_diff('{datepart}', {first}, {second})",
    concat=lambda fields: f"concat({', '.join(fields)})",
    date_spine=lambda datepart, start, end: (
        f"select cast(range as date) as date_{datepart}"
        f" from range({start}, {end}, interval 1 {datepart})"
    ),
    generate_series=lambda upper_bound: (
        f"select generate_series as generated_number from generate_series(1, {upper_bound})"
    ),
)
