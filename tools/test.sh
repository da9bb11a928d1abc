#!/usr/bin/env bash
# Sets up (tools/setup.sh) and runs the whole test suite on the CPU. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$REPO/tools/setup.sh"
# shellcheck disable=SC1091
source "$REPO/tools/env.sh"
cd "$REPO"
# Here ROS is part of the environment: a test that needs it must fail, not skip, if it is missing.
export DUALPOSENET_REQUIRE_ROS=1
exec python -m pytest -q -p no:cacheprovider test "$@"
