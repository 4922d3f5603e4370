#!/usr/bin/env bash
# Build (or refresh) the fakesnow venv from requirements.txt; does nothing when it is current.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.txt"
python=${SHOP_PYTHON:-python3.11}
# Current: the pinned packages, on the interpreter ./run declares (SHOP_PYTHON).
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$stamp" &&
  grep -qx "home = $("$python" -c 'import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))')" "$venv/pyvenv.cfg"; then
  exit 0
fi
uv="$here/../../.local/bootstrap/bin/uv"
if [ -x "$uv" ]; then
  UV_PYTHON_DOWNLOADS=never "$uv" venv --quiet --allow-existing --python "$python" "$venv"
  "$uv" pip install --quiet --python "$venv/bin/python" -r "$here/requirements.txt"
else
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
cp "$here/requirements.txt" "$stamp"
