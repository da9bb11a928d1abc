#!/usr/bin/env bash
# Runs the test suite on the oldest supported versions of the core dependencies: a separate virtual
# environment (.venv-minimum) gets requirements/core.txt constrained to requirements/minimum.txt
# (the floors), pytest and the package, without ROS and without the optional ONNX packages, then
# runs the whole suite: the tests that need ROS skip, which also checks that every test file loads
# without ROS. Extra arguments go to pytest (test files: only those).
# Idempotent like tools/setup.sh.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-minimum"
TORCH_SPEC="${DUALPOSENET_TORCH:-torch==2.13.0}"
cd "$REPO"
# shellcheck source=tools/distro.sh
source "$REPO/tools/distro.sh"
dpn_lock "$VENV"
dpn_venv "$VENV"
# The test tools of dev.txt, without the optional extras it includes (-r lines).
test_tools=$(grep -v '^\s*\(#\|-r\)' requirements/dev.txt | tr '\n' ' ')
stamp="$( { echo "$TORCH_SPEC $test_tools"; cat requirements/core.txt requirements/minimum.txt setup.py; } | sha256sum)"
if [[ "$(cat "$VENV/.dualposenet-requirements" 2>/dev/null)" != "$stamp" ]]; then
  dpn_say minimum "installing $TORCH_SPEC and the core requirements at their floors (requirements/minimum.txt)"
  dpn_pip "$VENV/bin/python" "$TORCH_SPEC"
  # shellcheck disable=SC2086
  dpn_pip "$VENV/bin/python" -c requirements/minimum.txt -r requirements/core.txt $test_tools
  dpn_pip "$VENV/bin/python" --no-deps --no-build-isolation -e "$REPO"
  echo "$stamp" > "$VENV/.dualposenet-requirements"
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
from pathlib import Path

pins = dict(line.split("==") for line in Path("requirements/minimum.txt").read_text().split() if "==" in line)
wrong = {name: m.version(name) for name, version in pins.items() if m.version(name) != version}
assert not wrong, f"not at the floor: {wrong}"
print("[minimum] " + ", ".join(f"{name} {version}" for name, version in pins.items()))
PY
# No ROS here: a colcon workspace or ROS installation sourced in this shell must not leak in.
args=("$@")
dpn_needs_suite "${args[@]}" && args=(test "${args[@]}")
exec env -u AMENT_PREFIX_PATH -u PYTHONPATH -u LD_LIBRARY_PATH -u DUALPOSENET_REQUIRE_ROS \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "${args[@]}"
