#!/usr/bin/env bash
# Sets up (tools/setup.sh) and runs the demo: a synthetic RGB-D camera and the pose node in
# separate processes over real DDS; prints estimated against true poses and writes the debug image.
# Extra arguments go to `dualposenet demo` (see `dualposenet demo --help`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$REPO/tools/setup.sh"
# shellcheck disable=SC1091
source "$REPO/tools/env.sh"
cd "$REPO"
exec dualposenet demo "$@"
