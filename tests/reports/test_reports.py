"""The report site: it builds offline, shows the warehouse's numbers, and works in a browser.

One build (on a small marts fixture, tests/reports/marts_fixture.py) is shared by all tests.
Nothing is skipped: without reports/node_modules or Debian's chromium the tests fail and say
which setup step is missing.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import marts_fixture
import pytest
import yaml
from headless_chromium import CHROMIUM, Chromium

from pipeline.reports import REPORTS_DIR, ReportBuild, build_site
from sandbox.config import REPO_ROOT, load_settings

PAGES = [
    "/",
    "/costs/",
    "/customers/",
    "/history/",
    "/marketing/",
    "/payments/",
    "/products/",
    "/real-time/",
]
# Every page says how fresh its data is; these say what the page is about.
PAGE_HEADINGS = {
    "/": "Executive revenue",
    "/costs/": "Cost and operations",
    "/customers/": "Customers",
    "/history/": "As reported",
    "/marketing/": "Marketing",
    "/payments/": "Payments",
    "/products/": "Products",
    "/real-time/": "Real-time orders",
}
ERROR_BOXES = '[class*="border-negative/50"]'  # Evidence's query and component error boxes
# The site build (sources + vite) can take minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(1800)
ARTIFACTS = Path(os.environ.get("REPORTS_ARTIFACTS_DIR", REPO_ROOT / ".local" / "test-artifacts"))
# The report pages as dbt exposures: each page links to its own in the dbt docs.
EXPOSURES = {
    exposure["name"]
    for exposure in yaml.safe_load(
        (REPO_ROOT / "transform" / "models" / "_exposures.yml").read_text()
    )["exposures"]
}


@dataclass(frozen=True)
class Site:
    build: ReportBuild
    warehouse: Path

    def sql(self, query: str) -> tuple:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.sql(query).fetchone()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    if not (REPORTS_DIR / "node_modules" / ".bin" / "evidence").exists():
        pytest.fail("reports/node_modules is missing: run `npm install` in reports/ (./run setup)")
    home = tmp_path_factory.mktemp("reports-home")
    warehouse = marts_fixture.build(home / "warehouse" / "analytics.duckdb")
    settings = replace(load_settings(), home=home)
    build = build_site(settings, output_dir=home / "site", build_timeout=900)
    return Site(build=build, warehouse=warehouse)


@pytest.fixture(scope="module")
def served(site: Site) -> Iterator[str]:
    """The built site on 127.0.0.1, as any static web server would serve it."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Handler, directory=str(site.build.output_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (./run setup)")
    with Chromium() as chromium:
        yield chromium


def figure(text: str) -> float:
    """The number in a rendered figure: '$1,234.56' -> 1234.56."""
    found = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert found, f"no number in {text!r}"
    return float(found.group().replace(",", ""))


