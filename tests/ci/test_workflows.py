"""The GitHub workflows and the pre-commit configuration, checked offline: actionlint (with
shellcheck on every `run:` script), what each workflow runs and when, and pre-commit's own
validation. Nothing here reaches GitHub."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sandbox.config import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
BIN = REPO_ROOT / ".venv" / "bin"
SNOWFLAKE_GUARD = "needs.snowflake.outputs.configured == 'true'"


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(flow: dict) -> dict:
    return flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as true


def run_steps(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def actionlint(github_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            BIN / "actionlint",
            *("-shellcheck", BIN / "shellcheck", "-no-color"),
            *("-config-file", github_dir / "actionlint.yaml"),
            *sorted((github_dir / "workflows").glob("*.yml")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_actionlint_passes() -> None:
    result = actionlint(REPO_ROOT / ".github")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_mistakes(tmp_path: Path) -> None:
    """The checker is really looking: an unknown job in `needs` and an unquoted variable in a
    script (shellcheck) fail the check, with the file and line."""
    shutil.copytree(REPO_ROOT / ".github", tmp_path / ".github")
    broken = tmp_path / ".github" / "workflows" / "pull-request.yml"
    text = broken.read_text()
    text = text.replace("    needs: snowflake\n", "    needs: snowflakes\n", 1)
    text = text.replace("run: bash .ci/run", "run: cd $GITHUB_WORKSPACE && bash .ci/run")
    broken.write_text(text)
    result = actionlint(tmp_path / ".github")
    assert result.returncode == 1
    assert re.search(r"pull-request\.yml:\d+:\d+: job .* needs job \"snowflakes\"", result.stdout)
    assert "SC2086" in result.stdout


def test_every_pull_request_runs_what_ci_runs() -> None:
    flow = workflow("pull-request.yml")
    assert set(triggers(flow)) == {"pull_request"}
    jobs = flow["jobs"]
    # The test job is exactly .ci/run (= ./run test: linters and the whole suite) in Debian 12.
    assert jobs["test"]["container"]["image"] == "debian:bookworm"
    assert run_steps(jobs["test"])[-1] == "bash .ci/run"
    assert "exec ./run test" in (REPO_ROOT / ".ci" / "run").read_text()
    # Lint is pre-commit's configuration, so a developer's hook and CI check the same things.
    assert ".venv/bin/pre-commit run --all-files --show-diff-on-failure" in run_steps(jobs["lint"])
    assert ".venv/bin/pytest tests/terraform" in run_steps(jobs["terraform"])
    assert any("npm run build" in run for run in run_steps(jobs["reports"]))
    for name in ("lint", "test", "terraform", "reports"):
        assert "if" not in jobs[name], f"{name} must run on every pull request"


def test_snowflake_jobs_run_only_with_secrets() -> None:
    for name in ("pull-request.yml", "main.yml"):
        jobs = workflow(name)["jobs"]
        check = jobs["snowflake"]["steps"][0]
        assert check["env"] == {"SNOWFLAKE_ACCOUNT": "${{ secrets.SNOWFLAKE_ACCOUNT }}"}
        guarded = [job for job in jobs.values() if job.get("if") == SNOWFLAKE_GUARD]
        assert guarded, name
    pull_request = workflow("pull-request.yml")["jobs"]
    assert pull_request["terraform-plan"]["if"] == SNOWFLAKE_GUARD
    assert pull_request["dbt-slim-ci"]["if"] == SNOWFLAKE_GUARD
    slim = pull_request["dbt-slim-ci"]
    assert slim["env"]["DBT_SCHEMA_PREFIX"] == "PR_${{ github.event.number }}_"
    assert "state:modified+ --defer --state" in "\n".join(run_steps(slim))


def test_main_applies_after_approval_then_deploys() -> None:
    flow = workflow("main.yml")
    assert triggers(flow) == {"push": {"branches": ["main"]}}
    jobs = flow["jobs"]
    assert jobs["terraform-apply"]["environment"] == "production"
    assert (
        "terraform apply -input=false -no-color prod.tfplan"
        in run_steps(jobs["terraform-apply"])[-1]
    )
    assert jobs["deploy"]["needs"] == jobs["reports"]["needs"] == "terraform-apply"
    assert flow["concurrency"] == {"group": "production", "cancel-in-progress": False}
    uploads = [
        s["with"]["name"]
        for s in jobs["reports"]["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads == ["report-site"]


def test_main_deploys_the_prod_deployments_and_builds_the_prod_marts() -> None:
    deploy = "\n".join(run_steps(workflow("main.yml")["jobs"]["deploy"]))
    declared = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
    prod = [d for d in declared if d["parameters"]["environment"] == "prod"]
    assert prod and {d["work_pool"]["name"] for d in prod} == {"shop-prod"}
    prod = [d["name"] for d in prod]
    assert "prefect --no-prompt deploy " + " ".join(f"--name {name}" for name in prod) in deploy
    assert ".venv/bin/shop --environment prod transform" in deploy


def test_actions_are_pinned_to_a_version() -> None:
    """Tags at least (full SHAs could not be looked up offline); never a branch."""
    for path in WORKFLOWS.glob("*.yml"):
        for use in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", use), (
                f"{path.name}: {use} is not pinned to a version"
            )


def test_pre_commit_configuration(tmp_path: Path) -> None:
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path)}
    validate = subprocess.run(
        [BIN / "pre-commit", "validate-config"], cwd=REPO_ROOT, env=env, capture_output=True
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]
    assert {hook["id"] for hook in hooks["hooks"]} == {
        "ruff-check",
        "ruff-format",
        "sqlfluff",
        "terraform-fmt",
        "actionlint",
    }
    assert {hook["language"] for hook in hooks["hooks"]} == {"unsupported"}  # no downloads
    # The cheap hook, run by pre-commit itself (--all-files: nothing is stashed).
    run = subprocess.run(
        [BIN / "pre-commit", "run", "actionlint", "--all-files"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"actionlint \(with shellcheck\)\.+Passed", run.stdout), run.stdout


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflows_are_plain_yaml(path: Path) -> None:
    flow = yaml.safe_load(path.read_text())
    assert flow["name"] and triggers(flow) and flow["jobs"]
    assert flow["permissions"] == {"contents": "read"}, "least privilege by default"
    assert "\t" not in path.read_text()
