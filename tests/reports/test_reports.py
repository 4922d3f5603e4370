"""The report site: it builds offline, shows the warehouse's numbers, and works in a browser.

One build is shared by all tests, on marts dbt built from a small generated shop (extract-load,
dbt build, the run log of three runs, one failed). Nothing is skipped: without
reports/node_modules or Debian's chromium the tests fail and say which setup step is missing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html.parser
import http.server
import json
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from headless_chromium import CHROMIUM, Chromium
from report_project import use_own_report_project

from flows.realtime_orders import REALTIME_PAGES
from pipeline import deletes, extract_load, reports, transform
from pipeline import settings as platform
from pipeline.reports import REPORTS_DIR, ReportBuild, build_site
from pipeline.run_log import RunLog
from sandbox import generator, postgres, services
from sandbox.config import REPO_ROOT, LocalShop

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
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
ARTIFACTS = Path(os.environ.get("REPORTS_ARTIFACTS_DIR", REPO_ROOT / ".local" / "test-artifacts"))
# The report pages as dbt exposures: each page links to its own in the dbt docs.
EXPOSURES = {
    exposure["name"]
    for exposure in yaml.safe_load(
        (REPO_ROOT / "transform" / "models" / "_exposures.yml").read_text()
    )["exposures"]
}


def query_one(warehouse: Path, query: str) -> tuple:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(query).fetchone()


@dataclass(frozen=True)
class Refreshed:
    """A copy of the site refreshed by refresh_site_data (no build) after its marts gained days."""

    build: ReportBuild
    warehouse: Path
    manifest_before: dict  # the copy's data/manifest.json before the (last) refresh
    results_before: set[str]  # the query results its pages' query lists named then
    built_files: dict[str, str]  # the built site's files and their digests, before the refresh


@dataclass(frozen=True)
class Site:
    build: ReportBuild
    warehouse: Path
    refreshed: Refreshed
    realtime_refreshed: Refreshed  # the same, with only the real-time page refreshed

    def sql(self, query: str) -> tuple:
        return query_one(self.warehouse, query)


@pytest.fixture(scope="module")
def site(shop_home: LocalShop, report_compiles: Path) -> Iterator[Site]:
    """The site built from marts dbt made of a small shop reaching now, with one payment Stripe
    captured for less than the order (an exception for the payments page), and the history three
    daily runs left: the first two dated on past report days, each followed by a paid order of the
    month before that day deleted at the source (a restatement the history must show)."""
    if not (REPORTS_DIR / "node_modules" / ".bin" / "evidence").exists():
        pytest.fail("reports/node_modules is missing: run `npm install` in reports/ (./run setup)")
    shop = shop_home
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop, months=2.5, orders_per_month=3_000, seed=17, end=end)
    with postgres.connect(shop, shop.sandbox_db, autocommit=True) as stripe:
        stripe.execute(
            # A charge without refunds: refunds over the lowered amount would fail dbt's test.
            "update stripe.charges set amount = amount - 100 where id = (select min(id) from "
            "stripe.charges where status = 'succeeded' and amount > 100 and amount_refunded = 0)"
        )
    settings = shop.platform()
    services.start_stripe_sandbox(shop)  # for the module: conftest stops it
    extract_load.run_jobs(settings)
    first_of_month = (end.date() - timedelta(days=1)).replace(day=1)
    report_days = [first_of_month - timedelta(days=14), first_of_month]
    for number, report_day in enumerate([*report_days, None]):
        if report_day is None:
            built = transform.build(settings)
        else:  # what the history keeps of a past report day: its snapshots' versions
            built = transform.build(
                settings,
                select=[f"+{snapshot}" for snapshot in SNAPSHOTS_OF_REPORTS],
                exclude=["resource_type:test"],
            )
        assert built.ok, built.describe()
        run = RunLog(run_id=f"run-{number}", flow="daily_refresh", environment="dev")
        if report_day is not None:
            reported_at = datetime.combine(report_day, datetime.min.time(), UTC) + HOURS_6
            date_the_last_build(shop, reported_at)
            run.started_at = reported_at - timedelta(minutes=3)
            _delete_a_paid_order_of_the_month_before(shop, report_day)
            extract_load.run_job(settings, "el-postgres")
            deletes.mark_deleted(settings, "el-postgres")
        run.stage("dbt build", built.seconds, summary=built.describe())
        run.write(settings, "completed")
    RunLog(run_id="run-failed", flow="realtime_orders", environment="dev").write(
        settings, "failed", "SourcesHeldBackError: x"
    )
    warehouse = shop.warehouse_dir / "analytics.duckdb"
    with pytest.MonkeyPatch.context() as project:
        # A data-only refresh renders with the compiled site the last build left in the project:
        # the module's own project, which no other module's build replaces.
        use_own_report_project(shop.home / "reports", project)
        project.setenv("SHOP_REPORT_COMPILES", str(report_compiles))
        build = build_site(shop.platform(), output_dir=shop.home / "site", build_timeout=900)
        refreshed = refresh_a_copy(build, warehouse, shop.home / "refreshed")
        realtime_refreshed = refresh_a_copy(
            build, warehouse, shop.home / "realtime-refreshed", REALTIME_PAGES, days=2
        )
        yield Site(build, warehouse, refreshed, realtime_refreshed)


def refresh_a_copy(
    build: ReportBuild, warehouse: Path, home: Path, pages: Sequence[str] = (), days: int = 1
) -> Refreshed:
    """A copy of the built site (hard links), marketing held back, refreshed after each day the
    marts gain: every page, or only `pages`."""
    published = home / "site"
    shutil.copytree(build.output_dir, published, copy_function=os.link)
    (home / "warehouse").mkdir(parents=True)
    marts = Path(shutil.copy(warehouse, home / "warehouse" / "analytics.duckdb"))
    hold_back_marketing(marts)
    built_files = file_digests(build.output_dir)
    for _ in range(days):
        add_a_day(marts)
        manifest_before = json.loads((published / "data" / "manifest.json").read_text())
        results_before = query_results_named(published)
        refresh = reports.refresh_site_data(
            platform.load("dev", {**os.environ, "SHOP_HOME": str(home)}),
            site_dir=published,
            pages=pages,
        )
    return Refreshed(refresh, marts, manifest_before, results_before, built_files)


def query_results_named(site: Path) -> set[str]:
    """The query results (api/prerendered_queries/*.arrow) the pages' query lists name."""
    return {
        f"{result}.arrow"
        for query_list in site.glob("api/*/*/all-queries.json")
        for result in json.loads(query_list.read_text()).values()
    }


