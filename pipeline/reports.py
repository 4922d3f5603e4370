"""Build the Evidence report site (reports/) from the marts: `npm run sources`, `npm run build`,
from the environment's warehouse (reports/environments/<evidence_warehouse>/).

Every step runs with a time limit: offline, an unpatched Evidence hangs instead of failing
(reports/scripts/patch-evidence.mjs explains why and fixes it).

When only the data changed, `refresh_site_data` puts it into the published site without compiling
the site again (`npm run sources`, `npm run render-pages`): every page, or only some (the
real-time run's page) with the source queries they read. A build whose pages and queries a kept
compile was made from (compiles_dir: any warehouse's, any release's) renders with it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from pipeline import processes, writer
from pipeline.errors import PlatformError
from pipeline.settings import REPO_ROOT, Settings

REPORTS_DIR = REPO_ROOT / "reports"
# Where the dbt docs sit beside the site: the pages' "where these figures come from" links.
DOCS_URL_PATH = "/dbt-docs/"
SOURCES_TIMEOUT_S = 300
BUILD_TIMEOUT_S = 600
RENDER_TIMEOUT_S = 300
# V8's young generation beyond its 16 MB default: a build allocates short-lived objects fast, and
# fewer scavenges cut its time (13 builds of the site, with and without, taken in turn: 89 -> 83
# CPU-s, 68 -> 62 s on average; the same build's time varies by up to a fifth on this machine).
NODE_YOUNG_GENERATION = "--max-semi-space-size=64"
# What a site is compiled from (the patch: what it patches is compiled in), recorded in the site
# (SITE_INPUTS_FILE) by build_site. Not its data: the CSV sources, and the connections (which
# warehouse; select-environment.mjs writes them). Every environment's own queries, not the copies
# of one in sources/: one compile serves every warehouse (their builds compile the same code).
SITE_INPUTS = (
    "pages",
    "partials",
    "sources",
    "environments",
    "scripts/patch-evidence.mjs",
    "svelte.config.js",
    "evidence.config.yaml",
    "package.json",
    "package-lock.json",
)
SITE_INPUTS_FILE = "site-inputs.sha256"
# Compiled sites kept by what they were compiled from (a SITE_INPUTS digest), in
# <SHOP_HOME>/report-compiles (SHOP_REPORT_COMPILES): a build whose inputs one was compiled from
# renders its pages with it (`npm run render-pages`, 10-25 CPU-s) instead of compiling (`npm run
# build`, 85-97): a release that did not change the site, another warehouse's build of the same.
COMPILES_KEPT = 2


class ReportBuildError(PlatformError):
    pass


class FullBuildNeeded(ReportBuildError):
    """The published site cannot take new data alone: build it (build_site)."""


@dataclass(frozen=True)
class ReportBuild:
    seconds: float  # sources + build, wall clock
    sources_seconds: float
    build_seconds: float
    pages: list[str]  # URL paths of the built pages, "/" first
    output_dir: Path
    site_bytes: int
    data_only: bool = False  # build_seconds rendered the pages, compiled nothing

    def describe(self) -> str:
        step = "new data, pages rendered again in" if self.data_only else "build"
        return (
            f"report site: {len(self.pages)} pages, {self.site_bytes / 1e6:.0f} MB in "
            f"{self.output_dir} (sources {self.sources_seconds:.0f} s, {step} "
            f"{self.build_seconds:.0f} s); view it with: "
            f"python3 -m http.server --bind 127.0.0.1 --directory {self.output_dir} 3000"
        )


def _template_dir() -> Path:
    """Where `evidence build` compiles and renders the site (kept between builds)."""
    return REPORTS_DIR / ".evidence" / "template"


def compiles_dir(settings: Settings) -> Path:
    """Where build_site keeps its compiles (COMPILES_KEPT)."""
    return Path(settings.variables.get("SHOP_REPORT_COMPILES") or settings.home / "report-compiles")


# In the template, and not the compile's: this run's data (`npm run sources`) and query cache.
_NOT_THE_COMPILE = ("static", ".evidence-queries")


def _keep_compile(compiles: Path, inputs: str) -> None:
    """The template's compiled site, as `npm run build` left it, kept under its inputs' digest
    (hard links: a build or a render replaces the template's files, never writes through them);
    the oldest beyond COMPILES_KEPT go."""
    partial = compiles / f".{inputs}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    ignore = _at_top(_template_dir(), _NOT_THE_COMPILE)
    shutil.copytree(_template_dir(), partial, copy_function=os.link, ignore=ignore)
    shutil.rmtree(compiles / inputs, ignore_errors=True)
    partial.rename(compiles / inputs)
    kept = sorted((c for c in compiles.iterdir() if not c.name.startswith(".")),
                  key=lambda c: c.stat().st_mtime, reverse=True)  # fmt: skip
    for old in kept[COMPILES_KEPT:]:
        shutil.rmtree(old, ignore_errors=True)


def _at_top(root: Path, names: Sequence[str]) -> Callable[[str, list[str]], set[str]]:
    """copytree's `ignore`: those names in `root` itself, not in its subfolders."""
    return lambda folder, _: set(names) if Path(folder) == root else set()


def _use_compile(compiled: Path) -> None:
    """The template made the kept compile, with this run's data and nothing of another build."""
    template = _template_dir()
    for entry in template.iterdir():
        if entry.name not in _NOT_THE_COMPILE:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for entry in compiled.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, template / entry.name, copy_function=os.link, symlinks=True)
        else:
            os.link(entry, template / entry.name)
    compiled.touch()  # the newest used is kept longest


