"""deploy/: how a commit reaches the production worker host, run offline on a throw-away deploy
root. A release is installed beside the running one and switched to by one rename, so a flow run
under way never sees its files change; the worker runs every command through deploy/with-env
(tests/ingestion/test_prod_config.py checks what that gives the tools)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.config import REPO_ROOT

RELEASE = REPO_ROOT / "deploy" / "release"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository whose `./run setup-worker` only records that it ran, and where: the release
    script is what is under test, not the installation."""
    repo = tmp_path / "checkout"
    (repo / "reports").mkdir(parents=True)
    (repo / "run").write_text('#!/bin/sh\necho "$1" > installed-by\n')
    (repo / "run").chmod(0o755)
    (repo / "reports" / "page.md").write_text("# v1\n")
    git(repo, "init", "--quiet")
    git(repo, "add", ".")
    git(
        repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "v1"
    )
    return repo


def commit(repo: Path, text: str) -> str:
    (repo / "reports" / "page.md").write_text(text)
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "--quiet",
        "-am",
        text,
    )
    return git(repo, "rev-parse", "HEAD")


def release(*args: str | Path) -> str:
    result = subprocess.run([RELEASE, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_release_is_installed_beside_the_current_one_then_switched_to(
    checkout: Path, tmp_path: Path
) -> None:
    root = tmp_path / "opt"
    root.mkdir()
    (root / ".env").write_text("SHOP_ENVIRONMENT='prod'\n")
    first = Path(release("install", checkout, root))
    assert first == root / "releases" / git(checkout, "rev-parse", "HEAD")
    assert (first / "installed-by").read_text() == "setup-worker\n"  # never `./run setup`
    assert (first / ".env").resolve() == (root / ".env").resolve()
    release("activate", root, first)
    assert (root / "current").resolve() == first

    second_commit = commit(checkout, "# v2\n")
    second = Path(release("install", checkout, root))
    # Installed, not current yet: a flow run starting now still gets the first release.
    assert (root / "current").resolve() == first
    assert (first / "reports" / "page.md").read_text() == "# v1\n"
    assert (second / "reports" / "page.md").read_text() == "# v2\n"
    release("activate", root, second)
    assert (root / "current").resolve() == second == root / "releases" / second_commit
    assert first.exists(), "the release flow runs may still be using is kept"


def test_old_releases_go_but_never_the_current_nor_the_one_it_replaces(
    checkout: Path, tmp_path: Path
) -> None:
    root = tmp_path / "opt"
    root.mkdir()
    (root / ".env").write_text("")
    releases = []
    for text in ("# a\n", "# b\n", "# c\n"):
        commit(checkout, text)
        releases.append(Path(release("install", checkout, root)))
        release("activate", root, releases[-1])
    two_days_ago = (releases[0].stat().st_mtime - 2 * 86400,) * 2
    for old in releases[:2]:
        os.utime(old, two_days_ago)
    again = commit(checkout, "# d\n")
    newest = Path(release("install", checkout, root))
    release("activate", root, newest)
    assert not releases[0].exists() and not releases[1].exists()  # over a day old, not in use
    assert releases[2].exists()  # replaced just now: flow runs may still be in it
    assert (root / "current").resolve() == root / "releases" / again


def test_an_unfinished_release_is_installed_again_and_never_activated(
    checkout: Path, tmp_path: Path
) -> None:
    root = tmp_path / "opt"
    root.mkdir()
    (root / ".env").write_text("")
    broken = root / "releases" / git(checkout, "rev-parse", "HEAD")
    broken.mkdir(parents=True)
    (broken / "half-copied").write_text("")
    refused = subprocess.run(
        [RELEASE, "activate", str(root), str(broken)], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "no installed release" in refused.stderr
    assert not (root / "current").exists()
    assert Path(release("install", checkout, root)) == broken
    assert not (broken / "half-copied").exists() and (broken / ".release-complete").exists()


def test_the_worker_service_runs_the_current_release_through_with_env(tmp_path: Path) -> None:
    unit = (REPO_ROOT / "deploy" / "shop-worker.service").read_text()
    assert "EnvironmentFile" not in unit.split("[Service]")[1]  # a PEM cannot be carried there
    (exec_start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert exec_start == (
        "ExecStart=/opt/shop-analytics/current/deploy/with-env "
        ".venv/bin/prefect worker start --pool shop-prod"
    )
    assert "KillMode=process" in unit  # restarting the worker lets its flow runs finish
    if shutil.which("systemd-analyze"):
        # systemd's own parser, on a copy whose paths and user exist here.
        local = tmp_path / "shop-worker.service"
        local.write_text(
            unit.replace("/opt/shop-analytics/current", str(REPO_ROOT))
            .replace("User=shop", "User=root")
            .replace("Group=shop", "Group=root")
        )
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(local)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
