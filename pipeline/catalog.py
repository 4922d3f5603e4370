"""The source tables the platform loads, declared once: the dbt sources' YAML (transform/models/
staging/<source>/_<source>__sources.yml) with each table's keys and compared columns in `meta`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import yaml

from pipeline.settings import REPO_ROOT

SOURCES_GLOB = "models/staging/*/_*__sources.yml"


@dataclass(frozen=True)
class SourceTable:
    source: str  # postgres | stripe | marketing: the dbt source, the RAW schema
    name: str
    primary_key: tuple[str, ...]
    changed_at: str | None = None  # a column every change moves (PostgreSQL)
    created_at: str | None = None  # when the object was created (Stripe)
    money: tuple[str, ...] = ()  # columns (or expressions) whose sums must match
    compared: tuple[str, ...] = ()  # values that must match row by row (export files)
    api_list: str | None = None  # the Stripe API's list endpoint of the table
    shop_payments: dict = field(default_factory=dict, hash=False, compare=False)


@cache
def source_tables() -> tuple[SourceTable, ...]:
    tables = []
    for path in sorted((REPO_ROOT / "transform").glob(SOURCES_GLOB)):
        for source in yaml.safe_load(path.read_text())["sources"]:
            source_meta = source.get("config", {}).get("meta", {})
            for table in source["tables"]:
                meta = {**source_meta, **table.get("config", {}).get("meta", {})}
                tables.append(
                    SourceTable(
                        source=source["name"],
                        name=table["name"],
                        primary_key=tuple(meta["primary_key"]),
                        changed_at=meta.get("changed_at"),
                        created_at=meta.get("created_at"),
                        money=tuple(meta.get("money", ())),
                        compared=tuple(meta.get("compared", ())),
                        api_list=meta.get("api_list"),
                        shop_payments=meta.get("shop_payments", {}),
                    )
                )
    return tuple(tables)


def tables_of(source: str) -> list[SourceTable]:
    return [table for table in source_tables() if table.source == source]


def table(source: str, name: str) -> SourceTable:
    (found,) = [t for t in tables_of(source) if t.name == name]
    return found


def sources() -> list[str]:
    return list(dict.fromkeys(table.source for table in source_tables()))