def report_environment(settings: Settings) -> dict[str, str]:
    """The environment `npm run sources/build` need: which warehouse, Node's young generation,
    and no telemetry."""
    node_options = settings.variables.get("NODE_OPTIONS", "")  # a user's, kept
    return {
        **settings.variables,
        "NODE_OPTIONS": f"{node_options} {NODE_YOUNG_GENERATION}".strip(),
        "SHOP_WAREHOUSE": settings.evidence_warehouse,
        # Evidence's own telemetry is off in reports/evidence.settings.json; these cover the rest.
        "DO_NOT_TRACK": "1",
        "NEXT_TELEMETRY_DISABLED": "1",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }


def _run_step(
    script: str, env: dict[str, str], timeout: float, log_file: Path, args: Sequence[str] = ()
) -> float:
    started = time.monotonic()
    command = ["npm", "run", script, *(["--", *args] if args else [])]
    try:
        code = processes.run(command, log_file, env, REPORTS_DIR, timeout, f"`npm run {script}`")
    except processes.ToolTimeoutError as error:
        raise ReportBuildError(str(error)) from None
    if code != 0:
        tail = processes.log_tail(log_file, 30)
        raise ReportBuildError(f"`npm run {script}` failed ({code}); log: {log_file}\n{tail}")
    return time.monotonic() - started


def built_pages(output_dir: Path) -> list[str]:
    """URL paths of the site's pages (one index.html each), without Evidence's own pages."""
    pages = []
    for index in sorted(output_dir.rglob("index.html")):
        path = "/" + index.parent.relative_to(output_dir).as_posix() + "/"
        if path == "/./":
            path = "/"
        if not path.startswith(("/settings/", "/explore/", "/api/", "/_app/")):
            pages.append(path.replace("//", "/"))
    return sorted(pages, key=lambda p: (p != "/", p))


Build = Callable[..., "ReportBuild"]


@contextlib.contextmanager
def report_project(settings: Settings) -> Iterator[None]:
    """Evidence builds in reports/ itself (.evidence/, build/, sources/): one build at a time
    in a checkout, whichever home asks for it; the next waits for it."""
    with writer.lock_file(
        REPORTS_DIR / ".build.lock",
        "the report project",
        f"a report build for {settings.home}",
        wait_s=SOURCES_TIMEOUT_S + BUILD_TIMEOUT_S,
    ):
        yield


