"""Offline Terraform helpers: Terraform 1.0.3 and a schema-only Snowflake provider, served from
a filesystem mirror through a CLI config in a temporary directory. Each check runs in a scratch
copy of terraform/ (never in the repository, never with a lock file), with a local backend."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
CHECKS_VENV = TERRAFORM_DIR / ".checks-venv"
ENVIRONMENTS = ("dev", "prod")
PROVIDER = "registry.terraform.io/snowflakedb/snowflake"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class Terraform:
    binary: Path
    env: dict[str, str]

    def run(self, workdir: Path, *args: str, check: bool = True) -> Result:
        proc = subprocess.run(
            [str(self.binary), args[0], "-no-color", *args[1:]],
            cwd=workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            pytest.fail(f"terraform {' '.join(args)} failed:\n{result.output}")
        return result


def provider_version() -> str:
    """The Snowflake provider version pinned in versions.tf."""
    text = (TERRAFORM_DIR / "versions.tf").read_text()
    match = re.search(
        r'source\s*=\s*"snowflakedb/snowflake"[^}]*?version\s*=\s*"([^"]+)"', text, re.S
    )
    assert match, "versions.tf does not pin snowflakedb/snowflake"
    return match.group(1)


def plan_json(
    terraform: Terraform, workdir: Path, environment: str, keys: Path, *extra: str
) -> dict:
    planfile = f"{environment}.tfplan"
    terraform.run(
        workdir,
        "plan",
        "-refresh=false",
        "-input=false",
        f"-var-file=environments/{environment}.tfvars",
        f"-var-file={keys}",
        f"-out={planfile}",
        *extra,
    )
    return json.loads(terraform.run(workdir, "show", "-json", planfile).stdout)
