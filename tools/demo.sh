#!/usr/bin/env bash
# Sets up (tools/setup.sh) and runs the demo: a synthetic RGB-D camera and the pose node in
# separate processes over real DDS; prints estimated against true poses and writes the debug image.
# Usage: tools/demo.sh [--distro kilted|jazzy] [arguments of `dualposenet demo` (see its --help)]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/distro.sh
source "$REPO/tools/distro.sh"
dpn_parse_distro "$@"
distro_args=(--distro "$DUALPOSENET_ROS_DISTRO")
demo_args=("${DUALPOSENET_REST_ARGS[@]}")
"$REPO/tools/setup.sh" "${distro_args[@]}"
# shellcheck disable=SC1091
source "$REPO/tools/env.sh" "${distro_args[@]}"
cd "$REPO"
exec dualposenet demo "${demo_args[@]}"
