"""What every scenario records: wall time per stage, rows/s, peak memory, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants (Meltano, taps, dbt, node, servers)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
        rss[int(entry.name)] = int(statm.split()[1]) * PAGE_KB
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


class PeakMemory:
    """Samples the resident memory of this process and its descendants, twice a second.

    PostgreSQL runs as its own service (started through pg_ctl) and is not counted."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self._interval_s = interval_s
        self._peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak_kb = max(self._peak_kb, _tree_rss_kb(os.getpid()))
            self._stop.wait(self._interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self._peak_kb / 1024, 1)


class Stages:
    """Wall time and rows of each stage of a scenario, in order."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float | int]] = {}

    @contextmanager
    def time(self, name: str) -> Iterator[dict[str, float | int]]:
        """Time the block; the block may set "rows" (and other facts) in the yielded dict."""
        facts: dict[str, float | int] = {}
        started = time.perf_counter()
        yield facts
        self.record(name, time.perf_counter() - started, **facts)

    def record(self, name: str, seconds: float, rows: int | None = None, **facts: float) -> None:
        stage: dict[str, float | int] = {"seconds": round(seconds, 2)}
        if rows is not None:
            stage["rows"] = rows
            stage["rows_per_s"] = round(rows / seconds) if seconds > 0 else 0
        self.stages[name] = {**stage, **facts}

    @property
    def total_seconds(self) -> float:
        return round(sum(float(stage["seconds"]) for stage in self.stages.values()), 2)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _command_version(*command: str) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return "not found"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "?"
    )


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, object]:
    """The machine and the versions the numbers were measured with."""
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    os_release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    packages = ("duckdb", "dbt-core", "dbt-duckdb", "meltano", "prefect", "psycopg")
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "os": os_release.get("PRETTY_NAME", platform.platform()).strip('"'),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            **{name: metadata.version(name) for name in packages},
            "postgresql": _command_version("/usr/lib/postgresql/15/bin/postgres", "--version"),
            "node": _command_version("node", "--version"),
        },
        "load_average_at_start": load_average(),
    }
