#!/usr/bin/env bash
# Build (or refresh) the fakesnow venv from requirements.txt; does nothing when it is current.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$venv/.stamp"
python=${SHOP_PYTHON:-python3.11}
# Current: the pinned packages, on the interpreter ./run declares (SHOP_PYTHON).
wanted=$( (cat "$here/requirements.txt"; readlink -f "$(command -v "$python")") | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
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
echo "$wanted" >"$stamp"
