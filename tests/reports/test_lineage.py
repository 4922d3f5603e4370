"""Every report page is a dbt exposure that depends on exactly the marts (and run-log tables) its
Evidence source queries read, so the dbt docs' lineage from a page back to RAW is the real one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.reports import source_queries
from sandbox.config import REPO_ROOT

REPORTS = REPO_ROOT / "reports"
EXPOSURES = REPO_ROOT / "transform" / "models" / "_exposures.yml"


def page_file(url: str) -> Path:
    return REPORTS / "pages" / f"{url.strip('/') or 'index'}.md"


def page_queries(page: Path) -> set[tuple[str, str]]:
    """(source, query) pairs a page reads, its partials included."""
    text = page.read_text()
    for partial in re.findall(r'\{@partial "([^"]+)"\}', text):
        text += (REPORTS / "partials" / partial).read_text()
    return set(re.findall(r"\b(warehouse|costs)\.(\w+)", text))


def query_dependencies(source: str, query: str) -> set[str]:
    """The dbt nodes a source query reads, as exposures name them (the local engine's query: the
    run-log tables it reads are the same in production)."""
    text = source_queries(source, "duckdb")[query].read_text()
    return {f"ref('{model}')" for model in re.findall(r"\bmarts\.(\w+)", text)} | {
        f"source('ops', '{table}')" for table in re.findall(r"\bops\.(\w+)", text)
    }


EXPOSED = yaml.safe_load(EXPOSURES.read_text())["exposures"]


def test_every_page_is_an_exposure() -> None:
    pages = {p.name for p in (REPORTS / "pages").glob("*.md")}
    assert {page_file(e["url"]).name for e in EXPOSED} == pages


@pytest.mark.parametrize("exposure", EXPOSED, ids=lambda e: e["name"])
def test_exposure_depends_on_what_its_page_reads(exposure: dict) -> None:
    queries = page_queries(page_file(exposure["url"]))
    expected = set().union(*(query_dependencies(source, query) for source, query in queries))
    assert set(exposure["depends_on"]) == expected
    warehouse_queries = sorted(query for source, query in queries if source == "warehouse")
    assert exposure["config"]["meta"]["source_queries"] == warehouse_queries
