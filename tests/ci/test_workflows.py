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
    # The site preview is the README's first command's site, built in the same Debian.
    assert jobs["reports"]["container"]["image"] == "debian:bookworm"
    assert run_steps(jobs["reports"])[-1].startswith("./run demo ")
    (upload,) = [
        step for step in jobs["reports"]["steps"] if "upload-artifact" in step.get("uses", "")
    ]
    assert upload["with"]["path"] == "reports/build"
    for name in ("lint", "test", "terraform", "reports"):
        assert "if" not in jobs[name], f"{name} must run on every pull request"


def test_snowflake_jobs_run_only_with_secrets() -> None:
    for name in ("pull-request.yml", "main.yml"):
        jobs = workflow(name)["jobs"]
        check = jobs["snowflake"]["steps"][0]
        assert check["env"] == {"SNOWFLAKE_ACCOUNT": "${{ secrets.SNOWFLAKE_ACCOUNT }}"}
        guarded = [job for job in jobs.values() if job.get("if") == SNOWFLAKE_GUARD]
        assert guarded, name
    assert workflow("main.yml")["jobs"]["terraform-plan"]["if"] == SNOWFLAKE_GUARD
    slim = workflow("pull-request.yml")["jobs"]["dbt-slim-ci"]
    assert slim["if"] == SNOWFLAKE_GUARD
    assert slim["env"]["DBT_SCHEMA_PREFIX"] == "PR_${{ github.event.number }}_"
    assert "state:modified+ --defer --state" in "\n".join(run_steps(slim))


PLATFORM = yaml.safe_load((REPO_ROOT / "terraform" / "platform.yaml").read_text())


def secrets_of(job: dict) -> set[str]:
    """Every secret a job receives: in its env, its steps' env and inputs, or its scripts."""
    return set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job)))


def pull_request_workflows() -> list[str]:
    names = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        events = triggers(workflow(path.name))
        assert "pull_request_target" not in events, f"{path.name}: fork code with secrets"
        if "pull_request" in events:
            names.append(path.name)
    return names


def test_no_pull_request_job_receives_a_production_write_or_admin_secret() -> None:
    """Pull-request code runs with what its jobs receive. The only Snowflake keys allowed there
    are those of service users that sign in from the CI network, whose roles write nothing of
    production; Terraform's key (ACCOUNTADMIN) and the production users' keys never."""
    ci_users = {key for key, user in PLATFORM["service_users"].items() if user["network"] == "ci"}
    for key in ci_users:
        role = PLATFORM["roles"][PLATFORM["service_users"][key]["role"]]
        assert role["write"] == [] and not role.get("snowflake_database_roles"), key
    allowed = {"SNOWFLAKE_ACCOUNT"} | {
        f"{key}_{suffix}"
        for key in ci_users
        for suffix in ("PRIVATE_KEY", "PRIVATE_KEY_PASSPHRASE")
    }
    assert pull_request_workflows() == ["pr-cleanup.yml", "pull-request.yml"]
    received = set()
    for name in pull_request_workflows():
        for job_name, job in workflow(name)["jobs"].items():
            extra = secrets_of(job) - allowed
            assert not extra, f"{name}: job {job_name} receives {sorted(extra)}"
            received |= secrets_of(job)
    assert received == allowed  # slim CI and the cleanup do sign in, as the CI user


