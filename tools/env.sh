# Source this file (bash) to use the environment tools/setup.sh made: the virtual environment,
# the ROS 2 wheels and the colcon workspace. DDS discovery stays on the loopback interface.
_dpn_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_dpn_venv="${DUALPOSENET_VENV:-$_dpn_repo/.venv}"
# shellcheck disable=SC1091
source "$_dpn_venv/bin/activate"
export AMENT_PREFIX_PATH="$_dpn_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_dpn_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [[ -f "$_dpn_repo/.ws/install/local_setup.bash" ]]; then
  # colcon's setup scripts read unset variables: relax `set -u` (if the caller uses it) meanwhile.
  case $- in *u*) _dpn_nounset=1; set +u ;; *) _dpn_nounset= ;; esac
  # shellcheck disable=SC1091
  source "$_dpn_repo/.ws/install/local_setup.bash"
  [[ -n "$_dpn_nounset" ]] && set -u
  unset _dpn_nounset
fi
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((100 + RANDOM % 100))}"
unset _dpn_repo _dpn_venv
