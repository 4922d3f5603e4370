"""Fixtures for the offline Terraform checks (see tf_offline.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

# The helpers next to this file have unique names (tf_offline, tf_policy): importable whatever
# other conftest modules the whole suite loads.
sys.path.insert(0, str(Path(__file__).parent))

from tf_offline import (
    CHECKS_VENV,
    ENVIRONMENTS,
    PROVIDER,
    TERRAFORM_DIR,
    Terraform,
    plan_json,
    provider_version,
)

Mutation = Callable[[Path], None]


@pytest.fixture(scope="session")
def checks_venv() -> Path:
    """terraform/checks/setup.sh is idempotent: a no-op once the venv matches its pins."""
    subprocess.run(["bash", str(TERRAFORM_DIR / "checks" / "setup.sh")], check=True, timeout=600)
    return CHECKS_VENV


@pytest.fixture(scope="session")
def provider_schema(checks_venv: Path) -> dict:
    return json.loads((checks_venv / "snowflake-provider-schema.json").read_text())


@pytest.fixture(scope="session")
def terraform(checks_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    home = tmp_path_factory.mktemp("terraform-home")
    version = provider_version()
    plugin_dir = home / "mirror" / PROVIDER / version / "linux_amd64"
    plugin_dir.mkdir(parents=True)
    launcher = plugin_dir / f"terraform-provider-snowflake_v{version}"
    launcher.write_text(
        "#!/bin/sh\n"
        f'exec "{checks_venv}/bin/python" "{TERRAFORM_DIR}/checks/stub_provider.py" '
        f'"{checks_venv}/snowflake-provider-schema.json" "$@"\n'
    )
    launcher.chmod(0o755)
    cli_config = home / "terraform.rc"
    cli_config.write_text(
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{home / "mirror"}"\n'
        f'    include = ["{PROVIDER}"]\n  }}\n'
        "}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SNOWFLAKE_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return Terraform(checks_venv / "bin" / "terraform", env)


@pytest.fixture(scope="session")
def public_keys_tfvars(checks_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away RSA public key for every service user (public keys are inputs, not secrets)."""
    script = (
        "import base64\n"
        "from cryptography.hazmat.primitives import serialization\n"
        "from cryptography.hazmat.primitives.asymmetric import rsa\n"
        "key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()\n"
        "der = key.public_bytes(serialization.Encoding.DER,"
        " serialization.PublicFormat.SubjectPublicKeyInfo)\n"
        "print(base64.b64encode(der).decode())\n"
    )
    key = subprocess.run(
        [str(checks_venv / "bin" / "python"), "-c", script],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    users = yaml.safe_load((TERRAFORM_DIR / "platform.yaml").read_text())["service_users"]
    path = tmp_path_factory.mktemp("keys") / "keys.tfvars"
    path.write_text(
        "service_user_public_keys = {\n"
        + "".join(f'  {user} = {{ key_1 = "{key}", key_2 = "" }}\n' for user in users)
        + "}\n"
    )
    return path


Mutation = Callable[[Path], None]


@pytest.fixture(scope="session")
def make_workdir(
    terraform: Terraform, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Path]:
    """A scratch copy of terraform/ (optionally changed by `mutate`), initialised offline."""

    def make(mutate: Mutation | None = None) -> Path:
        workdir = tmp_path_factory.mktemp("tfwork") / "terraform"
        shutil.copytree(
            TERRAFORM_DIR,
            workdir,
            ignore=shutil.ignore_patterns(
                ".checks-venv", ".terraform", "checks", "*.tfstate*", ".terraform.lock.hcl", "*.md"
            ),
        )
        # Local state instead of the documented S3 backend: nothing leaves the machine.
        (workdir / "offline_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
        if mutate:
            mutate(workdir)
        terraform.run(workdir, "init", "-input=false")
        return workdir

    return make


@pytest.fixture(scope="session")
def workdir(make_workdir: Callable[..., Path]) -> Path:
    return make_workdir()


@pytest.fixture(scope="session")
def plans(terraform: Terraform, workdir: Path, public_keys_tfvars: Path) -> Iterator[dict]:
    yield {env: plan_json(terraform, workdir, env, public_keys_tfvars) for env in ENVIRONMENTS}