def test_terraform_keys_are_environment_secrets_of_main() -> None:
    """A repository secret reaches any workflow a pull request edits; an environment secret only
    the jobs of that environment, which accepts main alone (docs/production.md, step 7)."""
    for name in ("main.yml", "pull-request.yml", "pr-cleanup.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            if any(secret.startswith("TERRAFORM_") for secret in secrets_of(job)):
                assert name == "main.yml", f"{name}: {job_name} receives Terraform's key"
                assert job.get("environment") in ("production-plan", "production"), job_name


def test_jobs_signing_in_as_the_ci_user_run_where_its_network_rule_admits() -> None:
    for name in pull_request_workflows():
        for job_name, job in workflow(name)["jobs"].items():
            if secrets_of(job) - {"SNOWFLAKE_ACCOUNT"}:
                assert job["runs-on"] == "${{ vars.SNOWFLAKE_CI_RUNNER || 'ubuntu-24.04' }}", (
                    job_name
                )
                assert job["env"]["SNOWFLAKE_USER"] == "DBT_CI_SVC"
                assert job["env"]["SNOWFLAKE_ROLE"] == PLATFORM["service_users"]["DBT_CI"]["role"]


def test_slim_ci_takes_the_manifest_main_kept_whatever_else_failed() -> None:
    script = "\n".join(run_steps(workflow("pull-request.yml")["jobs"]["dbt-slim-ci"]))
    assert "actions/artifacts?name=dbt-prod-manifest" in script
    assert '.workflow_run.head_branch == "main"' in script
    assert ".workflow_run.head_repository_id == .workflow_run.repository_id" in script
    assert "--status success" not in script


def test_main_applies_the_plan_the_reviewer_saw() -> None:
    flow = workflow("main.yml")
    assert triggers(flow) == {"push": {"branches": ["main"]}}
    assert flow["concurrency"] == {"group": "production", "cancel-in-progress": False}
    jobs = flow["jobs"]
    plan, apply = jobs["terraform-plan"], jobs["terraform-apply"]
    plan_script = "\n".join(run_steps(plan))
    assert "-out=prod.tfplan" in plan_script
    assert (
        "terraform show -no-color prod.tfplan" in plan_script
        and "GITHUB_STEP_SUMMARY" in plan_script
    )
    uploaded = [s["with"] for s in plan["steps"] if "upload-artifact" in s.get("uses", "")]
    assert [u["name"] for u in uploaded] == ["terraform-plan-prod"]
    assert "terraform/prod.tfplan" in uploaded[0]["path"]
    assert apply["needs"] == "terraform-plan" and apply["environment"] == "production"
    downloaded = [
        s["with"]["name"] for s in apply["steps"] if "download-artifact" in s.get("uses", "")
    ]
    assert downloaded == ["terraform-plan-prod"]
    apply_script = "\n".join(run_steps(apply))
    assert "terraform apply -input=false -no-color prod.tfplan" in apply_script
    assert "terraform plan" not in apply_script  # applies the saved plan, nothing newer
    assert jobs["deploy"]["needs"] == "terraform-apply"


def test_networked_ci_plans_and_applies_with_a_current_terraform() -> None:
    flow = workflow("main.yml")
    version = flow["env"]["TERRAFORM_VERSION"]
    major, minor, _ = (int(part) for part in version.split("."))
    assert (major, minor) >= (1, 5), "1.0.3 is only what installs offline"
    for job in ("terraform-plan", "terraform-apply"):
        # TERRAFORM_SVC's network policy admits this runner's fixed addresses only.
        assert flow["jobs"][job]["runs-on"] == "${{ vars.TERRAFORM_RUNNER || 'ubuntu-24.04' }}"
        (setup,) = [s for s in flow["jobs"][job]["steps"] if "setup-terraform" in s.get("uses", "")]
        assert setup["with"]["terraform_version"] == "${{ env.TERRAFORM_VERSION }}"
        assert "checks/setup.sh" not in "\n".join(run_steps(flow["jobs"][job]))
    # The code itself still validates with the offline 1.0.3 (tests/terraform).
    assert '">= 1.0.3, < 2.0.0"' in (REPO_ROOT / "terraform" / "versions.tf").read_text()


def test_no_workflow_keeps_the_site_built_from_production() -> None:
    """The report site holds the business's figures: it stays on the worker host, behind sign-in.
    Only the PR preview, built from a generated shop (`./run demo`), is an artifact."""
    for name in ("main.yml", "pull-request.yml", "pr-cleanup.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            for step in job.get("steps", []):
                if "upload-artifact" in step.get("uses", ""):
                    assert "reports/build" not in step["with"]["path"] or (
                        name == "pull-request.yml" and job_name == "reports"
                    ), f"{name}: {job_name} uploads the site"
    preview = workflow("pull-request.yml")["jobs"]["reports"]
    assert "./run demo" in "\n".join(run_steps(preview))
    assert not secrets_of(preview) and "SHOP_ENVIRONMENT" not in yaml.safe_dump(preview)


def test_main_deploys_a_release_beside_the_running_one() -> None:
    """No `./run setup` (Debian packages, a PostgreSQL server) on the production worker, and
    nothing changed under a running flow: a new release, checked, then made current."""
    deploy = workflow("main.yml")["jobs"]["deploy"]
    scripts = run_steps(deploy)
    script = "\n".join(scripts)
    assert "./run setup" not in script and "apt-get" not in script
    install = next(i for i, s in enumerate(scripts) if "deploy/release install" in s)
    checks = next(i for i, s in enumerate(scripts) if "meltano --cwd meltano run --dry-run" in s)
    activate = next(i for i, s in enumerate(scripts) if "deploy/release activate" in s)
    assert install < checks < activate
    for line in script.replace("\\\n", " ").splitlines():  # a command continued over lines
        if re.search(r"\.venv/bin/(meltano|dbt|prefect|shop)\b", line):
            assert "deploy/with-env" in line, line
    # setup-worker installs the platform only: no Debian package, no sudo.
    worker = re.search(r"\nsetup_worker\(\) \{\n(.*?)\n\}\n", (REPO_ROOT / "run").read_text(), re.S)
    assert worker and "install_python_environment --no-dev" in worker.group(1)
    assert not re.search(
        r"install_debian_packages|install_node|as_root|apt-get|sudo", worker.group(1)
    )


def test_main_deploys_the_prod_deployments_and_builds_the_prod_marts() -> None:
    deploy = "\n".join(run_steps(workflow("main.yml")["jobs"]["deploy"]))
    declared = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
    prod = [d for d in declared if d["parameters"]["environment"] == "prod"]
    assert prod and {d["work_pool"]["name"] for d in prod} == {"shop-prod"}
    prod = [d["name"] for d in prod]
    prefect_deploy = "prefect --no-prompt deploy " + " ".join(f"--name {name}" for name in prod)
    install_alerts = ".venv/bin/shop --environment prod install-alerts"
    assert prefect_deploy in deploy and install_alerts in deploy
    assert deploy.index(prefect_deploy) < deploy.index(install_alerts)  # the SLAs name them
    assert ".venv/bin/shop --environment prod transform" in deploy


def test_prod_runs_start_in_the_current_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process worker runs a flow with its own Python unless told otherwise: each prod run
    starts with the venv of the release SHOP_REPO_ROOT points at, resolved at `prefect deploy`."""
    from prefect.utilities.templating import apply_values

    monkeypatch.setenv("SHOP_REPO_ROOT", "/opt/shop-analytics/current")
    project = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    for deployment in project["deployments"]:
        if deployment["parameters"]["environment"] != "prod":
            continue
        resolved = apply_values(deployment, os.environ, remove_notset=False)
        assert resolved["work_pool"]["job_variables"]["command"] == (
            "/opt/shop-analytics/current/.venv/bin/python -m prefect.engine"
        )
    pull = apply_values(project["pull"], os.environ, remove_notset=False)
    assert pull[0]["prefect.deployments.steps.set_working_directory"]["directory"] == (
        "/opt/shop-analytics/current"
    )


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