def file_digests(directory: Path) -> dict[str, str]:
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


HOURS_6 = timedelta(hours=6)
SNAPSHOTS_OF_REPORTS = ("daily_revenue_snapshot", "customer_segments_snapshot")


def date_the_last_build(shop: LocalShop, reported_at: datetime) -> None:
    """The versions the last build's snapshots started (and ended) dated as if that build had
    run at `reported_at`: the history of many days, without waiting for them."""
    with duckdb.connect(str(shop.warehouse_dir / "analytics.duckdb")) as con:
        for table in SNAPSHOTS_OF_REPORTS:
            query = f"select max(dbt_valid_from) from snapshots.{table}"
            (built_at,) = con.execute(query).fetchone()
            at = reported_at.replace(tzinfo=None)
            con.execute(
                f"update snapshots.{table} set dbt_valid_from = ?, dbt_updated_at = ? "
                "where dbt_valid_from = ?",
                [at, at, built_at],
            )
            con.execute(
                f"update snapshots.{table} set dbt_valid_to = ? where dbt_valid_to = ?",
                [at, built_at],
            )


def _delete_a_paid_order_of_the_month_before(shop: LocalShop, report_day: date) -> None:
    """Delete the first order of that month whose payment Stripe neither refunded nor saw
    disputed: its whole total leaves the month's net revenue (a refunded order's is zero)."""
    month = (report_day - timedelta(days=1)).replace(day=1)
    with postgres.connect(shop, shop.sandbox_db) as stripe:
        kept_whole = [
            charge_id
            for (charge_id,) in stripe.execute(
                "select id from stripe.charges "
                "where status = 'succeeded' and amount_refunded = 0 and not disputed"
            )
        ]
    with postgres.connect(shop, shop.shop_db, autocommit=True) as conn:
        deleted = conn.execute(
            "delete from orders where order_id = (select min(orders.order_id) from orders "
            "join payments using (order_id) where payments.status = 'succeeded' "
            "and payments.provider_charge_id = any(%s) "
            "and date_trunc('month', placed_at at time zone 'UTC') = %s) returning order_id",
            [kept_whole, month],
        ).fetchall()
    assert len(deleted) == 1, f"no paid order of {month:%B %Y} to delete"


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """A site on 127.0.0.1, as any static web server would serve it."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def end_headers(self) -> None:
            # Pages and data/manifest.json keep their names when the data changes: a browser must
            # ask again each time (production servers need the same).
            self.send_header("Cache-Control", "no-cache")
            super().end_headers()

    handler = functools.partial(Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def served(site: Site) -> Iterator[str]:
    with serve(site.build.output_dir) as url:
        yield url


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


def test_new_data_reaches_the_pages_without_a_build(
    site: Site, served: str, browser: Chromium
) -> None:
    """The marts gained a day; refresh_site_data (no build) put it into a published copy of the
    site (the fixture, right after the build), and the browser shows the new figures."""
    refreshed = site.refreshed
    banner = "document.querySelector('[data-figure=held-back]')?.innerText ?? ''"
    before = shown_figure(browser, served + "/", "mtd-net-revenue")
    browser.open(served + "/marketing/")
    assert browser.evaluate(banner) == ""
    print(refreshed.build.describe(), f"(the build: {site.build.describe()})")
    with serve(refreshed.build.output_dir) as url:
        (expected, today) = query_one(refreshed.warehouse, MONTH_TO_DATE_NET_REVENUE)
        after = shown_figure(browser, url + "/", "mtd-net-revenue")
        assert after != before
        assert today.strftime("%B %Y") in after
        assert figure(after.split(" is ")[1]) == pytest.approx(float(expected), abs=0.005)
        (newest,) = query_one(refreshed.warehouse, "select max(placed_at) from marts.fct_orders")
        as_of = shown_figure(browser, url + "/real-time/", "as-of-time")
        assert as_of == f"Data as of {newest:%H:%M} UTC"
        # The pages say what is held back, since when and why.
        browser.open(url + "/marketing/")
        held_back = " ".join(browser.evaluate(banner).split())
        assert held_back == (
            "The marketing data is held back since 06:00 UTC on 2 January 2031: the "
            "latest runs could not load it, so what is built from it "
            "(fct_marketing_performance) shows the last good load. "
            f"Why: {HELD_BACK_REASON}"
        )
    assert refreshed.build.data_only and refreshed.build.pages == PAGES
    # The site of the build, whose files the copy shared (hard links), is as it was.
    assert prerendered_figure(site, "/", "mtd-net-revenue") == before
    assert file_digests(site.build.output_dir) == refreshed.built_files
    # A page that read the previous manifest a moment before the swap still finds its files.
    for urls in refreshed.manifest_before["renderedFiles"].values():
        for url in urls:
            path = refreshed.build.output_dir / Path(url).relative_to("static")
            assert path.is_file(), url


def test_the_realtime_runs_refresh_renews_its_page_alone(
    site: Site, served: str, browser: Chromium
) -> None:
    """refresh_site_data with the real-time run's pages: the real-time page shows the marts' new
    newest order, and the pages the daily run refreshes show what the build showed."""
    refreshed = site.realtime_refreshed
    (newest,) = query_one(refreshed.warehouse, "select max(placed_at) from marts.fct_orders")
    built_as_of = shown_figure(browser, served + "/real-time/", "as-of-time")
    built_revenue = shown_figure(browser, served + "/", "mtd-net-revenue")
    with serve(refreshed.build.output_dir) as url:
        as_of = shown_figure(browser, url + "/real-time/", "as-of-time")
        assert as_of == f"Data as of {newest:%H:%M} UTC" != built_as_of
        assert shown_figure(browser, url + "/", "mtd-net-revenue") == built_revenue
    assert refreshed.build.data_only
    files = file_digests(refreshed.build.output_dir)
    pages_changed = {
        file for file, digest in files.items()
        if file.endswith("index.html") and refreshed.built_files.get(file) != digest
    }  # fmt: skip
    assert pages_changed == {"real-time/index.html"}
    output = refreshed.build.output_dir
    manifest = json.loads((output / "data" / "manifest.json").read_text())
    built = json.loads((site.build.output_dir / "data" / "manifest.json").read_text())
    read = reports.page_queries(REALTIME_PAGES[0], "duckdb")
    for source, urls in built["renderedFiles"].items():
        for as_built, now, before in zip(
            urls,
            manifest["renderedFiles"][source],
            refreshed.manifest_before["renderedFiles"][source],
            strict=True,
        ):
            query = f"{source}.{Path(as_built).parts[3]}"
            assert (now != as_built) == (query in read), query  # new data: what the page reads
            # This refresh's files and the last one's (a page may still be reading them), not
            # the build's, two refreshes old.
            folders = {
                path.name
                for path in (output / Path(now).parent.parent.relative_to("static")).iterdir()
            }
            assert folders == {Path(now).parts[4], Path(before).parts[4]}, query
    results = {path.name for path in (output / "api" / "prerendered_queries").iterdir()}
    assert results == query_results_named(output) | refreshed.results_before


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


MONTH_TO_DATE_NET_REVENUE = """
    with as_of as (select cast(max(placed_at) as date) as today from marts.fct_orders)
    select sum(net_revenue), min(today)
    from marts.fct_daily_revenue, as_of
    where revenue_date between date_trunc('month', today) and today
