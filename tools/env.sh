# Source this file (bash) to use the environment tools/setup.sh made: the virtual environment,
# the ROS 2 wheels and the colcon workspace. DDS discovery stays on the loopback interface.
#   source tools/env.sh                  # ROS 2 Kilted (.venv, .ws/)
#   source tools/env.sh --distro jazzy   # ROS 2 Jazzy (.venv-jazzy, .ws-jazzy/)
_dpn_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/distro.sh
source "$_dpn_repo/tools/distro.sh"
# Only an explicit --distro is ours: a sourced file otherwise sees the caller's arguments.
case "${1-}" in
  --distro|--distro=*) dpn_parse_distro "$@" || return 2 ;;
  *) dpn_parse_distro || return 2 ;;
esac
if [[ ! -f "$DPN_VENV/bin/activate" ]]; then
  echo "no environment in $DPN_VENV: run tools/setup.sh${DUALPOSENET_DISTRO_ARGS:+ $DUALPOSENET_DISTRO_ARGS} first" >&2
  return 1
fi
dpn_drop_other_environments "$DPN_VENV" "$DUALPOSENET_WS"
# shellcheck disable=SC1091
source "$DPN_VENV/bin/activate"
export AMENT_PREFIX_PATH="$DPN_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$DPN_VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [[ -f "$DUALPOSENET_WS/install/local_setup.bash" ]]; then
  # colcon's setup scripts read unset variables: relax `set -u` (if the caller uses it) meanwhile.
  case $- in *u*) _dpn_nounset=1; set +u ;; *) _dpn_nounset= ;; esac
  # shellcheck disable=SC1091
  source "$DUALPOSENET_WS/install/local_setup.bash"
  [[ -n "$_dpn_nounset" ]] && set -u
  unset _dpn_nounset
fi
# Like a ROS installation's setup script (the package picks its Fast DDS profile by distribution).
export ROS_DISTRO="$DUALPOSENET_ROS_DISTRO"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((100 + RANDOM % 100))}"
unset _dpn_repo DPN_VENV DUALPOSENET_REST_ARGS DUALPOSENET_DISTRO_ARGS
