#!/usr/bin/env bash
# Sets up (tools/setup.sh) and runs the whole test suite on the CPU.
# Usage: tools/test.sh [--distro kilted|jazzy] [pytest arguments; test files or folders: only those]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/distro.sh
source "$REPO/tools/distro.sh"
dpn_parse_distro "$@"
distro_args=(--distro "$DUALPOSENET_ROS_DISTRO")
pytest_args=("${DUALPOSENET_REST_ARGS[@]}")
"$REPO/tools/setup.sh" "${distro_args[@]}"
# shellcheck disable=SC1091
source "$REPO/tools/env.sh" "${distro_args[@]}"
cd "$REPO"
# Here ROS is part of the environment: a test that needs it must fail, not skip, if it is missing.
export DUALPOSENET_REQUIRE_ROS=1
echo "[test] ROS 2 $DUALPOSENET_ROS_DISTRO: $(python -c 'import rclpy, importlib.metadata as m; print("rclpy", m.version("ros-rclpy"))')"
dpn_needs_suite "${pytest_args[@]}" && pytest_args=(test "${pytest_args[@]}")
exec python -m pytest -q -p no:cacheprovider "${pytest_args[@]}"