"""


def test_month_to_date_net_revenue_matches_the_mart(site: Site) -> None:
    (expected, today) = site.sql(MONTH_TO_DATE_NET_REVENUE)
    shown = prerendered_figure(site, "/", "mtd-net-revenue")
    assert today.strftime("%B %Y") in shown
    assert figure(shown.split(" is ")[1]) == pytest.approx(float(expected), abs=0.005)


def test_reconciliation_exceptions_match_the_mart(site: Site) -> None:
    """Exceptions of orders the shop has count in the period; charges of the orders the fixture
    deleted at the source have no order date and are counted whatever the period."""
    (of_orders, without_order) = site.sql(
        "select count(*) filter (where placed_on is not null), "
        "count(*) filter (where reconciliation_status = 'charge_for_unknown_order') "
        "from marts.fct_payment_reconciliation "
        "where reconciliation_status not in ('matched', 'not_paid')"
    )
    assert of_orders > 0, "the shop has a charge captured short of its order"
    assert without_order == 2, "each order deleted at the source leaves its Stripe charge"
    assert figure(prerendered_figure(site, "/payments/", "payments-exceptions")) == of_orders
    shown = prerendered_figure(site, "/payments/", "payments-charges-without-order")
    assert figure(shown) == without_order


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


# -- new data without a build -----------------------------------------------------------------
def add_a_day(warehouse: Path) -> None:
    """The next day in the marts: the newest order again a day and 7 minutes later, and a day of
    revenue (the newest day's, plus $1,000)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """
            insert into marts.fct_orders
            select * replace (
                order_id + 1000000 as order_id,
                placed_at + interval '1 day 7 minutes' as placed_at,
                placed_on + 1 as placed_on
            )
            from marts.fct_orders order by placed_at desc limit 1;
            insert into marts.fct_daily_revenue
            select * replace (revenue_date + 1 as revenue_date, net_revenue + 1000 as net_revenue)
            from marts.fct_daily_revenue order by revenue_date desc limit 1
            """
        )


HELD_BACK_REASON = "ExportValidationError: marketing_spend_2031-01-01.csv:2: spend='12O5.00'"


def hold_back_marketing(warehouse: Path) -> None:
    """What a run that could not load the marketing exports leaves in the run log."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into ops.held_back values "
            "('marketing', 'fct_marketing_performance', timestamp '2031-01-02 06:00:00', ?, 'r1'), "
            "('marketing', 'stg_marketing__spend', timestamp '2031-01-02 06:00:00', ?, 'r1')",
            [HELD_BACK_REASON, HELD_BACK_REASON],
        )