def _one_build_at_a_time(build: Build) -> Build:
    @functools.wraps(build)
    def alone(settings: Settings, *args: object, **kwargs: object) -> ReportBuild:
        with report_project(settings):
            return build(settings, *args, **kwargs)

    return alone


@_one_build_at_a_time
def build_site(
    settings: Settings,
    output_dir: Path | None = None,
    sources_timeout: float = SOURCES_TIMEOUT_S,
    build_timeout: float = BUILD_TIMEOUT_S,
) -> ReportBuild:
    """Run `npm run sources` and `npm run build` in reports/: or, when a compile of the same
    inputs is kept (compiles_dir; any warehouse's), `npm run render-pages` with it.

    The site lands in reports/build, or is moved to `output_dir` when given (the tests use this,
    so that their build does not replace the one a developer is looking at).
    """
    if not (REPORTS_DIR / "node_modules" / ".bin" / "evidence").exists():
        raise ReportBuildError(
            "reports/node_modules is missing: run `npm install` in reports/ (./run setup does)"
        )
    env = report_environment(settings)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    built = REPORTS_DIR / "build"
    # Evidence copies its output over ./build: start from none, so no page of an old build
    # survives. The site in reports/build is kept aside and put back unless this build replaces
    # it: a build going elsewhere, or one that fails or is killed, leaves it as it was.
    aside = REPORTS_DIR / ".build-kept"
    if aside.exists() and not built.exists():
        aside.rename(built)  # a build killed (its Python too) while the site was aside
    kept = aside if built.exists() else None
    if kept:
        shutil.rmtree(kept, ignore_errors=True)
        built.rename(kept)
    shutil.rmtree(built, ignore_errors=True)
    replaced = False
    try:
        sources_seconds = _run_step(
            "sources", env, sources_timeout, settings.log_dir / "reports-sources.log"
        )
        inputs = site_inputs_digest()
        compiles = compiles_dir(settings)
        compiled = compiles / inputs
        # One compile at a time per folder of compiles: a build waiting here uses the one before.
        holder = f"a report build for {settings.home}"
        with writer.lock_file(compiles / ".lock", "the report compiles", holder, build_timeout):
            rendered_only = compiled.is_dir()
            if rendered_only:
                _use_compile(compiled)
            else:
                build_seconds = _run_step(
                    "build", env, build_timeout, settings.log_dir / "reports-build.log"
                )
                _keep_compile(compiles, inputs)
        if rendered_only:
            build_seconds = _run_step(
                "render-pages", env, build_timeout, settings.log_dir / "reports-render.log"
            )
            _compiled_app(built)
            _publish_rendered(built, None)
        if output_dir is None or output_dir.resolve() == built.resolve():
            output_dir = built
            replaced = True
        else:
            shutil.rmtree(output_dir, ignore_errors=True)
            shutil.move(built, output_dir)
    finally:
        if kept and replaced:
            shutil.rmtree(kept, ignore_errors=True)
        elif kept:
            shutil.rmtree(built, ignore_errors=True)
            kept.rename(built)
    (output_dir / SITE_INPUTS_FILE).write_text(inputs + "\n")
    return ReportBuild(
        seconds=sources_seconds + build_seconds,
        sources_seconds=sources_seconds,
        build_seconds=build_seconds,
        pages=built_pages(output_dir),
        output_dir=output_dir,
        site_bytes=_site_bytes(output_dir),
        data_only=rendered_only,
    )


def _compiled_app(site_dir: Path) -> None:
    """The site the kept compile was built as, without its data and query results (another
    run's): _publish_rendered then adds this run's."""
    built = _template_dir() / "build"
    shutil.copytree(built, site_dir, copy_function=os.link, ignore=_at_top(built, ("data", "api")))
    (site_dir / "data").mkdir()
    (site_dir / "data" / "manifest.json").write_text(json.dumps({"renderedFiles": {}}))


