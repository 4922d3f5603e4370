"""The bench report: bench/results/<UTC time>.json and .md, rewritten after every scenario."""

from __future__ import annotations

import json
from pathlib import Path


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _stage_table(result: dict, ratios: dict | None = None) -> list[str]:
    header = ["stage", "seconds", "rows", "rows/s", *(["day / month"] if ratios else [])]
    lines = [_row(*header), _row(*["---"] + ["---:"] * (len(header) - 1))]
    for name, stage in result["stages"].items():
        ratio = [_number(ratios.get(name))] if ratios else []
        lines.append(
            _row(
                name,
                _number(stage["seconds"]),
                _number(stage.get("rows")),
                _number(stage.get("rows_per_s")),
                *ratio,
            )
        )
    if "total_seconds" in result:
        lines.append(
            f"\nTotal {_number(result['total_seconds'])} s (wall clock), peak memory "
            f"{_number(result['peak_rss_mb'])} MB (the bench and its child processes; PostgreSQL "
            "not counted)."
        )
    if "flow_seconds" in result:
        lines.append(
            f"The flow run itself: {_number(result['flow_seconds'])} s (its stages overlap: a "
            "source is checked while the others still load)."
        )
    if result.get("site_published_after_seconds") is not None:
        lines.append(
            f"The site was published {_number(result['site_published_after_seconds'])} s after "
            "the flow began (the loads, checks, dbt and the site; the dbt docs come after it)."
        )
    return lines


def _failed(name: str, result: dict) -> list[str]:
    lines = [f"## {name}", "", f"**FAILED**: {result.get('error', 'see the log')}", ""]
    if result.get("stages_before_failure"):
        lines += ["Timed before the check failed (not valid results):", ""]
        lines += _stage_table({"stages": result["stages_before_failure"]})
        lines.append("")
    return lines


def markdown(report: dict) -> str:
    machine = report["machine"]
    scale = report["scale"]
    lines = [
        f"# Bench {report['started_at']}",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
        f"{machine['os']} (kernel {machine['kernel']}), Python {machine['python']}; "
        + ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
        + ".",
        "",
        f"Load average (1, 5, 15 min) at the start {machine['load_average_at_start']}, at the "
        f"end {report.get('load_average_at_end', '-')}: the machine is shared with other work, "
        "so the times are upper bounds.",
        "",
        f"Scale: {scale['months']} month(s) x {scale['orders_per_month']:,} orders a month; "
        f"year-queries: {scale.get('year_months')} months x "
        f"{scale.get('year_orders_per_month', 0):,} orders a month.",
        "",
    ]
    scenarios = report["scenarios"]
    for name in ("month", "day"):
        result = scenarios.get(name)
        if result is None:
            continue
        if not result.get("ok"):
            lines += _failed(name, result)
            continue
        lines += [f"## {name}", ""]
        lines += _stage_table(result, result.get("ratio_to_month"))
        lines.append("")
    queries = scenarios.get("year-queries")
    if queries is not None and not queries.get("ok"):
        lines += _failed("year-queries", queries)
    elif queries is not None:
        lines += [
            "## year-queries",
            "",
            queries["method"],
            "",
            _row(
                "page",
                "source query",
                "warehouse ms (median)",
                "warehouse ms (max)",
                "source PostgreSQL ms (median)",
                "ratio",
                "same result",
            ),
            _row("---", "---", "---:", "---:", "---:", "---:", "---"),
        ]
        for query in queries["queries"]:
            lines.append(
                _row(
                    query["page"],
                    query["name"],
                    _number(query["warehouse_ms_median"]),
                    _number(query["warehouse_ms_max"]),
                    _number(query.get("source_ms_median")),
                    _number(query.get("ratio")),
                    query.get("same_result", "not compared"),
                )
            )
        lines += ["", "Stages of the warehouse's preparation:", ""]
        lines += _stage_table(queries)
        lines.append("")
    limit = scenarios.get("ingest-limit")
    if limit is not None and not limit.get("ok"):
        lines += _failed("ingest-limit", limit)
    elif limit is not None:
        lines += [
            "## ingest-limit",
            "",
            _row(
                "job",
                "rows",
                "Singer s",
                "Singer rows/s",
                "DuckDB s",
                "DuckDB rows/s",
                "Singer / DuckDB",
            ),
            _row("---", "---:", "---:", "---:", "---:", "---:", "---:"),
        ]
        for job, source in limit["sources"].items():
            lines.append(
                _row(
                    job,
                    _number(source["rows"]),
                    _number(source["singer_seconds"]),
                    _number(source["singer_rows_per_s"]),
                    _number(source["duckdb_seconds"]),
                    _number(source["duckdb_rows_per_s"]),
                    f"{source['ratio']:.2%}",
                )
            )
        alone = limit["sources"]["el-postgres"].get("ratio_alone")
        if alone is not None:
            postgres = limit["sources"]["el-postgres"]
            lines.append(
                f"\nel-postgres alone on the machine, as DuckDB's copy is: "
                f"{_number(postgres['singer_alone_seconds'])} s, "
                f"{_number(postgres['singer_alone_rows_per_s'])} rows/s, {alone:.2%} of DuckDB's."
            )
        lines.append("")
    realtime = scenarios.get("realtime-lag")
    if realtime is not None and not realtime.get("ok"):
        lines += _failed("realtime-lag", realtime)
    elif realtime is not None:
        lines += [
            "## realtime-lag",
            "",
            f"realtime_orders advanced the shop to {realtime['shop_clock']} and published the "
            f"page at {realtime['published_at']}: {realtime['lag_seconds']:,.0f} s behind the "
            f"shop (newest order {realtime['mart_newest_order']} in both the shop and the mart). "
            f"With runs {realtime['schedule_interval_seconds'] // 60} minutes apart in the busy "
            f"hours (prefect.yaml) the page is at most "
            f"{realtime['worst_case_lag_seconds']:,.0f} s behind then.",
            "",
        ]
        lines += _stage_table(realtime)
        lines.append("")
    return "\n".join(lines)


def write(report: dict, results_dir: Path, stem: str) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{stem}.json"
    md_path = results_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report) + "\n")
    return json_path, md_path
