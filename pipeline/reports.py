"""Build the Evidence report site (reports/) from the marts: `npm run sources`, `npm run build`.

Both steps run with a time limit: offline, an unpatched Evidence hangs instead of failing
(reports/scripts/patch-evidence.mjs explains why and fixes it).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sandbox.config import REPO_ROOT, Settings

REPORTS_DIR = REPO_ROOT / "reports"
# Where the dbt docs sit beside the site: the pages' "where these figures come from" links.
DOCS_URL_PATH = "/dbt-docs/"
SOURCES_TIMEOUT_S = 300
BUILD_TIMEOUT_S = 600


class ReportBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class ReportBuild:
    seconds: float  # sources + build, wall clock
    sources_seconds: float
    build_seconds: float
    pages: list[str]  # URL paths of the built pages, "/" first
    output_dir: Path
    site_bytes: int

    def describe(self) -> str:
        return (
            f"report site: {len(self.pages)} pages, {self.site_bytes / 1e6:.0f} MB in "
            f"{self.output_dir} (sources {self.sources_seconds:.0f} s, build "
            f"{self.build_seconds:.0f} s); view it with: "
            f"python3 -m http.server --bind 127.0.0.1 --directory {self.output_dir} 3000"
        )


def report_environment(settings: Settings, warehouse: str = "duckdb") -> dict[str, str]:
    """The environment `npm run sources/build` need: where the marts are, and no telemetry."""
    env = dict(os.environ)
    env.update(
        SHOP_HOME=str(settings.home),
        SHOP_WAREHOUSE=warehouse,
        # Evidence's own telemetry is off in reports/evidence.settings.json; these cover the rest.
        DO_NOT_TRACK="1",
        NEXT_TELEMETRY_DISABLED="1",
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
    )
    return env


def _run_step(script: str, env: dict[str, str], timeout: float, log_file: Path) -> float:
    started = time.monotonic()
    with log_file.open("w") as log:
        try:
            # A new session, so that a timeout kills npm's children (node, vite) too.
            process = subprocess.Popen(
                ["npm", "run", script],
                cwd=REPORTS_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            raise ReportBuildError(
                f"`npm run {script}` did not finish within {timeout:.0f} s (log: {log_file})"
            ) from None
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-30:])
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


def build_site(
    settings: Settings,
    warehouse: str = "duckdb",
    output_dir: Path | None = None,
    sources_timeout: float = SOURCES_TIMEOUT_S,
    build_timeout: float = BUILD_TIMEOUT_S,
) -> ReportBuild:
    """Run `npm run sources` and `npm run build` in reports/.

    The site lands in reports/build, or is moved to `output_dir` when given (the tests use this,
    so that their build does not replace the one a developer is looking at).
    """
    if not (REPORTS_DIR / "node_modules" / ".bin" / "evidence").exists():
        raise ReportBuildError(
            "reports/node_modules is missing: run `npm install` in reports/ (./run setup does)"
        )
    env = report_environment(settings, warehouse)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    built = REPORTS_DIR / "build"
    # Evidence copies its output over ./build: start from none, so no page of an old build
    # survives. The site in reports/build is kept aside and put back unless this build replaces
    # it: a build going elsewhere, or one that fails or is killed, leaves it as it was.
    kept = REPORTS_DIR / ".build-kept" if built.exists() else None
    if kept:
        shutil.rmtree(kept, ignore_errors=True)
        built.rename(kept)
    shutil.rmtree(built, ignore_errors=True)
    replaced = False
    try:
        sources_seconds = _run_step(
            "sources", env, sources_timeout, settings.log_dir / "reports-sources.log"
        )
        build_seconds = _run_step(
            "build", env, build_timeout, settings.log_dir / "reports-build.log"
        )
        if output_dir is None:
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
    site_bytes = sum(f.stat().st_size for f in output_dir.rglob("*") if f.is_file())
    return ReportBuild(
        seconds=sources_seconds + build_seconds,
        sources_seconds=sources_seconds,
        build_seconds=build_seconds,
        pages=built_pages(output_dir),
        output_dir=output_dir,
        site_bytes=site_bytes,
    )


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
