# Sourced by the scripts of tools/: which ROS 2 distribution's wheels to use and where its
# environment lives, and the helpers the setup scripts share. Kilted (the default) lives in .venv
# and .ws/, another distribution in .venv-<distro> and .ws-<distro>/, so both can be set up side by
# side in one checkout.
# shellcheck shell=bash

DUALPOSENET_DISTROS="kilted jazzy"

# dpn_parse_distro [--distro NAME | --distro=NAME] [ARGS...]
# Sets DUALPOSENET_ROS_DISTRO and DUALPOSENET_WS (exported), DPN_VENV (the virtual environment;
# DUALPOSENET_VENV overrides Kilted's), DUALPOSENET_DISTRO_ARGS (the option to repeat to other
# tools) and DUALPOSENET_REST_ARGS (the arguments after the option). Without the option: the
# distribution of the environment already sourced (DUALPOSENET_ROS_DISTRO), else Kilted.
dpn_parse_distro() {
  local distro="${DUALPOSENET_ROS_DISTRO:-kilted}"
  DUALPOSENET_REST_ARGS=()
  case "${1-}" in
    --distro) distro="${2-}"; shift 2 || { echo "--distro needs a name: $DUALPOSENET_DISTROS" >&2; return 2; } ;;
    --distro=*) distro="${1#--distro=}"; shift ;;
  esac
  DUALPOSENET_REST_ARGS=("$@")
  case " $DUALPOSENET_DISTROS " in
    *" $distro "*) ;;
    *) echo "unknown ROS 2 distribution '$distro' (supported from PyPI wheels: $DUALPOSENET_DISTROS)" >&2; return 2 ;;
  esac
  local repo suffix=""
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  [[ "$distro" != kilted ]] && suffix="-$distro"
  export DUALPOSENET_ROS_DISTRO="$distro"
  if [[ -z "$suffix" ]]; then
    DPN_VENV="${DUALPOSENET_VENV:-$repo/.venv}"
    DUALPOSENET_DISTRO_ARGS=""
  else
    DPN_VENV="$repo/.venv$suffix"
    DUALPOSENET_DISTRO_ARGS="--distro $distro"
  fi
  export DUALPOSENET_WS="$repo/.ws$suffix"
}

# dpn_drop_other_environments VENV WS: removes from the search paths (PATH, PYTHONPATH,
# AMENT_PREFIX_PATH, CMAKE_PREFIX_PATH, COLCON_PREFIX_PATH, LD_LIBRARY_PATH) every entry inside a
# virtual environment or workspace that tools/setup.sh made, other than VENV and WS: a shell with
# Kilted's environment sourced that sets up or sources Jazzy's (or another checkout's) would
# otherwise build against, and import, the other distribution's messages. Other entries (a ROS
# installation's, the user's own) stay, in their order.
dpn_drop_other_environments() {
  local keep_venv="$1" keep_ws="$2" name entry owner
  local -a entries kept
  for name in PATH PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH LD_LIBRARY_PATH; do
    [[ -n "${!name-}" ]] || continue
    IFS=: read -r -a entries <<< "${!name}"
    kept=()
    for entry in "${entries[@]}"; do
      owner="$(_dpn_environment_of "$entry")"
      [[ -n "$owner" && "$owner" != "$keep_venv" && "$owner" != "$keep_ws" ]] && continue
      kept+=("$entry")
    done
    if ((${#kept[@]})); then
      export "$name=$(IFS=:; echo "${kept[*]}")"
    else
      unset "$name"
    fi
  done
}

# _dpn_environment_of PATH: the virtual environment (it holds .dualposenet-requirements) or
# workspace (.build-stamp) made by tools/setup.sh that PATH lies in; nothing for any other path.
_dpn_environment_of() {
  local dir="$1"
  while [[ "$dir" == /?* ]]; do
    if [[ -f "$dir/.dualposenet-requirements" || -f "$dir/.build-stamp" ]]; then
      echo "$dir"
      return
    fi
    dir="${dir%/*}"
  done
}

# dpn_needs_suite ARGS...: true (0) unless one of them names test files (test/..., x.py, x.py::name)
# (tools/test.sh test/test_x.py -x runs that file only; tools/test.sh -x runs the whole suite).
dpn_needs_suite() {
  local arg
  for arg in "$@"; do
    [[ "$arg" == test/* || "$arg" == *.py || "$arg" == *.py::* ]] && return 1
  done
  return 0
}

# dpn_say TAG MESSAGE...: a bold "[TAG] MESSAGE" line.
dpn_say() {
  local tag="$1"
  shift
  printf '\033[1m[%s]\033[0m %s\n' "$tag" "$*"
}

# dpn_lock DIR: one setup at a time for DIR (two concurrent pip installs or colcon builds corrupt
# each other); the lock is held on file descriptor 9 until the calling script exits.
dpn_lock() {
  mkdir -p "$1"
  exec 9>"$1/.setup.lock"
  flock 9
}

# dpn_venv DIR: create the virtual environment DIR unless it exists.
dpn_venv() {
  if [[ ! -x "$1/bin/python" ]]; then
    dpn_say setup "creating virtual environment $1"
    python3 -m venv "$1"
  fi
}

# dpn_pip PYTHON ARGS...: a quiet `pip install ARGS` with PYTHON, without pip's warning about
# find-links folders that a machine's pip.conf may name but lack.
dpn_pip() {
  local python="$1"
  shift
  "$python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