def source_queries(source: str, warehouse: str) -> dict[str, Path]:
    """A source's queries as a build on that warehouse (an evidence_warehouse) runs them, by
    name: its own in environments/<warehouse>/<source>/, and the shared ones in sources/<source>/
    without the copies of an environment's own that the last build of any environment left there
    (scripts/select-environment.mjs)."""
    environments = REPORTS_DIR / "environments"
    own = {query.stem: query for query in (environments / warehouse / source).glob("*.sql")}
    of_an_environment = {query.stem for query in environments.glob(f"*/{source}/*.sql")}
    shared = {
        query.stem: query
        for query in (REPORTS_DIR / "sources" / source).glob("*.sql")
        if query.stem not in of_an_environment
    }
    return dict(sorted({**shared, **own}.items()))


_PARTIAL = re.compile(r'\{@partial\s+"([^"]+)"\s*\}')


def page_queries(page: str, warehouse: str) -> list[str]:
    """The source queries (`<source>.<query>`) a page reads, its partials' included: `page` is
    its route, `/real-time` for pages/real-time.md, `/` for pages/index.md."""
    markdown = REPORTS_DIR / "pages" / f"{page.strip('/') or 'index'}.md"
    if not markdown.is_file():
        raise ReportBuildError(f"no page {page}: {markdown} does not exist")
    text = markdown.read_text()
    text += "".join(
        (REPORTS_DIR / "partials" / name).read_text() for name in _PARTIAL.findall(text)
    )
    read = []
    for source in sorted(path.name for path in (REPORTS_DIR / "sources").iterdir()):
        for query in source_queries(source, warehouse):
            if re.search(rf"\b{source}\.{query}\b", text):
                read.append(f"{source}.{query}")
    return read