def shown_figure(browser: Chromium, url: str, name: str) -> str:
    browser.open(url)
    assert browser.log.failed == [] and browser.log.console_errors == [], browser.log
    return shown(browser, name)


def test_a_build_of_the_same_inputs_renders_with_the_kept_compile(
    site: Site, tmp_path: Path
) -> None:
    """The session's first build kept its compile (this module's or the production path's: the
    compile is the same for every warehouse); a build of the same pages and queries renders them
    with it, compiling nothing, and publishes the same site: the compiled app file for file, every
    page, every query's rows."""
    settings = platform.load("dev", {**os.environ, "SHOP_HOME": str(site.warehouse.parent.parent)})
    (kept,) = [c for c in reports.compiles_dir(settings).iterdir() if not c.name.startswith(".")]
    assert kept.name == reports.site_inputs_digest()

    again = build_site(settings, output_dir=tmp_path / "site")

    assert again.data_only, again.describe()
    assert again.pages == site.build.pages
    app, kept_app = again.output_dir / "_app", kept / "build" / "_app"
    assert file_digests(app) == file_digests(kept_app)
    assert site_rows(again.output_dir) == site_rows(site.build.output_dir)
    assert (again.output_dir / reports.SITE_INPUTS_FILE).read_text().strip() == kept.name


