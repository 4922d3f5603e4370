"""The RAW layout: which table and columns a Singer stream gets, and their DuckDB types.

It is the layout target-duckdb 0.8.0 wrote, so RAW files it loaded go on being loaded and dbt's
staging reads both alike: a table per stream named after its last part ("public-orders" ->
orders), one column per top-level property, lower-cased, in the order of the property names,
typed from the JSON schema (integers without a maximum as BIGINT, date-times as TIMESTAMP in
UTC, objects and arrays as JSON, dates as text), plus three metadata columns; the stream's key
properties are the table's primary key.

One difference: target-duckdb typed integers without a maximum HUGEINT. DuckDB 1.4 reads a
compressed HUGEINT column about 40 times slower than a BIGINT one, and every scan of RAW (dbt's
staging, reconciliation) reads keys. The sources' integers are 64-bit (PostgreSQL's bigint,
Stripe's amounts and times). RAW tables created with HUGEINT columns go on loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Set by the loader, whatever the tap's schema says (tap-postgres' CDC types _sdc_deleted_at as
# a date-time; RAW has always kept it as the text the tap sent).
METADATA_PROPERTIES: dict[str, dict[str, Any]] = {
    "_sdc_extracted_at": {"type": ["null", "string"], "format": "date-time"},
    "_sdc_batched_at": {"type": ["null", "string"], "format": "date-time"},
    "_sdc_deleted_at": {"type": ["null", "string"]},
}

_INTEGER_TYPES = ((32_767, "SMALLINT"), (2_147_483_647, "INTEGER"), (2**63 - 1, "BIGINT"))
# (RAW's type, the layout's) that hold the same values: the HUGEINT columns of RAW tables created
# before integers without a maximum became BIGINT.
SAME_VALUES = {("HUGEINT", "BIGINT")}


@dataclass(frozen=True)
class Column:
    property: str  # the key in the records
    name: str  # the RAW column
    type: str  # DuckDB type


def table_name(stream: str) -> str:
    """<table>, <schema>-<table> or <catalog>-<schema>-<table...> -> the RAW table's name."""
    parts = stream.split("-")
    name = parts[-1] if len(parts) <= 2 else "_".join(parts[2:])
    return name.replace(".", "_").lower()


def column_type(prop: dict[str, Any]) -> str:
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "object" in types or "array" in types:
        return "JSON"
    if prop.get("format") == "date-time":
        return "TIMESTAMP"
    if prop.get("format") == "time":
        return "TIME"
    if "number" in types:
        return "DOUBLE"
    if "integer" in types and "string" not in types:
        if "maximum" not in prop:
            return "BIGINT"
        fitting = (name for limit, name in _INTEGER_TYPES if prop["maximum"] <= limit)
        return next(fitting, "VARCHAR")
    if "boolean" in types:
        return "BOOLEAN"
    return "VARCHAR"


def _typed(prop: dict[str, Any]) -> dict[str, Any] | None:
    """The property's schema with a `type`; None for one the layout has no column for."""
    if "type" in prop:
        return prop
    if "anyOf" in prop:  # the first alternative that is not null
        entry = next(e for e in prop["anyOf"] if e.get("type") != "null")
        return {**entry, "type": ["null", entry["type"]]}
    # e.g. {"oneOf": [...]}: its first alternative, when that is text, an array or an object
    alternatives = next(iter(prop.values()), None)
    if isinstance(alternatives, list) and alternatives:
        first = alternatives[0]
        if first.get("type") in ("string", "array", "object"):
            return {**first, "type": ["null", first["type"]]}
    return None


def columns(schema: dict[str, Any]) -> list[Column]:
    """The RAW columns of a stream's schema, metadata included, in RAW's order."""
    properties = {**schema.get("properties", {}), **METADATA_PROPERTIES}
    found = []
    for name in sorted(properties):
        prop = _typed(properties[name])
        if prop is not None:
            found.append(Column(name, name.lower(), column_type(prop)))
    return found