def site_inputs_digest() -> str:
    """A digest of what the site is compiled from: pages, partials, source queries, the project.
    The same whichever warehouse's queries `npm run sources` last copied into sources/."""
    copies = {
        REPORTS_DIR / "sources" / query.relative_to(environment)
        for environment in (REPORTS_DIR / "environments").iterdir()
        for query in environment.rglob("*")
    }
    lines = []
    for name in SITE_INPUTS:
        path = REPORTS_DIR / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if (
                file.is_file()
                and file.suffix != ".csv"
                and file.name != "connection.yaml"
                and file not in copies
            ):
                content = hashlib.sha256(file.read_bytes()).hexdigest()
                lines.append(f"{content}  {file.relative_to(REPORTS_DIR).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def compiled_here(site_dir: Path) -> bool:
    """Whether reports/.evidence holds the compiled site of that site's build (the last build)."""
    compiled = _template_dir() / ".svelte-kit" / "output" / "client" / "_app" / "version.json"
    return _read_bytes(compiled) == _read_bytes(site_dir / "_app" / "version.json")


@_one_build_at_a_time
def refresh_site_data(
    settings: Settings,
    site_dir: Path | None = None,
    pages: Sequence[str] = (),
    sources_timeout: float = SOURCES_TIMEOUT_S,
    render_timeout: float = RENDER_TIMEOUT_S,
) -> ReportBuild:
    """Put the warehouse's current data into a site built by build_site, without compiling it.

    New data files alone change no page: Evidence renders each page with the data at build time
    and the browser shows those results (reports/scripts/render-pages.mjs explains). So this runs
    `npm run sources`, renders the pages of the site's own build again (`npm run render-pages`),
    and swaps the pages, their query results and the data into `site_dir` (reports/build by
    default) in one rename: a reader gets the whole old site or the whole new one. It shares
    reports/.evidence with build_site: never run the two at once.

    `pages` (routes, e.g. `/real-time`): only those pages and the source queries they read are
    refreshed; every other page and data file stays as it was.

    Raises FullBuildNeeded when only a build will do: the site has no record of its inputs, the
    pages, source queries or project changed since (SITE_INPUTS), or another build ran since
    (reports/.evidence holds the compiled site of the last build only).
    """
    started = time.monotonic()
    site_dir = (site_dir or REPORTS_DIR / "build").resolve()
    recorded = site_dir / SITE_INPUTS_FILE
    if not recorded.exists():
        raise FullBuildNeeded(f"{site_dir} has no record of what it was built from")
    if not compiled_here(site_dir):
        raise FullBuildNeeded(f"{_template_dir()} holds another build than {site_dir}")
    env = report_environment(settings)
    queries = sorted({q for page in pages for q in page_queries(page, settings.evidence_warehouse)})
    only = ["--sources", ",".join(sorted({q.split(".")[0] for q in queries})),
            "--queries", ",".join(queries)] if pages else []  # fmt: skip
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    sources_seconds = _run_step(
        "sources", env, sources_timeout, settings.log_dir / "reports-sources.log", only
    )
    if recorded.read_text().strip() != site_inputs_digest():
        raise FullBuildNeeded(f"pages, source queries or project changed since {site_dir}'s build")
    if pages:
        env["SHOP_RENDER_ONLY"] = ",".join(pages)
    render_seconds = _run_step(
        "render-pages", env, render_timeout, settings.log_dir / "reports-render.log"
    )
    _publish_rendered(site_dir, queries if pages else None)
    return ReportBuild(
        seconds=time.monotonic() - started,
        sources_seconds=sources_seconds,
        build_seconds=render_seconds,
        pages=built_pages(site_dir),
        output_dir=site_dir,
        site_bytes=_site_bytes(site_dir),
        data_only=True,
    )


def _publish_rendered(site_dir: Path, queries: Sequence[str] | None) -> None:
    """The site with the pages rendered again and the new data, swapped in at once: all of it,
    or (`queries`: some pages were rendered) those pages and queries over the site as it was."""
    rendered = _template_dir() / ".svelte-kit" / "output" / "prerendered"
    new = site_dir.with_name(f".{site_dir.name}-refresh")
    shutil.rmtree(new, ignore_errors=True)

    def not_copied(folder: str, _: list[str]) -> set[str]:
        # Files named by their content (data, query results) are not copied: the ones the
        # published site reads now are linked in by _keep_previous_data, so none piles up.
        if Path(folder) == site_dir:
            return {"data"} if queries is not None else {"api", "data"}
        return {"prerendered_queries"} if Path(folder) == site_dir / "api" else set()

    try:
        # Hard links: the compiled app (~90 MB) stays as it is; files that change are replaced
        # below, never written through.
        shutil.copytree(site_dir, new, copy_function=os.link, ignore=not_copied)
        named = _results_named(rendered / "dependencies")
        for tree in (rendered / "pages", rendered / "dependencies"):
            for file in (f for f in tree.rglob("*") if f.is_file()):
                if file.parent.name == "prerendered_queries" and file.stem not in named:
                    continue  # a query's result before its inputs settled: no page asks for it
                target = new / file.relative_to(tree)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.unlink(missing_ok=True)
                shutil.copyfile(file, target)
        if queries is None:
            _publish_data(_template_dir() / "static" / "data", new / "data")
        else:
            published_manifest = site_dir / "data" / "manifest.json"
            _publish_queries(
                _template_dir() / "static" / "data", published_manifest, new / "data", queries
            )
        _keep_previous_data(site_dir, new)
        _exchange(new, site_dir)
    finally:
        shutil.rmtree(new, ignore_errors=True)


def _publish_data(static_data: Path, target: Path) -> None:
    """The data folder as `evidence build` publishes it: each parquet file in a folder named for
    the MD5 of its content (so no browser cache serves an old file under a current name), and
    data/manifest.json pointing there."""
    shutil.copytree(static_data, target)
    manifest = json.loads((target / "manifest.json").read_text())
    for urls in manifest["renderedFiles"].values():
        for i, url in enumerate(urls):  # static/data/<source>/<query>/<query>.parquet
            file = target / PurePosixPath(url).relative_to("static/data")
            urls[i] = _under_its_digest(file, file, url)
    (target / "manifest.json").write_text(json.dumps(manifest))


def _publish_queries(
    static_data: Path, published_manifest: Path, target: Path, queries: Sequence[str]
) -> None:
    """A data folder with those queries' new files (`<source>.<query>`) and the published
    manifest pointing at them; the other queries' files are the published ones, which
    _keep_previous_data links in."""
    manifest = json.loads(published_manifest.read_text())
    for name in queries:
        source, query = name.split(".")
        url = f"static/data/{source}/{query}/{query}.parquet"
        urls = manifest["renderedFiles"].setdefault(source, [])
        published = [i for i, u in enumerate(urls) if PurePosixPath(u).parts[3] == query]
        new_url = _under_its_digest(static_data / source / query / f"{query}.parquet",
                                    target / source / query / f"{query}.parquet", url)  # fmt: skip
        if published:
            urls[published[0]] = new_url
        else:
            urls.append(new_url)
    target.mkdir(parents=True, exist_ok=True)
    (target / "manifest.json").write_text(json.dumps(manifest))


def _under_its_digest(file: Path, target: Path, url: str) -> str:
    """`file` moved (copied, when it is not `target`) to <target's folder>/<MD5>/<name>; its URL."""
    digest = hashlib.md5(file.read_bytes(), usedforsecurity=False).hexdigest()
    destination = target.parent / digest / target.name
    destination.parent.mkdir(parents=True)
    if file == target:
        file.rename(destination)
    else:
        shutil.copyfile(file, destination)
    return str(PurePosixPath(url).parent / digest / target.name)


def _keep_previous_data(site_dir: Path, new: Path) -> None:
    """A page that read the old manifest or query lists a moment ago still finds their files."""
    manifest = json.loads((site_dir / "data" / "manifest.json").read_text())
    files = [
        PurePosixPath(url).relative_to("static")
        for urls in manifest["renderedFiles"].values()
        for url in urls
    ]
    files += [
        PurePosixPath("api", "prerendered_queries", f"{r}.arrow") for r in _results_named(site_dir)
    ]
    for file in files:
        if (site_dir / file).is_file() and not (new / file).exists():
            (new / file).parent.mkdir(parents=True, exist_ok=True)
            os.link(site_dir / file, new / file)


def _results_named(site_dir: Path) -> set[str]:
    """The query results (api/prerendered_queries/<name>.arrow) the pages' query lists name: all
    that a page fetches."""
    return {
        result
        for query_list in site_dir.glob("api/*/*/all-queries.json")
        for result in json.loads(query_list.read_text()).values()
    }


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories in one step (Linux renameat2 with RENAME_EXCHANGE)."""
    at_fdcwd, rename_exchange = -100, 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(a), None, str(b))


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _site_bytes(site_dir: Path) -> int:
    return sum(f.stat().st_size for f in site_dir.rglob("*") if f.is_file())


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """The static site, with the dbt docs (a directory of their own) under DOCS_URL_PATH."""

    def __init__(self, *args: object, docs_dir: Path, **kwargs: object) -> None:
        self.docs_dir = docs_dir
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def translate_path(self, path: str) -> str:
        url_path = urlsplit(path).path
        docs_root = DOCS_URL_PATH.rstrip("/")
        if url_path != docs_root and not url_path.startswith(DOCS_URL_PATH):
            return super().translate_path(path)
        # The parent resolves the path inside `directory` (dropping any `..`): re-root it.
        in_site = Path(super().translate_path(path.replace(docs_root, "", 1) or "/"))
        return str(self.docs_dir / in_site.relative_to(self.directory))

    def log_message(self, format: str, *args: object) -> None:
        pass


def site_server(
    site_dir: Path, docs_dir: Path, port: int = 3000
) -> http.server.ThreadingHTTPServer:
    """A web server on 127.0.0.1 for the built site and, at /dbt-docs/, the dbt docs
    (pipeline.transform.build_docs). Call serve_forever() on it; port 0 picks a free one."""
    handler = functools.partial(_SiteHandler, directory=str(site_dir), docs_dir=docs_dir)
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