def site_rows(site_dir: Path) -> dict[str, list[tuple]]:
    """Each source query's rows (sorted) in the site's published data."""
    manifest = json.loads((site_dir / "data" / "manifest.json").read_text())
    rows = {}
    for urls in manifest["renderedFiles"].values():
        for url in urls:
            file = site_dir / Path(url).relative_to("static")
            with duckdb.connect() as conn:
                rows[file.parent.parent.name] = sorted(
                    conn.execute(f"select * from read_parquet('{file}')").fetchall(), key=repr
                )
    assert rows
    return rows


@pytest.mark.parametrize("record", ["_app/version.json", reports.SITE_INPUTS_FILE])
def test_a_site_that_is_not_this_build_needs_a_full_build(
    site: Site, tmp_path: Path, record: str
) -> None:
    """Another build ran since (version.json), or pages changed since (the recorded inputs)."""
    published = tmp_path / "site"
    shutil.copytree(site.build.output_dir, published, copy_function=os.link)
    (published / record).unlink()  # a hard link: replace it, do not write through
    (published / record).write_text("another\n")
    settings = platform.load("dev", {**os.environ, "SHOP_HOME": str(site.warehouse.parent.parent)})
    with pytest.raises(reports.FullBuildNeeded):
        reports.refresh_site_data(settings, site_dir=published)
    index = (published / "index.html").read_bytes()
    assert index == (site.build.output_dir / "index.html").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # nothing half-done left


