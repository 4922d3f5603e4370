"""Vulnerability audit of every Python environment of the platform, with pip-audit.

    .venv/bin/python tests/security/audit_dependencies.py [--service pypi|osv]

Environments: the project's .venv, each Meltano plugin's venv (meltano/.meltano/*/*/venv) and
the fakesnow venv when built. Prints, per environment, how many packages were checked, which
are vulnerable (with the advisory ids) and how many could not be checked. Exit 0: all checked,
none vulnerable; 1: vulnerabilities; 2: some packages could not be checked.

A command, not a test: it needs the vulnerability service (PyPI's JSON API or OSV) on the
network. Where only a package-index mirror is reachable, PyPI's JSON API answers 404 for every
package, and pip-audit reports each as "not found on PyPI": then nothing was checked, and this
script says so instead of "no known vulnerabilities".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# Our own Meltano plugins (meltano/plugins/*): not on PyPI, their dependencies are audited.
OWN_PACKAGES = {
    _canonical(tomllib.loads(pyproject.read_text())["project"]["name"])
    for pyproject in (REPO_ROOT / "meltano" / "plugins").glob("*/pyproject.toml")
}


def environments() -> dict[str, Path]:
    venvs = {"project .venv": REPO_ROOT / ".venv"}
    for venv in sorted((REPO_ROOT / "meltano" / ".meltano").glob("*/*/venv")):
        venvs[f"meltano {venv.parent.name}"] = venv
    venvs["fakesnow venv"] = REPO_ROOT / "transform" / "fakesnow" / ".venv"
    return {
        name: site
        for name, venv in venvs.items()
        for site in sorted(venv.glob("lib/python3*/site-packages"))[:1]
    }


def audit(site_packages: Path, service: str) -> tuple[int, dict[str, list[str]], list[str]]:
    """(packages checked, vulnerable package -> advisory ids, packages not checked)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--path", str(site_packages), "-s", service,
         "-f", "json", "--progress-spinner", "off", "--skip-editable"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if not result.stdout.strip():
        return 0, {}, [f"pip-audit failed: {result.stderr.strip()[-300:]}"]
    dependencies = json.loads(result.stdout)["dependencies"]
    skipped = [
        d["name"]
        for d in dependencies
        if d.get("skip_reason") and _canonical(d["name"]) not in OWN_PACKAGES
    ]
    vulnerable = {
        f"{d['name']} {d['version']}": [v["id"] for v in d["vulns"]]
        for d in dependencies
        if d.get("vulns")
    }
    checked = sum(1 for d in dependencies if not d.get("skip_reason"))
    return checked, vulnerable, skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    args = parser.parse_args()
    any_vulnerable = any_unchecked = False
    for name, site_packages in environments().items():
        checked, vulnerable, skipped = audit(site_packages, args.service)
        any_vulnerable |= bool(vulnerable)
        any_unchecked |= bool(skipped)
        print(
            f"{name}: {checked} checked, {len(vulnerable)} vulnerable, {len(skipped)} not checked"
        )
        for package, ids in vulnerable.items():
            print(f"  VULNERABLE {package}: {', '.join(ids)}")
        if skipped and not checked:
            print(
                f"  nothing could be checked: is the {args.service} vulnerability service "
                "reachable?"
            )
    return 1 if any_vulnerable else 2 if any_unchecked else 0


if __name__ == "__main__":
    sys.exit(main())