class FigureText(html.parser.HTMLParser):
    """The text inside the element with data-figure=<name>, as the prerendered page has it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.depth, self.parts = name, 0, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth or ("data-figure", self.name) in attrs:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        self.depth = max(self.depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def prerendered_figure(site: Site, page: str, name: str) -> str:
    parser = FigureText(name)
    parser.feed((site.build.output_dir / page.strip("/") / "index.html").read_text())
    assert parser.parts, f"{page} has no figure {name}"
    return " ".join(" ".join(parser.parts).split())


# -- the fixture ------------------------------------------------------------------------------
def test_marts_fixture_matches_dbt(tmp_path: Path) -> None:
    """Every table and column of the fixture is one the dbt marts document."""
    documented: dict[str, set[str]] = {}
    for spec in (REPO_ROOT / "transform" / "models" / "marts").rglob("*.yml"):
        for model in yaml.safe_load(spec.read_text()).get("models", []):
            documented[model["name"]] = {c["name"] for c in model.get("columns", [])}
    path = marts_fixture.build(tmp_path / "analytics.duckdb")
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.sql(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'marts'"
        ).fetchall()
    fixture: dict[str, set[str]] = {}
    for table, column in rows:
        fixture.setdefault(table, set()).add(column)
    for table, columns in fixture.items():
        assert table in documented, f"marts.{table} is not a dbt mart"
        assert columns <= documented[table], f"{table}: not in dbt: {columns - documented[table]}"


# -- the build --------------------------------------------------------------------------------
def test_site_builds_offline_with_every_page(site: Site) -> None:
    build = site.build
    assert build.pages == PAGES
    for page in PAGES:
        html = (build.output_dir / page.strip("/") / "index.html").read_text()
        assert PAGE_HEADINGS[page] in html
    data = build.output_dir / "data"
    largest = max(f.stat().st_size for f in data.rglob("*.parquet"))
    assert largest < 2_000_000, "a source query returns too many rows: aggregate it"
    print(build.describe())


def test_month_to_date_net_revenue_matches_the_mart(site: Site) -> None:
    (expected, today) = site.sql(
        """
        with as_of as (select cast(max(placed_at) as date) as today from marts.fct_orders)
        select sum(net_revenue), min(today)
        from marts.fct_daily_revenue, as_of
        where revenue_date between date_trunc('month', today) and today
        """
    )
    shown = prerendered_figure(site, "/", "mtd-net-revenue")
    assert today.strftime("%B %Y") in shown
    assert figure(shown.split(" is ")[1]) == pytest.approx(float(expected), abs=0.005)


def test_reconciliation_exceptions_match_the_mart(site: Site) -> None:
    (expected,) = site.sql(
        "select count(*) from marts.fct_payment_reconciliation "
        "where reconciliation_status not in ('matched', 'not_paid')"
    )
    assert expected > 0, "the fixture should have exceptions to show"
    assert figure(prerendered_figure(site, "/payments/", "payments-exceptions")) == expected


def test_real_time_page_says_how_fresh_it_is(site: Site) -> None:
    (newest,) = site.sql("select max(placed_at) from marts.fct_orders")
    shown = prerendered_figure(site, "/real-time/", "as-of-time")
    assert f"as of {newest:%H:%M} UTC" in shown


def test_cost_page_counts_the_pipeline_runs(site: Site) -> None:
    (expected,) = site.sql(
        "select count(*) from ops.pipeline_stages join ops.pipeline_runs using (run_id) "
        "where started_at >= current_date - interval 90 days"
    )
    assert figure(prerendered_figure(site, "/costs/", "pipeline-runs")) == expected


# -- the browser ------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline_in_chromium(
    site: Site, served: str, browser: Chromium, page: str
) -> None:
    browser.open(served + page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(ARTIFACTS / f"reports{page.rstrip('/').replace('/', '-') or '-index'}.png")
    log = browser.log
    assert log.blocked == [], "the page tried to reach beyond 127.0.0.1"
    assert log.console_errors == [] and log.exceptions == [], log
    assert log.failed == [], log
    errors = browser.evaluate(
        f"[...document.querySelectorAll('{ERROR_BOXES}')].map(e => e.innerText)"
    )
    assert errors == []
    text = browser.text()
    assert PAGE_HEADINGS[page] in text
    if page != "/real-time/":
        assert "Last updated as of" in text
    # The page's exposure in the dbt docs: its lineage back to RAW.
    lineage = browser.evaluate("document.querySelector('[data-figure=lineage]').href")
    exposure = lineage.split("#!/exposure/exposure.shop.")[1].split("?")[0]
    assert lineage == (
        f"{served}/dbt-docs/#!/exposure/exposure.shop.{exposure}"
        f"?g_v=1&g_i=%2Bexposure:{exposure}"  # with its lineage graph open
    )
    assert exposure in EXPOSURES, f"{page} links to {exposure}, not an exposure of transform/"


def test_executive_figures_in_the_browser(site: Site, served: str, browser: Chromium) -> None:
    browser.open(served + "/")
    shown = browser.evaluate(
        "document.querySelector('[data-figure=\"mtd-net-revenue\"]').innerText"
    )
    assert " ".join(shown.split()) == prerendered_figure(site, "/", "mtd-net-revenue")


def test_filters_query_the_data_in_the_browser(site: Site, served: str, browser: Chromium) -> None:
    """Choosing a channel re-runs the page's queries in the browser's DuckDB, offline."""
    (expected,) = site.sql(
        "select count(*) from marts.customer_lifetime_value "
        "where lifetime_orders > 0 and acquisition_channel = 'email'"
    )
    browser.open(served + "/customers/")
    before = browser.evaluate(CUSTOMER_COUNT)
    assert figure(before) > expected, "all channels should count more customers than one"
    # Open the channel dropdown; a click before the page is interactive is lost, so try again.
    for _attempt in range(5):
        browser.evaluate(
            "[...document.querySelectorAll('button[aria-haspopup=dialog]')]"
            ".find(b => b.innerText.includes('All channels')).click()"
        )
        try:
            browser.wait_for(EMAIL_OPTION, timeout=3)
            break
        except TimeoutError:
            continue
    browser.evaluate(f"{EMAIL_OPTION}.click()")
    browser.wait_for(f"{CUSTOMER_COUNT} !== {json.dumps(before)}")
    browser.settle()
    assert figure(browser.evaluate(CUSTOMER_COUNT)) == expected
    assert browser.log.blocked == [] and browser.log.console_errors == []
    browser.screenshot(ARTIFACTS / "reports-customers-email.png")


CUSTOMER_COUNT = "document.querySelector('[data-figure=\"customer-count\"]').innerText"
EMAIL_OPTION = "document.querySelector('[role=option][data-value=\"email\"]')"


# -- the history page -------------------------------------------------------------------------
def month_as_reported_and_now(site: Site, report_day: date) -> tuple[Decimal, Decimal]:
    """Net revenue of the orders of the month before `report_day`, over its days that were over
    when the last snapshot of that day was taken: as that snapshot had it, and as the mart has
    it now."""
    return site.sql(
        f"""
        with reported as (
            select max(valid_from) as reported_at
            from marts.fct_daily_revenue_history
            where cast(valid_from as date) <= date '{report_day}'
        ),
        days as (
            select history.revenue_date, history.net_revenue_of_orders
            from marts.fct_daily_revenue_history as history, reported
            where history.valid_from <= reported.reported_at
                and (history.valid_to is null or history.valid_to > reported.reported_at)
                and history.revenue_date < cast(reported.reported_at as date)
                and date_trunc('month', history.revenue_date)
                    = date_trunc('month', date '{report_day}' - 1)
        )
        select
            sum(days.net_revenue_of_orders),
            sum(mart.net_revenue_of_orders)
        from days
        inner join marts.fct_daily_revenue as mart
            on days.revenue_date = mart.revenue_date
        """
    )


def test_history_shows_a_month_as_reported_on_two_days_and_now(
    site: Site, served: str, browser: Chromium
) -> None:
    """Pick two report days; each shows the month before it as reported then, restated now,
    with the run that reported it."""
    today = site.sql("select cast(max(valid_from) as date) from marts.fct_daily_revenue_history")[0]
    first_of_month = (today - timedelta(days=1)).replace(day=1)
    report_days = [first_of_month, first_of_month - timedelta(days=14)]
    browser.open(served + "/history/")
    browser.wait_for("!!document.querySelector('[data-figure=\"report-day\"] button')")
    for report_day in report_days:
        choose_report_day(browser, report_day)
        browser.screenshot(ARTIFACTS / f"reports-history-{report_day}.png")
        then, now = month_as_reported_and_now(site, report_day)
        assert then != now, "the fixture restates every month: refunds land up to 20 days late"
        assert figure(shown(browser, "net-revenue-then")) == pytest.approx(float(then), abs=0.005)
        assert figure(shown(browser, "net-revenue-now")) == pytest.approx(float(now), abs=0.005)
        (run_id,) = site.sql(
            f"""
            select run_id from ops.pipeline_runs
            where cast(started_at as date) = date '{report_day}'
            """
        )
        assert f"reported by run {run_id} (daily_refresh, " in shown(browser, "reported-by")
    assert browser.log.blocked == [] and browser.log.console_errors == []


def choose_report_day(browser: Chromium, report_day: date) -> None:
    """Choose a day in the page's dropdown, by typing it into the dropdown's search (only a few
    of its options are in the page at a time)."""
    label = f"{report_day.day} {report_day:%B %Y}"
    option = f"document.querySelector('[role=option][data-value=\"{label}\"]')"
    before = shown(browser, "net-revenue-then")
    # Open the dropdown; a click before the page is interactive is lost, so try again.
    for _attempt in range(5):
        browser.evaluate("document.querySelector('[data-figure=\"report-day\"] button').click()")
        try:
            browser.wait_for("!!document.querySelector('[data-cmdk-input]')", timeout=3)
            break
        except TimeoutError:
            continue
    browser.settle()
    browser.evaluate(
        "(() => { const search = document.querySelector('[data-cmdk-input]'); "
        f"search.value = {json.dumps(label)}; "
        "search.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    browser.wait_for(f"!!{option}")
    browser.evaluate(f"{option}.click()")
    browser.wait_for(f"{FIGURE.format('net-revenue-then')} !== {json.dumps(before)}")
    browser.settle()
    assert label in shown(browser, "report-day")


def shown(browser: Chromium, name: str) -> str:
    return " ".join(browser.evaluate(FIGURE.format(name)).split())


FIGURE = "document.querySelector('[data-figure=\"{}\"]').innerText"