def test_site_inputs_are_pages_and_queries_not_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = use_own_report_project(tmp_path / "reports", monkeypatch)
    digest = reports.site_inputs_digest()
    (project / "sources" / "cost_model" / "summary.csv").write_text("other data\n")
    (project / "sources" / "cost_model" / "connection.yaml").write_text("another warehouse\n")
    # Another warehouse's queries copied into sources/ (`npm run sources`): the same compile.
    for query in (project / "environments" / "snowflake").rglob("*.sql"):
        shutil.copy(query, project / "sources" / query.relative_to(query.parents[1]))
    assert reports.site_inputs_digest() == digest
    changed_files = (
        "pages/real-time.md",
        "sources/warehouse/freshness.sql",
        "environments/snowflake/costs/storage.sql",
        "package-lock.json",
    )
    for changed in changed_files:
        original = (project / changed).read_text()
        (project / changed).write_text(original + "\n")
        assert reports.site_inputs_digest() != digest, changed
        (project / changed).write_text(original)
    (project / "pages" / "new-page.md").write_text("# New\n")
    assert reports.site_inputs_digest() != digest


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
        assert then != now, "an order of that month was deleted after the report day"
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
    browser.wait_for(
        f"(text => text !== null && text !== {json.dumps(before)})"
        f"({FIGURE.format('net-revenue-then')})",
        timeout=60,
    )
    browser.settle()
    assert label in shown(browser, "report-day")


def shown(browser: Chromium, name: str) -> str:
    """The figure's text, once the page shows it: while a query of its block runs again (a
    report day chosen), the block is not in the page, for seconds on a busy machine."""
    return " ".join(browser.wait_for(FIGURE.format(name), timeout=60).split())


# The figure's text, or null while it is not in the page.
FIGURE = "document.querySelector('[data-figure=\"{0}\"]')?.innerText ?? null"


# -- a failed build ----------------------------------------------------------------------------
def _npm_sources_of(home: Path) -> list[int]:
    """pids of `npm run sources` started for this home (SHOP_HOME in their environment)."""
    marker = f"SHOP_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if b"run\0sources" in (entry / "cmdline").read_bytes() and marker in (
                entry / "environ"
            ).read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def test_a_killed_build_keeps_the_published_site(site: Site, tmp_path: Path) -> None:
    """Last in this module: it leaves the project as a killed build does."""
    published = tmp_path / "site"
    shutil.copytree(site.build.output_dir, published)
    before = {p.relative_to(published): p.read_bytes() for p in published.rglob("*.html")}
    settings = platform.load("dev", {**os.environ, "SHOP_HOME": str(site.warehouse.parent.parent)})

    def kill_npm() -> None:
        deadline = time.monotonic() + 120
        while not (pids := _npm_sources_of(settings.home)) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(os.getpgid(pids[0]), signal.SIGKILL)

    killer = threading.Thread(target=kill_npm)
    killer.start()
    with pytest.raises(reports.ReportBuildError) as error:
        build_site(settings, output_dir=published)
    killer.join()
    assert str(error.value).startswith("`npm run sources` failed (-9)")
    after = {p.relative_to(published): p.read_bytes() for p in published.rglob("*.html")}
    assert before and after == before  # every page of the published site, byte for byte


def test_the_site_a_killed_build_left_aside_is_published_again(
    shop_home: LocalShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build whose Python process was killed while the project's build/ was moved aside: the
    next build puts the site back first, and keeps it when it fails itself."""
    project = use_own_report_project(tmp_path / "reports", monkeypatch)
    built, aside = project / "build", project / ".build-kept"
    aside.mkdir()
    (aside / "index.html").write_text("the published site")
    with pytest.raises(reports.ReportBuildError, match="did not finish within"):
        build_site(shop_home.platform(), sources_timeout=0.01)
    assert (built / "index.html").read_text() == "the published site"
    assert not aside.exists()
